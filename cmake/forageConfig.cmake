# find_package(forage) for an installed forage. libforage may be installed static
# (libforage.a), shared (libforage.so) or both side by side; each kind has its own targets file.
# Which one forage::forage is, in this order:
#   1. a component: find_package(forage COMPONENTS static) or (... COMPONENTS shared);
#   2. forage_SHARED_LIBS, if set (ON: shared, OFF: static);
#   3. BUILD_SHARED_LIBS, if set, when that kind is installed;
#   4. the shared library if installed, else the static one.
# 1 and 2 are requirements: forage is not found if the kind asked for is not installed.
set(_forage_kinds "")
foreach(_forage_kind IN ITEMS shared static)
  if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/forage-${_forage_kind}-targets.cmake")
    list(APPEND _forage_kinds ${_forage_kind})
  endif()
endforeach()

set(_forage_required "")
foreach(_forage_component IN LISTS forage_FIND_COMPONENTS)
  if(NOT _forage_component MATCHES "^(static|shared)$")
    set(forage_FOUND FALSE)
    set(forage_NOT_FOUND_MESSAGE
        "forage has no component '${_forage_component}' (its components: static, shared)")
    return()
  endif()
  if(_forage_required AND NOT _forage_required STREQUAL _forage_component)
    set(forage_FOUND FALSE)
    set(forage_NOT_FOUND_MESSAGE "forage: ask for the static or the shared component, not both")
    return()
  endif()
  set(_forage_required ${_forage_component})
endforeach()
if(NOT _forage_required AND DEFINED forage_SHARED_LIBS)
  if(forage_SHARED_LIBS)
    set(_forage_required shared)
  else()
    set(_forage_required static)
  endif()
endif()

if(_forage_required)
  if(NOT _forage_required IN_LIST _forage_kinds)
    set(forage_FOUND FALSE)
    set(forage_NOT_FOUND_MESSAGE
        "the ${_forage_required} libforage is not installed here (installed: ${_forage_kinds})")
    return()
  endif()
  set(_forage_kind ${_forage_required})
elseif(DEFINED BUILD_SHARED_LIBS AND BUILD_SHARED_LIBS AND "shared" IN_LIST _forage_kinds)
  set(_forage_kind shared)
elseif(DEFINED BUILD_SHARED_LIBS AND NOT BUILD_SHARED_LIBS AND "static" IN_LIST _forage_kinds)
  set(_forage_kind static)
elseif(_forage_kinds)
  list(GET _forage_kinds 0 _forage_kind)  # shared first
else()
  set(forage_FOUND FALSE)
  set(forage_NOT_FOUND_MESSAGE "no forage-<kind>-targets.cmake beside ${CMAKE_CURRENT_LIST_FILE}")
  return()
endif()

# The kind's dependencies (hwloc for the static library), then its targets; then forage::mpi's
# (it needs MPI), where it was installed for this kind.
include("${CMAKE_CURRENT_LIST_DIR}/forage-${_forage_kind}-dependencies.cmake")
include("${CMAKE_CURRENT_LIST_DIR}/forage-${_forage_kind}-targets.cmake")
if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/forage-mpi-${_forage_kind}-targets.cmake")
  include("${CMAKE_CURRENT_LIST_DIR}/forage-mpi-${_forage_kind}-dependencies.cmake")
  include("${CMAKE_CURRENT_LIST_DIR}/forage-mpi-${_forage_kind}-targets.cmake")
endif()
set(forage_LIBRARY_KIND ${_forage_kind})  # what was chosen: static or shared
foreach(_forage_component IN ITEMS static shared)
  set(forage_${_forage_component}_FOUND FALSE)
endforeach()
set(forage_${_forage_kind}_FOUND TRUE)
unset(_forage_kind)
unset(_forage_kinds)
unset(_forage_required)
unset(_forage_component)
