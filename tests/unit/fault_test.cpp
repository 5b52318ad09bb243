// System calls that fail (tests/fault/fault.hpp makes them): the hub, net
// and proc report each failure clearly or ride it out, and keep their
// promises: no crash, no lost byte, no leaked descriptor.
#include <green/net.hpp>
#include <green/proc.hpp>

#include "fault.hpp"
#include "green_test.hpp"
#include "stream_checks.hpp"

#include <dirent.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <vector>

namespace {

using green::net::StreamServer;
using green::net::TcpStream;
using green::test::FailSyscall;
using green::test::Sys;

StreamServer line_echo() { return StreamServer("127.0.0.1", 0, green::testing::echo_lines<TcpStream>); }

// Reads everything until end of stream, then answers with the byte count.
StreamServer byte_counter() {
  return StreamServer("127.0.0.1", 0, [](TcpStream& s) {
    std::vector<char> buf(65536);  // not on the greenlet's 64 KiB stack
    std::size_t total = 0;
    while (std::size_t n = s.read_some(buf)) total += n;
    s.write_all(std::to_string(total) + "\n");
  });
}

int open_descriptors() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

GREEN_TEST(Fault, ResetDuringReadIsAnErrorOnThatStreamAndTheServerGoesOn) {
  StreamServer server = line_echo();
  server.start();
  const auto port = server.local_endpoint().port();
  TcpStream c = TcpStream::connect("127.0.0.1", port, 5s);
  c.write_all("a\n");
  EXPECT_EQ(c.read_line(), "a\n");
  c.write_all("b\n");
  {
    FailSyscall reset(Sys::recv, ECONNRESET, 1, c.native_handle());
    std::error_code ec;
    EXPECT_EQ(c.read_line(64, ec), "");
    EXPECT_EQ(ec, std::errc::connection_reset);
    EXPECT_EQ(reset.failed(), 1);
  }
  {
    FailSyscall reset(Sys::recv, ECONNRESET, 1, c.native_handle());
    try {
      c.read_line();
      ADD_FAILURE() << "a reset read did not throw";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::connection_reset);
      EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos) << e.what();
    }
  }
  TcpStream d = TcpStream::connect("127.0.0.1", port, 5s);
  d.write_all("next\n");
  EXPECT_EQ(d.read_line(), "next\n");
  c.close();
  d.close();
  server.stop(1s);
}

GREEN_TEST(Fault, InterruptedAndWouldBlockReadsLoseNoByte) {
  StreamServer server = line_echo();
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port(), 5s);
  {
    FailSyscall interrupted(Sys::recv, EINTR, 3, c.native_handle());
    const std::string line = std::string(100000, 'i') + "\n";
    c.write_all(line);
    EXPECT_EQ(c.read_line(200000), line);
    EXPECT_EQ(interrupted.failed(), 3);
  }
  {
    // EAGAIN only while the socket really is empty: the hub's epoll is
    // edge-triggered, so a socket that still held data after an EAGAIN
    // (which no kernel does) would never be reported readable again.
    FailSyscall empty(Sys::recv, EAGAIN, 1, c.native_handle());
    auto reader = green::spawn([&] { return c.read_line(200000); });
    green::sleep(green::Duration::zero());  // the reader's first recv fails, and it waits
    EXPECT_EQ(empty.failed(), 1);
    c.write_all("after\n");
    EXPECT_EQ(reader.get(), "after\n");
  }
  c.close();
  server.stop(1s);
}

GREEN_TEST(Fault, InterruptedAndWouldBlockWritesLoseNoByte) {
  StreamServer server = byte_counter();
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port(), 5s);
  const std::string chunk(300000, 'x');
  {
    FailSyscall flaky(Sys::send, EINTR, 3, c.native_handle());
    c.write_all(chunk);
    EXPECT_EQ(flaky.failed(), 3);
  }
  {
    FailSyscall flaky(Sys::send, EAGAIN, 3, c.native_handle());
    c.write_all(chunk);
    EXPECT_EQ(flaky.failed(), 3);
  }
  c.shutdown_write();
  EXPECT_EQ(c.read_line(), std::to_string(2 * chunk.size()) + "\n");
  c.close();
  server.stop(1s);
}

GREEN_TEST(Fault, ResetDuringWriteIsAnErrorCodeOrAnException) {
  StreamServer server = byte_counter();
  server.start();
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port(), 5s);
  {
    FailSyscall reset(Sys::send, ECONNRESET, 1, c.native_handle());
    std::error_code ec;
    c.write_all("lost", ec);
    EXPECT_EQ(ec, std::errc::connection_reset);
  }
  {
    FailSyscall reset(Sys::send, ECONNRESET, 1, c.native_handle());
    EXPECT_THROW(c.write_all("lost"), std::system_error);
  }
  c.close();
  server.stop(1s);
}

GREEN_TEST(Fault, OutOfDescriptorsOnAcceptBacksOffAndServesTheClientAfterwards) {
  StreamServer server = line_echo();
  server.start();
  for (int err : {EMFILE, ENFILE, EINTR, ECONNABORTED}) {
    FailSyscall full(Sys::accept4, err, 2);
    TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port(), 5s);
    c.write_all("still served\n");
    EXPECT_EQ(c.read_line(), "still served\n") << "errno " << err;
    EXPECT_EQ(full.failed(), 2) << "errno " << err;
    c.close();
  }
  EXPECT_EQ(server.accepted(), 4u);
  server.stop(1s);
}

GREEN_TEST(Fault, OutOfDescriptorsForAPipeThrowsAndLeaksNone) {
  using green::proc::Options;
  using green::proc::Process;
  using green::proc::Stdio;
  const int before = open_descriptors();
  Options opt;
  opt.in = Stdio::pipe;
  opt.out = Stdio::pipe;
  opt.err = Stdio::pipe;
  {
    FailSyscall full(Sys::pipe2, EMFILE, 1, -1, 2);  // the stderr pipe
    try {
      Process::spawn({"true"}, opt);
      ADD_FAILURE() << "spawn without a pipe did not throw";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), EMFILE);
      EXPECT_NE(std::string(e.what()).find("cannot create a pipe"), std::string::npos) << e.what();
    }
    EXPECT_EQ(full.failed(), 1);
  }
  EXPECT_EQ(open_descriptors(), before) << "the two pipes made before the failure leaked";
  Process ok = Process::spawn({"echo", "ok"}, opt);
  EXPECT_EQ(ok.communicate().out, "ok\n");
}

GREEN_TEST(Fault, SpawnFailureNamesTheProgramAndLeaksNothing) {
  using green::proc::Options;
  using green::proc::Process;
  using green::proc::Stdio;
  const int before = open_descriptors();
  Options opt;
  opt.out = Stdio::pipe;
  for (int err : {EAGAIN, ENOMEM}) {
    FailSyscall busy(Sys::posix_spawn, err);
    try {
      Process::spawn({"true"}, opt);
      ADD_FAILURE() << "a failed posix_spawn did not throw";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), err);
      EXPECT_NE(std::string(e.what()).find("cannot run 'true'"), std::string::npos) << e.what();
    }
    EXPECT_EQ(busy.failed(), 1);
  }
  EXPECT_EQ(open_descriptors(), before);
}

GREEN_TEST(Fault, AnInterruptedEpollWaitIsWaitedAgain) {
  StreamServer server = line_echo();
  server.start();
  FailSyscall interrupted(Sys::epoll_wait, EINTR, 20);
  green::sleep(20ms);
  TcpStream c = TcpStream::connect("127.0.0.1", server.local_endpoint().port(), 5s);
  c.write_all("through\n");
  EXPECT_EQ(c.read_line(), "through\n");
  EXPECT_GT(interrupted.failed(), 0);
  c.close();
  server.stop(1s);
}

}  // namespace
