// The CLI's progress display: the bar line (width, percentage, shortening of
// the item from the left) and TerminalProgress on a terminal (redrawn in
// place, erased at the end) and off one (plain lines only with --verbose).
#include "progress.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace dormant::cli {
namespace {

std::size_t columns(const std::string& text) {
  std::size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

TEST(ProgressLine, BarPercentageCountAndItemFitTheWidth) {
  // width 120: bar of 30, everything fits.
  EXPECT_EQ(progress_line("assess", 9, 20, "/srv/images/web-01.qcow2", "compliant", 120),
            "assess [#############-----------------]  45% 9/20 /srv/images/web-01.qcow2: compliant");
  // width 60: bar of 15, the path shortened from the left to fit 59 columns.
  const std::string line = progress_line("assess", 9, 20, "/srv/images/web-01.qcow2", "compliant", 60);
  EXPECT_EQ(line, "assess [######---------]  45% 9/20 \u2026web-01.qcow2: compliant");
  EXPECT_EQ(columns(line), 59u);
}

TEST(ProgressLine, EndsAndEmptyBar) {
  EXPECT_EQ(progress_line("identify", 0, 4, "a", "added", 40), "identify [----------]   0% 0/4 a: added");
  EXPECT_EQ(progress_line("identify", 4, 4, "a", "added", 40), "identify [##########] 100% 4/4 a: added");
}

TEST(ProgressLine, NeverWiderThanTheTerminalLessOneColumn) {
  const std::string item = "/srv/images/" + std::string(150, 'x') + "/caf\u00e9-\u00e9\u00e9\u00e9.qcow2";
  for (std::size_t width = 1; width <= 200; ++width) {
    for (std::size_t done : {0u, 1u, 7u, 13u}) {
      const std::string line = progress_line("patch", done, 13, item, "committed", width);
      EXPECT_LE(columns(line), width > 1 ? width - 1 : 0) << width;
      // Cut on character boundaries only: no stray continuation byte first.
      if (!line.empty()) {
        EXPECT_NE(static_cast<unsigned char>(line[0]) & 0xC0, 0x80);
      }
      if (width >= 60) {
        EXPECT_TRUE(line.ends_with(".qcow2: committed")) << line;
      }
    }
  }
  // Too narrow even for the bar: the line is cut at the edge.
  EXPECT_EQ(progress_line("assess", 1, 2, "x", "ok", 10), "assess [#");
}

TEST(ProgressLine, ControlCharactersInTheItemAreNotSentToTheTerminal) {
  const std::string line = progress_line("identify", 1, 1, "/lib/\x1b]0;pwned\x07.qcow2", "added", 120);
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_NE(line.find("/lib/?]0;pwned?.qcow2: added"), std::string::npos) << line;
}

TEST(TerminalProgress, OnATerminalTheBarIsRedrawnInPlaceAndErasedAtTheEnd) {
  std::ostringstream err;
  TerminalProgress progress(err, /*is_tty=*/true, /*verbose=*/false, /*width=*/60);
  progress.begin("assess", 20);
  progress.step(9, "/srv/images/web-01.qcow2", "compliant");
  progress.step(20, "/srv/images/web-02.qcow2", "updates-pending");
  progress.end();
  const std::string out = err.str();
  EXPECT_EQ(out,
            "\r\033[Kassess [######---------]  45% 9/20 \u2026web-01.qcow2: compliant"
            "\r\033[Kassess [###############] 100% 20/20 \u2026qcow2: updates-pending"
            "\r\033[K");
  EXPECT_EQ(out.find('\n'), std::string::npos);
}

TEST(TerminalProgress, NothingToEraseWhenNothingWasDrawn) {
  std::ostringstream err;
  TerminalProgress progress(err, true, false, 80);
  progress.begin("identify", 0);
  progress.end();
  EXPECT_EQ(err.str(), "");
}

TEST(TerminalProgress, OffATerminalPlainLinesOnlyWhenVerbose) {
  std::ostringstream quiet, verbose;
  for (auto* out : {&quiet, &verbose}) {
    TerminalProgress progress(*out, /*is_tty=*/false, /*verbose=*/out == &verbose, 60);
    progress.begin("identify", 2);
    progress.step(1, "/lib/a.qcow2", "added");
    progress.step(2, "/lib/b.qcow2", "unchanged");
    progress.end();
  }
  EXPECT_EQ(quiet.str(), "");
  EXPECT_EQ(verbose.str(), "identify [1/2] /lib/a.qcow2: added\nidentify [2/2] /lib/b.qcow2: unchanged\n");
}

TEST(TerminalWidth, NotATerminalIs80) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  EXPECT_EQ(terminal_width(fds[0]), 80u);
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace dormant::cli
