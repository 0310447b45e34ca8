// The dormant::Error a callable throws, for tests that check its kind and
// message.
#pragma once

#include <gtest/gtest.h>

#include "dormant/core/error.hpp"

namespace dormant::testing {

// The Error `f` throws; a test failure (and an internal error) when it throws none.
template <typename F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no dormant::Error thrown";
  return Error(ErrorKind::internal, "test", "no error");
}

}  // namespace dormant::testing
