#include "green_test.hpp"

#include "common/chat_text.hpp"
#include "common/duration.hpp"
#include "common/input.hpp"
#include "common/json.hpp"
#include "common/output.hpp"
#include "common/rate.hpp"
#include "common/shard.hpp"
#include "common/subcommand.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace {

using green::tools::InputLines;
using green::tools::JsonWriter;
using green::tools::parse_duration;
using green::tools::UsageError;

TEST(Printable, EscapesControlsAndBrokenUtf8AndKeepsTheRest) {
  using green::tools::printable;
  EXPECT_EQ(printable("www.example.test"), "www.example.test");
  EXPECT_EQ(printable("\x1b]0;owned\x07\x1b[2J"), "\\x1b]0;owned\\x07\\x1b[2J");
  EXPECT_EQ(printable("a\\b\x7f"), "a\\x5cb\\x7f");
  EXPECT_EQ(printable("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");  // UTF-8 kept
  EXPECT_EQ(printable("\xc2\x9b" "31m"), "\\xc2\\x9b" "31m");  // U+009B, a C1 CSI
  EXPECT_EQ(printable("\xff\xc3"), "\\xff\\xc3");                 // not UTF-8; cut short
  EXPECT_EQ(printable(std::string(300, 'x'), 10), std::string(10, 'x') + "...");
}

TEST(CountOf, SingularAndPlural) {
  using green::tools::count_of;
  EXPECT_EQ(count_of(1, "URL"), "1 URL");
  EXPECT_EQ(count_of(0, "URL"), "0 URLs");
  EXPECT_EQ(count_of(1, "query", "queries"), "1 query");
  EXPECT_EQ(count_of(3, "query", "queries"), "3 queries");
}

TEST(Duration, ParsesUnitsAndBareSeconds) {
  EXPECT_EQ(parse_duration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(parse_duration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_EQ(parse_duration("2m"), std::chrono::minutes(2));
  EXPECT_EQ(parse_duration("1h"), std::chrono::hours(1));
  EXPECT_EQ(parse_duration("100us"), std::chrono::microseconds(100));
  EXPECT_EQ(parse_duration("3"), std::chrono::seconds(3));
  EXPECT_EQ(parse_duration("0"), green::Duration::zero());
}

TEST(Duration, RejectsGarbageNamingTheText) {
  for (const char* bad : {"", "ms", "-1s", "1x", "abc", "1.2.3s", "5 s"}) {
    try {
      parse_duration(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(Rate, OneMeaningForEveryTool) {
  using green::tools::parse_rate;
  EXPECT_DOUBLE_EQ(parse_rate("1000"), 1000);
  EXPECT_DOUBLE_EQ(parse_rate("5/s"), 5);
  EXPECT_DOUBLE_EQ(parse_rate("30/m"), 0.5);
  EXPECT_DOUBLE_EQ(parse_rate("36/h"), 0.01);
  EXPECT_DOUBLE_EQ(parse_rate("0.5"), 0.5);
  for (const char* bad : {"", "0", "-1", "fast", "5/d", "/s", "1e999"}) {
    EXPECT_THROW(parse_rate(bad), green::tools::UsageError) << bad;
  }
}

// A late schedule makes up at most kRateCatchUp intervals, then paces again.
GREEN_TEST(Rate, APacerCatchesUpBoundedlyAfterAStall) {
  green::tools::Pacer pacer(1000);  // 1 ms apart
  green::sleep(50ms);               // the hub was busy for 50 intervals
  const auto start = green::Clock::now();
  for (int i = 0; i < green::tools::kRateCatchUp + 5; ++i) pacer.wait();
  EXPECT_GE(green::Clock::now() - start, 4ms) << "after catching up, starts are spaced again";
}

TEST(Duration, FormatsTheShortestSpelling) {
  using green::tools::format_duration;
  EXPECT_EQ(format_duration(std::chrono::milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(std::chrono::milliseconds(1500)), "1.5s");
  EXPECT_EQ(format_duration(std::chrono::minutes(2)), "2m");
  // Found by tests/fuzz/duration.cpp: %g wrote "1.01101e+08s", which parse_duration rejects.
  EXPECT_EQ(format_duration(std::chrono::seconds(101101011)), "101101011s");
  EXPECT_EQ(format_duration(std::chrono::milliseconds(1234567)), "1234.567s");
  EXPECT_EQ(format_duration(std::chrono::milliseconds(10010)), "10.01s");
  // And through a double, 27171516117001671ns read back as ...672ns.
  EXPECT_EQ(parse_duration("27171516117001671ns"), std::chrono::nanoseconds(27171516117001671));
  EXPECT_EQ(parse_duration("27171516.11700167s"), std::chrono::nanoseconds(27171516117001670));
  EXPECT_EQ(parse_duration(".5s"), std::chrono::milliseconds(500));
  EXPECT_EQ(parse_duration("0.0000000005s"), std::chrono::nanoseconds(1));  // rounded half up
  EXPECT_EQ(parse_duration("1000000000s"), std::chrono::seconds(1'000'000'000));
  EXPECT_THROW(parse_duration("1000000000.000000001s"), UsageError);
  EXPECT_THROW(parse_duration("99999999999999999999999999999999d"), UsageError);
  EXPECT_EQ(green::tools::format_seconds(std::chrono::microseconds(12345)), "0.012");
}

TEST(Json, EscapesControlCharactersAndInvalidUtf8) {
  std::string out;
  green::tools::append_json_string(out, std::string("a\"b\\c\n\t\x01\x7f", 9));
  EXPECT_EQ(out, R"("a\"b\\c\n\t\u0001\u007f")");
  out.clear();
  green::tools::append_json_string(out, "caf\xc3\xa9 \xff \xe2\x82");  // valid é, a stray byte, a cut sequence
  EXPECT_EQ(out, "\"caf\xc3\xa9 \\ufffd \\ufffd\\ufffd\"");
  out.clear();
  green::tools::append_json_string(out, "\xed\xa0\x80");  // an encoded surrogate is not UTF-8
  EXPECT_EQ(out, "\"\\ufffd\\ufffd\\ufffd\"");
}

TEST(Json, BuildsNestedObjects) {
  JsonWriter j;
  j.field("name", "example.org").field("ttl", 300).field("ok", true).field_null("error");
  j.begin_array("answers").value("1.2.3.4").begin_object().field("mx", 10).end_object().end_array();
  j.field("time", 0.25);
  EXPECT_EQ(j.finish(),
            R"({"name":"example.org","ttl":300,"ok":true,"error":null,"answers":["1.2.3.4",{"mx":10}],"time":0.25})");
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/green-input-XXXXXX";
    int fd = ::mkstemp(tmpl);
    path = tmpl;
    ssize_t n = ::write(fd, content.data(), content.size());
    (void)n;
    ::close(fd);
  }
  ~TempFile() { std::remove(path.c_str()); }
};

GREEN_TEST(Input, ReadsFilesSkippingBlanksAndCommentsWithLineNumbers) {
  TempFile a("one\n\n  # comment\r\n two \r\nthree");
  TempFile b("four\n");
  InputLines in({a.path, b.path});
  std::vector<std::string> got;
  while (auto line = in.next())
    got.push_back(line->text + "@" + std::to_string(line->lineno) + (line->source == a.path ? "a" : "b"));
  EXPECT_EQ(got, (Lines{"one@1a", "two@4a", "three@5a", "four@1b"}));
}

GREEN_TEST(Input, CountsLinesOfRegularFiles) {
  TempFile a("x\n\n#c\ny\nz");
  EXPECT_EQ(InputLines({a.path}).count_if_files(), 3u);
}

GREEN_TEST(Input, UnreadableFilesAreCountedAndTheNextOnesRead) {
  TempFile good("one\n");
  InputLines in({"/nonexistent/green-input", "/tmp", good.path});
  std::vector<std::string> got;
  while (auto line = in.next()) got.push_back(line->text);
  EXPECT_EQ(got, (Lines{"one"}));
  EXPECT_EQ(in.unreadable(), 2u);
}

GREEN_TEST(Input, AByteOrderMarkStartingEachFileIsSkipped) {
  TempFile a("\xEF\xBB\xBF# comment\r\none\r\n\xEF\xBB\xBFtwo\n");  // only the first is a mark
  TempFile b("\xEF\xBB\xBFthree");
  InputLines in({a.path, b.path});
  EXPECT_EQ(in.count_if_files(), 3u);
  std::vector<std::string> got;
  while (auto line = in.next()) got.push_back(line->text);
  EXPECT_EQ(got, (Lines{"one", "\xEF\xBB\xBFtwo", "three"}));
}

// A pipe is read on the hub: while the input is quiet, other greenlets run.
GREEN_TEST(Input, PipesAreReadCooperatively) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  Lines events;
  auto reader = green::spawn([&] {
    InputLines in({"/proc/self/fd/" + std::to_string(fds[0])});
    while (auto line = in.next()) events.push_back("read " + line->text);
    events.push_back("eof");
  });
  auto writer = green::spawn([&] {
    for (int i = 0; i < 3; ++i) {
      green::sleep(5ms);
      events.push_back("write " + std::to_string(i));
      const std::string line = "line" + std::to_string(i) + "\n";
      ASSERT_EQ(::write(fds[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
    }
    ::close(fds[1]);
  });
  green::joinall({reader, writer});
  ::close(fds[0]);
  EXPECT_EQ(events, (Lines{"write 0", "read line0", "write 1", "read line1", "write 2", "read line2", "eof"}));
}

GREEN_TEST(Input, OverlongLinesAreCutAndTheRestSkipped) {
  std::string big(InputLines::kMaxLine + 10, 'x');
  TempFile a(big + "\nnext\n");
  InputLines in({a.path});
  auto first = in.next();
  ASSERT_TRUE(first);
  EXPECT_TRUE(in.overlong());
  EXPECT_EQ(first->text.size(), InputLines::kMaxLine);
  auto second = in.next();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->text, "next");
  EXPECT_EQ(second->lineno, 2u);
}

}  // namespace

namespace {

TEST(Shard, ParsesAndRejects) {
  auto s = green::tools::parse_shard("2/8");
  EXPECT_EQ(s.index, 2u);
  EXPECT_EQ(s.count, 8u);
  for (const char* bad : {"0/4", "5/4", "1/0", "1", "a/b", "1/2/3", "/3", "2/"})
    EXPECT_THROW(green::tools::parse_shard(bad), green::tools::UsageError) << bad;
}

TEST(Shard, EveryHostLandsInExactlyOneShardAndShardsAreBalanced) {
  constexpr std::uint32_t kShards = 4;
  std::uint32_t per_shard[kShards] = {};
  for (int i = 0; i < 4000; ++i) {
    const std::string host = "host" + std::to_string(i) + ".example.org";
    int owners = 0;
    for (std::uint32_t k = 1; k <= kShards; ++k) {
      if (green::tools::in_shard(host, {k, kShards})) {
        ++owners;
        ++per_shard[k - 1];
      }
    }
    EXPECT_EQ(owners, 1) << host;
  }
  for (std::uint32_t n : per_shard) {
    EXPECT_GT(n, 800u);
    EXPECT_LT(n, 1200u);
  }
  // Case and a trailing dot do not move a host.
  for (std::uint32_t k = 1; k <= kShards; ++k)
    EXPECT_EQ(green::tools::in_shard("Example.ORG.", {k, kShards}),
              green::tools::in_shard("example.org", {k, kShards}));
}

}  // namespace

namespace green::tools::chat {
namespace {

TEST(ChatText, SanitizeReplacesInvalidUtf8AndControlsKeepingTabs) {
  EXPECT_EQ(sanitize("caf\xc3\xa9\tok"), "caf\xc3\xa9\tok");
  EXPECT_EQ(sanitize("a\x1b[2Jb"), "a\xef\xbf\xbd[2Jb");        // an escape sequence cannot clear a screen
  EXPECT_EQ(sanitize("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");  // overlong '/'
  EXPECT_EQ(sanitize("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // a surrogate
  EXPECT_EQ(sanitize("x\x7f"), "x\xef\xbf\xbd");
}

TEST(ChatText, NamesAreOneToThirtyTwoPrintableCharacters) {
  EXPECT_TRUE(valid_name("alice"));
  EXPECT_TRUE(valid_name("\xc3\xa9l\xc3\xa8ve"));
  EXPECT_TRUE(valid_name(std::string(32, 'a')));
  EXPECT_FALSE(valid_name(std::string(33, 'a')));
  EXPECT_FALSE(valid_name(""));
  EXPECT_FALSE(valid_name("a b"));
  EXPECT_FALSE(valid_name("bad\xff"));
  EXPECT_EQ(strip(" \t\r\nbob\r\n"), "bob");
}

TEST(ChatText, NamesThatReadAsCommandsNoticesOrBacklogAreReserved) {
  for (const char* name : {"/who", "/quit", "#x", "##", "~", "~alice", "server", "SERVER", "Server"})
    EXPECT_TRUE(reserved_name(name)) << name;
  for (const char* name : {"alice", "servers", "serve", "a/b", "a#", "x~"}) EXPECT_FALSE(reserved_name(name)) << name;
}

TEST(Json, UrlKeepsItsBytesThatAreNotUtf8AsPercentEscapes) {
  EXPECT_EQ(url_for_json("http://h/a\xff\xc3\xa9?q=%41"), "http://h/a%FF\xc3\xa9?q=%41");
  EXPECT_EQ(url_for_json("http://h/\xc3"), "http://h/%C3");  // a cut sequence
  EXPECT_EQ(url_for_json("http://h/plain"), "http://h/plain");
}

TEST(ChatText, LinesLongerThanTheLimitAreCutAndTheirRestSkipped) {
  std::string fits(kMaxLine, 'a');
  EXPECT_FALSE(cut_line(fits));
  std::string ends(kMaxLine, 'a');
  ends += '\n';  // the limit plus its newline: complete, nothing to skip
  EXPECT_FALSE(cut_line(ends));
  EXPECT_EQ(ends.size(), kMaxLine + 1);
  std::string longer(kMaxLine + 1, 'b');
  EXPECT_TRUE(cut_line(longer));
  EXPECT_EQ(longer, std::string(kMaxLine, 'b'));
}

}  // namespace
}  // namespace green::tools::chat
