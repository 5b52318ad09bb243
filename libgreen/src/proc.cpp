// green::proc: posix_spawn, pipes as hub-watched descriptors, exits seen
// through pidfds. See proc.hpp for the design and why.
#include "fd_watch.hpp"

#include <green/event.hpp>
#include <green/greenlet.hpp>
#include <green/io.hpp>
#include <green/proc.hpp>
#include <green/threadpool.hpp>
#include <green/timeout.hpp>
#include <green/yield.hpp>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>

extern char** environ;

namespace green::proc {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Children whose Process and hub are both gone before they exited.
std::mutex g_orphans_mutex;
std::vector<pid_t> g_orphans;

// Every child a Process tracks until it is reaped, and how many spawns are
// between posix_spawn and tracking: reap_adopted() must leave those alone
// (their exit belongs to their Process), and cannot tell a just-spawned child
// from an adopted orphan while a spawn is in flight.
std::mutex g_tracked_mutex;
std::unordered_set<pid_t> g_tracked;
int g_spawning = 0;

void untrack(pid_t pid) noexcept {
  std::lock_guard lock(g_tracked_mutex);
  g_tracked.erase(pid);
}

void add_orphan(pid_t pid) noexcept {
  try {
    std::lock_guard lock(g_orphans_mutex);
    g_orphans.push_back(pid);
  } catch (...) {
    // Out of memory: the child becomes a zombie until we exit. Nothing
    // better can be done from a destructor.
  }
}

int decode_status(int status) noexcept {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

// Writing to a child that exited must fail with EPIPE, not kill us: ignore
// SIGPIPE unless the program chose a disposition itself (CPython does the
// same at startup). Children get the default back (POSIX_SPAWN_SETSIGDEF).
void ignore_sigpipe_once() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL && !(old.sa_flags & SA_SIGINFO)) {
      std::signal(SIGPIPE, SIG_IGN);
    }
  });
}

std::system_error sys_error(int err, const std::string& what) {
  return std::system_error(err, std::generic_category(), what);
}

// Descriptors created for one spawn, closed on every path out.
struct Fds {
  int fd[6] = {-1, -1, -1, -1, -1, -1};  // in r/w, out r/w, err r/w
  ~Fds() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  int take(int i) noexcept { return std::exchange(fd[i], -1); }
  void close(int i) noexcept {
    if (fd[i] >= 0) ::close(std::exchange(fd[i], -1));
  }
};

struct FileActions {
  posix_spawn_file_actions_t fa;
  FileActions() { posix_spawn_file_actions_init(&fa); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa); }
};

struct SpawnAttr {
  posix_spawnattr_t attr;
  SpawnAttr() { posix_spawnattr_init(&attr); }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
};

}  // namespace

// ---- the child's state and exit watch ---------------------------------------

// Shared by the Process object and the pending exit watch: whichever goes
// last frees it, so a child whose Process is gone is still reaped.
struct Process::State {
  explicit State(asio::io_context& io) : poll_timer(io) {}
  ~State() {
    if (!rc && pid > 0) add_orphan(pid);  // the hub ended before the child
  }

  pid_t pid = -1;
  bool group = false;
  std::optional<int> rc;
  Event exited;
  detail::FdWatch pidfd;
  asio::steady_timer poll_timer;  // only without pidfd support (ENOSYS)
  // The hub polls the watch but a program does not wait for a child nobody
  // waits for (wait() holds an IoRef for that).
  std::optional<detail::PassiveRef> watching;

  // Reaps if the child has exited; true when it has.
  bool try_reap() noexcept {
    int status = 0;
    pid_t r;
    do r = ::waitpid(pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0) return false;
    rc = r == pid ? decode_status(status) : -1;  // ECHILD: someone else reaped it
    untrack(pid);
    return true;
  }

  void reaped() noexcept {
    pidfd.close();
    watching.reset();
    exited.set();
  }

  // Starts watching a child that has just been spawned.
  static std::shared_ptr<State> track(asio::io_context& io, pid_t pid, bool group) {
    auto st = std::make_shared<State>(io);
    {
      std::lock_guard lock(g_tracked_mutex);
      g_tracked.insert(pid);
    }
    st->pid = pid;
    st->group = group;
    st->watching.emplace();
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd >= 0) {
      // The pending wait holds the state, so a child whose Process is gone
      // is still reaped.
      try {
        State* raw = st.get();
        st->pidfd = detail::FdWatch(
            fd,
            [raw](bool, const bool&) {
              if (raw->try_reap()) raw->reaped();
            },
            true, st);
        st->pidfd.want(true, false);
        return st;
      } catch (const boost::system::system_error&) {
        // falls back to polling
      }
    }
    poll(st);
    return st;
  }

  static void poll(const std::shared_ptr<State>& st) {
    st->poll_timer.expires_after(std::chrono::milliseconds(5));
    st->poll_timer.async_wait([st](const error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      if (st->try_reap())
        st->reaped();
      else
        poll(st);
    });
  }
};

std::size_t reap_orphans() noexcept {
  std::lock_guard lock(g_orphans_mutex);
  std::erase_if(g_orphans, [](pid_t pid) {
    int status;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    const bool gone = r == pid || (r < 0 && errno == ECHILD);
    if (gone) untrack(pid);
    return gone;
  });
  return g_orphans.size();
}

bool become_subreaper() noexcept { return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0; }

bool reap_adopted() noexcept {
  // waitid(WNOWAIT) names an exited child without reaping it; the kernel
  // returns the same one until it is reaped, so a tracked child (its pidfd
  // watch reaps it on this hub's next turn) stops the sweep for now.
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      return true;  // ECHILD: no children at all
    }
    if (info.si_pid == 0) return true;  // no exited child
    {
      std::lock_guard lock(g_tracked_mutex);
      if (g_spawning > 0 || g_tracked.contains(info.si_pid)) return false;
    }
    int status;
    ::waitpid(info.si_pid, &status, WNOHANG);
  }
}

namespace {

struct ProcStat {
  pid_t ppid;
  pid_t pgid;
  bool zombie;
};

// Every process in /proc; one that exits while we read is simply missing.
std::unordered_map<pid_t, ProcStat> read_proc() {
  std::unordered_map<pid_t, ProcStat> all;
  DIR* dir = ::opendir("/proc");
  if (!dir) return all;
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end) continue;
    char path[64], buf[512];
    std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    // "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses.
    const char* rp = std::strrchr(buf, ')');
    char state = 0;
    int ppid = 0, pgid = 0;
    if (!rp || std::sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgid) != 3) continue;
    all[static_cast<pid_t>(pid)] = {ppid, pgid, state == 'Z' || state == 'X'};
  }
  ::closedir(dir);
  return all;
}

}  // namespace

std::vector<ProcessInfo> descendants() {
  const auto all = read_proc();
  std::unordered_multimap<pid_t, pid_t> children;
  for (const auto& [pid, st] : all) children.emplace(st.ppid, pid);
  std::vector<ProcessInfo> out;
  std::vector<pid_t> todo{::getpid()};
  while (!todo.empty()) {
    const pid_t parent = todo.back();
    todo.pop_back();
    auto [lo, hi] = children.equal_range(parent);
    for (auto it = lo; it != hi; ++it) {
      const ProcStat& st = all.at(it->second);
      if (!st.zombie) out.push_back({it->second, st.ppid, st.pgid});
      todo.push_back(it->second);
    }
  }
  return out;
}

std::size_t signal_tree(pid_t pgid, int sig) noexcept {
  try {
    const auto procs = descendants();  // parents first
    std::unordered_set<pid_t> in_tree;
    std::size_t n = 0;
    for (const auto& p : procs) {
      if (pgid != 0 && p.pgid != pgid && p.pid != pgid && !in_tree.contains(p.ppid)) continue;
      in_tree.insert(p.pid);
      if (::kill(p.pid, sig) == 0) ++n;
    }
    return n;
  } catch (...) {
    return 0;  // out of memory: nothing better to do here
  }
}

// ---- Pipe -------------------------------------------------------------------

struct Pipe::Impl {
  Impl(asio::io_context& io, int fd) : sd(io, fd) {
    error_code ignored;
    sd.non_blocking(true, ignored);  // reads try first, then wait (read_some)
  }
  asio::posix::stream_descriptor sd;
};

Pipe::Pipe(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pipe::~Pipe() { close(); }

bool Pipe::is_open() const noexcept { return impl_->sd.is_open(); }

int Pipe::native_handle() noexcept { return impl_->sd.is_open() ? impl_->sd.native_handle() : -1; }

void Pipe::close() noexcept {
  error_code ignored;
  impl_->sd.close(ignored);
}

std::size_t Pipe::read_some(std::span<char> buf, std::error_code& ec) {
  ec.clear();
  if (buf.empty()) return 0;
  if (!buf_.empty()) {
    const std::size_t n = std::min(buf.size(), buf_.size());
    std::memcpy(buf.data(), buf_.data(), n);
    buf_.erase(0, n);
    return n;
  }
  if (eof_) return 0;
  if (!impl_->sd.is_open()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return 0;
  }
  // A pipe waits for most of a child's life: it waits for readiness and
  // reads after, never while parked, so callers can read into a buffer
  // shared by the thread's greenlets (scratch_buffer()) instead of holding
  // one each.
  for (;;) {
    error_code bec;
    const std::size_t got = impl_->sd.read_some(asio::buffer(buf.data(), buf.size()), bec);
    if (!bec) return got;
    if (bec == asio::error::eof) {
      eof_ = true;
      return 0;
    }
    if (bec != asio::error::would_block && bec != asio::error::try_again) {
      ec = bec;
      return 0;
    }
    impl_->sd.async_wait(asio::posix::descriptor_base::wait_read, green::yield[bec]);
    if (bec) {
      ec = bec;
      return 0;
    }
  }
}

std::size_t Pipe::read_some(std::span<char> buf) {
  std::error_code ec;
  const std::size_t n = read_some(buf, ec);
  if (ec) throw std::system_error(ec, is_open() ? "read from child pipe" : "read from a closed pipe");
  return n;
}

// Appends what one read_some() gets to buf_; false at end of file.
bool Pipe::read_more(std::error_code& ec) {
  const std::span<char> scratch = green::scratch_buffer();
  // Past the switch in read_some: what it wrote into the shared buffer is
  // copied out before anything else can run.
  const std::size_t n = read_some(scratch, ec);
  buf_.append(scratch.data(), n);
  return n > 0;
}

std::string Pipe::read_line(std::size_t max, std::error_code& ec) {
  ec.clear();
  if (max == 0) return {};
  std::size_t scanned = 0;
  for (;;) {
    const std::size_t limit = std::min(max, buf_.size());
    const auto nl = buf_.find('\n', scanned);
    if (nl != std::string::npos && nl < limit) {
      std::string line = buf_.substr(0, nl + 1);
      buf_.erase(0, nl + 1);
      return line;
    }
    if (buf_.size() >= max || eof_) {
      std::string line = buf_.substr(0, limit);
      buf_.erase(0, limit);
      return line;
    }
    scanned = buf_.size();
    // buf_ must look empty to read_some, which serves it first.
    std::string keep = std::exchange(buf_, {});
    const bool more = read_more(ec);
    keep += buf_;
    buf_ = std::move(keep);
    if (ec) return {};
    if (!more) eof_ = true;
  }
}

std::string Pipe::read_line(std::size_t max) {
  std::error_code ec;
  std::string line = read_line(max, ec);
  if (ec) throw std::system_error(ec, is_open() ? "read from child pipe" : "read from a closed pipe");
  return line;
}

std::string Pipe::read_all(std::error_code& ec) {
  ec.clear();
  std::string all = std::exchange(buf_, {});
  while (read_more(ec)) {
    all += buf_;
    buf_.clear();
  }
  return all;
}

std::string Pipe::read_all() {
  std::error_code ec;
  std::string all = read_all(ec);
  if (ec) throw std::system_error(ec, is_open() ? "read from child pipe" : "read from a closed pipe");
  return all;
}

void Pipe::write_all(std::string_view data, std::error_code& ec) {
  ec.clear();
  if (data.empty()) return;
  if (!impl_->sd.is_open()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return;
  }
  error_code bec;
  asio::async_write(impl_->sd, asio::buffer(data.data(), data.size()), green::yield[bec]);
  if (bec) ec = bec;
}

void Pipe::write_all(std::string_view data) {
  std::error_code ec;
  write_all(data, ec);
  if (ec) throw std::system_error(ec, is_open() ? "write to child pipe" : "write to a closed pipe");
}

// ---- Process ----------------------------------------------------------------

Process::Process(Process&&) noexcept = default;
Process& Process::operator=(Process&&) noexcept = default;
Process::~Process() = default;

pid_t Process::pid() const noexcept { return state_ ? state_->pid : -1; }

bool Process::leads_group() const noexcept { return state_ && state_->group; }

std::optional<int> Process::returncode() const noexcept { return state_ ? state_->rc : std::nullopt; }

Process Process::spawn(const std::vector<std::string>& argv, const Options& opt) { return start(argv, true, opt); }

Process Process::shell(const std::string& command, const Options& opt) {
  return start({"/bin/sh", "-c", command}, false, opt);
}

Process Process::start(const std::vector<std::string>& argv, bool path_search, const Options& opt) {
  if (argv.empty()) throw std::invalid_argument("green::proc: empty argv");
  asio::io_context& io = green::io_context();
  reap_orphans();
  ignore_sigpipe_once();

  Fds fds;
  auto make_pipe = [&](int base) {
    if (::pipe2(&fds.fd[base], O_CLOEXEC) != 0) throw sys_error(errno, "cannot create a pipe");
  };
  const bool out_pipe = opt.out == Stdio::pipe;
  const bool err_pipe = !opt.err_to_out && opt.err == Stdio::pipe;
  if (opt.in == Stdio::pipe) make_pipe(0);
  if (out_pipe) make_pipe(2);
  if (err_pipe) make_pipe(4);

  FileActions fa;
  auto redirect = [&](int target, Stdio mode, int pipe_end, int flags) {
    if (mode == Stdio::pipe) posix_spawn_file_actions_adddup2(&fa.fa, pipe_end, target);
    if (mode == Stdio::null) posix_spawn_file_actions_addopen(&fa.fa, target, "/dev/null", flags, 0);
  };
  redirect(0, opt.in, fds.fd[0], O_RDONLY);
  redirect(1, opt.out, fds.fd[3], O_WRONLY);
  if (opt.err_to_out)
    posix_spawn_file_actions_adddup2(&fa.fa, 1, 2);
  else
    redirect(2, opt.err, fds.fd[5], O_WRONLY);
  if (!opt.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa.fa, opt.cwd.c_str());
  // Descriptors other libraries opened without O_CLOEXEC must not leak into
  // the child (a leaked pipe end would keep another child's EOF away).
  posix_spawn_file_actions_addclosefrom_np(&fa.fa, 3);

  SpawnAttr sa;
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (opt.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&sa.attr, 0);
  }
  posix_spawnattr_setflags(&sa.attr, flags);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&sa.attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGXFSZ);
  posix_spawnattr_setsigdefault(&sa.attr, &defaults);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  std::vector<std::string> env_storage;
  std::vector<char*> envp;
  char** env = environ;
  if (opt.env || !opt.env_set.empty()) {
    if (opt.env) {
      env_storage = *opt.env;
    } else {
      for (char** e = environ; *e; ++e) env_storage.emplace_back(*e);
    }
    for (const auto& [key, value] : opt.env_set) {
      const std::string prefix = key + "=";
      std::erase_if(env_storage, [&](const std::string& e) { return e.starts_with(prefix); });
      env_storage.push_back(prefix + value);
    }
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
    env = envp.data();
  }

  pid_t pid = -1;
  auto posix_spawn_child = [&] {
    return path_search ? ::posix_spawnp(&pid, args[0], &fa.fa, &sa.attr, args.data(), env)
                       : ::posix_spawn(&pid, args[0], &fa.fa, &sa.attr, args.data(), env);
  };
  auto do_spawn = [&] {
    if (opt.nice == 0) return posix_spawn_child();
    // posix_spawn has no niceness attribute, but a child inherits its
    // spawning thread's niceness from its first instruction (exec and the
    // dynamic loader included, the bulk of a short job's CPU), and a thread
    // cannot lower its niceness again: spawn from a thread of its own.
    int rc = 0;
    std::thread([&] {
      errno = 0;
      const int base = ::getpriority(PRIO_PROCESS, 0);  // on Linux: this thread
      if (errno == 0) ::setpriority(PRIO_PROCESS, 0, std::clamp(base + opt.nice, -20, 19));
      rc = posix_spawn_child();
    }).join();
    return rc;
  };
  {
    std::lock_guard lock(g_tracked_mutex);
    ++g_spawning;
  }
  struct Spawned {
    ~Spawned() {
      std::lock_guard lock(g_tracked_mutex);
      --g_spawning;
    }
  };
  // Held until the child is tracked (or the spawn failed): reap_adopted()
  // must not take a new child for an orphan.
  auto spawning = std::make_unique<Spawned>();
  int rc = 0;
  if (opt.spawn_in_thread) {
    std::exception_ptr interrupted;
    try {
      rc = default_thread_pool().run(do_spawn);
    } catch (...) {
      interrupted = std::current_exception();
    }
    if (interrupted) {
      // Killed while the worker was spawning: the child exists but nobody
      // will wait for it; track it so the hub reaps it, then raise.
      if (pid > 0) State::track(io, pid, opt.new_process_group);
      spawning.reset();
      std::rethrow_exception(interrupted);
    }
  } else {
    rc = do_spawn();
  }
  if (rc != 0) throw sys_error(rc, "cannot run '" + argv[0] + "'");
  // The child's ends must go now, or the parent never sees end of file.
  fds.close(0);
  fds.close(3);
  fds.close(5);

  Process p;
  p.state_ = State::track(io, pid, opt.new_process_group);
  spawning.reset();

  auto make = [&](int fd) { return std::make_unique<Pipe>(std::make_unique<Pipe::Impl>(io, fd)); };
  if (opt.in == Stdio::pipe) p.in_ = make(fds.take(1));
  if (out_pipe) p.out_ = make(fds.take(2));
  if (err_pipe) p.err_ = make(fds.take(4));
  return p;
}

std::optional<int> Process::wait(Duration timeout) {
  if (!state_) throw std::logic_error("green::proc: wait on a moved-from Process");
  if (state_->rc) return state_->rc;
  auto st = state_;  // the Process may be moved from while this greenlet waits
  detail::IoRef io;
  st->exited.wait(timeout);
  return st->rc;
}

void Process::send_signal(int sig) noexcept {
  if (!state_ || state_->rc || state_->pid <= 0) return;
  // The child is not reaped yet (only this hub reaps it), so its pid, and
  // its group while it leads it, cannot have been reused.
  if (state_->group && ::kill(-state_->pid, sig) == 0) return;
  ::kill(state_->pid, sig);
}

void Process::terminate() noexcept { send_signal(SIGTERM); }
void Process::kill() noexcept { send_signal(SIGKILL); }

Pipe& Process::stdin_pipe() {
  if (!in_) throw std::logic_error("green::proc: stdin is not a pipe");
  return *in_;
}
Pipe& Process::stdout_pipe() {
  if (!out_) throw std::logic_error("green::proc: stdout is not a pipe");
  return *out_;
}
Pipe& Process::stderr_pipe() {
  if (!err_) throw std::logic_error("green::proc: stderr is not a pipe");
  return *err_;
}

Result Process::communicate(std::string_view input, Duration timeout) {
  Result r;
  std::vector<Greenlet<void>> helpers;
  if (in_) {
    helpers.push_back(green::spawn([this, input] {
      try {
        in_->write_all(input);
      } catch (const std::system_error&) {
        // The child exited or closed its stdin without reading it all;
        // like Python's communicate, that is not our error.
      }
      in_->close();
    }));
  }
  if (err_) helpers.push_back(green::spawn([this, &r] { r.err = err_->read_all(); }));
  try {
    Timeout limit(timeout, TimeoutExpired("green::proc: communicate timed out"));
    if (out_) r.out = out_->read_all();
    for (auto& h : helpers) h.join();
    wait();
  } catch (...) {
    // Killing switches, which is safe inside a catch block: every greenlet
    // keeps its own exception-handling state (see detail::Context).
    for (auto& h : helpers) h.kill();
    throw;
  }
  for (auto& h : helpers) h.get();  // a read error in a helper
  r.returncode = *state_->rc;
  return r;
}

int Process::wait(Duration timeout, RaiseOnTimeout) {
  if (auto rc = wait(timeout)) return *rc;
  throw TimeoutExpired("green::proc: wait timed out");
}

namespace {
std::string describe_exit(int returncode) {
  return returncode < 0 ? "was killed by signal " + std::to_string(-returncode)
                        : "exited with status " + std::to_string(returncode);
}
}  // namespace

CalledProcessError::CalledProcessError(std::string prog, int rc, std::string out, std::string err)
    : std::runtime_error("green::proc: " + prog + " " + describe_exit(rc)),
      program(std::move(prog)),
      returncode(rc),
      output(std::move(out)),
      errors(std::move(err)) {}

Result run(const std::vector<std::string>& argv, const RunOptions& opt) {
  Options popt = opt.process;
  if (!opt.input.empty() && popt.in == Stdio::inherit) popt.in = Stdio::pipe;
  Process p = Process::spawn(argv, popt);
  Result r;
  try {
    r = p.communicate(opt.input, opt.timeout);
  } catch (const TimeoutExpired&) {
    p.kill();
    p.wait();
    throw TimeoutExpired("green::proc: " + argv.at(0) + " timed out");
  }
  if (opt.check && r.returncode != 0) throw CalledProcessError(argv.at(0), r.returncode, r.out, r.err);
  return r;
}

std::string check_output(const std::vector<std::string>& argv, Options opt, Duration timeout) {
  opt.out = Stdio::pipe;
  return run(argv, {.process = std::move(opt), .input = {}, .timeout = timeout, .check = true}).out;
}

}  // namespace green::proc
