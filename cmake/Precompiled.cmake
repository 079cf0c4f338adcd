# One precompiled header for every C++ target (GCC only).
#
# Most of a translation unit's compile time here is parsing Boost.Asio,
# protobuf, abseil and spdlog (src/cmd/master.cc: 14 s of 38 s was
# -fsyntax-only). The headers below are parsed once into cfs_pch's .gch and
# every other target reuses it. The PCH only holds third-party and standard
# headers, never ours, so a change under src/ does not rebuild it.
#
# Reuse needs the same compile flags everywhere: the global options of the
# top-level CMakeLists.txt and the -D flags of fmt/spdlog, which cfs_pch
# takes by linking the same libraries. A target whose flags differ still
# builds: GCC then ignores the PCH (a -Winvalid-pch warning) and parses the
# headers itself. cfs_proto (generated code, no spdlog) is left out for that.
#
# The asan preset turns it off, so a source that forgets an #include it
# needs fails there rather than compiling by luck of the forced include.

set(CFS_PCH_HEADERS
  <algorithm> <atomic> <chrono> <cstdint> <cstring> <deque> <functional>
  <map> <memory> <mutex> <optional> <random> <set> <span> <string>
  <string_view> <unordered_map> <utility> <vector>
  <boost/asio.hpp>
  <fmt/format.h>
  <spdlog/spdlog.h>
  <google/protobuf/message.h>
  <absl/container/btree_map.h>
  <absl/container/flat_hash_map.h>
  <absl/container/flat_hash_set.h>)

function(cfs_enable_pch)
  if(NOT CFS_PCH OR NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    return()
  endif()
  add_library(cfs_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch.cc)
  target_link_libraries(cfs_pch PRIVATE fmt::fmt spdlog::spdlog Boost::headers protobuf::libprotobuf
    absl::btree absl::flat_hash_map absl::flat_hash_set)
  target_precompile_headers(cfs_pch PRIVATE ${CFS_PCH_HEADERS})
  cfs_collect_targets(targets ${PROJECT_SOURCE_DIR})
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    get_target_property(imported ${t} IMPORTED)
    if(t MATCHES "^(cfs_pch|cfs_proto)$" OR imported OR NOT type MATCHES "^(EXECUTABLE|STATIC_LIBRARY|SHARED_LIBRARY|OBJECT_LIBRARY)$")
      continue()
    endif()
    target_precompile_headers(${t} REUSE_FROM cfs_pch)
  endforeach()
endfunction()

# Every target defined in dir and the directories below it.
function(cfs_collect_targets out dir)
  get_property(here DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    cfs_collect_targets(below ${sub})
    list(APPEND here ${below})
  endforeach()
  set(${out} ${here} PARENT_SCOPE)
endfunction()
