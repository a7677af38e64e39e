# Debian packages of forage: `cpack -G DEB` in a build tree configured with
# BUILD_SHARED_LIBS=ON (the release preset is) makes three, one per install component:
#   libforage0.2   (runtime)      libforage.so.0.2, the shared library programs run against;
#   libforage-dev  (development)  headers, libforage.a, the libforage.so link, the CMake
#                                 package and forage.pc;
#   forage-tools   (tools)        forage-topo and forage-trace.
# The runtime package is named after the SONAME, as Debian's policy asks (8.1): while the major
# version is 0, a minor version may break the ABI, so the SONAME carries major.minor.
# tests/packaging/package_test.sh builds them, runs lintian on them, installs them and builds
# consumers against them.
set(FORAGE_PACKAGE_MAINTAINER "forage developers <forage@users.noreply.github.com>" CACHE STRING
    "The Maintainer field of forage's Debian packages")

set(forage_soversion ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
set(forage_runtime_package libforage${forage_soversion})

set(CPACK_PACKAGE_NAME forage)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${FORAGE_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # Debian ships stripped binaries (lintian: unstripped-binary)
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime development tools)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # name_version_arch.deb
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends computed from what the binaries link (dpkg-shlibdeps).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The runtime package's own control files: a shlibs file, so that dpkg-shlibdeps computes
# "libforage0.2 (>= 0.2.0)" for programs built against it, and an ldconfig trigger (CPack's
# generated shlibs come with ldconfig calls in maintainer scripts, which lintian flags).
set(forage_control_dir ${PROJECT_BINARY_DIR}/debian-control)
file(WRITE ${forage_control_dir}/shlibs
     "libforage ${forage_soversion} ${forage_runtime_package} (>= ${PROJECT_VERSION})\n")
file(WRITE ${forage_control_dir}/triggers "activate-noawait ldconfig\n")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${forage_control_dir}/shlibs ${forage_control_dir}/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME ${forage_runtime_package})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
    "lock-free work-stealing task scheduler for C++20 (shared library)
forage runs tasks on per-core workers pinned through hwloc, each with a
Chase-Lev deque; idle workers steal, then sleep. On top: futures,
fork-join, chunked parallel algorithms (parallel_map, parallel_for,
parallel_reduce, imap) and cooperative cancellation.

This package holds the shared library programs run against.")

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libforage-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
# Not computable: the headers and the static library need these at build time (forage.pc
# requires hwloc; libforage.a links it).
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "${forage_runtime_package} (= ${PROJECT_VERSION}), libhwloc-dev")
set(CPACK_COMPONENT_DEVELOPMENT_DESCRIPTION
    "lock-free work-stealing task scheduler for C++20 (development files)
forage runs tasks on per-core workers pinned through hwloc, each with a
Chase-Lev deque; idle workers steal, then sleep. On top: futures,
fork-join, chunked parallel algorithms and cooperative cancellation.

This package holds the headers, the static library, the CMake package
(find_package(forage)) and the pkg-config file (forage.pc).")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME forage-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_TOOLS_DESCRIPTION
    "lock-free work-stealing task scheduler for C++20 (tools)
forage runs tasks on per-core workers pinned through hwloc. This package
holds its command-line tools: forage-topo prints the machine's topology
and the pinning plan forage would use; forage-trace runs a workload on a
traced pool and writes a trace for Perfetto or chrome://tracing.")

# Every package carries /usr/share/doc/<package>/copyright and changelog.gz (Debian policy
# 12.5 and 12.7; the packages are native, their version has no Debian revision).
string(TIMESTAMP forage_changelog_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
set(forage_deb_packages ${forage_runtime_package} libforage-dev forage-tools)
foreach(component package IN ZIP_LISTS CPACK_COMPONENTS_ALL forage_deb_packages)
  set(doc_dir ${PROJECT_BINARY_DIR}/debian-doc/${package})
  file(MAKE_DIRECTORY ${doc_dir})
  configure_file(${PROJECT_SOURCE_DIR}/cmake/debian/changelog.in ${doc_dir}/changelog @ONLY)
  execute_process(COMMAND gzip -9nf ${doc_dir}/changelog RESULT_VARIABLE gzip_result)
  if(NOT gzip_result EQUAL 0)
    message(FATAL_ERROR "gzip -9n ${doc_dir}/changelog failed (${gzip_result})")
  endif()
  install(FILES ${PROJECT_SOURCE_DIR}/cmake/debian/copyright ${doc_dir}/changelog.gz
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${package} COMPONENT ${component})
endforeach()

# Checked when cpack runs: the packages need the shared library.
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_BINARY_DIR}/forage-cpack-config.cmake)
if(FORAGE_BUILD_TOOLS)
  set(FORAGE_BUILD_TOOLS ON)  # spelled ON for the check below, whatever true value it had
endif()
file(CONFIGURE OUTPUT ${CPACK_PROJECT_CONFIG_FILE} @ONLY CONTENT [[
if(NOT "@forage_library_type@" STREQUAL "SHARED_LIBRARY")
  message(FATAL_ERROR "forage's Debian packages need libforage.so: configure with "
                      "-DBUILD_SHARED_LIBS=ON (the release preset does), then run cpack again")
endif()
if(NOT "@FORAGE_BUILD_TOOLS@" STREQUAL "ON")
  message(FATAL_ERROR "forage-tools needs the tools: configure with -DFORAGE_BUILD_TOOLS=ON")
endif()
]])

include(CPack)
