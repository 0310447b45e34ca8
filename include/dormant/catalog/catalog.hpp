// The catalog: dormant's durable record of libraries, images, groups and update
// sources, kept in one SQLite file (WAL, synchronous=FULL, foreign keys on).
//
// One Catalog object is used from one thread at a time; several processes may
// open the same file (SQLite locks it, busy_timeout waits for the other).
// Every write is a transaction: a crash leaves either the old or the new row.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dormant::catalog {

// The schema version this build writes (PRAGMA user_version).
inline constexpr int kSchemaVersion = 6;

enum class LibraryKind { directory, libvirt_pool };

std::string_view to_string(LibraryKind kind);

struct Library {
  std::int64_t id = 0;
  std::string name;
  LibraryKind kind = LibraryKind::directory;
  std::string path;      // directory: its absolute path; pool: the pool's target path when known
  std::string pool;      // libvirt pool name (libvirt_pool only)
  std::string uri;       // libvirt connection URI (libvirt_pool only)
  std::string added_at;  // UTC, ISO 8601
};

// What the last identify learned about an image file.
struct ImageRecord {
  std::int64_t id = 0;
  std::optional<std::int64_t> library_id;  // null for images found only through a libvirt domain
  std::string path;                        // absolute, unique
  std::string domain;                      // libvirt domain using it, or ""
  std::string format;                      // "qcow2", ...
  std::uint64_t virtual_size = 0;
  std::uint64_t file_size = 0;  // st_size on the host
  // "st_dev:st_ino:size:mtime_ns:ctime_ns". ctime cannot be set from user
  // space (touch -d sets only atime/mtime), so any rewrite changes it and the
  // image is inspected again.
  std::string identity;
  std::string state;   // "ok", "unsupported", "error", "missing"
  std::string reason;  // why it is not "ok"
  std::string access;  // "fast" or "guestfs"
  std::string os_id;
  std::string os_version_id;
  std::string os_pretty_name;
  std::string arch;
  std::string hostname;
  std::optional<std::int64_t> package_count;
  std::string inspection_json;  // inspect::to_json of the full inspection, or ""
  std::string inspected_at;     // UTC, ISO 8601
  std::string package_set;      // sha256 of its PackageSet, or "" (no dpkg database read)
};

// An image's package database, as the assessment needs it. Content-addressed:
// images with identical databases (clones of a template) share one.
struct PackageSet {
  std::string sha256;  // package_set_sha256(*this)
  std::string dpkg_status;
  std::string extended_states;
  std::vector<std::string> architectures;  // dpkg's native first, then the foreign ones
};

// The key of a package set: SHA-256 over its three parts.
std::string package_set_sha256(const PackageSet& set);

// Compliance of an image, from its latest assessment.
inline constexpr std::string_view kCompliant = "compliant";
inline constexpr std::string_view kUpdatesPending = "updates-pending";
inline constexpr std::string_view kSecurityUpdatesPending = "security-updates-pending";
inline constexpr std::string_view kUnknown = "unknown";

struct AssessmentRecord {
  std::int64_t id = 0;
  std::int64_t image_id = 0;
  std::string image_path;   // filled when read
  std::string assessed_at;  // UTC, ISO 8601 (now when empty on write)
  std::string state;        // one of the four above
  std::string reason;       // why unknown
  std::int64_t updates = 0;
  std::int64_t security_updates = 0;
  bool unsigned_sources = false;  // an --allow-unsigned source was used
  std::string package_set;        // sha256 it was made from, or ""
  std::string result_json;        // the image's object as `dormant assess --json` prints it
};

// An offline patch run (`dormant patch`) and what it did to each image.
struct PatchRun {
  std::string id;  // "20261129T101500Z-<pid>"
  std::string started_at;
  std::string finished_at;  // "" while running
  std::string mode = "offline";
  std::string options_json;       // the options as given
  std::string state = "running";  // running, done, failed, abandoned
  std::optional<std::int64_t> job_run_id;  // the job run it serves (`dormant job`), if any
};

// One image in a patch run. State order: planned -> downloaded -> staged ->
// verified -> [finalized] -> committed; or nothing-to-do, dry-run, failed
// (`reason` says at which step and why).
struct PatchImageRecord {
  std::string run_id;
  std::int64_t image_id = 0;
  std::string image_path;  // filled when read
  std::string state;
  std::string reason;
  std::int64_t planned = 0;             // packages in the plan (installs + removals)
  std::int64_t staged = 0;              // .deb files written into the image
  std::optional<std::int64_t> applied;  // packages at their planned version after --finalize
  bool verified = false;                // filesystem check clean and every staged file re-hashed
  std::string old_sha256, new_sha256;   // of the library image file before / after commit
  std::string version_path;             // where the previous version was kept
  std::string updated_at;
  std::string detail_json;  // the image's object as `dormant patch --json` prints it
};

// Jobs (schema version 6; docs/jobs.md): a saved servicing task over a set of
// images, run by hand (`dormant job run`) or on a schedule (`dormant daemon`).
struct Job {
  std::string name;          // as source names
  std::string targets_json;  // {"images":[paths]} | {"group":G} | {"all":true}
  std::string mode = "offline";  // offline, service
  std::string host_group;        // --mode service
  std::string options_json = "{}";  // security_only, exclude, finalize, timeouts (seconds by phase)
  std::string max_concurrent = "1";  // "N" or "P%" (schedule/limits.hpp)
  std::string max_errors = "0";
  std::string schedule;  // 5-field cron, UTC, or ""
  std::string window;    // "HH:MM-HH:MM" UTC, or ""
  std::string created_at;
  std::string last_fire;  // the last schedule fire time the daemon acted on
};

// One run of a job. state: running -> done | failed (some item failed) |
// stopped (--max-errors exceeded or the window closed; stop_reason says) |
// cancelled | interrupted (its runner died; `job resume` continues it).
struct JobRun {
  std::int64_t id = 0;
  std::string job_name;
  std::string trigger = "manual";  // manual, schedule
  std::string started_at, finished_at;
  std::string state = "running";
  std::string stop_reason;
  std::int64_t runner_pid = 0;
  bool cancel_requested = false;
  std::string settings_json = "{}";  // the limits as resolved for this run (items, concurrency, threshold)
};

// One image of a job run. state: pending -> running -> done | failed |
// cancelled; a running item whose process died goes back to pending (its
// attempt counts up) once what it left is cleaned up.
struct JobItem {
  std::int64_t run_id = 0;
  std::int64_t image_id = 0;
  std::string image_path;  // filled when read
  std::string state = "pending";
  std::int64_t attempt = 0;
  std::string host;  // --mode service: the maintenance host it was given
  std::int64_t pid = 0;  // the `dormant patch` process serving it
  std::string patch_run_id;
  std::string started_at, finished_at;
  std::string result;  // the patch state: committed, nothing-to-do, failed
  std::string reason;
  std::string log;  // timings, phase log, guest output tail, errors
};

// A start or finish of an item; seq orders all events of all runs.
struct JobEvent {
  std::int64_t seq = 0;
  std::int64_t run_id = 0;
  std::int64_t image_id = 0;
  std::string host;
  std::string kind;  // start, finish
  std::string at;    // UTC with milliseconds
};

struct Group {
  std::int64_t id = 0;
  std::string name;
  std::optional<std::string> match_glob;
};

struct GroupMember {
  ImageRecord image;
  bool explicit_member = false;  // added by name (group add), not only by the glob
};

// An apt repository that updates come from (`dormant source add`). Signed
// with `keyring`, or explicitly unsigned (`allow_unsigned`, test
// repositories only): exactly one of the two. Bound to one group, or (no
// group) used for every image.
struct Source {
  std::int64_t id = 0;
  std::string name;                             // [A-Za-z0-9][A-Za-z0-9._-]*, unique
  std::string uri;                              // http://, https:// or file://
  std::string suite;                            // dists/ style ("bookworm"); flat repositories are refused
  std::vector<std::string> components{"main"};  // stored as a JSON array
  std::optional<std::string> keyring;           // absolute path of a readable regular file
  bool security = false;                        // updates from it are security updates
  bool allow_unsigned = false;
  std::optional<std::string> group;  // the group it is bound to (by name), or none: every image
  std::string added_at;              // UTC, ISO 8601
};

// A maintenance host (`dormant host add`): a libvirt daemon that servicing
// VMs of patch runs (--mode service) are started on. Hosts of one group are
// interchangeable.
struct Host {
  std::string name;  // [A-Za-z0-9][A-Za-z0-9._-]*, unique
  std::string uri;   // libvirt connection URI: qemu:///system, qemu+ssh://..., qemu+tls://...
  std::string host_group = "default";
  std::int64_t max_vms = 1;        // servicing VMs at once on this host
  std::int64_t memory_mib = 1024;  // memory of each servicing VM unless the image says otherwise
  std::string pool = "default";    // libvirt storage pool for the temporary volumes
  std::string added_at;            // UTC, ISO 8601 (now when empty on write)
};

// What add_host checks before it writes: Error(usage) naming the field (a
// name or host group unlike a source name, a URI without "://" or with white
// space, max_vms < 1, memory_mib < 128, an empty pool). For callers that
// must check before doing anything else (`dormant host add` probes first).
void validate_host(const Host& host);

class Catalog {
 public:
  // Opens or creates the catalog at `path` (parent directories are created
  // with mode 0700, the file gets 0600) and migrates it to kSchemaVersion.
  // Error(io) naming the file when it cannot be opened or is not a database;
  // Error(unsupported) when it was written by a newer dormant.
  explicit Catalog(const std::filesystem::path& path);
  ~Catalog();
  Catalog(Catalog&&) noexcept;
  Catalog& operator=(Catalog&&) noexcept;

  const std::filesystem::path& path() const;
  int schema_version();
  std::string journal_mode();

  // Libraries. add_library: Error(conflict) when the name or directory is
  // taken. remove_library: Error(not_found); the library's images (and their
  // group memberships) go with it.
  Library add_library(Library library);
  std::vector<Library> libraries();
  std::optional<Library> find_library(std::string_view name);
  void remove_library(std::string_view name);

  // libvirt connections searched for shut-off domains. Adding one twice is a no-op.
  void add_connection(std::string_view uri);
  std::vector<std::string> connections();

  // Images, keyed by path. put_images inserts or updates all of them in one
  // transaction (the id of an existing path is kept).
  std::vector<ImageRecord> images();
  std::optional<ImageRecord> find_image(std::string_view path);
  std::optional<ImageRecord> find_image(std::int64_t id);
  void put_images(const std::vector<ImageRecord>& records);
  void put_image(const ImageRecord& record) { put_images({record}); }

  // Groups. create_group: Error(conflict) when the name is taken; the others
  // Error(not_found) for an unknown group. Members are the explicit ones plus
  // every image whose path, file name or domain matches the glob (fnmatch,
  // '*' also matches '/'), evaluated when asked.
  Group create_group(std::string_view name, std::optional<std::string> match_glob);
  void remove_group(std::string_view name);
  std::vector<Group> groups();
  std::optional<Group> find_group(std::string_view name);
  void add_group_members(std::string_view group, const std::vector<std::int64_t>& image_ids);
  std::vector<GroupMember> group_members(std::string_view group);

  // Package sets. put_package_set stores one unless its sha256 is present
  // (Error(usage) when sha256 does not match the content).
  // remove_unused_package_sets drops those no image refers to.
  void put_package_set(const PackageSet& set);
  std::optional<PackageSet> find_package_set(std::string_view sha256);
  std::size_t remove_unused_package_sets();

  // Assessments: appended, never updated (the history). latest_assessments:
  // the newest per image, by image path; assessment_history: one image's,
  // newest first, at most `limit`.
  void add_assessments(const std::vector<AssessmentRecord>& records);
  std::vector<AssessmentRecord> latest_assessments();
  std::vector<AssessmentRecord> assessment_history(std::int64_t image_id, std::size_t limit = 100);

  // Patch runs. begin_patch_run inserts the run (Error(conflict) when its id
  // exists); put_patch_image inserts or replaces the (run, image) row;
  // patch_history: one image's rows, newest first.
  void begin_patch_run(const PatchRun& run);
  void finish_patch_run(const std::string& run_id, const std::string& state);
  std::optional<PatchRun> find_patch_run(const std::string& run_id);
  std::vector<PatchRun> patch_runs(std::size_t limit = 100);
  void put_patch_image(const PatchImageRecord& record);
  std::vector<PatchImageRecord> patch_images(const std::string& run_id);
  std::vector<PatchImageRecord> patch_history(std::int64_t image_id, std::size_t limit = 100);

  // Jobs. add_job: Error(conflict) when the name exists; remove_job:
  // Error(not_found), Error(conflict) while a run of it is running (its runs
  // and items go with it). begin_job_run inserts the run and one pending item
  // per image in one transaction and returns its id.
  void add_job(const Job& job);
  void remove_job(std::string_view name);
  std::vector<Job> jobs();
  std::optional<Job> find_job(std::string_view name);
  void set_job_last_fire(std::string_view name, const std::string& fire);
  std::int64_t begin_job_run(const JobRun& run, const std::vector<std::int64_t>& image_ids);
  std::optional<JobRun> find_job_run(std::int64_t id);
  std::vector<JobRun> job_runs(std::string_view job_name, std::size_t limit = 100);  // newest first; "" = all
  void set_job_run_runner(std::int64_t id, std::int64_t pid, const std::string& state);
  void finish_job_run(std::int64_t id, const std::string& state, const std::string& stop_reason);
  void request_job_cancel(std::int64_t id);
  std::vector<JobItem> job_items(std::int64_t run_id);
  // Takes a pending item for dispatch: state running, attempt + 1, host, a
  // start event; in one IMMEDIATE transaction that first counts the running
  // items of every running job run on `host` and refuses (returns false)
  // when that reaches `host_max_vms` (no check when host is "").
  bool claim_job_item(std::int64_t run_id, std::int64_t image_id, const std::string& host,
                      std::int64_t host_max_vms);
  void set_job_item_process(std::int64_t run_id, std::int64_t image_id, std::int64_t pid);
  // Ends a running item: its state (done, failed, cancelled, or pending to
  // run it again), result, reason and log appended; a finish event.
  void end_job_item(const JobItem& item);
  // Marks every pending item of the run cancelled with `reason`.
  void cancel_pending_job_items(std::int64_t run_id, const std::string& reason);
  std::vector<JobEvent> job_events(std::int64_t run_id = 0);  // 0 = all runs, by seq
  std::vector<PatchRun> patch_runs_of_job_run(std::int64_t job_run_id);

  // Update sources. add_source validates (Error(usage) naming the field: bad
  // name, URI scheme, suite, component, keyring and allow_unsigned both or
  // neither; Error(not_found) for a keyring file or group that does not
  // exist; Error(conflict) when the name is taken); the keyring is stored as
  // an absolute path. remove_source: Error(not_found). A group that sources
  // are bound to cannot be removed (remove_group: Error(conflict) naming them).
  Source add_source(Source source);
  std::vector<Source> list_sources();
  std::optional<Source> find_source(std::string_view name);
  void remove_source(std::string_view name);
  // The sources that apply to an image: every global source, plus those bound
  // to a group the image is a member of (explicitly or by glob), by name.
  std::vector<Source> sources_for_image(std::int64_t image_id);

  // Maintenance hosts. add_host: validate_host, then Error(conflict) when the
  // name exists; remove_host: Error(not_found). hosts and hosts_in_group: by
  // name.
  void add_host(const Host& host);
  void remove_host(std::string_view name);
  std::vector<Host> hosts();
  std::optional<Host> find_host(std::string_view name);
  std::vector<Host> hosts_in_group(std::string_view host_group);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True when `glob` matches the image's path, file name or domain name.
bool glob_matches(std::string_view glob, const ImageRecord& image);

// Current UTC time as "2026-11-25T14:55:00Z".
std::string utc_now();
// The same with milliseconds: "2026-11-25T14:55:00.123Z".
std::string utc_now_ms();

}  // namespace dormant::catalog
