# ctest driver: install the build tree into a temporary prefix, then build and run the
# consumer program against it through find_package and through pkg-config, and check which
# versions the package accepts. Inputs: FORAGE_BUILD_DIR, CONSUMER_SOURCE_DIR, WORK_DIR,
# CXX_COMPILER, PUBLIC_INCLUDE_DIR (the source tree's include/), LIBDIR
# (CMAKE_INSTALL_LIBDIR), VERSION (the project's), PKG_CONFIG, MPI_EXAMPLE
# (examples/mpi_map.cpp).
cmake_minimum_required(VERSION 3.25)  # policies of this version (IN_LIST)
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

include(${CMAKE_CURRENT_LIST_DIR}/run_step.cmake)

# Runs a pkg-config query against the installed .pc files only; the output in `out`.
function(pkg_config out)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env
                          "PKG_CONFIG_PATH=${prefix}/${LIBDIR}/pkgconfig" ${PKG_CONFIG} ${ARGN}
                  RESULT_VARIABLE result OUTPUT_VARIABLE text OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "pkg-config ${ARGN} failed (${result})")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
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

# find_package: the shared library when it is installed (a shared build installs the static
# one beside it), and the static one when asked for with forage_SHARED_LIBS=OFF.
set(cmake_dir "${prefix}/${LIBDIR}/cmake/forage")
set(kinds "")
foreach(kind shared static)
  if(EXISTS "${cmake_dir}/forage-${kind}-targets.cmake")
    list(APPEND kinds ${kind})
  endif()
endforeach()
if(NOT kinds)
  message(FATAL_ERROR "no forage-<kind>-targets.cmake installed in ${cmake_dir}")
endif()
list(GET kinds 0 default_kind)
foreach(kind ${kinds})
  set(select "")
  if(NOT kind STREQUAL default_kind)
    set(select -Dforage_SHARED_LIBS=OFF)
  endif()
  run_step(${CMAKE_COMMAND} -S "${CONSUMER_SOURCE_DIR}" -B "${WORK_DIR}/build-${kind}" -G Ninja
           -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix}
           -DEXPECT_FORAGE_KIND=${kind} ${select})
  run_step(${CMAKE_COMMAND} --build "${WORK_DIR}/build-${kind}")
  run_step("${WORK_DIR}/build-${kind}/consumer")
endforeach()

# pkg-config: the version, and a program built with nothing but the flags it prints (the
# source first, which a static libforage.a needs: it must come after what uses it). A shared
# libforage.so in a temporary prefix is found at run time through LD_LIBRARY_PATH.
pkg_config(modversion --modversion forage)
if(NOT modversion STREQUAL VERSION)
  message(FATAL_ERROR "pkg-config says forage ${modversion}; the project is ${VERSION}")
endif()
pkg_config(flags --cflags --libs forage)
separate_arguments(flags UNIX_COMMAND "${flags}")
run_step(${CXX_COMPILER} "${CONSUMER_SOURCE_DIR}/main.cpp" ${flags} -o "${WORK_DIR}/pc-consumer")
run_step(${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${prefix}/${LIBDIR}" "${WORK_DIR}/pc-consumer")
# forage-mpi.pc, where it was installed: the MPI example compiles and links with its flags
# (running it needs mpiexec; the mpi tests do that).
if(EXISTS "${prefix}/${LIBDIR}/pkgconfig/forage-mpi.pc")
  pkg_config(mpi_flags --cflags --libs forage-mpi)
  separate_arguments(mpi_flags UNIX_COMMAND "${mpi_flags}")
  run_step(${CXX_COMPILER} "${MPI_EXAMPLE}" ${mpi_flags} -o "${WORK_DIR}/pc-mpi-example")
endif()

# find_package(forage X.Y): while the major version is 0, only the same minor version is
# compatible (SameMinorVersion).
string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" _ "${VERSION}")
set(major ${CMAKE_MATCH_1})
set(minor ${CMAKE_MATCH_2})
math(EXPR older_minor "${minor} - 1")
math(EXPR newer_minor "${minor} + 1")
math(EXPR next_major "${major} + 1")
set(accepted "${major}.${minor}")
set(refused "${major}.${newer_minor}" "${next_major}.0")
if(older_minor GREATER_EQUAL 0)
  list(APPEND refused "${major}.${older_minor}")
endif()
foreach(requested ${accepted} ${refused})
  execute_process(COMMAND ${CMAKE_COMMAND} -S "${CONSUMER_SOURCE_DIR}/version_probe"
                          -B "${WORK_DIR}/probe-${requested}" -G Ninja
                          -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix}
                          -DREQUESTED=${requested}
                  RESULT_VARIABLE result OUTPUT_QUIET ERROR_QUIET)
  if(requested IN_LIST accepted AND NOT result EQUAL 0)
    message(FATAL_ERROR "find_package(forage ${requested}) refused forage ${VERSION}")
  elseif(requested IN_LIST refused AND result EQUAL 0)
    message(FATAL_ERROR "find_package(forage ${requested}) accepted forage ${VERSION}")
  endif()
endforeach()
