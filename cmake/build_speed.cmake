# Build speed without changing what is built: a compiler cache, a faster
# linker, line-table debug info and precompiled heavy headers. CI's budget
# depends on these (.ci/run, tests/README.md).

# ccache hits across clones when CCACHE_BASEDIR is the clone's root (set by
# the Makefile): compile commands then differ only in paths under it, which
# ccache rewrites. Nothing in a compile command may name an absolute path
# of the clone that ccache cannot rewrite (no -D with paths, no __FILE__ to
# find the source tree: tests find it from the build tree at run time).
if(DORMANT_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(DORMANT_CCACHE_PROGRAM ccache)
  if(DORMANT_CCACHE_PROGRAM)
    set(CMAKE_C_COMPILER_LAUNCHER ${DORMANT_CCACHE_PROGRAM})
    set(CMAKE_CXX_COMPILER_LAUNCHER ${DORMANT_CCACHE_PROGRAM})
  endif()
endif()

# mold links the test programs in a fraction of ld.bfd's time.
include(CheckLinkerFlag)
check_linker_flag(CXX -fuse-ld=mold DORMANT_HAVE_MOLD)
if(DORMANT_HAVE_MOLD)
  add_link_options(-fuse-ld=mold)
endif()

# Placed after CMAKE_CXX_FLAGS_<CONFIG>'s -g, so it wins.
if(DORMANT_LINE_TABLES)
  add_compile_options(-g1)
endif()

# One precompiled header per tree for the libraries and one for the tests,
# reused by every target whose flags match (gcc refuses a .gch built with
# other flags: -Winvalid-pch with -Werror makes that an error, not a slow
# build). clang (the fuzz tree) builds without: it compiles few files.
set(DORMANT_PCH_HEADERS <nlohmann/json.hpp> <fmt/format.h> <filesystem> <string> <vector> <map> <optional>
  <functional> <chrono> <memory>)
if(DORMANT_PCH AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  set(DORMANT_USE_PCH ON)
  add_library(dormant_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch.cpp)
  target_link_libraries(dormant_pch PRIVATE nlohmann_json::nlohmann_json fmt::fmt)
  target_precompile_headers(dormant_pch PRIVATE ${DORMANT_PCH_HEADERS})
else()
  set(DORMANT_USE_PCH OFF)
endif()

# dormant_use_pch(TARGET [TESTS]): TARGET reuses the libraries' (or the
# tests') precompiled header.
function(dormant_use_pch target)
  if(NOT DORMANT_USE_PCH)
    return()
  endif()
  if(ARGN STREQUAL "TESTS")
    target_precompile_headers(${target} REUSE_FROM dormant_test_pch)
  else()
    target_precompile_headers(${target} REUSE_FROM dormant_pch)
  endif()
endfunction()
