// Package sets (content-addressed package databases) and assessments (an
// append-only history; the newest row per image is its compliance state).
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include <nlohmann/json.hpp>

#include "catalog_impl.hpp"
#include "dormant/catalog/catalog.hpp"
#include "dormant/core/sha256.hpp"

namespace dormant::catalog {
namespace {

std::string architectures_json(const std::vector<std::string>& architectures) {
  return nlohmann::json(architectures).dump();
}

constexpr const char* kAssessmentColumns =
    "a.id, a.image_id, i.path, a.assessed_at, a.state, a.reason, a.updates, a.security_updates, "
    "a.unsigned_sources, a.package_set, a.result_json";

AssessmentRecord read_assessment(SQLite::Statement& q) {
  AssessmentRecord r;
  r.id = q.getColumn(0).getInt64();
  r.image_id = q.getColumn(1).getInt64();
  r.image_path = q.getColumn(2).getString();
  r.assessed_at = q.getColumn(3).getString();
  r.state = q.getColumn(4).getString();
  r.reason = text(q.getColumn(5));
  r.updates = q.getColumn(6).getInt64();
  r.security_updates = q.getColumn(7).getInt64();
  r.unsigned_sources = q.getColumn(8).getInt() != 0;
  r.package_set = text(q.getColumn(9));
  r.result_json = q.getColumn(10).getString();
  return r;
}

}  // namespace

std::string package_set_sha256(const PackageSet& set) {
  std::string architectures = architectures_json(set.architectures);
  return sha256_hex(std::vector<std::string_view>{set.dpkg_status, set.extended_states, architectures});
}

void Catalog::put_package_set(const PackageSet& set) {
  if (set.sha256 != package_set_sha256(set))
    fail(ErrorKind::usage, impl_->subject, "package set {}: sha256 does not match its content", set.sha256);
  impl_->guard("recording a package set", [&] {
    SQLite::Statement q(
        impl_->db,
        "INSERT OR IGNORE INTO package_sets (sha256, dpkg_status, extended_states, architectures) "
        "VALUES (?1, ?2, ?3, ?4)");
    q.bind(1, set.sha256);
    q.bind(2, set.dpkg_status.data(), static_cast<int>(set.dpkg_status.size()));
    q.bind(3, set.extended_states.data(), static_cast<int>(set.extended_states.size()));
    q.bind(4, architectures_json(set.architectures));
    q.exec();
  });
}

std::optional<PackageSet> Catalog::find_package_set(std::string_view sha256) {
  return impl_->guard("reading a package set", [&]() -> std::optional<PackageSet> {
    SQLite::Statement q(
        impl_->db,
        "SELECT sha256, dpkg_status, extended_states, architectures FROM package_sets WHERE sha256 = ?1");
    q.bind(1, std::string(sha256));
    if (!q.executeStep()) return std::nullopt;
    PackageSet set;
    set.sha256 = q.getColumn(0).getString();
    auto blob = [&](int i) {
      const auto& column = q.getColumn(i);
      return std::string(static_cast<const char*>(column.getBlob()),
                         static_cast<std::size_t>(column.getBytes()));
    };
    set.dpkg_status = blob(1);
    set.extended_states = blob(2);
    try {
      set.architectures = nlohmann::json::parse(q.getColumn(3).getString()).get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::corrupt, impl_->subject, "package set {}: architectures: {}", set.sha256, e.what());
    }
    if (package_set_sha256(set) != set.sha256)
      fail(ErrorKind::corrupt, impl_->subject, "package set {}: content does not match its sha256",
           set.sha256);
    return set;
  });
}

std::size_t Catalog::remove_unused_package_sets() {
  return impl_->guard("removing unused package sets", [&] {
    return static_cast<std::size_t>(
        impl_->db.exec("DELETE FROM package_sets WHERE sha256 NOT IN (SELECT package_set FROM images WHERE "
                       "package_set IS NOT NULL)"));
  });
}

void Catalog::add_assessments(const std::vector<AssessmentRecord>& records) {
  impl_->guard("recording assessments", [&] {
    auto& db = impl_->db;
    SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement q(db, R"sql(
INSERT INTO assessments (image_id, assessed_at, state, reason, updates, security_updates, unsigned_sources,
                         package_set, result_json)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
)sql");
    for (const auto& r : records) {
      q.reset();
      q.clearBindings();
      q.bind(1, static_cast<std::int64_t>(r.image_id));
      q.bind(2, r.assessed_at.empty() ? utc_now() : r.assessed_at);
      q.bind(3, r.state);
      bind_text_or_null(q, 4, r.reason);
      q.bind(5, static_cast<std::int64_t>(r.updates));
      q.bind(6, static_cast<std::int64_t>(r.security_updates));
      q.bind(7, r.unsigned_sources ? 1 : 0);
      bind_text_or_null(q, 8, r.package_set);
      q.bind(9, r.result_json);
      q.exec();
    }
    transaction.commit();
  });
}

std::vector<AssessmentRecord> Catalog::latest_assessments() {
  return impl_->guard("reading assessments", [&] {
    SQLite::Statement q(impl_->db,
                        std::string("SELECT ") + kAssessmentColumns +
                            " FROM assessments a JOIN images i ON i.id = a.image_id"
                            " WHERE a.id = (SELECT MAX(id) FROM assessments WHERE image_id = a.image_id)"
                            " ORDER BY i.path");
    std::vector<AssessmentRecord> out;
    while (q.executeStep()) out.push_back(read_assessment(q));
    return out;
  });
}

std::vector<AssessmentRecord> Catalog::assessment_history(std::int64_t image_id, std::size_t limit) {
  return impl_->guard("reading assessments", [&] {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kAssessmentColumns +
                                       " FROM assessments a JOIN images i ON i.id = a.image_id"
                                       " WHERE a.image_id = ?1 ORDER BY a.id DESC LIMIT ?2");
    q.bind(1, static_cast<std::int64_t>(image_id));
    q.bind(2, static_cast<std::int64_t>(limit));
    std::vector<AssessmentRecord> out;
    while (q.executeStep()) out.push_back(read_assessment(q));
    return out;
  });
}

}  // namespace dormant::catalog
