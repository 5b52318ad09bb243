// green::proc, green::ThreadPool and green::signal_handler against real
// children, threads and signals.
#include <green/proc.hpp>
#include <green/signal.hpp>
#include <green/threadpool.hpp>

#include "green_test.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

using green::proc::Options;
using green::proc::Process;
using green::proc::Stdio;

// 'R', 'S', 'Z', ... or 0 when the process is gone.
char proc_state(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(f, stat)) return 0;
  const auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() ? 0 : stat[close + 2];
}

// Waits cooperatively (bounded) until `pid` no longer exists as our child:
// true once waitpid would find nothing, i.e. it was reaped.
bool reaped_eventually(pid_t pid) {
  for (int i = 0; i < 1000; ++i) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    green::sleep(5ms);
  }
  return false;
}

// The niceness of `pid` (field 19 of /proc/PID/stat), or -100 if unreadable.
int proc_nice(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(f, stat)) return -100;
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 19 && rest >> field; ++i) {
  }
  return std::stoi(field);
}

GREEN_TEST(Proc, NiceLowersTheChildsPriorityNotTheCallers) {
  errno = 0;
  const int base = ::getpriority(PRIO_PROCESS, 0);
  ASSERT_EQ(errno, 0);
  for (bool in_thread : {false, true}) {
    auto p = Process::spawn({"sleep", "30"}, {.spawn_in_thread = in_thread, .nice = 5});
    EXPECT_EQ(proc_nice(p.pid()), std::min(base + 5, 19)) << "spawn_in_thread " << in_thread;
    p.kill();
    p.wait();
  }
  EXPECT_EQ(::getpriority(PRIO_PROCESS, 0), base);  // the hub's thread keeps its priority
}

GREEN_TEST(Proc, CommunicateCollectsStdoutStderrAndExitCode) {
  auto p = Process::shell("echo out; echo err >&2; exit 3", {.out = Stdio::pipe, .err = Stdio::pipe});
  auto r = p.communicate();
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.returncode, 3);
  EXPECT_EQ(p.returncode(), 3);
}

GREEN_TEST(Proc, CommunicateFeedsStdinBiggerThanAPipeBuffer) {
  std::string input;
  for (int i = 0; i < 20000; ++i) input += "line " + std::to_string(i) + "\n";
  auto p = Process::spawn({"cat"}, {.in = Stdio::pipe, .out = Stdio::pipe});
  auto r = p.communicate(input);
  EXPECT_EQ(r.out, input);
  EXPECT_EQ(r.returncode, 0);
}

GREEN_TEST(Proc, OtherGreenletsRunWhileCommunicateWaits) {
  Lines out;
  auto ticker = green::spawn([&] {
    for (;;) {
      out.push_back("tick");
      green::sleep(20ms);
    }
  });
  auto p = Process::shell("sleep 0.2; echo done", {.out = Stdio::pipe});
  auto r = p.communicate();
  ticker.kill();
  out.push_back(r.out);
  ASSERT_GE(out.size(), 3u);
  EXPECT_EQ(out.front(), "tick");
  EXPECT_EQ(out.back(), "done\n");
}

GREEN_TEST(Proc, WaitTimeoutLeavesTheChildRunning) {
  auto p = Process::spawn({"sleep", "30"});
  EXPECT_EQ(p.wait(30ms), std::nullopt);
  EXPECT_EQ(p.returncode(), std::nullopt);
  EXPECT_NE(proc_state(p.pid()), 0);
  p.kill();
  EXPECT_EQ(p.wait(), -SIGKILL);
  EXPECT_EQ(green::proc::shell_status(*p.returncode()), 128 + SIGKILL);
}

GREEN_TEST(Proc, CommunicateTimeoutThrowsAndKillStopsTheChild) {
  auto p = Process::shell("echo partial; sleep 30", {.out = Stdio::pipe, .err = Stdio::pipe});
  EXPECT_THROW(p.communicate({}, 50ms), green::proc::TimeoutExpired);
  EXPECT_EQ(p.returncode(), std::nullopt);
  p.kill();
  EXPECT_EQ(p.wait(), -SIGKILL);
}

GREEN_TEST(Proc, KilledWaiterLeavesNoZombie) {
  pid_t pid = -1;
  auto waiter = green::spawn([&] {
    auto p = Process::spawn({"sleep", "30"});
    pid = p.pid();
    p.wait();
  });
  green::sleep(0s);
  ASSERT_GT(pid, 0);
  waiter.kill();  // the Process dies with the greenlet; its child runs on
  EXPECT_TRUE(waiter.ready());
  EXPECT_NE(proc_state(pid), 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  // The hub's watch reaps it although nobody waits for it.
  EXPECT_TRUE(reaped_eventually(pid));
}

GREEN_TEST(Proc, LinesAreReadFromAnotherGreenlet) {
  auto p = Process::shell("for i in 1 2 3; do echo line $i; sleep 0.01; done; printf tail", {.out = Stdio::pipe});
  Lines lines;
  auto reader = green::spawn([&] {
    for (std::string line; !(line = p.stdout_pipe().read_line()).empty();) lines.push_back(line);
  });
  EXPECT_EQ(p.wait(), 0);
  reader.join();
  EXPECT_EQ(lines, (Lines{"line 1\n", "line 2\n", "line 3\n", "tail"}));
}

// The shape net::TcpStream has: lines keep '\n' and come in pieces of at
// most `max`, "" and 0 mean end of file, error codes instead of throws.
GREEN_TEST(Proc, PipeReadsInTcpStreamsShape) {
  auto p = Process::shell("printf 'abcdef\\nxy\\nlast'", {.out = Stdio::pipe});
  green::proc::Pipe& out = p.stdout_pipe();
  EXPECT_EQ(out.read_line(4), "abcd");
  EXPECT_EQ(out.read_line(), "ef\n");
  char buf[2];
  EXPECT_EQ(out.read_some(buf), 2u);
  EXPECT_EQ(std::string(buf, 2), "xy");
  EXPECT_EQ(out.read_line(), "\n");
  EXPECT_EQ(out.read_all(), "last");
  EXPECT_EQ(out.read_line(), "");
  EXPECT_EQ(out.read_some(buf), 0u);
  EXPECT_EQ(p.wait(), 0);

  auto cat = Process::spawn({"cat"}, {.in = Stdio::pipe, .out = Stdio::pipe});
  cat.stdout_pipe().close();
  std::error_code ec;
  EXPECT_EQ(cat.stdout_pipe().read_line(64, ec), "");
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
  EXPECT_THROW(cat.stdout_pipe().read_all(), std::system_error);
  cat.stdin_pipe().close();
  cat.wait();
}

GREEN_TEST(Proc, TerminateReachesTheWholeProcessGroup) {
  auto p = Process::shell("sleep 30 & echo $!; wait", {.out = Stdio::pipe});
  const std::string line = p.stdout_pipe().read_line();
  ASSERT_FALSE(line.empty());
  const pid_t grandchild = std::stoi(line);
  p.terminate();
  EXPECT_EQ(p.wait(), -SIGTERM);
  // Reparented, the grandchild is reaped by init (or lingers as a zombie
  // when init does not reap): either way it no longer runs.
  char state = 'S';
  for (int i = 0; i < 400 && state != 0 && state != 'Z'; ++i) {
    green::sleep(5ms);
    state = proc_state(grandchild);
  }
  EXPECT_TRUE(state == 0 || state == 'Z') << "grandchild state " << state;
}

// A subreaper adopts what a child leaves behind (here one background
// process in the child's group and one that left it with setsid), finds it
// in descendants(), kills a group's tree or everything, and reaps it.
GREEN_TEST(ProcTree, SubreaperAdoptsKillsAndReapsWhatAChildLeftBehind) {
  ASSERT_TRUE(green::proc::become_subreaper());
  struct Undo {
    ~Undo() { ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); }
  } undo;
  auto p = Process::shell("sleep 30 >/dev/null & a=$!; setsid sleep 31 >/dev/null & echo $a $!",
                          {.out = Stdio::pipe});
  const std::string line = p.stdout_pipe().read_line();
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(p.wait(), 0);
  std::istringstream pids(line);
  pid_t in_group = 0, escaped = 0;
  pids >> in_group >> escaped;
  ASSERT_GT(in_group, 0);
  ASSERT_GT(escaped, 0);
  // Both now are our children (not init's), the first still in the job's group.
  bool saw_in_group = false, saw_escaped = false;
  for (int i = 0; i < 400 && !(saw_in_group && saw_escaped); ++i) {
    saw_in_group = saw_escaped = false;
    for (const auto& d : green::proc::descendants()) {
      if (d.pid == in_group && d.ppid == ::getpid() && d.pgid == p.pid()) saw_in_group = true;
      if (d.pid == escaped && d.ppid == ::getpid() && d.pgid != p.pid()) saw_escaped = true;
    }
    if (!(saw_in_group && saw_escaped)) green::sleep(5ms);
  }
  EXPECT_TRUE(saw_in_group);
  EXPECT_TRUE(saw_escaped);
  // The job's tree is only what is still in its group.
  EXPECT_EQ(green::proc::signal_tree(p.pid(), SIGKILL), 1u);
  EXPECT_GE(green::proc::signal_tree(0, SIGKILL), 1u);
  // Reaped by reap_adopted(), not left as zombies.
  bool gone = false;
  for (int i = 0; i < 400 && !gone; ++i) {
    green::proc::reap_adopted();
    gone = proc_state(in_group) == 0 && proc_state(escaped) == 0;
    if (!gone) green::sleep(5ms);
  }
  EXPECT_TRUE(gone) << "states " << proc_state(in_group) << " " << proc_state(escaped);
}

// reap_adopted() never takes the exit of a child a Process tracks.
GREEN_TEST(ProcTree, ReapAdoptedLeavesTrackedChildrenAlone) {
  auto p = Process::shell("exit 3");
  // Without switching, so the hub cannot reap it first.
  for (int i = 0; i < 2000 && proc_state(p.pid()) != 'Z'; ++i) ::usleep(1000);
  ASSERT_EQ(proc_state(p.pid()), 'Z');
  EXPECT_FALSE(green::proc::reap_adopted());
  EXPECT_EQ(p.wait(), 3);
}

GREEN_TEST(Proc, MissingProgramThrowsNamingIt) {
  try {
    Process::spawn({"/nonexistent/green-test-program"});
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/green-test-program"), std::string::npos) << e.what();
    EXPECT_EQ(e.code().value(), ENOENT);
  }
}

GREEN_TEST(Proc, EnvironmentWorkingDirectoryAndRedirections) {
  auto p =
      Process::shell("echo $GREEN_TEST_VAR; pwd; echo to-stderr >&2; echo gone >/dev/null",
                     {.out = Stdio::pipe, .err_to_out = true, .cwd = "/tmp", .env_set = {{"GREEN_TEST_VAR", "value"}}});
  EXPECT_EQ(p.communicate().out, "value\n/tmp\nto-stderr\n");
  auto q =
      Process::shell("echo $HOME-$GREEN_ONLY", {.out = Stdio::pipe, .env = std::vector<std::string>{"GREEN_ONLY=1"}});
  EXPECT_EQ(q.communicate().out, "-1\n");
  auto n = Process::shell("cat; echo x", {.in = Stdio::null, .out = Stdio::null});
  EXPECT_EQ(n.wait(), 0);
}

GREEN_TEST(Proc, ManyConcurrentChildrenAreAllReaped) {
  std::vector<pid_t> pids;
  green::Pool pool(20);
  for (int i = 0; i < 200; ++i) {
    pool.spawn([&] {
      auto p = Process::spawn({"true"});
      pids.push_back(p.pid());
      EXPECT_EQ(p.wait(), 0);
    });
  }
  pool.join();
  ASSERT_EQ(pids.size(), 200u);
  for (pid_t pid : pids) EXPECT_EQ(proc_state(pid), 0) << pid;
}

GREEN_TEST(Proc, SpawnInThreadKeepsTheHubRunning) {
  Lines out;
  auto other = green::spawn([&] { out.push_back("other ran"); });
  auto p = Process::shell("echo from-thread", {.out = Stdio::pipe, .spawn_in_thread = true});
  out.push_back("spawned");
  EXPECT_EQ(p.communicate().out, "from-thread\n");
  other.join();
  EXPECT_EQ(out, (Lines{"other ran", "spawned"}));
  EXPECT_THROW(Process::spawn({"/nonexistent/x"}, {.spawn_in_thread = true}), std::system_error);
}

GREEN_TEST(ThreadPool, RunInThreadReturnsTheValueAndOthersRunMeanwhile) {
  Lines out;
  auto other = green::spawn([&] { out.push_back("other ran"); });
  const auto hub_thread = std::this_thread::get_id();
  auto worker_thread = green::run_in_thread([] {
    std::this_thread::sleep_for(50ms);
    return std::this_thread::get_id();
  });
  out.push_back("call returned");
  other.join();
  EXPECT_NE(worker_thread, hub_thread);
  EXPECT_EQ(out, (Lines{"other ran", "call returned"}));
}

GREEN_TEST(ThreadPool, ExceptionFromTheThreadIsRethrownInTheGreenlet) {
  green::ThreadPool pool(2);
  try {
    pool.run([]() -> int { throw std::runtime_error("blocking call failed"); });
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "blocking call failed");
  }
  EXPECT_EQ(pool.run([] { return 7; }), 7);
}

GREEN_TEST(ThreadPool, ManyGreenletsShareASmallPool) {
  green::ThreadPool pool(3);
  std::atomic<int> running{0}, most{0};
  std::vector<green::Greenlet<int>> calls;
  for (int i = 0; i < 12; ++i) {
    calls.push_back(green::spawn([&, i] {
      return pool.run([&, i] {
        int now = ++running;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(5ms);
        --running;
        return i * i;
      });
    }));
  }
  for (int i = 0; i < 12; ++i) EXPECT_EQ(calls[static_cast<std::size_t>(i)].get(), i * i);
  EXPECT_LE(most.load(), 3);
  EXPECT_LE(pool.threads(), 3u);
}

GREEN_TEST(ThreadPool, KillWhileQueuedWithdrawsTheCall) {
  green::ThreadPool pool(1);
  std::atomic<bool> second_ran{false};
  auto first = green::spawn([&] { pool.run([] { std::this_thread::sleep_for(50ms); }); });
  auto second = green::spawn([&] { pool.run([&] { second_ran = true; }); });
  green::sleep(0s);
  second.kill();  // still queued behind the first: withdrawn
  first.join();
  EXPECT_TRUE(second.ready());
  EXPECT_FALSE(second_ran.load());
}

GREEN_TEST(Signal, SignalHandlerRunsInAGreenlet) {
  green::Event got;
  int seen = 0;
  auto handler = green::signal_handler(SIGUSR2, [&](int sig) {
    seen = sig;
    got.set();
  });
  ::kill(::getpid(), SIGUSR2);
  green::detail::IoRef io;  // the test waits for the signal's I/O
  EXPECT_TRUE(got.wait(5s));
  EXPECT_EQ(seen, SIGUSR2);
}

}  // namespace
