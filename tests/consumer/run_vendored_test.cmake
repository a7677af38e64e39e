# ctest driver: configure, build and run tests/consumer/vendored/, which builds forage from
# its source tree inside its own build (FetchContent: configure only, below). Inputs: FORAGE_SOURCE_DIR, CONSUMER_SOURCE_DIR,
# WORK_DIR, CXX_COMPILER, VENDOR_WITH (add_subdirectory or FetchContent).
cmake_minimum_required(VERSION 3.25)  # policies of this version (IN_LIST)
file(REMOVE_RECURSE "${WORK_DIR}")

include(${CMAKE_CURRENT_LIST_DIR}/run_step.cmake)

run_step(${CMAKE_COMMAND} -S "${CONSUMER_SOURCE_DIR}/vendored" -B "${WORK_DIR}" -G Ninja
         -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DFORAGE_SOURCE_DIR=${FORAGE_SOURCE_DIR}
         -DVENDOR_WITH=${VENDOR_WITH} -DFORAGE_MPI=OFF)
# FetchContent_MakeAvailable ends in the same add_subdirectory, so the two differ only until
# the end of the configure step, which checks the targets (vendored/CMakeLists.txt): the
# FetchContent variant stops there and leaves the identical build (a minute of CPU) to the
# add_subdirectory one.
if(VENDOR_WITH STREQUAL "add_subdirectory")
  run_step(${CMAKE_COMMAND} --build "${WORK_DIR}")
  run_step("${WORK_DIR}/vendored")
endif()
