#include "dormant/core/shared_library.hpp"

#include <gtest/gtest.h>

#include <string>

#include "dormant/core/error.hpp"

namespace {

using dormant::Error;
using dormant::ErrorKind;
using dormant::SharedLibrary;

TEST(SharedLibrary, MissingLibraryNamesThePackageToInstall) {
  try {
    SharedLibrary library("libdormant-does-not-exist.so.0", "libdormant-nothing0");
    FAIL() << "loading a missing library succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_EQ(e.subject(), "libdormant-does-not-exist.so.0");
    EXPECT_NE(std::string(e.what()).find("install the Debian package libdormant-nothing0"), std::string::npos)
        << e.what();
  }
}

TEST(SharedLibrary, BindsARealSymbolAndRefusesAMissingOne) {
  SharedLibrary libc("libc.so.6", "libc6");
  int (*absolute)(int) = nullptr;
  libc.bind(absolute, "abs");
  ASSERT_NE(absolute, nullptr);
  EXPECT_EQ(absolute(-7), 7);
  try {
    libc.symbol("dormant_no_such_symbol");
    FAIL() << "a missing symbol was found";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_NE(std::string(e.what()).find("dormant_no_such_symbol"), std::string::npos) << e.what();
  }
}

}  // namespace
