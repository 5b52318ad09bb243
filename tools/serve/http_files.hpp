// `green serve http`'s file logic, kept apart from the server so each rule
// can be tested on its own: what a request target means under DIR, which
// file it may open, which bytes of it a Range asks for, when a conditional
// request gets 304/412, the Content-Type, and the directory listing.
//
// Nothing here switches or touches a socket. Opening and stat-ing files are
// plain system calls on the caller's thread: the page cache answers them
// at once (nginx and h2o call them from their event loops too).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace green::tools::http_files {

// ---- request targets --------------------------------------------------------------

/// A request target (origin form "/a/b?q", or absolute form
/// "http://host/a/b?q") taken apart: its path segments percent-decoded,
/// empty segments dropped.
struct Target {
  std::vector<std::string> segments;
  bool trailing_slash = false;  // the path ended in '/' (or was "/")
  std::string query;            // after '?', as sent (no '?')
};

/// Parses a request target. Returns nullopt, with the reason in `why`, for
/// a target that must get 400: not a path, bad percent-encoding, an encoded
/// '/', a '\\' or NUL (raw or encoded: separators elsewhere), or a "." or ".."
/// segment, raw or encoded (clients normalise those away; only a probe sends
/// them, so none is resolved, not even one that would stay inside DIR).
std::optional<Target> parse_target(std::string_view target, std::string& why);

/// True if a segment starts with '.' (a hidden file or directory).
bool is_hidden(const Target& t);

/// The segments joined by '/', relative to DIR ("." for DIR itself).
std::string relative_path(const Target& t);

/// The path as a URL: each segment percent-encoded, '/' between them, a
/// leading '/' and, with `slash`, a trailing one. What a redirect's Location
/// holds: it can never start with "//" or "/\" (another host to a browser).
std::string url_path(const Target& t, bool slash);

/// Percent-encodes every byte of `s` but RFC 3986's unreserved characters
/// and "!$&'()*+,;=:@" (what a path segment may hold as is).
std::string percent_encode_segment(std::string_view s);

/// &, <, >, " and ' as entities, for text and attribute values.
std::string html_escape(std::string_view s);

// ---- opening files under DIR ------------------------------------------------------

/// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const noexcept { return fd_; }
  int release() noexcept {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

/// A file or directory opened under the root, with its metadata.
struct Opened {
  Fd fd;
  struct stat st {};
  bool is_dir() const noexcept { return S_ISDIR(st.st_mode); }
};

/// The served directory. Every open resolves a path beneath it, and the
/// check is made on what was opened, so a symlink swapped in between a
/// check and the open cannot lead out (no time-of-check/time-of-use gap):
///  - openat2(RESOLVE_BENEATH) when the kernel has it (Linux 5.6+): relative
///    symlinks are followed as long as they resolve inside DIR (absolute
///    ones are refused even when they name a file inside DIR);
///  - otherwise the opened descriptor's own path (/proc/self/fd) must lie
///    under DIR's real path.
/// With follow_symlinks, symlinks may point anywhere (the request path
/// itself still cannot climb: parse_target refuses "..").
/// Without `dotfiles`, a symlink must not lead to a hidden name either (a
/// component starting with '.' in the target's path below DIR, or anywhere
/// in it when the target lies outside DIR): a path is first opened with
/// RESOLVE_NO_SYMLINKS, and only one that has a link on the way is looked
/// at again (/proc/self/fd) after the link was followed.
/// Only regular files and directories are served: a FIFO, socket or device
/// reached through a link is refused (and is opened O_NONBLOCK, so a FIFO
/// cannot stall the open).
class Root {
 public:
  /// Opens `dir`. Throws std::system_error naming it if it is not a
  /// readable directory. `use_openat2` false takes the /proc path even
  /// where openat2 works (for the tests of that path).
  Root(const std::string& dir, bool follow_symlinks, bool use_openat2 = true);

  /// Opens `relative` (from relative_path(): no "..", no leading '/').
  /// On failure `ec` holds the reason: no_such_file_or_directory (also for
  /// paths that lead out of DIR and for special files, so a probe learns
  /// nothing), permission_denied, or another errno. Without `dotfiles` a
  /// symlink on the way must not resolve to a hidden name (`relative`'s own
  /// names are the caller's to check, as respond() does).
  std::optional<Opened> open(const std::string& relative, std::error_code& ec, bool dotfiles = false) const;

  const std::string& real_path() const noexcept { return real_; }

 private:
  bool allowed(int fd, bool check_inside, bool check_hidden) const;
  Fd dir_;
  std::string real_;
  bool follow_;
  mutable bool openat2_ = true;  // cleared when the kernel (or a seccomp filter) refuses it
};

/// The HTTP status for a failed Root::open: 404, or 403 for permission_denied.
int status_for(const std::error_code& ec) noexcept;

// ---- validators and conditional requests ------------------------------------------

/// A strong ETag from the inode, size and modification time (nanoseconds),
/// quoted: "\"1a2b-400-17f3...\"". Changes whenever the file is replaced or
/// rewritten.
std::string make_etag(const struct stat& st);

/// IMF-fixdate, as HTTP wants it: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(std::time_t t);

/// Parses an HTTP-date in any of the three forms RFC 9110 asks a recipient
/// to accept (IMF-fixdate, RFC 850, asctime). nullopt if it is none of them.
std::optional<std::time_t> parse_http_date(std::string_view s);

/// Whether an If-Match/If-None-Match list ("*", or comma-separated entity
/// tags, possibly W/) names `etag`. `weak` selects weak comparison (W/ on
/// either side ignored), as If-None-Match uses; If-Match compares strongly.
bool etag_matches(std::string_view list, std::string_view etag, bool weak);

/// The precondition headers of a request (empty: absent).
struct Conditions {
  std::string_view if_match;
  std::string_view if_none_match;
  std::string_view if_modified_since;
  std::string_view if_unmodified_since;
  std::string_view if_range;
};

enum class Verdict { proceed, not_modified, precondition_failed };

/// RFC 9110 section 13.2.2's order: If-Match, else If-Unmodified-Since
/// (412 when false); If-None-Match, else If-Modified-Since (304 for GET and
/// HEAD, 412 for other methods). Unparsable dates are ignored, as the RFC says.
Verdict evaluate(const Conditions& c, std::string_view etag, std::time_t mtime, bool get_or_head);

/// Whether a Range may be honoured given If-Range (absent: yes). A date
/// must equal Last-Modified exactly; an entity tag must match strongly.
bool if_range_allows(std::string_view if_range, std::string_view etag, std::time_t mtime);

// ---- ranges ------------------------------------------------------------------------

/// What a Range header asks of a representation of `size` bytes.
struct RangeRequest {
  enum Kind {
    whole,          // no Range, one we ignore (not bytes=, malformed), or several ranges
    partial,        // one satisfiable range: 206 with bytes first..last
    unsatisfiable,  // 416 with Content-Range: bytes */size
  } kind = whole;
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
};

/// Parses a Range header (RFC 9110 section 14.2). A single range is served
/// as 206; several ranges are answered with the whole file (200): the RFC
/// lets a server ignore Range, and multipart/byteranges buys clients little
/// for the cost (and the overlap abuse it invites). A syntactically
/// invalid header is ignored (200), as the RFC says.
RangeRequest parse_range(std::string_view header, std::uint64_t size);

// ---- content types -------------------------------------------------------------------

/// The Content-Type for a file name, from its extension (case-insensitive):
/// text types carry "; charset=utf-8"; unknown ones are
/// application/octet-stream.
std::string_view content_type(std::string_view filename);

// ---- directory listings -------------------------------------------------------------

struct DirEntry {
  std::string name;
  bool is_dir = false;
  std::uint64_t size = 0;
  std::time_t mtime = 0;
};

/// The entries of an opened directory, sorted by name (bytewise), without
/// "." and ".." and, unless `dotfiles`, without hidden entries. Symlinks
/// are listed by what they point to; a dangling one is left out.
std::vector<DirEntry> read_dir(int dirfd, bool dotfiles);

/// An HTML page listing `entries` of the directory at `t` (links are
/// relative and percent-encoded; names and the title are HTML-escaped).
std::string listing_html(const Target& t, const std::vector<DirEntry>& entries);

// ---- the answer to a request -------------------------------------------------------

/// What the server lets through.
struct Rules {
  bool dotfiles = false;  // serve hidden files and list them
};

/// The parts of a request the file logic looks at.
struct Request {
  std::string_view method;
  std::string_view target;
  Conditions conditions;
  std::string_view range;
};

/// The answer: a status, headers, and either a generated body (a listing, a
/// redirect, an error) or `length` bytes of `file` from `offset`.
/// Content-Length is not among the headers: it is content_length(), sent
/// for HEAD too (as GET would), and not at all with 304.
struct Reply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Fd file;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  bool has_file() const noexcept { return static_cast<bool>(file); }
  std::uint64_t content_length() const noexcept { return has_file() ? length : body.size(); }
  /// "" if absent.
  std::string_view header(std::string_view name) const noexcept;
};

/// Answers a GET or HEAD for a path under `root`:
///  - 400 for a target parse_target refuses, 405 (Allow: GET, HEAD) for
///    other methods, 404 for hidden paths (unless rules.dotfiles), for
///    anything Root::open refuses and for a file named with a trailing '/';
///  - a directory without a trailing '/': 301 to the same path with one
///    (the query kept), so relative links in the page work;
///  - a directory: its index.html if there is one, else a listing;
///  - a file: 200, or 304/412 from the preconditions, 206 for a single
///    satisfiable range (If-Range permitting), 416 for an unsatisfiable one;
///    with ETag, Last-Modified, Accept-Ranges and Content-Type.
Reply respond(const Root& root, const Rules& rules, const Request& req);

/// The reason phrase of the statuses respond() gives ("Not Found").
std::string_view reason(int status) noexcept;

}  // namespace green::tools::http_files
