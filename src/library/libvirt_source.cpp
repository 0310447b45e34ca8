#include "dormant/library/libvirt_source.hpp"

#include <libxml/parser.h>
#include <libxml/xpath.h>

#include <memory>

#include "dormant/core/error.hpp"
#include "libvirt_api.hpp"

namespace dormant::library {
namespace {

struct XmlDocFree {
  void operator()(xmlDocPtr d) const { xmlFreeDoc(d); }
};
struct XPathContextFree {
  void operator()(xmlXPathContextPtr c) const { xmlXPathFreeContext(c); }
};
struct XPathObjectFree {
  void operator()(xmlXPathObjectPtr o) const { xmlXPathFreeObject(o); }
};
struct CFree {
  void operator()(char* p) const { std::free(p); }
};

using Pool = PoolHandle;

Connection open_connection(const std::string& uri) {
  silence_libvirt();
  // Read-only is enough to list pools, volumes and domains, and cannot change anything.
  Connection conn(libvirt_api().virConnectOpenReadOnly(uri.c_str()));
  if (!conn)
    fail(ErrorKind::io, uri, "cannot connect to libvirt: {}; check the URI and that libvirtd is running",
         last_libvirt_error());
  return conn;
}

using XmlDoc = std::unique_ptr<xmlDoc, XmlDocFree>;

XmlDoc parse_xml(const std::string& xml, const std::string& subject) {
  // XML_PARSE_NONET: no network; no XML_PARSE_NOENT: entities are not expanded.
  XmlDoc doc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "libvirt.xml", nullptr,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc) fail(ErrorKind::corrupt, subject, "libvirt returned XML that does not parse");
  return doc;
}

// Values of the attributes selected by an XPath expression.
std::vector<std::string> xpath_values(xmlDocPtr doc, const char* expression) {
  std::unique_ptr<xmlXPathContext, XPathContextFree> context(xmlXPathNewContext(doc));
  if (!context) return {};
  std::unique_ptr<xmlXPathObject, XPathObjectFree> result(
      xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(expression), context.get()));
  std::vector<std::string> values;
  if (!result || !result->nodesetval) return values;
  for (int i = 0; i < result->nodesetval->nodeNr; ++i) {
    xmlNodePtr node = result->nodesetval->nodeTab[i];
    xmlChar* content = xmlNodeGetContent(node);
    if (!content) continue;
    values.emplace_back(reinterpret_cast<const char*>(content));
    xmlFree(content);
  }
  return values;
}

Pool lookup_pool(virConnectPtr conn, const std::string& uri, const std::string& name) {
  Pool pool(libvirt_api().virStoragePoolLookupByName(conn, name.c_str()));
  if (!pool)
    fail(ErrorKind::not_found, name,
         "no storage pool with this name on {}; see `virsh -c {} pool-list --all`", uri, uri);
  return pool;
}

std::filesystem::path volume_path(virStoragePoolPtr pool, const std::string& volume) {
  VolumeHandle vol(libvirt_api().virStorageVolLookupByName(pool, volume.c_str()));
  if (!vol) return {};
  std::unique_ptr<char, CFree> path(libvirt_api().virStorageVolGetPath(vol.get()));
  return path ? std::filesystem::path(path.get()) : std::filesystem::path();
}

}  // namespace

PoolContents list_pool(const std::string& uri, const std::string& pool_name) {
  auto conn = open_connection(uri);
  auto pool = lookup_pool(conn.get(), uri, pool_name);
  PoolContents contents;
  std::unique_ptr<char, CFree> xml(libvirt_api().virStoragePoolGetXMLDesc(pool.get(), 0));
  if (xml) {
    auto doc = parse_xml(xml.get(), pool_name);
    auto paths = xpath_values(doc.get(), "/pool/target/path");
    if (!paths.empty()) contents.target_path = paths.front();
  }
  virStorageVolPtr* volumes = nullptr;
  int count = libvirt_api().virStoragePoolListAllVolumes(pool.get(), &volumes, 0);
  if (count < 0)
    fail(ErrorKind::io, pool_name, "cannot list the volumes of the pool: {}", last_libvirt_error());
  for (int i = 0; i < count; ++i) {
    VolumeHandle vol(volumes[i]);
    std::unique_ptr<char, CFree> path(libvirt_api().virStorageVolGetPath(vol.get()));
    if (path) contents.volumes.emplace_back(path.get());
  }
  std::free(volumes);
  return contents;
}

std::vector<std::filesystem::path> disks_from_domain_xml(
    const std::string& xml, std::vector<std::pair<std::string, std::string>>* volumes) {
  auto doc = parse_xml(xml, "domain");
  std::vector<std::filesystem::path> paths;
  for (auto& file : xpath_values(doc.get(), "/domain/devices/disk[@device='disk']/source/@file"))
    paths.emplace_back(file);
  for (auto& dev : xpath_values(doc.get(), "/domain/devices/disk[@device='disk']/source/@dev"))
    paths.emplace_back(dev);
  if (volumes) {
    // Pairs: each <source pool= volume=> node gives both attributes.
    auto pools =
        xpath_values(doc.get(), "/domain/devices/disk[@device='disk']/source[@pool and @volume]/@pool");
    auto vols =
        xpath_values(doc.get(), "/domain/devices/disk[@device='disk']/source[@pool and @volume]/@volume");
    for (std::size_t i = 0; i < pools.size() && i < vols.size(); ++i)
      volumes->emplace_back(pools[i], vols[i]);
  }
  return paths;
}

std::vector<DomainDisk> list_domain_disks(const std::string& uri) {
  auto conn = open_connection(uri);
  virDomainPtr* domains = nullptr;
  int count = libvirt_api().virConnectListAllDomains(
      conn.get(), &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_INACTIVE);
  if (count < 0) fail(ErrorKind::io, uri, "cannot list domains: {}", last_libvirt_error());
  std::vector<DomainHandle> owned;
  owned.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) owned.emplace_back(domains[i]);
  std::free(domains);

  std::vector<DomainDisk> disks;
  for (auto& domain : owned) {
    const char* name = libvirt_api().virDomainGetName(domain.get());
    std::string domain_name = name ? name : "";
    bool running = libvirt_api().virDomainIsActive(domain.get()) == 1;
    // The inactive definition: what the domain boots from next time.
    std::unique_ptr<char, CFree> xml(
        libvirt_api().virDomainGetXMLDesc(domain.get(), VIR_DOMAIN_XML_INACTIVE));
    if (!xml) continue;
    std::vector<std::pair<std::string, std::string>> volumes;
    for (auto& path : disks_from_domain_xml(xml.get(), &volumes))
      disks.push_back({domain_name, running, path});
    for (auto& [pool_name, volume] : volumes) {
      Pool pool(libvirt_api().virStoragePoolLookupByName(conn.get(), pool_name.c_str()));
      if (!pool) continue;
      auto path = volume_path(pool.get(), volume);
      if (!path.empty()) disks.push_back({domain_name, running, path});
    }
  }
  return disks;
}

}  // namespace dormant::library
