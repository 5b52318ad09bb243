#include "serve/http_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>

namespace green::tools::http_files {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

// ---- request targets --------------------------------------------------------------

std::optional<Target> parse_target(std::string_view target, std::string& why) {
  // Absolute form (a request to a proxy, which HTTP/1.1 servers must still
  // accept): the path starts after the authority.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() && iequals(target.substr(0, scheme.size()), scheme)) {
      target.remove_prefix(scheme.size());
      const auto slash = target.find_first_of("/?");
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      if (target.front() == '?') {
        why = "no path in the absolute-form target";
        return std::nullopt;
      }
      break;
    }
  }
  if (target.empty() || target.front() != '/') {
    why = "the target is not a path";
    return std::nullopt;
  }
  Target t;
  if (const auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  if (const auto q = target.find('?'); q != std::string_view::npos) {
    t.query = std::string(target.substr(q + 1));
    target = target.substr(0, q);
  }
  t.trailing_slash = target.back() == '/';
  std::size_t i = 0;
  while (i < target.size()) {
    std::size_t end = target.find('/', i);
    if (end == std::string_view::npos) end = target.size();
    const std::string_view raw = target.substr(i, end - i);
    i = end + 1;
    if (raw.empty()) continue;
    std::string seg;
    seg.reserve(raw.size());
    for (std::size_t k = 0; k < raw.size(); ++k) {
      if (raw[k] != '%') {
        seg += raw[k];
        continue;
      }
      const int hi = k + 2 < raw.size() ? hex_value(raw[k + 1]) : -1;
      const int lo = hi >= 0 ? hex_value(raw[k + 2]) : -1;
      if (lo < 0) {
        why = "bad percent-encoding";
        return std::nullopt;
      }
      seg += static_cast<char>(hi * 16 + lo);
      k += 2;
    }
    if (seg.find_first_of(std::string_view("/\\\0", 3)) != std::string::npos) {
      why = "an encoded '/', or a '\\' or NUL, in a path segment";
      return std::nullopt;
    }
    if (seg == "." || seg == "..") {
      why = "a '.' or '..' segment in the path";
      return std::nullopt;
    }
    t.segments.push_back(std::move(seg));
  }
  return t;
}

bool is_hidden(const Target& t) {
  return std::any_of(t.segments.begin(), t.segments.end(), [](const std::string& s) { return s.front() == '.'; });
}

std::string relative_path(const Target& t) {
  if (t.segments.empty()) return ".";
  std::string p;
  for (const auto& s : t.segments) {
    if (!p.empty()) p += '/';
    p += s;
  }
  return p;
}

std::string percent_encode_segment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string_view("-._~!$&'()*+,;=:@").find(ch) != std::string_view::npos;
    if (keep) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string url_path(const Target& t, bool slash) {
  std::string p;
  for (const auto& s : t.segments) {
    p += '/';
    p += percent_encode_segment(s);
  }
  if (slash || p.empty()) p += '/';
  return p;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// ---- opening files under DIR ------------------------------------------------------

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

std::string fd_path(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  std::string buf(4096, '\0');
  const ssize_t n = ::readlink(link, buf.data(), buf.size());
  if (n <= 0 || static_cast<std::size_t>(n) >= buf.size()) return {};
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

}  // namespace

Root::Root(const std::string& dir, bool follow_symlinks, bool use_openat2)
    : follow_(follow_symlinks), openat2_(use_openat2) {
  dir_ = Fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_) throw std::system_error(errno, std::generic_category(), "cannot serve '" + dir + "'");
  real_ = fd_path(dir_.get());
  if (real_.empty()) throw std::system_error(errno, std::generic_category(), "cannot resolve '" + dir + "'");
}

namespace {

// Whether a path has a component starting with '.' ("/a/.git/x": yes).
bool has_hidden_component(std::string_view p) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '.' && (i == 0 || p[i - 1] == '/')) return true;
  }
  return false;
}

long openat2_beneath(int dirfd, const char* path, std::uint64_t resolve) {
  open_how how{};
  how.flags = kOpenFlags;
  how.resolve = resolve;
  return ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

}  // namespace

bool Root::allowed(int fd, bool check_inside, bool check_hidden) const {
  const std::string p = fd_path(fd);
  if (p.empty()) return false;  // cannot tell: refuse
  const bool inside = real_ == "/" || p == real_ ||
                      (p.size() > real_.size() && p.compare(0, real_.size(), real_) == 0 && p[real_.size()] == '/');
  if (check_inside && !inside) return false;
  // Below DIR only DIR's own part counts (DIR itself may sit under a
  // hidden directory); a target out of DIR (--follow-symlinks) is judged by
  // its whole path.
  const std::string_view below = inside ? std::string_view(p).substr(real_ == "/" ? 0 : real_.size()) : p;
  return !(check_hidden && has_hidden_component(below));
}

std::optional<Opened> Root::open(const std::string& relative, std::error_code& ec, bool dotfiles) const {
  ec.clear();
  Fd fd;
  // What the opened file's own path must still be checked for: leading out
  // of DIR (no openat2 to refuse it), or reaching a hidden name through a
  // symlink (the request path was checked, the link's target was not).
  bool check_inside = false;
  bool check_hidden = false;
  bool done = false;
  if (openat2_ && (!follow_ || !dotfiles)) {
    const std::uint64_t beneath = follow_ ? 0 : RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    // Without --dotfiles a path without symlinks needs no further look
    // (the usual case: one system call); ELOOP says a link is on the way.
    long r = openat2_beneath(dir_.get(), relative.c_str(), beneath | (dotfiles ? 0 : RESOLVE_NO_SYMLINKS));
    if (r < 0 && errno == ELOOP && !dotfiles) {
      r = follow_ ? ::openat(dir_.get(), relative.c_str(), kOpenFlags)
                  : openat2_beneath(dir_.get(), relative.c_str(), beneath);
      check_hidden = true;
    }
    if (r >= 0) {
      fd = Fd(static_cast<int>(r));
      done = true;
    } else if (errno == ENOSYS || errno == EPERM) {
      openat2_ = false;  // an old kernel, or a seccomp filter that does not know it
      check_hidden = false;
    } else {
      done = true;
      if (errno == EXDEV) errno = ENOENT;  // it leads out of DIR
    }
  }
  if (!done) {
    fd = Fd(::openat(dir_.get(), relative.c_str(), kOpenFlags));
    check_inside = !follow_;
    check_hidden = !dotfiles;
  }
  if (fd && (check_inside || check_hidden) && !allowed(fd.get(), check_inside, check_hidden)) {
    ec = std::make_error_code(std::errc::no_such_file_or_directory);
    return std::nullopt;
  }
  if (!fd) {
    const int e = errno;
    // ELOOP: a symlink loop; ENOTDIR: a file used as a directory.
    ec = (e == ELOOP || e == ENOTDIR || e == ENXIO) ? std::make_error_code(std::errc::no_such_file_or_directory)
                                                    : std::error_code(e, std::generic_category());
    return std::nullopt;
  }
  Opened o;
  if (::fstat(fd.get(), &o.st) != 0) {
    ec = std::error_code(errno, std::generic_category());
    return std::nullopt;
  }
  if (!S_ISREG(o.st.st_mode) && !S_ISDIR(o.st.st_mode)) {
    ec = std::make_error_code(std::errc::no_such_file_or_directory);
    return std::nullopt;
  }
  o.fd = std::move(fd);
  return o;
}

int status_for(const std::error_code& ec) noexcept { return ec == std::errc::permission_denied ? 403 : 404; }

// ---- validators and conditional requests ------------------------------------------

// Hand-formatted (as http_date): snprintf was a visible part of a small
// file's CPU cost per request.
std::string make_etag(const struct stat& st) {
  const auto ns = static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ull +
                  static_cast<unsigned long long>(st.st_mtim.tv_nsec);
  std::string out;
  out.reserve(64);
  char num[24];
  const auto hex = [&](unsigned long long v) { out.append(num, std::to_chars(num, num + sizeof num, v, 16).ptr); };
  out += '"';
  hex(static_cast<unsigned long long>(st.st_ino));
  out += '-';
  hex(static_cast<unsigned long long>(st.st_size));
  out += '-';
  hex(ns);
  out += '"';
  return out;
}

namespace {

constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int month_index(std::string_view m) {
  for (int i = 0; i < 12; ++i)
    if (m == kMonths[i]) return i;
  return -1;
}

// Reads exactly `digits` decimal digits at s[pos...].
bool read_num(std::string_view s, std::size_t& pos, std::size_t digits, int& out) {
  if (pos + digits > s.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += digits;
  return true;
}

bool expect(std::string_view s, std::size_t& pos, std::string_view lit) {
  if (s.substr(pos, lit.size()) != lit) return false;
  pos += lit.size();
  return true;
}

bool read_time(std::string_view s, std::size_t& pos, std::tm& tm) {
  return read_num(s, pos, 2, tm.tm_hour) && expect(s, pos, ":") && read_num(s, pos, 2, tm.tm_min) &&
         expect(s, pos, ":") && read_num(s, pos, 2, tm.tm_sec);
}

bool read_month(std::string_view s, std::size_t& pos, std::tm& tm) {
  if (pos + 3 > s.size()) return false;
  tm.tm_mon = month_index(s.substr(pos, 3));
  pos += 3;
  return tm.tm_mon >= 0;
}

}  // namespace

// Calendar arithmetic, not gmtime_r: that takes glibc's time zone lock and
// was a visible part of a small file's cost per request (Last-Modified).
std::string http_date(std::time_t t) {
  using namespace std::chrono;
  const sys_seconds when{seconds{t}};
  const sys_days day = floor<days>(when);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> hms{when - day};
  char out[] = "Sun, 06 Nov 1994 08:49:37 GMT";
  const auto two = [&out](std::size_t at, long v) {
    out[at] = static_cast<char>('0' + v / 10 % 10);
    out[at + 1] = static_cast<char>('0' + v % 10);
  };
  std::memcpy(out, kDays[weekday{day}.c_encoding()], 3);
  two(5, static_cast<unsigned>(ymd.day()));
  std::memcpy(out + 8, kMonths[static_cast<unsigned>(ymd.month()) - 1], 3);
  const int year = static_cast<int>(ymd.year());
  two(12, year / 100);
  two(14, year % 100);
  two(17, hms.hours().count());
  two(20, hms.minutes().count());
  two(23, hms.seconds().count());
  return std::string(out, sizeof out - 1);
}

std::optional<std::time_t> parse_http_date(std::string_view s) {
  s = trim(s);
  std::tm tm{};
  std::size_t pos = 0;
  int year = 0;
  const auto comma = s.find(',');
  bool ok = false;
  if (comma == 3) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    pos = 4;
    ok = expect(s, pos, " ") && read_num(s, pos, 2, tm.tm_mday) && expect(s, pos, " ") && read_month(s, pos, tm) &&
         expect(s, pos, " ") && read_num(s, pos, 4, year) && expect(s, pos, " ") && read_time(s, pos, tm) &&
         expect(s, pos, " GMT") && pos == s.size();
  } else if (comma != std::string_view::npos && comma >= 6) {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year more than
    // 50 years ahead is taken as the past century (RFC 9110 section 5.6.7).
    pos = comma + 1;
    ok = expect(s, pos, " ") && read_num(s, pos, 2, tm.tm_mday) && expect(s, pos, "-") && read_month(s, pos, tm) &&
         expect(s, pos, "-") && read_num(s, pos, 2, year) && expect(s, pos, " ") && read_time(s, pos, tm) &&
         expect(s, pos, " GMT") && pos == s.size();
    if (ok) {
      const std::time_t now = std::time(nullptr);
      std::tm n{};
      ::gmtime_r(&now, &n);
      const int this_year = n.tm_year + 1900;
      year += this_year / 100 * 100;
      if (year > this_year + 50) year -= 100;
    }
  } else if (comma == std::string_view::npos && s.size() == 24) {
    // asctime: "Sun Nov  6 08:49:37 1994"
    pos = 4;
    ok = read_month(s, pos, tm) && expect(s, pos, " ");
    if (ok && s[pos] == ' ') {
      ++pos;
      ok = read_num(s, pos, 1, tm.tm_mday);
    } else if (ok) {
      ok = read_num(s, pos, 2, tm.tm_mday);
    }
    ok = ok && expect(s, pos, " ") && read_time(s, pos, tm) && expect(s, pos, " ") && read_num(s, pos, 4, year) &&
         pos == s.size();
  }
  if (!ok || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_year = year - 1900;
  return ::timegm(&tm);
}

bool etag_matches(std::string_view list, std::string_view etag, bool weak) {
  list = trim(list);
  if (list == "*") return true;
  const bool mine_weak = etag.substr(0, 2) == "W/";
  if (mine_weak && !weak) return false;
  if (mine_weak) etag.remove_prefix(2);
  std::size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() && (is_ows(list[i]) || list[i] == ',')) ++i;
    if (i >= list.size()) break;
    bool their_weak = false;
    if (list.substr(i, 2) == "W/") {
      their_weak = true;
      i += 2;
    }
    if (i >= list.size() || list[i] != '"') return false;  // malformed: no match
    const auto close = list.find('"', i + 1);
    if (close == std::string_view::npos) return false;
    const std::string_view tag = list.substr(i, close - i + 1);
    i = close + 1;
    if ((weak || !their_weak) && tag == etag) return true;
  }
  return false;
}

Verdict evaluate(const Conditions& c, std::string_view etag, std::time_t mtime, bool get_or_head) {
  if (!c.if_match.empty()) {
    if (!etag_matches(c.if_match, etag, false)) return Verdict::precondition_failed;
  } else if (!c.if_unmodified_since.empty()) {
    if (const auto d = parse_http_date(c.if_unmodified_since); d && mtime > *d) return Verdict::precondition_failed;
  }
  if (!c.if_none_match.empty()) {
    if (etag_matches(c.if_none_match, etag, true))
      return get_or_head ? Verdict::not_modified : Verdict::precondition_failed;
  } else if (!c.if_modified_since.empty() && get_or_head) {
    if (const auto d = parse_http_date(c.if_modified_since); d && mtime <= *d) return Verdict::not_modified;
  }
  return Verdict::proceed;
}

bool if_range_allows(std::string_view if_range, std::string_view etag, std::time_t mtime) {
  if_range = trim(if_range);
  if (if_range.empty()) return true;
  if (if_range.front() == '"') return if_range == etag && etag.substr(0, 2) != "W/";
  if (if_range.substr(0, 2) == "W/") return false;
  const auto d = parse_http_date(if_range);
  return d && *d == mtime;
}

// ---- ranges ------------------------------------------------------------------------

namespace {

// Digits at s[pos...], saturating at the maximum: a start past any file is
// unsatisfiable, an end past it is the file's end.
bool read_u64(std::string_view s, std::size_t& pos, std::uint64_t& out) {
  const std::size_t start = pos;
  out = 0;
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    const auto d = static_cast<std::uint64_t>(s[pos] - '0');
    out = out > (kMax - d) / 10 ? kMax : out * 10 + d;
    ++pos;
  }
  return pos > start;
}

}  // namespace

RangeRequest parse_range(std::string_view header, std::uint64_t size) {
  RangeRequest r;
  header = trim(header);
  if (header.size() < 6 || !iequals(header.substr(0, 6), "bytes=")) return r;
  std::string_view spec = trim(header.substr(6));
  if (spec.find(',') != std::string_view::npos) {
    // Several ranges (or a list with empty elements): the whole file. Only a
    // list made entirely of well-formed specs would do otherwise, and a
    // client that sends one must accept 200 anyway.
    return r;
  }
  std::size_t pos = 0;
  std::uint64_t first = 0, last = 0;
  if (spec.empty()) return r;
  if (spec[0] == '-') {
    pos = 1;
    std::uint64_t suffix = 0;
    if (!read_u64(spec, pos, suffix) || pos != spec.size()) return r;
    if (suffix == 0 || size == 0) {
      r.kind = RangeRequest::unsatisfiable;
      return r;
    }
    first = suffix >= size ? 0 : size - suffix;
    last = size - 1;
  } else {
    if (!read_u64(spec, pos, first) || pos >= spec.size() || spec[pos] != '-') return r;
    ++pos;
    if (pos == spec.size()) {
      last = std::numeric_limits<std::uint64_t>::max();
    } else if (!read_u64(spec, pos, last) || pos != spec.size() || last < first) {
      return r;
    }
    if (first >= size) {
      r.kind = RangeRequest::unsatisfiable;
      return r;
    }
    last = std::min(last, size - 1);
  }
  r.kind = RangeRequest::partial;
  r.first = first;
  r.last = last;
  return r;
}

// ---- content types -------------------------------------------------------------------

namespace {

struct Mime {
  std::string_view ext;
  std::string_view type;
};

// Sorted by extension, for the binary search. What nginx's mime.types and
// the browsers' own tables agree on, plus the text formats a developer
// serves from a working tree (source files show as text, not downloads).
constexpr Mime kTypes[] = {
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"avif", "image/avif"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"c", "text/plain; charset=utf-8"},
    {"cc", "text/plain; charset=utf-8"},
    {"cpp", "text/plain; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"deb", "application/vnd.debian.binary-package"},
    {"epub", "application/epub+zip"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"h", "text/plain; charset=utf-8"},
    {"hpp", "text/plain; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"ico", "image/vnd.microsoft.icon"},
    {"ics", "text/calendar; charset=utf-8"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"jsonl", "application/jsonl"},
    {"log", "text/plain; charset=utf-8"},
    {"m4a", "audio/mp4"},
    {"manifest", "application/manifest+json"},
    {"map", "application/json"},
    {"md", "text/markdown; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpeg", "video/mpeg"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"py", "text/plain; charset=utf-8"},
    {"rs", "text/plain; charset=utf-8"},
    {"sh", "text/plain; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "text/plain; charset=utf-8"},
    {"ts", "video/mp2t"},
    {"tsv", "text/tab-separated-values; charset=utf-8"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml; charset=utf-8"},
    {"xml", "application/xml; charset=utf-8"},
    {"xz", "application/x-xz"},
    {"yaml", "text/yaml; charset=utf-8"},
    {"yml", "text/yaml; charset=utf-8"},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
};

constexpr bool sorted_types() {
  for (std::size_t i = 1; i < std::size(kTypes); ++i)
    if (!(kTypes[i - 1].ext < kTypes[i].ext)) return false;
  return true;
}
static_assert(sorted_types(), "kTypes must stay sorted by extension");

}  // namespace

std::string_view content_type(std::string_view filename) {
  constexpr std::string_view kDefault = "application/octet-stream";
  const auto dot = filename.rfind('.');
  if (dot == std::string_view::npos || dot + 1 >= filename.size() || filename.size() - dot - 1 > 16) return kDefault;
  char buf[16];
  const std::size_t n = filename.size() - dot - 1;
  for (std::size_t i = 0; i < n; ++i) buf[i] = lower(filename[dot + 1 + i]);
  const std::string_view ext(buf, n);
  const auto it = std::lower_bound(std::begin(kTypes), std::end(kTypes), ext,
                                   [](const Mime& m, std::string_view e) { return m.ext < e; });
  return it != std::end(kTypes) && it->ext == ext ? it->type : kDefault;
}

// ---- directory listings -------------------------------------------------------------

std::vector<DirEntry> read_dir(int dirfd, bool dotfiles) {
  std::vector<DirEntry> out;
  // fdopendir takes the descriptor over (closedir closes it): give it a copy.
  const int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return out;
  DIR* d = ::fdopendir(dup);
  if (!d) {
    ::close(dup);
    return out;
  }
  ::rewinddir(d);  // the copy shares its offset with dirfd: start from the top
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    if (!dotfiles && name.front() == '.') continue;
    struct stat st {};
    if (::fstatat(dirfd, e->d_name, &st, 0) != 0) continue;
    DirEntry de;
    de.name = std::string(name);
    de.is_dir = S_ISDIR(st.st_mode);
    de.size = static_cast<std::uint64_t>(st.st_size);
    de.mtime = st.st_mtim.tv_sec;
    out.push_back(std::move(de));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

std::string listing_html(const Target& t, const std::vector<DirEntry>& entries) {
  std::string title = "/";
  for (const auto& s : t.segments) {
    title += s;
    title += '/';
  }
  const std::string esc_title = html_escape(title);
  std::string page;
  page.reserve(512 + entries.size() * 160);
  page +=
      "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width\">\n<title>Index of ";
  page += esc_title;
  page += "</title>\n</head>\n<body>\n<h1>Index of ";
  page += esc_title;
  page += "</h1>\n<table>\n";
  if (!t.segments.empty()) page += "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n";
  for (const auto& e : entries) {
    // "./" first, so a name with a ':' is not read as a URL scheme.
    const std::string href = "./" + percent_encode_segment(e.name) + (e.is_dir ? "/" : "");
    std::tm tm{};
    ::gmtime_r(&e.mtime, &tm);
    char when[64];
    std::snprintf(when, sizeof when, "%04d-%02d-%02d %02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min);
    page += "<tr><td><a href=\"";
    page += html_escape(href);
    page += "\">";
    page += html_escape(e.name);
    if (e.is_dir) page += '/';
    page += "</a></td><td>";
    page += e.is_dir ? std::string("-") : std::to_string(e.size);
    page += "</td><td>";
    page += when;
    page += "</td></tr>\n";
  }
  page += "</table>\n</body>\n</html>\n";
  return page;
}

// ---- the answer to a request -------------------------------------------------------

std::string_view Reply::header(std::string_view name) const noexcept {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

std::string_view reason(int status) noexcept {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 412:
      return "Precondition Failed";
    case 416:
      return "Range Not Satisfiable";
    case 500:
      return "Internal Server Error";
    default:
      return "";
  }
}

namespace {

Reply error_reply(int status) {
  Reply r;
  r.status = status;
  r.body = std::to_string(status);
  r.body += ' ';
  r.body += reason(status);
  r.body += '\n';
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  return r;
}

Reply file_reply(Opened&& f, std::string_view name, const Request& req) {
  const std::string etag = make_etag(f.st);
  const std::time_t mtime = f.st.st_mtim.tv_sec;
  const auto size = static_cast<std::uint64_t>(f.st.st_size);
  const bool get_or_head = req.method == "GET" || req.method == "HEAD";
  Reply r;
  const Verdict v = evaluate(req.conditions, etag, mtime, get_or_head);
  if (v == Verdict::precondition_failed) return error_reply(412);
  r.headers.reserve(5);
  r.headers.emplace_back("ETag", etag);
  r.headers.emplace_back("Last-Modified", http_date(mtime));
  if (v == Verdict::not_modified) {
    r.status = 304;
    return r;
  }
  r.headers.emplace_back("Accept-Ranges", "bytes");
  RangeRequest range;
  if (!req.range.empty() && if_range_allows(req.conditions.if_range, etag, mtime)) range = parse_range(req.range, size);
  if (range.kind == RangeRequest::unsatisfiable) {
    Reply e = error_reply(416);
    e.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
    return e;
  }
  r.headers.emplace_back("Content-Type", std::string(content_type(name)));
  r.offset = 0;
  r.length = size;
  if (range.kind == RangeRequest::partial) {
    r.status = 206;
    r.offset = range.first;
    r.length = range.last - range.first + 1;
    r.headers.emplace_back("Content-Range", "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) +
                                                "/" + std::to_string(size));
  }
  r.file = std::move(f.fd);
  return r;
}

}  // namespace

Reply respond(const Root& root, const Rules& rules, const Request& req) {
  if (req.method != "GET" && req.method != "HEAD") {
    Reply r = error_reply(405);
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  std::string why;
  const auto t = parse_target(req.target, why);
  if (!t) return error_reply(400);
  if (!rules.dotfiles && is_hidden(*t)) return error_reply(404);
  const std::string rel = relative_path(*t);
  std::error_code ec;
  auto f = root.open(rel, ec, rules.dotfiles);
  if (!f) return error_reply(status_for(ec));
  if (!f->is_dir()) {
    if (t->trailing_slash) return error_reply(404);
    return file_reply(std::move(*f), t->segments.back(), req);
  }
  if (!t->trailing_slash) {
    Reply r;
    r.status = 301;
    std::string location = url_path(*t, true);
    if (!t->query.empty()) location += "?" + t->query;
    r.headers.emplace_back("Location", std::move(location));
    return r;
  }
  if (auto index = root.open(rel == "." ? std::string("index.html") : rel + "/index.html", ec, rules.dotfiles);
      index && !index->is_dir()) {
    return file_reply(std::move(*index), "index.html", req);
  }
  Reply r;
  r.body = listing_html(*t, read_dir(f->fd.get(), rules.dotfiles));
  r.headers.emplace_back("Content-Type", "text/html; charset=utf-8");
  return r;
}

}  // namespace green::tools::http_files
