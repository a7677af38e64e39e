# ctest driver: install the build tree into a temporary prefix, then configure, build and run
# the consumer project against it. Inputs: FORAGE_BUILD_DIR, CONSUMER_SOURCE_DIR, WORK_DIR,
# CXX_COMPILER, PUBLIC_INCLUDE_DIR (the source tree's include/).
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(run_step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "consumer test step failed (${result}): ${command}")
  endif()
endfunction()

run_step(${CMAKE_COMMAND} --install "${FORAGE_BUILD_DIR}" --prefix "${prefix}")
# What is installed is the public headers, exactly: the scheduler's internals (the deque, the
# atomics policies, the event count) live in lib/ and must not reach a user's include path.
file(GLOB_RECURSE installed RELATIVE "${prefix}/include" "${prefix}/include/*")
file(GLOB_RECURSE public RELATIVE "${PUBLIC_INCLUDE_DIR}" "${PUBLIC_INCLUDE_DIR}/*")
list(SORT installed)
list(SORT public)
if(NOT installed STREQUAL public)
  message(FATAL_ERROR "installed headers differ from include/: installed ${installed}; "
                      "include/ has ${public}")
endif()
foreach(internal work_deque.hpp atomics.hpp event_count.hpp)
  if(installed MATCHES "(^|;|/)${internal}(;|$)")
    message(FATAL_ERROR "${internal} is a scheduler internal and must not be installed")
  endif()
endforeach()

run_step(${CMAKE_COMMAND} -S "${CONSUMER_SOURCE_DIR}" -B "${WORK_DIR}/build" -G Ninja
         -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix})
run_step(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run_step("${WORK_DIR}/build/consumer")
