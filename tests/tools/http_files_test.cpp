// `green serve http`'s file rules (tools/serve/http_files.hpp), each on its
// own; the server over them is tested with real clients in
// tests/e2e/serve_http_test.py.
#include "serve/http_files.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace {

namespace hf = green::tools::http_files;
namespace fs = std::filesystem;

std::optional<hf::Target> parse(std::string_view s) {
  std::string why;
  return hf::parse_target(s, why);
}

std::string why_refused(std::string_view s) {
  std::string why;
  EXPECT_FALSE(hf::parse_target(s, why)) << s;
  return why;
}

TEST(HttpTarget, SplitsAndDecodesSegments) {
  auto t = parse("/a%20b/c%C3%A9//d?x=1&y=%2F#frag");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->segments, (std::vector<std::string>{"a b", "c\xC3\xA9", "d"}));
  EXPECT_FALSE(t->trailing_slash);
  EXPECT_EQ(t->query, "x=1&y=%2F");
  EXPECT_EQ(hf::relative_path(*t), "a b/c\xC3\xA9/d");

  t = parse("/");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->segments.empty());
  EXPECT_TRUE(t->trailing_slash);
  EXPECT_EQ(hf::relative_path(*t), ".");

  t = parse("/dir/");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->trailing_slash);
}

TEST(HttpTarget, AcceptsTheAbsoluteForm) {
  auto t = parse("http://127.0.0.1:8000/a/b?q");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->segments, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t->query, "q");
  t = parse("HTTP://host");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->segments.empty());
}

TEST(HttpTarget, RefusesEveryWayToClimbOutOfTheRoot) {
  for (const char* bad : {"/..", "/../etc/passwd", "/a/../../etc/passwd", "/a/..", "/./a", "/%2e%2e/etc/passwd",
                          "/%2E%2E/x", "/.%2e/x", "/%2e/x", "/a/%2e%2e", "http://h/../x"}) {
    EXPECT_NE(why_refused(bad).find("'..'"), std::string::npos) << bad;
  }
  for (const char* bad :
       {"/a%2fb", "/..%2fetc%2fpasswd", "/%2F%2Fetc", "/a%5c..%5cb", "/a%00.html", "/%00", "/\\evil", "/a\\..\\b"}) {
    EXPECT_NE(why_refused(bad).find("NUL"), std::string::npos) << bad;
  }
}

TEST(HttpTarget, RefusesWhatIsNotAPath) {
  for (const char* bad : {"", "*", "a/b", "http://host?x", "%2e"}) EXPECT_FALSE(why_refused(bad).empty()) << bad;
  for (const char* bad : {"/a%", "/a%2", "/a%zz", "/a%g0"}) {
    EXPECT_EQ(why_refused(bad), "bad percent-encoding") << bad;
  }
}

TEST(HttpTarget, FindsHiddenSegmentsAnywhere) {
  EXPECT_TRUE(hf::is_hidden(*parse("/.git/config")));
  EXPECT_TRUE(hf::is_hidden(*parse("/a/.env")));
  EXPECT_TRUE(hf::is_hidden(*parse("/a/%2eenv")));
  EXPECT_FALSE(hf::is_hidden(*parse("/a/b.env")));
  EXPECT_FALSE(hf::is_hidden(*parse("/")));
}

TEST(HttpTarget, RedirectPathsCannotNameAnotherHost) {
  // "//evil" and "/\\evil" are other hosts to a browser: empty segments are
  // gone and a backslash is encoded.
  auto t = parse("//evil.example//x");
  ASSERT_TRUE(t);
  EXPECT_EQ(hf::url_path(*t, true), "/evil.example/x/");
  hf::Target raw;  // parse_target refuses a backslash; url_path encodes one anyway
  raw.segments = {"\\evil"};
  EXPECT_EQ(hf::url_path(raw, true), "/%5Cevil/");
  EXPECT_EQ(hf::url_path(*parse("/"), false), "/");
  EXPECT_EQ(hf::url_path(*parse("/a b/%C3%A9"), false), "/a%20b/%C3%A9");
}

TEST(HttpText, EscapesHtmlAndPercentEncodes) {
  EXPECT_EQ(hf::html_escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(hf::percent_encode_segment("a b/c?d#e%f\"<\x01\xff~-._:@"), "a%20b%2Fc%3Fd%23e%25f%22%3C%01%FF~-._:@");
}

TEST(HttpRange, SingleRanges) {
  auto r = hf::parse_range("bytes=0-99", 1000);
  EXPECT_EQ(r.kind, hf::RangeRequest::partial);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 99u);
  r = hf::parse_range("bytes=900-", 1000);
  EXPECT_EQ(r.kind, hf::RangeRequest::partial);
  EXPECT_EQ(r.first, 900u);
  EXPECT_EQ(r.last, 999u);
  r = hf::parse_range("bytes=-100", 1000);  // the last 100 bytes
  EXPECT_EQ(r.kind, hf::RangeRequest::partial);
  EXPECT_EQ(r.first, 900u);
  EXPECT_EQ(r.last, 999u);
  r = hf::parse_range("bytes=-5000", 1000);  // a suffix longer than the file: all of it
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 999u);
  r = hf::parse_range("bytes=500-99999999999999999999999", 1000);  // an end past the file (even past 2^64)
  EXPECT_EQ(r.kind, hf::RangeRequest::partial);
  EXPECT_EQ(r.last, 999u);
  r = hf::parse_range(" BYTES = 1-1 ", 1000);
  EXPECT_EQ(r.kind, hf::RangeRequest::whole);  // "bytes =" is not the syntax: ignored
  r = hf::parse_range("Bytes=1-1", 1000);
  EXPECT_EQ(r.kind, hf::RangeRequest::partial);
  EXPECT_EQ(r.first, 1u);
}

TEST(HttpRange, UnsatisfiableRanges) {
  EXPECT_EQ(hf::parse_range("bytes=1000-", 1000).kind, hf::RangeRequest::unsatisfiable);
  EXPECT_EQ(hf::parse_range("bytes=1000-2000", 1000).kind, hf::RangeRequest::unsatisfiable);
  EXPECT_EQ(hf::parse_range("bytes=99999999999999999999999-", 1000).kind, hf::RangeRequest::unsatisfiable);
  EXPECT_EQ(hf::parse_range("bytes=-0", 1000).kind, hf::RangeRequest::unsatisfiable);
  EXPECT_EQ(hf::parse_range("bytes=0-", 0).kind, hf::RangeRequest::unsatisfiable);
  EXPECT_EQ(hf::parse_range("bytes=-1", 0).kind, hf::RangeRequest::unsatisfiable);
}

TEST(HttpRange, MalformedOrMultipleRangesGetTheWholeFile) {
  for (const char* h : {"", "bytes", "bytes=", "bytes=5", "bytes=9-1", "bytes=a-b", "bytes=1-2x", "items=0-1",
                        "bytes=--1", "bytes=0-1,5-6", "bytes=0-1,", "bytes=1000-,0-1"}) {
    EXPECT_EQ(hf::parse_range(h, 1000).kind, hf::RangeRequest::whole) << h;
  }
}

TEST(HttpDate, FormatsAndParsesAllThreeForms) {
  EXPECT_EQ(hf::http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(hf::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(hf::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(hf::parse_http_date("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_EQ(hf::parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  for (const char* bad : {"", "yesterday", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Foo 1994 08:49:37 GMT",
                          "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun Nov 6 08:49:37 1994"}) {
    EXPECT_FALSE(hf::parse_http_date(bad)) << bad;
  }
}

TEST(HttpEtag, ComparesStronglyOrWeakly) {
  const std::string e = "\"abc-1\"";
  EXPECT_TRUE(hf::etag_matches("\"abc-1\"", e, false));
  EXPECT_TRUE(hf::etag_matches("*", e, false));
  EXPECT_TRUE(hf::etag_matches("\"x\", W/\"abc-1\"", e, true));
  EXPECT_FALSE(hf::etag_matches("\"x\", W/\"abc-1\"", e, false));  // If-Match is strong
  EXPECT_FALSE(hf::etag_matches("\"abc-2\"", e, true));
  EXPECT_FALSE(hf::etag_matches("abc-1", e, true));  // unquoted: malformed
  EXPECT_FALSE(hf::etag_matches("", e, true));
}

TEST(HttpEtag, ChangesWithContentOrReplacement) {
  struct stat a {};
  a.st_ino = 10;
  a.st_size = 1024;
  a.st_mtim.tv_sec = 1700000000;
  struct stat b = a;
  b.st_mtim.tv_nsec = 1;
  struct stat c = a;
  c.st_ino = 11;
  EXPECT_NE(hf::make_etag(a), hf::make_etag(b));
  EXPECT_NE(hf::make_etag(a), hf::make_etag(c));
  EXPECT_EQ(hf::make_etag(a).front(), '"');
  EXPECT_EQ(hf::make_etag(a).back(), '"');
}

TEST(HttpConditional, FollowsTheRfcOrder) {
  const std::string e = "\"v1\"";
  const std::time_t mtime = 784111777;
  const std::string same = hf::http_date(mtime), before = hf::http_date(mtime - 1);
  using V = hf::Verdict;
  auto ev = [&](std::initializer_list<std::pair<std::string_view, std::string>> headers, bool get = true) {
    hf::Conditions c;
    for (const auto& [name, value] : headers) {
      if (name == "If-Match") c.if_match = value;
      if (name == "If-None-Match") c.if_none_match = value;
      if (name == "If-Modified-Since") c.if_modified_since = value;
      if (name == "If-Unmodified-Since") c.if_unmodified_since = value;
    }
    return hf::evaluate(c, e, mtime, get);
  };
  EXPECT_EQ(ev({}), V::proceed);
  EXPECT_EQ(ev({{"If-None-Match", "\"v1\""}}), V::not_modified);
  EXPECT_EQ(ev({{"If-None-Match", "W/\"v1\""}}), V::not_modified);
  EXPECT_EQ(ev({{"If-None-Match", "\"v0\""}}), V::proceed);
  EXPECT_EQ(ev({{"If-None-Match", "\"v1\""}}, false), V::precondition_failed);
  EXPECT_EQ(ev({{"If-Modified-Since", same}}), V::not_modified);
  EXPECT_EQ(ev({{"If-Modified-Since", before}}), V::proceed);
  EXPECT_EQ(ev({{"If-Modified-Since", same}}, false), V::proceed);  // only GET and HEAD
  EXPECT_EQ(ev({{"If-Modified-Since", "garbage"}}), V::proceed);
  // If-None-Match wins over If-Modified-Since.
  EXPECT_EQ(ev({{"If-None-Match", "\"v0\""}, {"If-Modified-Since", same}}), V::proceed);
  EXPECT_EQ(ev({{"If-Match", "\"v0\""}}), V::precondition_failed);
  EXPECT_EQ(ev({{"If-Match", "\"v1\""}}), V::proceed);
  EXPECT_EQ(ev({{"If-Match", "*"}}), V::proceed);
  EXPECT_EQ(ev({{"If-Unmodified-Since", before}}), V::precondition_failed);
  EXPECT_EQ(ev({{"If-Unmodified-Since", same}}), V::proceed);
  // If-Match wins over If-Unmodified-Since.
  EXPECT_EQ(ev({{"If-Match", "\"v1\""}, {"If-Unmodified-Since", before}}), V::proceed);
}

TEST(HttpConditional, IfRangeNeedsAnExactValidator) {
  const std::string e = "\"v1\"";
  const std::time_t mtime = 784111777;
  EXPECT_TRUE(hf::if_range_allows("", e, mtime));
  EXPECT_TRUE(hf::if_range_allows("\"v1\"", e, mtime));
  EXPECT_FALSE(hf::if_range_allows("\"v0\"", e, mtime));
  EXPECT_FALSE(hf::if_range_allows("W/\"v1\"", e, mtime));
  EXPECT_TRUE(hf::if_range_allows(hf::http_date(mtime), e, mtime));
  EXPECT_FALSE(hf::if_range_allows(hf::http_date(mtime + 1), e, mtime));  // not "since": equal
  EXPECT_FALSE(hf::if_range_allows("nonsense", e, mtime));
}

TEST(HttpContentType, FromTheExtension) {
  EXPECT_EQ(hf::content_type("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(hf::content_type("INDEX.HTM"), "text/html; charset=utf-8");
  EXPECT_EQ(hf::content_type("a.b.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(hf::content_type("x.png"), "image/png");
  EXPECT_EQ(hf::content_type("x.woff2"), "font/woff2");
  EXPECT_EQ(hf::content_type("x.wasm"), "application/wasm");
  EXPECT_EQ(hf::content_type("README"), "application/octet-stream");
  EXPECT_EQ(hf::content_type("x."), "application/octet-stream");
  EXPECT_EQ(hf::content_type("x.unknownextension"), "application/octet-stream");
  EXPECT_EQ(hf::content_type("x.averyveryverylongextension"), "application/octet-stream");
}

// A scratch tree: DIR with files, a hidden file, a subdirectory, symlinks
// in and out, a FIFO; and a secret outside DIR.
// Parameter: whether Root may use openat2 (false: the /proc check every
// kernel has).
class HttpRoot : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/green-http-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    dir_ = base_ / "www";
    fs::create_directories(dir_ / "sub");
    write(dir_ / "index.txt", "hello");
    write(dir_ / "sub" / "a.txt", "aaa");
    write(dir_ / ".secret", "hidden");
    write(base_ / "outside.txt", "secret outside");
    fs::create_symlink("sub/a.txt", dir_ / "link-in");
    fs::create_symlink("../outside.txt", dir_ / "link-out");
    fs::create_symlink(base_ / "outside.txt", dir_ / "link-abs");
    fs::create_symlink("..", dir_ / "sub" / "up");  // into DIR itself: fine
    fs::create_symlink("../..", dir_ / "sub" / "upup");
    fs::create_symlink("nowhere", dir_ / "dangling");
    ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  }
  void TearDown() override { fs::remove_all(base_); }
  static void write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }
  static std::string read_all(int fd) {
    std::string s(100, '\0');
    const ssize_t n = ::pread(fd, s.data(), s.size(), 0);
    s.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return s;
  }
  fs::path base_, dir_;
};

TEST_P(HttpRoot, OpensFilesAndFollowsLinksThatStayInside) {
  hf::Root root(dir_.string(), false, GetParam());
  std::error_code ec;
  auto f = root.open("index.txt", ec);
  ASSERT_TRUE(f) << ec.message();
  EXPECT_EQ(read_all(f->fd.get()), "hello");
  EXPECT_FALSE(f->is_dir());
  f = root.open("link-in", ec);
  ASSERT_TRUE(f) << ec.message();
  EXPECT_EQ(read_all(f->fd.get()), "aaa");
  f = root.open("sub/up/index.txt", ec);
  ASSERT_TRUE(f) << ec.message();
  f = root.open(".", ec);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->is_dir());
}

TEST_P(HttpRoot, RefusesLinksOutOfTheRootAsNotFound) {
  hf::Root root(dir_.string(), false, GetParam());
  for (const char* p :
       {"link-out", "link-abs", "sub/upup/outside.txt", "sub/upup", "dangling", "missing", "index.txt/x"}) {
    std::error_code ec;
    EXPECT_FALSE(root.open(p, ec)) << p;
    EXPECT_EQ(ec, std::errc::no_such_file_or_directory) << p << ": " << ec.message();
    EXPECT_EQ(hf::status_for(ec), 404);
  }
}

TEST_P(HttpRoot, FollowSymlinksLetsLinksPointAnywhere) {
  hf::Root root(dir_.string(), true, GetParam());
  std::error_code ec;
  auto f = root.open("link-out", ec);
  ASSERT_TRUE(f) << ec.message();
  EXPECT_EQ(read_all(f->fd.get()), "secret outside");
  EXPECT_TRUE(root.open("link-abs", ec));
}

TEST_P(HttpRoot, RefusesSpecialFilesWithoutBlockingOnThem) {
  hf::Root root(dir_.string(), false, GetParam());
  std::error_code ec;
  EXPECT_FALSE(root.open("fifo", ec));  // a blocking open would hang here
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
}

TEST_P(HttpRoot, UnreadableFilesAre403) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads every file";
  fs::permissions(dir_ / "index.txt", fs::perms::none);
  hf::Root root(dir_.string(), false, GetParam());
  std::error_code ec;
  EXPECT_FALSE(root.open("index.txt", ec));
  EXPECT_EQ(hf::status_for(ec), 403);
}

TEST_P(HttpRoot, RefusesARootThatIsNotADirectory) {
  try {
    hf::Root root((dir_ / "index.txt").string(), false, GetParam());
    ADD_FAILURE() << "accepted a file as the root";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("index.txt"), std::string::npos) << e.what();
  }
}

TEST_P(HttpRoot, ListsADirectorySortedWithoutHiddenOrDanglingEntries) {
  hf::Root root(dir_.string(), false, GetParam());
  std::error_code ec;
  auto d = root.open(".", ec);
  ASSERT_TRUE(d);
  std::vector<std::string> names;
  for (const auto& e : hf::read_dir(d->fd.get(), false)) names.push_back(e.name + (e.is_dir ? "/" : ""));
  // fifo and the links are listed by what they point to; link-out too (a
  // listing shows names, the open refuses them).
  EXPECT_EQ(names, (std::vector<std::string>{"fifo", "index.txt", "link-abs", "link-in", "link-out", "sub/"}));
  names.clear();
  for (const auto& e : hf::read_dir(d->fd.get(), true)) names.push_back(e.name);
  EXPECT_EQ(names.front(), ".secret");
}

hf::Reply get(const hf::Root& root, std::string_view target, hf::Conditions c = {}, std::string_view range = {},
              bool dotfiles = false, std::string_view method = "GET") {
  hf::Request req{.method = method, .target = target, .conditions = c, .range = range};
  return hf::respond(root, hf::Rules{.dotfiles = dotfiles}, req);
}

std::string file_bytes(const hf::Reply& r) {
  std::string s(r.length, '\0');
  const ssize_t n = ::pread(r.file.get(), s.data(), s.size(), static_cast<off_t>(r.offset));
  s.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return s;
}

// The dotfile rule applies to where a link leads, not only to the names in
// the request: link-dot -> .secret must not hand out the hidden file.
TEST_P(HttpRoot, LinksToHiddenNamesAreNotFoundWithoutDotfiles) {
  fs::create_directories(dir_ / ".git");
  write(dir_ / ".git" / "config", "hidden config");
  write(base_ / ".outside-hidden", "hidden outside");
  fs::create_symlink(".secret", dir_ / "link-dot");
  fs::create_symlink("../.git", dir_ / "sub" / "gitdir");
  fs::create_symlink("../.outside-hidden", dir_ / "link-out-dot");
  for (const bool follow : {false, true}) {
    hf::Root root(dir_.string(), follow, GetParam());
    for (const char* p : {"link-dot", "sub/gitdir/config", "sub/gitdir", "link-out-dot"}) {
      std::error_code ec;
      EXPECT_FALSE(root.open(p, ec, false)) << p << (follow ? " (follow)" : "");
      EXPECT_EQ(ec, std::errc::no_such_file_or_directory) << p << ": " << ec.message();
    }
    EXPECT_EQ(get(root, "/link-dot").status, 404);
    EXPECT_EQ(get(root, "/sub/gitdir/config").status, 404);
    // Links to plain names still work, and --dotfiles lets the hidden ones through.
    std::error_code ec;
    EXPECT_TRUE(root.open("link-in", ec, false)) << ec.message();
    auto f = root.open("link-dot", ec, true);
    ASSERT_TRUE(f) << ec.message();
    EXPECT_EQ(read_all(f->fd.get()), "hidden");
    EXPECT_EQ(get(root, "/sub/gitdir/config", {}, {}, true).status, 200);
    // Out of DIR stays refused without --follow-symlinks, --dotfiles or not.
    EXPECT_EQ(static_cast<bool>(root.open("link-out-dot", ec, true)), follow);
  }
}

TEST_P(HttpRoot, RespondsWithFilesAndTheirValidators) {
  hf::Root root(dir_.string(), false, GetParam());
  auto r = get(root, "/index.txt");
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(r.has_file());
  EXPECT_EQ(file_bytes(r), "hello");
  EXPECT_EQ(r.content_length(), 5u);
  EXPECT_EQ(r.header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.header("Accept-Ranges"), "bytes");
  const std::string etag(r.header("ETag")), lm(r.header("Last-Modified"));
  EXPECT_FALSE(etag.empty());
  EXPECT_TRUE(hf::parse_http_date(lm));

  hf::Conditions c;
  c.if_none_match = etag;
  r = get(root, "/index.txt", c);
  EXPECT_EQ(r.status, 304);
  EXPECT_FALSE(r.has_file());
  EXPECT_EQ(r.header("ETag"), etag);
  c = {};
  c.if_modified_since = lm;
  EXPECT_EQ(get(root, "/index.txt", c).status, 304);
  c = {};
  c.if_match = "\"other\"";
  EXPECT_EQ(get(root, "/index.txt", c).status, 412);
  EXPECT_EQ(get(root, "/index.txt", {}, {}, false, "HEAD").status, 200);
  r = get(root, "/index.txt", {}, {}, false, "POST");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD");
}

TEST_P(HttpRoot, RespondsToRangesHonouringIfRange) {
  hf::Root root(dir_.string(), false, GetParam());
  auto r = get(root, "/index.txt", {}, "bytes=1-3");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(file_bytes(r), "ell");
  EXPECT_EQ(r.header("Content-Range"), "bytes 1-3/5");
  const std::string etag(get(root, "/index.txt").header("ETag"));
  hf::Conditions c;
  c.if_range = etag;
  EXPECT_EQ(get(root, "/index.txt", c, "bytes=1-3").status, 206);
  c.if_range = "\"stale\"";
  r = get(root, "/index.txt", c, "bytes=1-3");
  EXPECT_EQ(r.status, 200);  // changed since: the whole new file
  EXPECT_EQ(file_bytes(r), "hello");
  r = get(root, "/index.txt", {}, "bytes=5-");
  EXPECT_EQ(r.status, 416);
  EXPECT_EQ(r.header("Content-Range"), "bytes */5");
  EXPECT_EQ(get(root, "/index.txt", {}, "bytes=0-0,2-3").status, 200);
}

TEST_P(HttpRoot, RespondsToDirectories) {
  hf::Root root(dir_.string(), false, GetParam());
  auto r = get(root, "/sub?x=1");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "/sub/?x=1");
  r = get(root, "/sub/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("href=\"./a.txt\""), std::string::npos) << r.body;
  write(dir_ / "sub" / "index.html", "<p>index</p>");
  r = get(root, "/sub/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(file_bytes(r), "<p>index</p>");
  EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
  r = get(root, "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find(".secret"), std::string::npos);
  EXPECT_NE(get(root, "/", {}, {}, true).body.find(".secret"), std::string::npos);
}

TEST_P(HttpRoot, RefusesWithoutSayingWhy) {
  hf::Root root(dir_.string(), false, GetParam());
  EXPECT_EQ(get(root, "/.secret").status, 404);
  EXPECT_EQ(get(root, "/%2esecret").status, 404);
  EXPECT_EQ(get(root, "/.secret", {}, {}, true).status, 200);
  EXPECT_EQ(get(root, "/link-out").status, 404);
  EXPECT_EQ(get(root, "/sub/upup/outside.txt").status, 404);
  EXPECT_EQ(get(root, "/fifo").status, 404);
  EXPECT_EQ(get(root, "/index.txt/").status, 404);
  EXPECT_EQ(get(root, "/../outside.txt").status, 400);
  EXPECT_EQ(get(root, "/%2e%2e/outside.txt").status, 400);
  EXPECT_EQ(get(root, "/sub%2f..%2f..%2foutside.txt").status, 400);
  auto r = get(root, "/missing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "404 Not Found\n");
}

INSTANTIATE_TEST_SUITE_P(Openat2OrProc, HttpRoot, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "openat2" : "proc"; });

TEST(HttpListing, EscapesNamesAndLinks) {
  std::vector<hf::DirEntry> entries = {
      {.name = "<script>alert(1)</script>", .is_dir = false, .size = 5, .mtime = 0},
      {.name = "a \"b\"", .is_dir = true, .size = 0, .mtime = 0},
      {.name = "javascript:x", .is_dir = false, .size = 1, .mtime = 0},
  };
  const std::string page = hf::listing_html(*parse("/d%3Cir/"), entries);
  EXPECT_EQ(page.find("<script>"), std::string::npos) << page;
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.find("href=\"./%3Cscript%3Ealert(1)%3C%2Fscript%3E\""), std::string::npos) << page;
  EXPECT_NE(page.find("href=\"./a%20%22b%22/\""), std::string::npos) << page;
  EXPECT_NE(page.find("href=\"./javascript:x\""), std::string::npos) << page;
  EXPECT_NE(page.find("<title>Index of /d&lt;ir/</title>"), std::string::npos) << page;
  EXPECT_NE(page.find("href=\"../\""), std::string::npos);
  EXPECT_EQ(hf::listing_html(*parse("/"), {}).find("../"), std::string::npos);
}

}  // namespace
