// The tools' stdout (common/output) when write(2) fails: interrupted and
// would-block writes are retried with no line lost. (A full disk is tested
// for real, with /dev/full, in tests/e2e/cli_test.sh.)
#include "common/output.hpp"

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
  auto& out = green::tools::Output::out();
  std::string want;
  int failed = 0;
  StdoutToFile file;
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

}  // namespace
