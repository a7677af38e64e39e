# cmake -DCXX=... -DSOURCE=... -DINCLUDES="a;b" -DEXPECT=text -P expect_compile_error.cmake
# Compiles SOURCE (syntax only) and succeeds if and only if compilation fails with a message
# containing EXPECT: a compile-time rejection that says what is wrong.
set(flags -std=c++20 -fsyntax-only -DOMPI_SKIP_MPICXX=1 -DMPICH_SKIP_MPICXX=1)
foreach(dir IN LISTS INCLUDES)
  list(APPEND flags -I${dir})
endforeach()
execute_process(COMMAND ${CXX} ${flags} ${SOURCE} RESULT_VARIABLE status
                OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(status EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must be rejected")
endif()
string(FIND "${out}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${SOURCE} failed to compile without naming '${EXPECT}':\n${out}")
endif()
message(STATUS "rejected, naming '${EXPECT}'")
