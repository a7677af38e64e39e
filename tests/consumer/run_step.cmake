# run_step(COMMAND...): runs one step of a consumer test driver (run_consumer_test.cmake,
# run_vendored_test.cmake) and fails the test, naming the command, if it exits non-zero.
function(run_step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "consumer test step failed (${result}): ${command}")
  endif()
endfunction()
