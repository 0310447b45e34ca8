// Progress reporting from long operations. The core never prints: it calls a
// ProgressSink that the frontend implements (a bar on a TTY, plain lines
// otherwise, events over HTTP later).
#pragma once

#include <cstddef>
#include <string_view>

namespace dormant {

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // A phase with `total` items begins ("identify", 200).
  virtual void begin(std::string_view phase, std::size_t total) = 0;
  // Item `done` of `total` finished; `item` names it, `outcome` is a short word.
  virtual void step(std::size_t done, std::string_view item, std::string_view outcome) = 0;
  virtual void end() = 0;
};

// A sink that drops everything.
class NullProgress final : public ProgressSink {
 public:
  void begin(std::string_view, std::size_t) override {}
  void step(std::size_t, std::string_view, std::string_view) override {}
  void end() override {}
};

}  // namespace dormant
