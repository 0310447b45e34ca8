// The HTML rendering: one self-contained file (inline CSS, an inline SVG
// chart, no script, no external reference), every catalog value escaped.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "dormant/report/report.hpp"
#include "text.hpp"

namespace dormant::report {
namespace {

std::string h(std::string_view text) { return html_escape(text); }
std::string hd(const std::string& text) { return text.empty() ? "&#8211;" : h(text); }

struct StateStyle {
  std::string_view state, css, color;
};
// Stacking order of the chart, bottom up; colors readable for the common
// forms of color blindness (blue / orange / vermilion / grey).
constexpr std::array<StateStyle, 4> kStates{{{"compliant", "ok", "#0072b2"},
                                             {"updates-pending", "pending", "#e69f00"},
                                             {"security-updates-pending", "security", "#d55e00"},
                                             {"unknown", "unknown", "#7f7f7f"}}};

// A class from a fixed list, never the catalog's text.
std::string_view css_of(std::string_view state) {
  for (const auto& s : kStates)
    if (s.state == state) return s.css;
  return "none";
}

std::int64_t count_of(const StateCounts& c, std::size_t index) {
  const std::array<std::int64_t, 4> values{c.compliant, c.updates_pending, c.security_updates_pending,
                                           c.unknown};
  return values[index];
}

constexpr std::string_view kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#222;max-width:80em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
.meta{color:#666}table{border-collapse:collapse;margin:.5em 0}
th,td{text-align:left;padding:.25em .8em;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f5f5f5}td.n{text-align:right}code{font-family:ui-monospace,monospace;overflow-wrap:break-word}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:8em}
.card b{display:block;font-size:1.6em}
.state{padding:.1em .5em;border-radius:4px;color:#fff;white-space:nowrap}
.ok{background:#0072b2}.pending{background:#e69f00}.security{background:#d55e00}.unknown{background:#7f7f7f}
.none{background:#bbb}details summary{cursor:pointer;color:#555}
)";

std::string state_badge(const std::string& state) {
  return fmt::format("<span class=\"state {}\">{}</span>", css_of(state), h(state));
}

std::string list_cell(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : "<br>") + ("<code>" + h(v) + "</code>");
  return out.empty() ? "&#8211;" : out;
}

// Stacked bars, one per day, with axes, labels and a legend.
std::string chart(const std::vector<Day>& days) {
  if (days.empty()) return "<p>Nothing has been assessed yet.</p>\n";
  constexpr double kWidth = 760, kHeight = 300, kLeft = 50, kRight = 16, kTop = 40, kBottom = 70;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  std::int64_t max_total = 1;
  for (const auto& d : days) max_total = std::max(max_total, d.states.total());
  const std::int64_t step = std::max<std::int64_t>(1, (max_total + 4) / 5);
  const std::int64_t y_max = (max_total + step - 1) / step * step;
  auto y_of = [&](double v) { return kTop + plot_h - v / static_cast<double>(y_max) * plot_h; };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" height=\"{1}\" "
      "role=\"img\" aria-label=\"images by compliance state per day\" font-size=\"11\">\n",
      kWidth, kHeight);
  for (std::int64_t v = 0; v <= y_max; v += step)  // y grid and labels
    svg += fmt::format(
        "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#ddd\"/>"
        "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
        kLeft, kLeft + plot_w, y_of(static_cast<double>(v)), kLeft - 6, y_of(static_cast<double>(v)) + 4, v);
  const double slot = plot_w / static_cast<double>(days.size());
  const double bar = std::max(1.0, slot * 0.7);
  const std::size_t label_every = (days.size() + 11) / 12;  // at most about 12 date labels
  for (std::size_t i = 0; i < days.size(); ++i) {
    const double x = kLeft + slot * static_cast<double>(i) + (slot - bar) / 2;
    double base = 0;
    for (std::size_t s = 0; s < kStates.size(); ++s) {
      const auto n = count_of(days[i].states, s);
      if (n == 0) continue;
      const double top = y_of(base + static_cast<double>(n));
      svg += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\">"
          "<title>{} {}: {}</title></rect>\n",
          x, top, bar, y_of(base) - top, kStates[s].color, h(days[i].day), kStates[s].state, n);
      base += static_cast<double>(n);
    }
    if (i % label_every == 0) {
      const double lx = x + bar / 2, ly = kTop + plot_h + 12;
      svg += fmt::format(
          "<text x=\"{0:.1f}\" y=\"{1:.1f}\" text-anchor=\"end\" transform=\"rotate(-40 {0:.1f} "
          "{1:.1f})\">{2}"
          "</text>\n",
          lx, ly, h(days[i].day));
    }
  }
  svg += fmt::format(
      "<line x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#444\"/>"
      "<line x1=\"{0}\" x2=\"{3}\" y1=\"{2}\" y2=\"{2}\" stroke=\"#444\"/>\n"
      "<text x=\"14\" y=\"{4}\" transform=\"rotate(-90 14 {4})\" text-anchor=\"middle\">images</text>\n"
      "<text x=\"{5}\" y=\"{6}\" text-anchor=\"middle\">day (UTC)</text>\n",
      kLeft, kTop, kTop + plot_h, kLeft + plot_w, kTop + plot_h / 2, kLeft + plot_w / 2, kHeight - 6);
  double lx = kLeft;
  for (const auto& s : kStates) {  // legend
    svg += fmt::format(
        "<rect x=\"{0:.0f}\" y=\"12\" width=\"12\" height=\"12\" fill=\"{1}\"/>"
        "<text x=\"{2:.0f}\" y=\"22\">{3}</text>\n",
        lx, s.color, lx + 16, s.state);
    lx += 24 + 7.0 * static_cast<double>(s.state.size());
  }
  return svg + "</svg>\n";
}

std::string summary(const Report& r) {
  std::string out = "<div class=\"cards\">\n";
  const std::array<std::pair<std::string, std::int64_t>, 6> cards{
      {{"images", r.states.total()},
       {"compliant", r.states.compliant},
       {"updates-pending", r.states.updates_pending},
       {"security-updates-pending", r.states.security_updates_pending},
       {"unknown", r.states.unknown},
       {"unassessed", r.states.unassessed}}};
  for (const auto& [label, n] : cards)
    out += fmt::format("<div class=\"card\"><b>{}</b>{}</div>\n", n, label);
  out += "</div>\n";
  out += fmt::format("<p>Pending updates: {} ({} security).</p>\n", r.updates, r.security_updates);
  if (const auto& o = r.oldest_unpatched)
    out += fmt::format("<p>Oldest unpatched image: <code>{}</code> {} since {} ({}).</p>\n", h(o->path),
                       state_badge(o->state), h(o->since), h(o->basis));
  else
    out += "<p>No image is waiting for updates.</p>\n";
  return out;
}

std::string packages_and_cves(const Report& r) {
  std::string out = "<h2>Pending security updates by package</h2>\n";
  if (r.security_packages.empty()) {
    out += "<p>None.</p>\n";
  } else {
    out +=
        "<table><tr><th>Package</th><th>Images</th><th>Installed</th><th>Candidate</th><th>CVEs</th></tr>\n";
    for (const auto& p : r.security_packages)
      out += fmt::format(
          "<tr><td><code>{}</code></td><td class=\"n\" title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td>"
          "</tr>\n",
          h(p.name), h(fmt::format("{}", fmt::join(p.images, "\n"))), p.images.size(), list_cell(p.installed),
          list_cell(p.candidates), list_cell(p.cves));
    out += "</table>\n";
  }
  out += "<h2>Open CVEs</h2>\n";
  if (r.cves.empty())
    return out + "<p>None (or no advisory data was given to <code>dormant assess</code>).</p>\n";
  out += "<table><tr><th>CVE</th><th>Packages</th><th>Images</th></tr>\n";
  for (const auto& c : r.cves)
    out += fmt::format("<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n", h(c.id),
                       list_cell(c.packages), list_cell(c.images));
  return out + "</table>\n";
}

std::string servicing_cell(const std::optional<Servicing>& s) {
  if (!s) return "never";
  std::string out = fmt::format("{} {}<br>run <code>{}</code>", h(s->state), h(s->at), h(s->run_id));
  if (s->job_run_id) out += fmt::format(", job run {}", *s->job_run_id);
  if (!s->reason.empty()) out += "<br>" + h(s->reason);
  return out;
}

std::string recent_list(const ImageReport& i) {
  if (i.recent.empty()) return "";
  std::string out = "<details><summary>history</summary><ul>";
  for (const auto& e : i.recent) {
    std::string detail = e.kind == "assessment"
                             ? fmt::format("{} updates, {} security", e.updates, e.security_updates)
                             : "run " + e.run_id;
    if (!e.reason.empty()) detail += ": " + e.reason;
    out += fmt::format("<li>{} {} {} &#8211; {}</li>", h(e.at), h(e.kind), h(e.state), h(detail));
  }
  return out + "</ul></details>";
}

std::string images(const Report& r) {
  std::string out = "<h2>Images</h2>\n";
  if (r.images.empty()) return out + "<p>No image.</p>\n";
  out +=
      "<table><tr><th>Image</th><th>Domain</th><th>OS</th><th>State</th><th>Updates</th><th>Security</th>"
      "<th>Assessed</th><th>Last servicing</th></tr>\n";
  for (const auto& i : r.images) {
    std::string state = state_badge(i.state);
    if (i.unsigned_sources) state += " UNSIGNED";
    if (!i.reason.empty()) state += "<br>" + h(i.reason);
    out += fmt::format(
        "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>"
        "<td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>\n",
        h(i.path), recent_list(i), hd(i.domain), hd(i.os), state, i.updates, i.security_updates,
        hd(i.assessed_at), servicing_cell(i.last_servicing));
  }
  return out + "</table>\n";
}

}  // namespace

std::string render_html(const Report& r) {
  const std::string scope = r.group.empty() ? "all images" : "group " + h(r.group);
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      // Defense in depth: should a value ever escape unescaped, nothing runs and nothing is fetched.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
      "'unsafe-inline'\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>dormant compliance report: {0}</title>\n<style>{1}</style></head><body>\n"
      "<h1>Compliance report</h1>\n<p class=\"meta\">{0}, generated {2} (UTC)</p>\n<h2>Summary</h2>\n",
      scope, kStyle, h(r.generated_at));
  out += summary(r);
  out +=
      "<h2>Compliance over time</h2>\n<p class=\"meta\">Images by state at the end of each day on which "
      "something was assessed.</p>\n";
  out += chart(r.history);
  out += packages_and_cves(r);
  out += images(r);
  return out + "</body></html>\n";
}

}  // namespace dormant::report
