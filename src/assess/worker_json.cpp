// JSON forms of the resolver's types: the worker protocol and --json output.
#include <nlohmann/json.hpp>

#include "dormant/assess/worker.hpp"

namespace dormant::assess {
namespace {

using Action = PackageChange::Action;

}  // namespace

std::string_view to_string(Action action) {
  switch (action) {
    case Action::upgrade:
      return "upgrade";
    case Action::held:
      return "held";
    case Action::kept_back:
      return "kept-back";
    case Action::removed:
      return "removed";
    case Action::excluded:
      return "excluded";
    case Action::deferred:
      return "deferred";
  }
  return "upgrade";
}

namespace {

Action action_from(const std::string& name) {
  for (Action a : {Action::upgrade, Action::held, Action::kept_back, Action::removed, Action::excluded,
                   Action::deferred})
    if (to_string(a) == name) return a;
  throw nlohmann::json::other_error::create(501, "unknown package change action '" + name + "'", nullptr);
}

nlohmann::json changes_json(const std::vector<PackageChange>& changes) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& change : changes) list.push_back(change);
  return list;
}

}  // namespace

void to_json(nlohmann::json& j, const PackageChange& c) {
  j = {{"name", c.name},
       {"arch", c.arch},
       {"installed", c.installed},
       {"candidate", c.candidate},
       {"source", c.source},
       {"suite", c.suite},
       {"security", c.security},
       {"source_package", c.source_package},
       {"source_version", c.source_version},
       {"action", to_string(c.action)},
       {"auto_installed", c.auto_installed}};
}

void from_json(const nlohmann::json& j, PackageChange& c) {
  j.at("name").get_to(c.name);
  j.at("arch").get_to(c.arch);
  j.at("installed").get_to(c.installed);
  j.at("candidate").get_to(c.candidate);
  j.at("source").get_to(c.source);
  j.at("suite").get_to(c.suite);
  j.at("security").get_to(c.security);
  j.at("source_package").get_to(c.source_package);
  j.at("source_version").get_to(c.source_version);
  c.action = action_from(j.at("action").get<std::string>());
  // Absent in results recorded before auto flags were reported.
  c.auto_installed = j.value("auto_installed", false);
}

void to_json(nlohmann::json& j, const Resolution& r) {
  j = {{"broken", r.broken},
       {"resolver_error", r.resolver_error},
       {"updates", changes_json(r.updates)},
       {"new_packages", changes_json(r.new_packages)},
       {"removed_packages", changes_json(r.removed_packages)},
       {"unknown_excludes", r.unknown_excludes},
       {"pruned", r.pruned},
       {"universe_packages", r.universe_packages}};
}

void from_json(const nlohmann::json& j, Resolution& r) {
  j.at("broken").get_to(r.broken);
  j.at("resolver_error").get_to(r.resolver_error);
  j.at("updates").get_to(r.updates);
  j.at("new_packages").get_to(r.new_packages);
  j.at("removed_packages").get_to(r.removed_packages);
  r.unknown_excludes = j.value("unknown_excludes", std::vector<std::string>{});
  j.at("pruned").get_to(r.pruned);
  j.at("universe_packages").get_to(r.universe_packages);
}

void to_json(nlohmann::json& j, const UniverseOptions& o) {
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& s : o.sources) {
    sources.push_back(
        {{"name", s.spec.name},
         {"uri", s.spec.uri},
         {"suite", s.spec.suite},
         {"components", s.spec.components},
         {"keyring", s.spec.keyring ? nlohmann::json(s.spec.keyring->string()) : nlohmann::json()},
         {"allow_unsigned", s.spec.allow_unsigned},
         {"security", s.spec.security},
         {"lists_dir", s.lists_dir.string()}});
  }
  j = {{"work_dir", o.work_dir.string()},
       {"architectures", o.architectures},
       {"full_universe", o.full_universe},
       {"sources", std::move(sources)}};
}

void from_json(const nlohmann::json& j, UniverseOptions& o) {
  o.work_dir = j.at("work_dir").get<std::string>();
  j.at("architectures").get_to(o.architectures);
  j.at("full_universe").get_to(o.full_universe);
  o.sources.clear();
  for (const auto& s : j.at("sources")) {
    UniverseSource source;
    s.at("name").get_to(source.spec.name);
    s.at("uri").get_to(source.spec.uri);
    s.at("suite").get_to(source.spec.suite);
    s.at("components").get_to(source.spec.components);
    if (!s.at("keyring").is_null()) source.spec.keyring = s.at("keyring").get<std::string>();
    s.at("allow_unsigned").get_to(source.spec.allow_unsigned);
    s.at("security").get_to(source.spec.security);
    source.lists_dir = s.at("lists_dir").get<std::string>();
    o.sources.push_back(std::move(source));
  }
}

void to_json(nlohmann::json& j, const ResolveOptions& o) {
  j = {{"security_only", o.security_only}, {"exclude", o.exclude}};
}

void from_json(const nlohmann::json& j, ResolveOptions& o) {
  o = ResolveOptions{};
  o.security_only = j.value("security_only", false);
  o.exclude = j.value("exclude", std::vector<std::string>{});
}

ErrorKind error_kind_from_string(std::string_view name) {
  for (ErrorKind kind : {ErrorKind::usage, ErrorKind::not_found, ErrorKind::unsupported, ErrorKind::hostile,
                         ErrorKind::corrupt, ErrorKind::limit, ErrorKind::io, ErrorKind::conflict})
    if (to_string(kind) == name) return kind;
  return ErrorKind::internal;
}

}  // namespace dormant::assess
