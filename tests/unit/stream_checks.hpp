// What every green byte stream (net::TcpStream, net::TlsStream) must do, for
// net_test and tls_test to hold each of them to: a handler that echoes lines,
// and the cancellation checks a stream parked in a read must pass.
#pragma once

#include "green_test.hpp"

#include <string>

namespace green::testing {

/// A server handler: echoes lines back until the peer closes.
template <class Stream>
void echo_lines(Stream& s) {
  for (;;) {
    std::string line = s.read_line();
    if (line.empty()) return;
    s.write_all(line);
  }
}

/// `c` is connected to echo_lines and has nothing coming: a Timeout around
/// its read_line cancels the read, and the stream still reads what comes
/// after.
template <class Stream>
void expect_timeout_leaves_stream_usable(Stream& c) {
  EXPECT_FALSE(green::try_with_timeout(20ms, [&] { c.read_line(); })) << "nothing was sent: the read waits";
  c.write_all("after\n");
  EXPECT_EQ(c.read_line(), "after\n");
}

/// `c` has nothing coming: a reader parked in its read_line, killed,
/// unwinds (its destructors run).
template <class Stream>
void expect_kill_unwinds_parked_reader(Stream& c) {
  bool unwound = false;
  auto reader = green::spawn([&] {
    struct Guard {
      bool& f;
      ~Guard() { f = true; }
    } guard{unwound};
    c.read_line();
  });
  green::sleep(scaled(5ms));
  EXPECT_FALSE(reader.ready());
  reader.kill();
  EXPECT_TRUE(reader.killed());
  EXPECT_TRUE(unwound);
}

}  // namespace green::testing
