// The tools' input and stdout (common/input, common/output) when read(2)
// and write(2) fail: interrupted and would-block calls are retried with no
// line lost; an I/O error on an input names the file after the lines read
// before it, and counts it as unreadable. (A full disk is tested for real,
// with /dev/full, in tests/e2e/cli_test.sh.)
#include "common/input.hpp"
#include "common/output.hpp"
#include "common/subcommand.hpp"

#include "fault.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using green::test::FailSyscall;
using green::test::Sys;

// Points fd 1 at a scratch file for its lifetime (gtest's own output is
// flushed first and goes back to the real stdout afterwards).
class StdoutToFile {
 public:
  StdoutToFile() {
    std::fflush(stdout);
    char name[] = "/tmp/green-output-XXXXXX";
    fd_ = ::mkstemp(name);
    path_ = name;
    saved_ = ::dup(STDOUT_FILENO);
    ::dup2(fd_, STDOUT_FILENO);
  }
  ~StdoutToFile() { restore(); }
  void restore() {
    if (saved_ < 0) return;
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
    ::close(fd_);
    saved_ = -1;
  }
  std::string text() {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    ::unlink(path_.c_str());
    return ss.str();
  }

 private:
  std::string path_;
  int fd_ = -1;
  int saved_ = -1;
};

TEST(OutputFault, InterruptedAndWouldBlockWritesLoseNoLine) {
  StdoutToFile file;  // first: the Output binds to what fd 1 is when it is made
  auto& out = green::tools::Output::out();
  std::string want;
  int failed = 0;
  for (int err : {EINTR, EAGAIN}) {
    FailSyscall flaky(Sys::write, err, 3, STDOUT_FILENO);
    for (int i = 0; i < 3; ++i) {
      const std::string line = "line " + std::to_string(i) + " after errno " + std::to_string(err);
      out.line(line);
      out.flush();  // outside a hub every line is written at once anyway
      want += line + "\n";
    }
    failed += flaky.failed();
  }
  file.restore();
  EXPECT_EQ(failed, 6);
  EXPECT_FALSE(out.closed());
  EXPECT_EQ(out.error(), 0);
  EXPECT_EQ(file.text(), want);
}

TEST(InputFault, InterruptedAndWouldBlockReadsLoseNoLineAndAnIoErrorCountsTheFile) {
  char name[] = "/tmp/green-input-XXXXXX";
  const int fd = ::mkstemp(name);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "a\nb\nc", 5), 5);  // no final newline: "c" needs a second read
  ::close(fd);
  const int next_fd = ::open("/dev/null", O_RDONLY);  // the descriptor InputLines will get
  ::close(next_fd);
  auto read_all = [&](std::vector<std::string>& got) {
    green::tools::InputLines in({name});
    while (auto line = in.next()) got.push_back(line->text);
    return in.unreadable();
  };
  for (int err : {EINTR, EAGAIN}) {
    FailSyscall flaky(Sys::read, err, 3, next_fd);
    std::vector<std::string> got;
    EXPECT_EQ(read_all(got), 0u);
    EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(flaky.failed(), 3);
  }
  {
    ::testing::internal::CaptureStderr();  // first: it takes a descriptor too
    const int input_fd = ::open("/dev/null", O_RDONLY);
    ::close(input_fd);
    FailSyscall broken(Sys::read, EIO, 1, input_fd, 1);
    std::vector<std::string> got;
    EXPECT_EQ(read_all(got), 1u);
    EXPECT_EQ(::testing::internal::GetCapturedStderr(),
              std::string("green: cannot read ") + name + ": Input/output error\n");
    EXPECT_EQ(got, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(broken.failed(), 1);
  }
  ::unlink(name);
}

}  // namespace
