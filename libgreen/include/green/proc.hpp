// green::proc: child processes whose pipes and exit are watched by the hub
// (gevent.subprocess). Waiting for a child, reading its output or writing its
// input parks only the calling greenlet.
//
//     auto p = green::proc::Process::shell("sleep 1; uname", {.out = green::proc::Stdio::pipe});
//     auto r = p.communicate();          // other greenlets run meanwhile
//     std::cout << r.out;                // "Linux\n"
//
// How it works, and why:
//  - posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK) + exec), not fork: the
//    cost does not grow with the parent's memory and exec errors come back
//    as the call's result. Pipes are pipe2(O_CLOEXEC); the child gets its
//    ends through dup2 file actions and every other descriptor is closed.
//  - The exit is observed through a pidfd (pidfd_open, Linux >= 5.3) watched
//    by the hub's epoll, then reaped with waitpid(pid, WNOHANG). Unlike a
//    SIGCHLD handler this needs no process-wide signal disposition, cannot
//    miss or coalesce exits, and costs one wakeup per child instead of a
//    waitpid sweep over every tracked child per signal (bench/RESULTS.md).
//  - No zombies: the watch belongs to the child, not to the Process object.
//    A Process destroyed while its child runs (its greenlet was killed, say)
//    leaves the watch in place and the hub reaps the child when it exits; a
//    child still running when its hub ends is reaped by a later spawn or
//    reap_orphans() (like CPython's subprocess._cleanup).
//  - By default the child leads a new process group, so terminate() and
//    kill() reach its own children too (`sh -c 'a | b'`).
#pragma once

#include <green/detail/core.hpp>

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace green::proc {

/// What one of the child's standard streams is connected to.
enum class Stdio {
  inherit,  ///< the parent's own descriptor
  pipe,     ///< a pipe the parent reads or writes through Process
  null,     ///< /dev/null
};

/// How to start a child.
struct Options {
  Stdio in = Stdio::inherit;
  Stdio out = Stdio::inherit;
  Stdio err = Stdio::inherit;
  /// Send stderr wherever stdout goes (2>&1); `err` is then ignored.
  bool err_to_out = false;
  /// Working directory; empty keeps the parent's.
  std::string cwd{};
  /// The whole environment ("KEY=VALUE" each); unset: the parent's.
  std::optional<std::vector<std::string>> env{};
  /// Variables set on top of `env` (or of the parent's environment).
  std::vector<std::pair<std::string, std::string>> env_set{};
  /// Start the child as the leader of a new process group, so terminate()
  /// and kill() also reach its descendants. Turn it off for a child that
  /// must stay in the terminal's foreground group (it reads the terminal).
  bool new_process_group = true;
  /// Make the posix_spawn call on green's default thread pool instead of on
  /// the hub. vfork+exec suspends the calling thread until the child has
  /// exec'd, which takes milliseconds on a loaded machine or a VM; off the
  /// hub, other greenlets (timers, output) keep running meanwhile and
  /// several children can be started at once on several cores. spawn() and
  /// shell() then become switch points. A kill while the call runs still
  /// yields a tracked (reaped) child.
  bool spawn_in_thread = false;
  /// Added to the child's niceness as soon as it has started (as nice(1)
  /// does; 0 leaves it as the parent's). A positive value lowers the child's
  /// CPU priority below the hub's, so a busy child cannot delay the hub's
  /// timers; a negative one needs privileges (CAP_SYS_NICE) and is otherwise
  /// ignored, as is a child that already exited.
  int nice = 0;
};

/// communicate() did not finish in time. The child keeps running; call
/// kill() or terminate() and wait() (or let the Process go: it is reaped).
class TimeoutExpired : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The child's output and exit from communicate().
struct Result {
  std::string out;     ///< stdout, if it was a pipe
  std::string err;     ///< stderr, if it was a separate pipe
  int returncode = 0;  ///< see Process::returncode()
};

/// One end of a pipe to or from a child, driven by the hub. One greenlet at
/// a time may read, one may write; any greenlet may be the one.
///
/// Same shape as net::TcpStream: read_some fills a buffer, read_line keeps
/// the '\n' and returns "" at end of file (Python's readline), and every
/// call throws std::system_error or, given a `std::error_code&`, fills it
/// instead (a kill or Timeout still raises: cancellation is never a code).
class Pipe {
 public:
  ~Pipe();
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  /// Reads at least one byte (whatever is available, up to buf.size());
  /// returns 0 at end of file. Bytes read ahead by read_line() come first.
  /// `buf` is written only after the wait, never while parked, so a buffer
  /// shared by the thread's greenlets (green::scratch_buffer()) will do.
  /// Throws std::system_error on a read error or a closed pipe. Switch point.
  std::size_t read_some(std::span<char> buf);
  std::size_t read_some(std::span<char> buf, std::error_code& ec);
  /// Reads one line, up to and including '\n': at most `max` bytes, so a
  /// longer line comes back in pieces that do not end in '\n'; the last
  /// line before end of file may lack its '\n'; "" means end of file.
  /// Switch point.
  std::string read_line(std::size_t max = 64 * 1024);
  std::string read_line(std::size_t max, std::error_code& ec);
  /// Everything up to end of file (what was read before an error is
  /// returned with it). Switch point.
  std::string read_all();
  std::string read_all(std::error_code& ec);
  /// Writes all of `data`. Throws std::system_error (EPIPE when the child
  /// closed its end). Switch point.
  void write_all(std::string_view data);
  void write_all(std::string_view data, std::error_code& ec);
  /// Closes the parent's end now (the child sees end of file). Idempotent.
  /// Never switches.
  void close() noexcept;
  bool is_open() const noexcept;
  /// The descriptor (-1 once closed), e.g. to poll() whether a read would
  /// wait. Never switches.
  int native_handle() noexcept;

  struct Impl;
  explicit Pipe(std::unique_ptr<Impl> impl);

 private:
  bool read_more(std::error_code& ec);

  std::unique_ptr<Impl> impl_;
  std::string buf_;  // read ahead by read_line
  bool eof_ = false;
};

/// A running (or finished) child process. Movable, not copyable. Must be
/// created and used inside green::run, on the hub's thread.
class Process {
 public:
  /// Starts `argv[0]` (looked up in PATH when it has no '/') with `argv`.
  /// Throws std::system_error naming the program when it cannot be started
  /// (not found, not executable, out of processes). Never switches, unless
  /// Options::spawn_in_thread (then a switch point).
  static Process spawn(const std::vector<std::string>& argv, const Options& opt = {});
  /// Starts `/bin/sh -c command`. Throws like spawn().
  static Process shell(const std::string& command, const Options& opt = {});

  Process(Process&&) noexcept;
  Process& operator=(Process&&) noexcept;
  /// Never waits and never kills: a child still running is left to the hub
  /// to reap when it exits (it does not keep green::run waiting).
  ~Process();

  pid_t pid() const noexcept;

  /// The exit status once the child has been reaped: its exit code, or
  /// -N when signal N ended it (Python's convention); nullopt while it runs.
  /// Never switches.
  std::optional<int> returncode() const noexcept;

  /// Waits until the child exits or `timeout` passes; returns returncode(),
  /// nullopt on timeout. Switch point (kill/Timeout leave the child running).
  std::optional<int> wait(Duration timeout = forever);
  /// Tag for the wait() that raises, as subprocess's wait(timeout) does.
  struct RaiseOnTimeout {};
  static constexpr RaiseOnTimeout raise_on_timeout{};
  /// wait() that throws TimeoutExpired when `timeout` passes (the child
  /// keeps running). Switch point.
  int wait(Duration timeout, RaiseOnTimeout);

  /// Writes `input` to stdin (if it is a pipe; then closes it) while reading
  /// stdout and stderr (those that are pipes) to end of file, then waits for
  /// the exit. Throws TimeoutExpired after `timeout` (the child keeps
  /// running, the output read so far is lost). Switch point.
  Result communicate(std::string_view input = {}, Duration timeout = forever);

  /// SIGTERM to the child (to its process group if it leads one). Does
  /// nothing once the child has been reaped. Never switches.
  void terminate() noexcept;
  /// SIGKILL, like terminate().
  void kill() noexcept;
  /// Any signal, like terminate().
  void send_signal(int sig) noexcept;

  /// Whether this is the leader of its own process group (Options::new_process_group);
  /// its pid is then the group's id.
  bool leads_group() const noexcept;

  /// The parent's ends of the pipes; throw std::logic_error when that stream
  /// is not a pipe.
  Pipe& stdin_pipe();
  Pipe& stdout_pipe();
  Pipe& stderr_pipe();

  struct State;

 private:
  Process() = default;
  static Process start(const std::vector<std::string>& argv, bool path_search, const Options& opt);

  std::shared_ptr<State> state_;
  std::unique_ptr<Pipe> in_, out_, err_;
};

/// check_output() or run(..., check) on a child that exited non-zero (or
/// was killed by a signal): subprocess.CalledProcessError.
class CalledProcessError : public std::runtime_error {
 public:
  CalledProcessError(std::string program, int returncode, std::string output, std::string errors);
  std::string program;  ///< argv[0]
  int returncode;       ///< see Process::returncode()
  std::string output;   ///< its stdout, if captured
  std::string errors;   ///< its stderr, if captured
};

/// subprocess.run: starts `argv` with `opt` (stdout and stderr default to
/// pipes here, so they are captured), writes `input`, reads the output and
/// waits for the exit. With `check`, a non-zero exit throws
/// CalledProcessError. After `timeout` the child is killed (its process
/// group, SIGKILL) and reaped, and TimeoutExpired is thrown. Throws like
/// Process::spawn when it cannot start. Switch point.
struct RunOptions {
  Options process = {.out = Stdio::pipe, .err = Stdio::pipe};
  std::string input{};
  Duration timeout = forever;
  bool check = false;
};
Result run(const std::vector<std::string>& argv, const RunOptions& opt = {});

/// subprocess.check_output: run() with `check`, returning stdout (stderr
/// is inherited unless `opt` says otherwise). Switch point.
std::string check_output(const std::vector<std::string>& argv, Options opt = {.out = Stdio::pipe},
                         Duration timeout = forever);

/// A returncode() as a shell reports it: the exit code, or 128 + N for
/// signal N.
inline int shell_status(int returncode) noexcept { return returncode < 0 ? 128 - returncode : returncode; }

/// Reaps (waitpid WNOHANG) children whose Process and hub are both gone.
/// Called by every spawn; returns how many are still running. Never blocks.
std::size_t reap_orphans() noexcept;

// ---- process trees (for supervisors: green cron) ----------------------------
// A child's background processes (`sleep 9 &` in a shell job) outlive it and
// may leave its process group (setsid). As the subreaper of its descendants a
// process gets every such orphan re-parented to it instead of to PID 1, so it
// can still find them in /proc (descendants(), signal_tree()) and must reap
// them (reap_adopted()).

/// Makes this process the subreaper of its descendants
/// (prctl PR_SET_CHILD_SUBREAPER); false where the kernel refuses. Never
/// switches.
bool become_subreaper() noexcept;

/// Reaps exited children that no Process tracks (orphans adopted as a
/// subreaper) and returns true; false when one could not be told apart from a
/// child being started on another thread: call again a little later. Never
/// blocks, never switches.
bool reap_adopted() noexcept;

/// A live (not zombie) process seen in /proc.
struct ProcessInfo {
  pid_t pid;
  pid_t ppid;
  pid_t pgid;
};

/// This process's live descendants, parents before their children, read from
/// /proc (so a snapshot: processes fork and exit meanwhile). Never switches.
std::vector<ProcessInfo> descendants();

/// Sends `sig` to the tree of process group `pgid`: every live descendant of
/// this process that is in that group, or descends from one that is (or
/// from the group's leader), so background children that left the group
/// are included while their parent lives. `pgid` 0: every descendant.
/// Returns how many processes were signalled. Never switches.
std::size_t signal_tree(pid_t pgid, int sig) noexcept;

}  // namespace green::proc
