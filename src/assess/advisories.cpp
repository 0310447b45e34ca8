// Debian Security Tracker JSON, read as a SAX stream (see advisories.hpp).
#include "dormant/assess/advisories.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>
#include <unordered_map>

#include "dormant/core/error.hpp"
#include "dormant/repo/version.hpp"

namespace dormant::assess {

namespace detail {

// One resolved release of one advisory. Strings live in AdvisoryData::pool:
// a few hundred thousand of these stay small and need no allocation each.
struct Fix {
  std::uint32_t id_offset = 0;
  std::uint32_t version_offset = 0;
  std::uint16_t id_size = 0;
  std::uint16_t version_size = 0;
  std::uint16_t codename = 0;  // index into AdvisoryData::codenames
};

struct AdvisoryData {
  std::string pool;  // ids and fixed versions, back to back
  std::vector<std::string> codenames;
  std::map<std::string, std::vector<Fix>, std::less<>> by_source;
  std::size_t advisories = 0;
  std::size_t skipped = 0;

  std::string_view view(std::uint32_t offset, std::uint16_t size) const {
    return std::string_view(pool).substr(offset, size);
  }
};

}  // namespace detail

namespace {

using detail::AdvisoryData;
using detail::Fix;
using json = nlohmann::json;

// Ids and versions are a few dozen bytes; a longer one is not the tracker's
// and would not fit a Fix.
constexpr std::size_t kMaxField = 1024;
// Codenames are a handful (buster ... sid); an index must fit a Fix.
constexpr std::size_t kMaxCodenames = std::numeric_limits<std::uint16_t>::max();

// What the value being read means, from where it is in the document.
enum class Frame {
  top,       // the object of source packages
  package,   // a source package's object of advisories
  advisory,  // one advisory: description, scope, releases, ...
  releases,  // the advisory's object of codenames
  release,   // one release: status, fixed_version, ...
  ignored,   // anything else, down to its end (only counted)
};

enum class Slot { root, package, advisory, releases, release, status, fixed_version, ignored };

// Builds AdvisoryData from nlohmann's SAX events. Keeps the path of frames
// down to the value being read and the fields of the one release being read.
class Handler final : public nlohmann::json_sax<json> {
 public:
  explicit Handler(AdvisoryData& data) : data_(data) {}

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t) override { return scalar(); }
  bool number_unsigned(number_unsigned_t) override { return scalar(); }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool binary(binary_t&) override { return scalar(); }

  bool string(string_t& value) override {
    switch (next_slot()) {
      case Slot::status:
        status_ = value;
        bad_status_ = false;
        return true;
      case Slot::fixed_version:
        fixed_version_ = value;
        bad_fixed_version_ = false;
        return true;
      default:
        return scalar();
    }
  }

  bool key(string_t& value) override {
    if (ignored_depth_ == 0) frames_.back().key = value;
    return true;
  }

  bool start_object(std::size_t) override {
    switch (next_slot()) {
      case Slot::root:
        return push(Frame::top);
      case Slot::package:
        return push(Frame::package);
      case Slot::advisory:
        ++data_.advisories;
        return push(Frame::advisory);
      case Slot::releases:
        return push(Frame::releases);
      case Slot::release:
        status_.reset();
        fixed_version_.reset();
        bad_status_ = false;
        bad_fixed_version_ = false;
        return push(Frame::release);
      case Slot::status:
      case Slot::fixed_version:
        wrong_type();
        return push(Frame::ignored);
      case Slot::ignored:
        return push(Frame::ignored);
    }
    return push(Frame::ignored);
  }

  bool end_object() override {
    if (ignored_depth_ > 0) {
      --ignored_depth_;
      return true;
    }
    if (frames_.back().frame == Frame::release) finish_release();
    frames_.pop_back();
    return true;
  }

  bool start_array(std::size_t) override {
    if (next_slot() == Slot::root) return not_an_object();
    scalar();  // an array is as wrong as a number wherever a value is used
    return push(Frame::ignored);
  }

  bool end_array() override {
    --ignored_depth_;  // arrays are only ever ignored
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    // nlohmann counts the bytes read, the offending one included: the
    // offset of that byte (the input's size at an unexpected end) is one less.
    error_ = fmt::format("invalid JSON at byte {}: {}", position == 0 ? 0 : position - 1, e.what());
    return false;
  }

  // Why parsing stopped; empty when it did not.
  const std::string& error() const { return error_; }

 private:
  struct Open {
    Frame frame;
    std::string key;  // the last key read in this object
  };

  bool push(Frame frame) {
    if (frame == Frame::ignored)
      ++ignored_depth_;
    else
      frames_.push_back({frame, {}});
    return true;
  }

  Slot next_slot() const {
    if (ignored_depth_ > 0) return Slot::ignored;
    if (frames_.empty()) return Slot::root;
    const Open& open = frames_.back();
    switch (open.frame) {
      case Frame::top:
        return Slot::package;
      case Frame::package:
        return Slot::advisory;
      case Frame::advisory:
        return open.key == "releases" ? Slot::releases : Slot::ignored;
      case Frame::releases:
        return Slot::release;
      case Frame::release:
        if (open.key == "status") return Slot::status;
        if (open.key == "fixed_version") return Slot::fixed_version;
        return Slot::ignored;
      case Frame::ignored:
        break;
    }
    return Slot::ignored;
  }

  // A value that is not an object, or a string where no string is used.
  bool scalar() {
    switch (next_slot()) {
      case Slot::root:
        return not_an_object();
      case Slot::package:
      case Slot::advisory:
      case Slot::releases:
      case Slot::release:
        ++data_.skipped;
        return true;
      case Slot::status:
      case Slot::fixed_version:
        wrong_type();
        return true;
      case Slot::ignored:
        return true;
    }
    return true;
  }

  // status or fixed_version of another type than string: whether that skips
  // the release is only known at its end (fixed_version matters only when
  // it is resolved). The last of duplicate keys wins, as in a JSON tree.
  void wrong_type() {
    if (frames_.back().key == "status") {
      status_.reset();
      bad_status_ = true;
    } else {
      fixed_version_.reset();
      bad_fixed_version_ = true;
    }
  }

  bool not_an_object() {
    error_ = "not the security tracker's JSON: the top level is not an object of source packages";
    return false;
  }

  void finish_release() {
    if (bad_status_) {
      ++data_.skipped;
      return;
    }
    if (status_ != "resolved") return;
    if (bad_fixed_version_ || !fixed_version_ || fixed_version_->empty() ||
        fixed_version_->size() > kMaxField) {
      ++data_.skipped;
      return;
    }
    if (*fixed_version_ == "0") return;  // never affected: nothing to fix

    // Frames: top, package, advisory, releases, release.
    const std::string& source = frames_[0].key;
    const std::string& id = frames_[1].key;
    const std::string& codename = frames_[3].key;
    if (id.empty() || id.size() > kMaxField) {
      ++data_.skipped;
      return;
    }
    const auto codename_index = intern_codename(codename);
    if (!codename_index) {
      ++data_.skipped;
      return;
    }

    // Releases of one advisory are read one after the other: its id is
    // stored once for all of them.
    if (!has_last_id_ || id != last_id_) {
      last_id_ = id;
      has_last_id_ = true;
      last_id_offset_ = append(id);
    }
    Fix fix;
    fix.id_offset = last_id_offset_;
    fix.id_size = static_cast<std::uint16_t>(id.size());
    fix.version_offset = append(*fixed_version_);
    fix.version_size = static_cast<std::uint16_t>(fixed_version_->size());
    fix.codename = *codename_index;

    if (fixes_ == nullptr || source != fixes_source_) {
      auto it = data_.by_source.find(source);
      if (it == data_.by_source.end()) it = data_.by_source.emplace(source, std::vector<Fix>{}).first;
      fixes_ = &it->second;  // std::map nodes do not move
      fixes_source_ = source;
    }
    fixes_->push_back(fix);
  }

  std::optional<std::uint16_t> intern_codename(const std::string& codename) {
    if (auto it = codename_index_.find(codename); it != codename_index_.end()) return it->second;
    if (data_.codenames.size() >= kMaxCodenames) return std::nullopt;
    const auto index = static_cast<std::uint16_t>(data_.codenames.size());
    data_.codenames.push_back(codename);
    codename_index_.emplace(codename, index);
    return index;
  }

  // Offsets fit 32 bits: everything in the pool was read from the input,
  // which is at most Advisories::kMaxBytes (1 GiB).
  std::uint32_t append(const std::string& text) {
    const auto offset = static_cast<std::uint32_t>(data_.pool.size());
    data_.pool += text;
    return offset;
  }

  AdvisoryData& data_;
  // At most the 5 frames above ignored ones; nesting inside an ignored value
  // is only counted, so that "[[[[..." costs no memory per level.
  std::vector<Open> frames_;
  std::size_t ignored_depth_ = 0;
  std::optional<std::string> status_;
  std::optional<std::string> fixed_version_;
  bool bad_status_ = false;
  bool bad_fixed_version_ = false;
  std::unordered_map<std::string, std::uint16_t> codename_index_;
  std::string last_id_;
  bool has_last_id_ = false;
  std::uint32_t last_id_offset_ = 0;
  std::vector<Fix>* fixes_ = nullptr;
  std::string fixes_source_;
  std::string error_;
};

// A FILE read through a buffer, as the input iterator nlohmann's parser
// takes: the file is never held in memory whole. Stops (as at the end of
// the file) after kMaxBytes + 1 bytes or on a read error, both recorded.
class FileReader {
 public:
  FileReader(std::FILE* file) : file_(file) {}

  // True when a byte is available at pos_.
  bool fill() {
    if (pos_ < size_) return true;
    if (done_) return false;
    const std::size_t n = std::fread(buffer_.data(), 1, buffer_.size(), file_);
    if (n < buffer_.size()) {
      done_ = true;
      if (std::ferror(file_)) read_errno_ = errno != 0 ? errno : EIO;
    }
    total_ += n;
    if (total_ > Advisories::kMaxBytes) {
      over_limit_ = true;
      done_ = true;
      return false;
    }
    pos_ = 0;
    size_ = n;
    return n > 0;
  }
  char get() const { return buffer_[pos_]; }
  void next() { ++pos_; }

  bool over_limit() const { return over_limit_; }
  int read_errno() const { return read_errno_; }

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = char;
    using difference_type = std::ptrdiff_t;
    using pointer = const char*;
    using reference = char;

    Iterator() = default;
    explicit Iterator(FileReader* reader) : reader_(reader) {}
    char operator*() const { return reader_->get(); }
    Iterator& operator++() {
      reader_->next();
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      reader_->next();
      return old;
    }
    // Only ever compared with the end iterator (a null reader).
    bool operator==(const Iterator& other) const { return at_end() == other.at_end(); }
    bool operator!=(const Iterator& other) const { return !(*this == other); }

   private:
    bool at_end() const { return reader_ == nullptr || !reader_->fill(); }
    FileReader* reader_ = nullptr;
  };

 private:
  std::FILE* file_;
  std::vector<char> buffer_ = std::vector<char>(1 << 20);
  std::size_t pos_ = 0;
  std::size_t size_ = 0;
  std::uintmax_t total_ = 0;
  bool done_ = false;
  bool over_limit_ = false;
  int read_errno_ = 0;
};

[[noreturn]] void fail_json(const Handler& handler, const std::string& subject) {
  fail(ErrorKind::corrupt, subject, "{}", handler.error().empty() ? "invalid JSON" : handler.error());
}

void finish(AdvisoryData& data) {
  // Growth slack of every vector and of the pool, returned now that the
  // data stays as it is.
  for (auto& [source, fixes] : data.by_source) fixes.shrink_to_fit();
  data.pool.shrink_to_fit();
}

}  // namespace

Advisories::Advisories() : data_(std::make_unique<AdvisoryData>()) {}
Advisories::Advisories(std::unique_ptr<AdvisoryData> data) : data_(std::move(data)) {}
Advisories::Advisories(Advisories&&) noexcept = default;
Advisories& Advisories::operator=(Advisories&&) noexcept = default;
Advisories::~Advisories() = default;

Advisories Advisories::parse(std::string_view text, const std::string& subject) {
  if (text.size() > kMaxBytes)
    fail(ErrorKind::limit, subject, "the advisories have {} bytes, over the {} allowed", text.size(),
         static_cast<std::uintmax_t>(kMaxBytes));
  auto data = std::make_unique<AdvisoryData>();
  Handler handler(*data);
  if (!json::sax_parse(text.begin(), text.end(), &handler) || !handler.error().empty())
    fail_json(handler, subject);
  finish(*data);
  return Advisories(std::move(data));
}

Advisories Advisories::load(const std::filesystem::path& file) {
  const std::string subject = file.string();
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    fail(ErrorKind::io, subject, "cannot read the advisory file: {}", ec.message());
  if (!std::filesystem::exists(status)) fail(ErrorKind::not_found, subject, "advisory file does not exist");
  if (!std::filesystem::is_regular_file(status))
    fail(ErrorKind::io, subject, "advisory file is not a regular file");
  // Checked before reading, so that a huge file fails as such and not as
  // whatever JSON error its first bytes make; the reader checks again.
  if (const auto size = std::filesystem::file_size(file, ec); !ec && size > kMaxBytes)
    fail(ErrorKind::limit, subject, "the advisory file has {} bytes, over the {} allowed", size,
         static_cast<std::uintmax_t>(kMaxBytes));

  struct Close {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Close> stream(std::fopen(file.c_str(), "rb"));
  if (!stream) fail(ErrorKind::io, subject, "cannot open the advisory file: {}", std::strerror(errno));
  FileReader reader(stream.get());
  auto data = std::make_unique<AdvisoryData>();
  Handler handler(*data);
  const bool ok = json::sax_parse(FileReader::Iterator(&reader), FileReader::Iterator(), &handler) &&
                  handler.error().empty();
  // The reader's own failures explain a parse error they caused.
  if (reader.over_limit())
    fail(ErrorKind::limit, subject, "the advisory file is over {} bytes",
         static_cast<std::uintmax_t>(kMaxBytes));
  if (reader.read_errno() != 0)
    fail(ErrorKind::io, subject, "cannot read the advisory file: {}", std::strerror(reader.read_errno()));
  if (!ok) fail_json(handler, subject);
  finish(*data);
  return Advisories(std::move(data));
}

std::vector<std::string> Advisories::fixed_between(std::string_view source_package, std::string_view codename,
                                                   std::string_view installed,
                                                   std::string_view candidate) const {
  std::vector<std::string> ids;
  if (data_ == nullptr) return ids;
  const auto it = data_->by_source.find(source_package);
  if (it == data_->by_source.end()) return ids;
  const auto& names = data_->codenames;
  const auto name = std::find(names.begin(), names.end(), codename);
  if (name == names.end()) return ids;
  const auto index = static_cast<std::uint16_t>(name - names.begin());
  for (const Fix& fix : it->second) {
    if (fix.codename != index) continue;
    const std::string_view fixed = data_->view(fix.version_offset, fix.version_size);
    if (repo::compare_versions(installed, fixed) < 0 && repo::compare_versions(fixed, candidate) <= 0)
      ids.emplace_back(data_->view(fix.id_offset, fix.id_size));
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::size_t Advisories::advisory_count() const { return data_ == nullptr ? 0 : data_->advisories; }
std::size_t Advisories::skipped_entries() const { return data_ == nullptr ? 0 : data_->skipped; }

}  // namespace dormant::assess
