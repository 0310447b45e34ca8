# dormant_add_gtest_suites(TARGET PREFIX p LABELS l... [TIMEOUT s] [RUN_SERIAL]
#                          [RELEASE_ONLY regex])
#
# Registers one ctest test per GoogleTest *suite* of TARGET (not one per
# test, as gtest_discover_tests does): a suite's SetUpTestSuite, which builds
# apt repositories and guests, then runs once per suite instead of once per
# test process. Each suite writes its results to
# ${CMAKE_BINARY_DIR}/test-results/PREFIX.SUITE.xml; tests/run-tests.sh counts
# tests, failures and skips from those files (tests/support/gtest_results.py).
#
# Every suite gets the label `asan` (runs in the ASan+UBSan tree) unless its
# name matches RELEASE_ONLY, which gets `release` instead (what ASan cannot
# run: tests/README.md). Discovery runs after each link, like
# gtest_discover_tests' POST_BUILD mode.
function(dormant_add_gtest_suites target)
  cmake_parse_arguments(arg "RUN_SERIAL" "PREFIX;TIMEOUT;RELEASE_ONLY" "LABELS" ${ARGN})
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 1800)
  endif()
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${target}_suites.cmake")
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND}
      -D "EXE=$<TARGET_FILE:${target}>"
      -D "OUT=${out}"
      -D "PREFIX=${arg_PREFIX}"
      -D "LABELS=${arg_LABELS}"
      -D "TIMEOUT=${arg_TIMEOUT}"
      -D "RUN_SERIAL=${arg_RUN_SERIAL}"
      -D "RELEASE_ONLY=${arg_RELEASE_ONLY}"
      -D "RESULTS=${CMAKE_BINARY_DIR}/test-results"
      -P ${PROJECT_SOURCE_DIR}/cmake/gtest_suites_discover.cmake
    BYPRODUCTS ${out}
    VERBATIM)
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${out})
endfunction()
