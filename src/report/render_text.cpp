// The table (a terminal) and CSV (one row per image) renderings.
#include <fmt/format.h>

#include "dormant/report/report.hpp"
#include "text.hpp"

namespace dormant::report {
namespace {

std::string dash(const std::string& value) { return value.empty() ? "-" : value; }

std::string join(const std::vector<std::string>& values, std::string_view separator) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : std::string(separator)) + v;
  return out;
}

std::string servicing_text(const std::optional<Servicing>& s) {
  if (!s) return "never";
  std::string out = fmt::format("{} {} (run {}", s->state, s->at, s->run_id);
  if (s->job_run_id) out += fmt::format(", job run {}", *s->job_run_id);
  return out + ")";
}

std::string event_detail(const Event& e) {
  if (e.kind == "assessment")
    return e.reason.empty() ? fmt::format("{} updates, {} security", e.updates, e.security_updates)
                            : e.reason;
  return e.reason.empty() ? "run " + e.run_id : "run " + e.run_id + ": " + e.reason;
}

std::string summary_section(const Report& r) {
  TextTable t({"", ""});
  const auto& s = r.states;
  t.add({"images", std::to_string(s.total())});
  t.add({"compliant", std::to_string(s.compliant)});
  t.add({"updates-pending", std::to_string(s.updates_pending)});
  t.add({"security-updates-pending", std::to_string(s.security_updates_pending)});
  t.add({"unknown", std::to_string(s.unknown)});
  t.add({"unassessed", std::to_string(s.unassessed)});
  t.add({"pending updates", fmt::format("{} ({} security)", r.updates, r.security_updates)});
  if (const auto& o = r.oldest_unpatched)
    t.add({"oldest unpatched", fmt::format("{} ({} since {}, {})", o->path, o->state, o->since, o->basis)});
  else
    t.add({"oldest unpatched", "-"});
  std::string text = t.render("  ");
  return "Summary\n" + text.substr(text.find('\n') + 1);  // no header row
}

}  // namespace

std::string render_table(const Report& r) {
  std::string out =
      fmt::format("dormant compliance report of {} (generated {})\n\n",
                  r.group.empty() ? "all images" : "group " + terminal_safe(r.group), r.generated_at);
  out += summary_section(r);

  out += "\nPending security updates by package\n";
  TextTable packages({"PACKAGE", "IMAGES", "INSTALLED", "CANDIDATE", "CVES"});
  for (const auto& p : r.security_packages)
    packages.add({p.name, std::to_string(p.images.size()), dash(join(p.installed, " ")),
                  dash(join(p.candidates, " ")), dash(join(p.cves, " "))});
  out += packages.empty() ? "  none\n" : packages.render("  ");

  out += "\nOpen CVEs (where `dormant assess --advisories` was given)\n";
  TextTable cves({"CVE", "PACKAGES", "IMAGES"});
  for (const auto& c : r.cves) cves.add({c.id, join(c.packages, " "), join(c.images, " ")});
  out += cves.empty() ? "  none\n" : cves.render("  ");

  out += "\nImages\n";
  TextTable images(
      {"IMAGE", "DOMAIN", "OS", "STATE", "UPDATES", "SECURITY", "ASSESSED", "LAST SERVICING", "REASON"});
  TextTable recent({"IMAGE", "AT", "KIND", "STATE", "DETAIL"});
  for (const auto& i : r.images) {
    images.add(
        {i.path, dash(i.domain), dash(i.os), i.state + (i.unsigned_sources ? " (UNSIGNED)" : ""),
         std::to_string(i.updates), std::to_string(i.security_updates), dash(i.assessed_at),
         servicing_text(i.last_servicing),
         dash(i.last_servicing && !i.last_servicing->reason.empty() ? i.last_servicing->reason : i.reason)});
    for (const auto& e : i.recent) recent.add({i.path, e.at, e.kind, e.state, event_detail(e)});
  }
  out += images.empty() ? "  none\n" : images.render("  ");

  out += fmt::format("\nRecent history (at most {} events per image, newest first)\n", kRecentEvents);
  out += recent.empty() ? "  none\n" : recent.render("  ");

  out += "\nImages by state at the end of each day (UTC)\n";
  TextTable days({"DAY", "COMPLIANT", "UPDATES-PENDING", "SECURITY-UPDATES-PENDING", "UNKNOWN"});
  for (const auto& d : r.history)
    days.add({d.day, std::to_string(d.states.compliant), std::to_string(d.states.updates_pending),
              std::to_string(d.states.security_updates_pending), std::to_string(d.states.unknown)});
  out += days.empty() ? "  nothing assessed yet\n" : days.render("  ");
  return out;
}

std::string render_csv(const Report& r) {
  // RFC 4180: CRLF line ends, a header row.
  std::string out =
      "image,domain,os,state,reason,updates,security_updates,unsigned_sources,assessed_at,"
      "last_servicing_state,last_servicing_at,last_servicing_run,last_servicing_job_run,"
      "last_servicing_reason,security_packages,cves\r\n";
  for (const auto& i : r.images) {
    const auto& s = i.last_servicing;
    const std::vector<std::string> fields{i.path,
                                          i.domain,
                                          i.os,
                                          i.state,
                                          i.reason,
                                          std::to_string(i.updates),
                                          std::to_string(i.security_updates),
                                          i.unsigned_sources ? "true" : "false",
                                          i.assessed_at,
                                          s ? s->state : "",
                                          s ? s->at : "",
                                          s ? s->run_id : "",
                                          s && s->job_run_id ? std::to_string(*s->job_run_id) : "",
                                          s ? s->reason : "",
                                          join(i.security_packages, " "),
                                          join(i.cves, " ")};
    std::string line;
    for (std::size_t k = 0; k < fields.size(); ++k) line += (k == 0 ? "" : ",") + csv_field(fields[k]);
    out += line + "\r\n";
  }
  return out;
}

}  // namespace dormant::report
