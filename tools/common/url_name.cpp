#include "common/url_name.hpp"

#include <algorithm>
#include <string_view>

namespace green::tools {

namespace {

// A file name that is safe anywhere: [A-Za-z0-9._-] kept, the rest '_', no
// leading dot (no hidden files, no "..").
std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    out.push_back(ok ? c : '_');
  }
  std::size_t lead = 0;
  while (lead < out.size() && out[lead] == '.') ++lead;
  return out.substr(lead);
}

}  // namespace

std::string file_name_for(const http::Url& u) {
  constexpr std::size_t kMax = 120;
  std::string_view path = u.path;
  const auto slash = path.rfind('/');
  std::string name = sanitize(slash == std::string_view::npos ? path : path.substr(slash + 1));
  if (name.empty()) name = "index.html";
  if (!u.query.empty()) {
    std::string query = sanitize(u.query);
    std::replace(query.begin(), query.end(), '.', '_');
    const auto dot = name.rfind('.');
    const bool has_ext = dot != std::string::npos && dot > 0 && name.size() - dot <= 10;
    name = has_ext ? name.substr(0, dot) + "_" + query + name.substr(dot) : name + "_" + query;
  }
  if (name.size() > kMax) {
    const auto dot = name.rfind('.');
    const std::string ext = dot != std::string::npos && name.size() - dot <= 10 ? name.substr(dot) : "";
    name = name.substr(0, kMax - ext.size()) + ext;
  }
  return name;
}

}  // namespace green::tools
