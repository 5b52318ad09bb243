// net::resolve: getaddrinfo without blocking the hub. The hosts file and
// nsswitch.conf are small local files read directly (as gevent's resolvers
// do); DNS goes through green::dns, so only the asking greenlet parks.
#include <green/net.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

namespace green::net {

namespace {

std::mutex g_options_mutex;
ResolveOptions g_options;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

// The sources of nsswitch.conf's "hosts:" line we implement, in order.
std::vector<std::string> host_sources(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string key;
    if (!(words >> key) || key != "hosts:") continue;
    std::vector<std::string> sources;
    for (std::string w; words >> w;)
      if (w == "files" || w == "dns") sources.push_back(w);  // [NOTFOUND=return] and the like are skipped
    return sources;
  }
  return {"files", "dns"};
}

// The hosts file as (name, address) pairs in file order, parsed again only
// when the file changed: a stat() per call instead of a read and parse (the
// file can be large: ad-blocking lists run to 100,000 lines).
struct HostsTable {
  std::string path;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  timespec mtime{};
  std::vector<std::pair<std::string, address>> entries;
};

std::mutex g_hosts_mutex;

std::shared_ptr<const HostsTable> hosts_table(const std::string& path) {
  static std::shared_ptr<const HostsTable> cached;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return nullptr;
  {
    std::lock_guard<std::mutex> lock(g_hosts_mutex);
    if (cached && cached->path == path && cached->dev == st.st_dev && cached->ino == st.st_ino &&
        cached->size == st.st_size && cached->mtime.tv_sec == st.st_mtim.tv_sec &&
        cached->mtime.tv_nsec == st.st_mtim.tv_nsec)
      return cached;
  }
  auto t = std::make_shared<HostsTable>();
  t->path = path;
  t->dev = st.st_dev;
  t->ino = st.st_ino;
  t->size = st.st_size;
  t->mtime = st.st_mtim;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string addr;
    if (!(words >> addr)) continue;
    boost::system::error_code bec;
    const address a = boost::asio::ip::make_address(addr, bec);
    if (bec) continue;
    for (std::string name; words >> name;) t->entries.emplace_back(std::move(name), a);
  }
  std::lock_guard<std::mutex> lock(g_hosts_mutex);
  cached = t;
  return t;
}

std::vector<address> from_hosts_file(const std::string& path, std::string_view host) {
  std::vector<address> out;
  const auto table = hosts_table(path);
  if (!table) return out;
  for (const auto& [name, a] : table->entries)
    if (iequals(name, host) && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  return out;
}

std::vector<address> from_dns(const dns::Options& opt, std::string_view host) {
  std::vector<address> out;
  dns::Resolver r(opt);
  for (dns::Type t : {dns::Type::a, dns::Type::aaaa}) {
    const dns::Answer ans = r.query(host, t);
    if (!ans.ok()) continue;
    for (const dns::Record& rec : ans.records) {
      if (const auto* a4 = std::get_if<dns::A>(&rec.data)) {
        boost::asio::ip::address_v4::bytes_type b;
        std::copy(std::begin(a4->addr), std::end(a4->addr), b.begin());
        out.emplace_back(boost::asio::ip::address_v4(b));
      } else if (const auto* a6 = std::get_if<dns::AAAA>(&rec.data)) {
        boost::asio::ip::address_v6::bytes_type b;
        std::copy(std::begin(a6->addr), std::end(a6->addr), b.begin());
        out.emplace_back(boost::asio::ip::address_v6(b));
      }
    }
  }
  return out;
}

}  // namespace

void set_resolve_options(ResolveOptions options) {
  std::lock_guard<std::mutex> lock(g_options_mutex);
  g_options = std::move(options);
}

ResolveOptions resolve_options() {
  std::lock_guard<std::mutex> lock(g_options_mutex);
  return g_options;
}

std::vector<address> resolve(std::string_view host, const ResolveOptions& options, std::error_code& ec) {
  ec.clear();
  std::error_code numeric;
  const address a = parse_address(host, numeric);
  if (!numeric) return {a};
  if (dns::name_error(host) == nullptr) {
    for (const std::string& source : host_sources(options.nsswitch_file)) {
      std::vector<address> found =
          source == "files" ? from_hosts_file(options.hosts_file, host) : from_dns(options.dns, host);
      if (!found.empty()) return found;
    }
  }
  ec = boost::system::error_code(boost::asio::error::host_not_found);
  return {};
}

std::vector<address> resolve(std::string_view host, const ResolveOptions& options) {
  std::error_code ec;
  std::vector<address> out = resolve(host, options, ec);
  if (ec) throw std::system_error(ec, "cannot resolve host '" + std::string(host) + "'");
  return out;
}

std::vector<address> resolve(std::string_view host) { return resolve(host, resolve_options()); }

}  // namespace green::net
