// `green cron`: run commands on a schedule while a main command runs (the
// seeds' `cron` greenlet next to a subprocess), or a crontab until stopped.
//
//     green cron --every 200ms 'echo cron' -- sh -c 'sleep 1; uname'
//     green cron --tab jobs.cron --timeout 5m
//
// One scheduler greenlet per job sleeps until the job's next time and then
// starts a run greenlet, which spawns `/bin/sh -c CMD` (green::proc) and
// passes its output through line by line. @every/--every schedules are a
// fixed grid anchored at start (no drift: a late start does not move the
// next one); calendar schedules are recomputed from the wall clock.
#include "common/color.hpp"
#include "common/crontab.hpp"
#include "common/duration.hpp"
#include "common/input.hpp"
#include "common/json.hpp"
#include "common/output.hpp"
#include "common/run.hpp"
#include "common/subcommand.hpp"

#include <green/green.hpp>
#include <green/proc.hpp>
#include <green/signal.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <boost/asio/posix/stream_descriptor.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace green::tools {

namespace {

using namespace std::chrono_literals;
using cron::Job;
using cron::Schedule;
using SysClock = std::chrono::system_clock;

struct CronOptions {
  std::vector<std::pair<std::string, std::string>> every;  // DUR, CMD
  std::vector<std::string> every_names;                    // --name after each --every ("" for none)
  std::string tab;
  bool test = false;
  std::string from;
  bool json = false;
  bool overlap = false;
  int nice = 0;
  Duration timeout = Duration::zero();  // none
  Duration grace = 5s;
  std::string prefix = "auto";
  std::vector<std::string> main;
};

std::string iso_time(SysClock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

std::string local_time(std::time_t t, int millis = -1) {
  std::tm tm{};
  localtime_r(&t, &tm);
  char date[32], zone[16];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
  std::strftime(zone, sizeof zone, "%Z", &tm);
  if (millis >= 0) return fmt::format("{}.{:03} {}", date, millis, zone);
  return fmt::format("{} {}", date, zone);
}

// The crontab's text; UsageError naming the file when it cannot be read.
std::string read_crontab_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw UsageError("cannot read " + path + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw UsageError("cannot read " + path + ": it is a directory (--tab takes a crontab file)");
  std::ifstream in(path);
  if (!in) throw UsageError("cannot read " + path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();  // an empty file sets failbit on `text`, which is fine
  if (in.bad()) throw UsageError("cannot read " + path + ": " + std::strerror(errno));
  return text.str();
}

// An unknown TZ would silently run a crontab in UTC (glibc's fallback).
void check_time_zone() {
  const char* tz = std::getenv("TZ");
  if (!tz || !*tz) return;
  std::string name = tz[0] == ':' ? tz + 1 : tz;
  if (name.empty()) return;
  // A POSIX rule ("EST5EDT", "<+03>-3", "UTC0") needs no file.
  const bool has_digit =
      std::any_of(name.begin(), name.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  const bool posix_rule = name[0] == '<' || (has_digit && name.find('/') == std::string::npos);
  if (posix_rule) return;
  std::string path = name;
  if (name[0] != '/') {
    const char* dir = std::getenv("TZDIR");
    path = std::string(dir && *dir ? dir : "/usr/share/zoneinfo") + "/" + name;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    throw UsageError("unknown time zone TZ='" + std::string(tz) + "' (no " + path + "; the crontab would run in UTC)");
}

// A crontab's jobs, each checked to fire at least once in the next years.
std::vector<Job> parse_tab(const std::string& text, const std::string& source) {
  std::vector<Job> tab;
  try {
    tab = cron::parse_crontab(text, source);
  } catch (const cron::ScheduleError& e) {
    throw UsageError(e.what());
  }
  if (tab.empty()) throw UsageError(source + ": no jobs in it (only blank lines, comments or NAME=value lines)");
  const std::time_t now = SysClock::to_time_t(SysClock::now());
  for (const Job& j : tab) {
    if (!j.schedule.every && !j.schedule.next_after(now))
      throw UsageError(fmt::format("{}:{}: '{}' never fires (no such date in the next five years)", source, j.line,
                                   j.schedule.text));
  }
  return tab;
}

// The jobs from --every and --tab, checked before anything runs.
std::vector<Job> load_jobs(const CronOptions& opt, std::string& tab_text) {
  if (!opt.tab.empty() || !opt.from.empty()) check_time_zone();
  std::vector<Job> jobs;
  for (std::size_t i = 0; i < opt.every.size(); ++i) {
    const auto& [dur, cmd] = opt.every[i];
    Job j;
    j.schedule.every = parse_duration(dur);
    // Below a millisecond a job would only ever skip its overlapping runs
    // (and a zero period would spin the hub).
    if (*j.schedule.every < 1ms)
      throw UsageError("--every needs at least 1ms, got '" + dur + "'");
    j.schedule.text = "@every " + dur;
    j.command = j.name = cmd;
    if (i < opt.every_names.size() && !opt.every_names[i].empty()) j.name = opt.every_names[i];
    jobs.push_back(std::move(j));
  }
  if (!opt.tab.empty()) {
    // `--tab -` reads the crontab from stdin (a file, a pipe or a terminal,
    // up to end of file), as `crontab -` does.
    const bool from_stdin = opt.tab == "-";
    if (from_stdin) {
      tab_text = read_all_stdin();
    } else {
      tab_text = read_crontab_file(opt.tab);
    }
    for (auto& j : parse_tab(tab_text, from_stdin ? "stdin" : opt.tab)) jobs.push_back(std::move(j));
  }
  return jobs;
}

std::time_t parse_from(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  if (!end || *end) {
    tm = {};
    end = strptime(text.c_str(), "%Y-%m-%d %H:%M", &tm);
  }
  if (!end || *end) throw UsageError("invalid --from '" + text + "' (expected YYYY-MM-DD HH:MM[:SS], local time)");
  tm.tm_isdst = -1;
  return std::mktime(&tm);
}

// --test: each job's next five run times.
int print_schedule(const CronOptions& opt, const std::vector<Job>& jobs) {
  Output& out = Output::out();
  const auto now = opt.from.empty() ? SysClock::now() : SysClock::from_time_t(parse_from(opt.from));
  for (const Job& j : jobs) {
    std::vector<std::string> times;
    if (j.schedule.every) {
      for (int k = 1; k <= 5; ++k) {
        const auto t = now + std::chrono::duration_cast<SysClock::duration>(*j.schedule.every * k);
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
        times.push_back(local_time(static_cast<std::time_t>(ms / 1000), static_cast<int>(ms % 1000)));
      }
    } else {
      std::time_t t = SysClock::to_time_t(now);
      for (int k = 0; k < 5; ++k) {
        auto n = j.schedule.next_after(t);
        if (!n) break;
        times.push_back(local_time(*n));
        t = *n;
      }
    }
    const std::string where = j.line ? fmt::format("{}:{}", opt.tab == "-" ? "stdin" : opt.tab, j.line) : "--every";
    if (opt.json) {
      JsonWriter w;
      w.field("job", j.name).field("source", where).field("schedule", j.schedule.text).begin_array("next");
      for (const auto& t : times) w.value(t);
      w.end_array();
      out.line(w.finish());
    } else {
      out.line(fmt::format("{}\t{}\t{}", where, j.schedule.text, j.command));
      if (times.empty()) out.line("\t(never)");
      for (const auto& t : times) out.line("\t" + t);
    }
  }
  out.flush();
  return out.error() ? kExitFailure : kExitOk;  // a full disk was reported by out
}

// A job as it runs: shared with its scheduler and its runs, so a reload
// that drops the job lets the runs already going finish.
struct JobState {
  Job job;
  std::string out_prefix{};  // "" or the job's name and a tab, coloured for stdout
  std::string err_prefix{};  // the same for stderr
  std::size_t running = 0;   // runs whose process has not exited yet
  bool warned_overlap = false;
  Clock::time_point anchor{};  // @every grids start here
  GreenletRef scheduler{};
};

// Output is passed on in pieces of at most this much: a line longer than
// this (or a job's last bytes without a newline) is cut, and --json marks the
// pieces that do not end a line ("partial"), so memory stays bounded whatever
// the job writes.
constexpr std::size_t kPiece = 64 * 1024;
// At most this much job output waits for stdout; then the jobs wait.
constexpr std::size_t kQueueLimit = 1024 * 1024;

bool same_job(const Job& a, const Job& b) {
  return a.name == b.name && a.command == b.command && a.schedule.text == b.schedule.text && a.env == b.env;
}

class Cron {
 public:
  Cron(const CronOptions& opt, std::vector<Job> jobs, std::string tab_text)
      : opt_(opt), tab_text_(std::move(tab_text)) {
    for (auto& j : jobs) jobs_.push_back(std::make_shared<JobState>(JobState{std::move(j)}));
    set_prefixes();
    shares_stdout_ = !opt.main.empty();
    watch_tab_ = !opt.tab.empty() && opt.tab != "-";
  }

  int run() {
    // Orphaned background processes of the jobs come to us, not to PID 1,
    // so that they can be found and stopped (see proc.hpp).
    green::proc::become_subreaper();
    auto reaper = green::signal_handler(SIGCHLD, [this] { reap(); });
    std::optional<green::proc::Process> main;
    if (!opt_.main.empty()) {
      try {
        main = green::proc::Process::spawn(opt_.main, {.new_process_group = false});
      } catch (const std::system_error& e) {
        diag_error("{}", e.what());
        return e.code().value() == ENOENT ? 127 : 126;
      }
    }
    writer_ = green::spawn([this] { write_stdout(); });
    const auto anchor = Clock::now();
    for (auto& j : jobs_) start_scheduler(j, anchor);
    if (watch_tab_) reloader_ = green::spawn([this] { watch_crontab(); });

    bool interrupted = false;
    std::optional<int> main_rc;
    try {
      if (main) {
        main_rc = main->wait();
      } else {
        stop_.wait();
      }
    } catch (const GreenletExit&) {
      interrupted = true;  // SIGINT/SIGTERM or a closed stdout (run_tool sets the exit status)
    } catch (const LoopExit&) {
      // No job has a next run time any more: nothing left to do.
    }
    // From here on a kill (a second signal, stdout closing) must not unwind
    // this frame while runs still use the jobs: it only cuts the grace short.
    auto done = green::spawn([&] { shutdown(main, main_rc, interrupted); });
    for (;;) {
      bool hurry = false;
      try {
        done.join();
      } catch (const GreenletExit&) {
        hurry = true;
      }
      if (!hurry) break;
      hurry_.set();
    }
    reaper->cancel();
    return main_rc ? green::proc::shell_status(*main_rc) : kExitOk;
  }

 private:
  void shutdown(std::optional<green::proc::Process>& main, std::optional<int>& main_rc, bool interrupted) {
    stopping_ = true;
    stop_.set();
    if (reloader_) reloader_.kill();
    for (auto& j : jobs_) j->scheduler.join();
    for (auto& j : retired_) j->scheduler.join();
    if (interrupted && main && !main_rc) main->terminate();

    // Running jobs, background processes they left and MAIN get --grace to
    // finish; a second signal ends the wait early, never the cleanup.
    const auto deadline = Clock::now() + opt_.grace;
    auto busy = [&] {
      if (running_ > 0 || (main && !main->returncode())) return true;
      return !green::proc::descendants().empty();
    };
    if (interrupted && busy() && !hurry_.is_set()) {
      // Name only what is there: "0 running job runs" read as nothing to wait for.
      const bool main_runs = main && !main->returncode();
      std::string what = running_ > 0 ? count_of(running_, "job run") : "";
      if (main_runs) what += (what.empty() ? "" : " and ") + std::string("the main command");
      if (what.empty())
        what = "what the jobs left running in the background";
      else
        what += running_ + (main_runs ? 1 : 0) == 1 ? " (and what it started)" : " (and what they started)";
      diag("stopping: waiting up to --grace {} for {} to finish (a second signal stops them now)",
           format_duration(opt_.grace), what);
    }
    while (busy() && Clock::now() < deadline && !hurry_.is_set())
      hurry_.wait(std::min<Duration>(50ms, deadline - Clock::now()));
    if (busy()) {
      const std::string why = hurry_.is_set() ? "on a second signal" : "after --grace " + format_duration(opt_.grace);
      if (running_ > 0) diag_warn("killing {} still running {}", count_of(running_, "job run"), why);
      if (main && !main->returncode()) diag_warn("killing the main command {}", why);
      if (running_ == 0 && (!main || main->returncode()))
        diag_warn("killing what the jobs left running in the background {}", why);
      // Everything under us: the runs' trees, what they left behind, MAIN.
      // Repeat while processes fork as they die.
      for (int round = 0; round < 100 && green::proc::signal_tree(0, SIGKILL) > 0; ++round) green::sleep(10ms);
    }
    if (main && !main_rc) main_rc = main->wait();
    // The runs end once their pipes reach end of file, which the kill above
    // brought; a pipe handed to a process outside our tree is not waited for.
    if (!runs_.join(opt_.grace)) runs_.kill();
    writer_done_ = true;
    wake_writer_.set();
    // After MAIN's end, a slow reader is waited for as in any pipeline; after
    // a signal (run_tool told Output to stop waiting), one that takes
    // nothing for a second is given up on, and said so, before the summary.
    writer_.join();
    Output::out().flush();
    reap();
    // A closed stdout (`| head`) ends the run quietly; a failing one was
    // reported by Output and stops it too, but it was no signal.
    const Output& out = Output::out();
    const char* why = !interrupted || out.closed() ? ""
                      : out.error()                ? "; stopped: stdout failed"
                                                   : "; stopped by signal";
    diag_summary("{}, {} failed, {} timed out, {} skipped{}", count_of(runs_started_, "run"), failed_, timed_out_,
                 skipped_, why);
  }

  void start_scheduler(const std::shared_ptr<JobState>& j, Clock::time_point anchor) {
    j->anchor = anchor;
    j->scheduler = green::spawn([this, j] { schedule(j); });
  }

  void set_prefixes() {
    if (!(opt_.prefix == "always" || (opt_.prefix == "auto" && jobs_.size() > 1))) {
      for (auto& j : jobs_) j->out_prefix = j->err_prefix = "";
      return;
    }
    // One colour per job, as docker compose does, so interleaved output reads apart.
    constexpr Color kJobColors[] = {Color::cyan, Color::magenta, Color::blue, Color::green, Color::yellow};
    std::size_t k = 0;
    for (auto& j : jobs_) {
      const Color c = kJobColors[k++ % std::size(kJobColors)];
      j->out_prefix = paint(j->job.name, c, color_stdout()) + "\t";
      j->err_prefix = paint(j->job.name, c, color_stderr()) + "\t";
    }
  }

  // Children that left a run (`sleep 9 &`) and were re-parented to us.
  void reap() {
    if (!green::proc::reap_adopted() && !reap_retry_) {
      // A child could not be told apart yet (a spawn in flight): look again soon.
      reap_retry_ = true;
      green::spawn([this] {
        green::sleep(20ms);
        reap_retry_ = false;
        reap();
      });
    }
  }

  void schedule(const std::shared_ptr<JobState>& js) {
    JobState& j = *js;
    const Schedule& s = j.job.schedule;
    if (s.every) {
      const Duration every = *s.every;
      for (std::int64_t k = 1;; ++k) {
        auto deadline = j.anchor + every * k;
        const auto now = Clock::now();
        if (now - deadline > every) {  // the hub was held up past a whole period: skip, do not pile up
          const std::int64_t caught_up = (now - j.anchor) / every + 1;
          for (; k < caught_up; ++k) skip(j, "late", k, j.anchor + every * k);
          deadline = j.anchor + every * k;
        }
        if (!wait_until(deadline)) return;
        fire(js, k, deadline);
      }
    }
    std::time_t last = SysClock::to_time_t(SysClock::now());
    for (std::int64_t k = 1;; ++k) {
      auto next = s.next_after(last);
      if (!next) return;
      // Sleep on the steady clock, but re-check the wall clock on waking
      // (it may have been set while we slept).
      for (;;) {
        const auto wall = SysClock::now();
        const auto due = SysClock::from_time_t(*next);
        if (wall >= due) break;
        if (!wait_until(Clock::now() + std::chrono::duration_cast<Duration>(due - wall))) return;
      }
      fire(js, k, Clock::now() - (SysClock::now() - SysClock::from_time_t(*next)));
      last = *next;
    }
  }

  // Sleeps until `deadline`; false when stopped first (no job starts once
  // MAIN has exited or a signal came, even one that fell due just before).
  bool wait_until(Clock::time_point deadline) {
    const auto now = Clock::now();
    if (deadline > now) stop_.wait(deadline - now);
    return !stop_.is_set();
  }

  // Ticks are numbered per job from 1; a run's lateness is how long after
  // its tick it started.
  void skip(JobState& j, const char* reason, std::int64_t tick, Clock::time_point due) {
    ++skipped_;
    if (opt_.json) {
      event(j, "skip", [&](JsonWriter& w) {
        w.field("tick", tick)
            .field("late_ms", std::chrono::duration<double, std::milli>(Clock::now() - due).count())
            .field("reason", reason);
      });
    }
  }

  void fire(const std::shared_ptr<JobState>& js, std::int64_t tick, Clock::time_point due) {
    JobState& j = *js;
    if (j.running > 0 && !opt_.overlap) {
      skip(j, "overlap", tick, due);
      if (!j.warned_overlap) {
        j.warned_overlap = true;
        diag_warn(
            "job '{}' is still running: skipping its overlapping runs (--overlap allows them; warned once per job)",
            j.job.name);
      }
      return;
    }
    ++j.running;
    ++running_;
    runs_.spawn([this, js, tick, due] { run_once(js, tick, due); });
  }

  template <class F>
  void event(const JobState& j, const char* what, F&& fill) {
    JsonWriter w;
    w.field("event", what).field("job", j.job.name).field("time", iso_time(SysClock::now()));
    fill(w);
    std::string line = w.finish();
    line += '\n';
    emit_stdout(std::move(line));
  }

  // Everything for stdout goes through one queue, in the order it happened,
  // written by its own greenlet (write_stdout): a stdout that takes nothing
  // holds up only that greenlet and, once kQueueLimit bytes wait, the job
  // output readers (the jobs then block on their full pipes). Events of the
  // schedule (start, exit, skip) never wait: ticks and starts go on.
  void emit_stdout(std::string text) {
    queued_ += text.size();
    queue_.push_back(std::move(text));
    wake_writer_.set();
  }

  void write_stdout() {
    Output& out = Output::out();
    for (;;) {
      if (queue_.empty()) {
        if (writer_done_) return;
        wake_writer_.clear();
        wake_writer_.wait();
        continue;
      }
      // One piece of work for what waits, up to 64 KiB.
      std::string batch = std::move(queue_.front());
      queue_.pop_front();
      while (!queue_.empty() && batch.size() + queue_.front().size() <= kPiece) {
        batch += queue_.front();
        queue_.pop_front();
      }
      // Parks while the reader is behind (not once the run is stopping); a
      // closed or failing stdout is reported by Output and ends the run
      // through run_tool, as for every tool.
      out.write(batch);
      // MAIN writes to the same stdout: what the jobs said before it must
      // reach it before MAIN's next lines, not up to 100 ms later.
      if (shares_stdout_) out.flush();
      queued_ -= batch.size();
      if (queued_ < kQueueLimit) room_.set();
    }
  }

  // A job output reader waits here before it reads more of its pipe.
  void wait_for_room() {
    while (queued_ >= kQueueLimit) {
      room_.clear();
      room_.wait();
    }
  }

  // One piece of a job's output: a whole line (`ends_line`, without its
  // '\n') or at most kPiece bytes of one.
  void emit_piece(const JobState& j, std::string_view piece, bool ends_line, bool is_stdout) {
    if (opt_.json) {
      event(j, "output", [&](JsonWriter& w) {
        w.field("stream", is_stdout ? "stdout" : "stderr").field("line", piece);
        if (!ends_line) w.field("partial", true);
      });
      return;
    }
    const std::string& prefix = is_stdout ? j.out_prefix : j.err_prefix;
    // With prefixes each piece needs a line of its own; without, the bytes
    // pass through as the job wrote them.
    const bool newline = ends_line || !prefix.empty();
    std::string text = prefix;
    text += piece;
    if (newline) text += '\n';
    if (is_stdout)
      emit_stdout(std::move(text));
    else
      Output::err().write(text);  // parks this reader, not the hub, while stderr is behind
  }

  // Streams one pipe through in pieces; never holds more than kPiece of it.
  void pass_through(const JobState& j, green::proc::Pipe& pipe, bool is_stdout) {
    std::string line;
    auto feed = [&](std::string_view rest) {
      while (!rest.empty()) {
        if (line.size() == kPiece) {
          // A '\n' right after a full piece still ends that line.
          const bool ends = rest[0] == '\n';
          emit_piece(j, line, ends, is_stdout);
          line.clear();
          if (ends) rest.remove_prefix(1);
          continue;
        }
        const std::size_t room = kPiece - line.size();
        const std::size_t nl = rest.substr(0, room).find('\n');
        if (nl != std::string_view::npos) {
          line.append(rest.substr(0, nl));
          emit_piece(j, line, true, is_stdout);
          line.clear();
          rest.remove_prefix(nl + 1);
          continue;
        }
        const std::size_t take = std::min(room, rest.size());
        line.append(rest.substr(0, take));
        rest.remove_prefix(take);
      }
    };
    const std::span<char> buf = green::scratch_buffer().first(kPiece);
    for (;;) {
      const std::size_t n = pipe.read_some(buf);
      if (n == 0) break;
      // Out of the thread's shared buffer before the next switch point.
      const std::string chunk(buf.data(), n);
      // While stdout is behind, the pipe is not read further: the job blocks
      // on it. (After the read, so that an end of file is always seen.)
      wait_for_room();
      feed(chunk);
    }
    if (!line.empty()) emit_piece(j, line, false, is_stdout);
  }

  // True while a read from `pipe` would not wait (data or end of file).
  static bool has_input(green::proc::Pipe& pipe) {
    pollfd p{pipe.native_handle(), POLLIN, 0};
    return p.fd >= 0 && ::poll(&p, 1, 0) > 0;
  }

  void run_once(std::shared_ptr<JobState> js, std::int64_t tick, Clock::time_point due) {
    JobState& j = *js;
    bool counted = true;  // in j.running and running_
    auto finished = [&] {
      if (!std::exchange(counted, false)) return;
      --j.running;
      --running_;
    };
    struct Finish {
      decltype(finished)& f;
      ~Finish() { f(); }
    } finish{finished};
    if (stopping_) {
      // Fired before the stop but not yet started: still a tick of the
      // grid, so it is accounted for (a later tick may already be a skip
      // that overlapped this one).
      skip(j, "stopped", tick, due);
      return;
    }
    const auto started = Clock::now();
    green::proc::Options po;
    po.in = green::proc::Stdio::null;
    po.out = green::proc::Stdio::pipe;
    po.err = green::proc::Stdio::pipe;
    po.env_set = j.job.env;
    po.spawn_in_thread = true;  // vfork+exec must not hold up the other jobs' ticks
    po.nice = opt_.nice;
    std::shared_ptr<green::proc::Process> p;
    try {
      p = std::make_shared<green::proc::Process>(green::proc::Process::shell(j.job.command, po));
    } catch (const std::system_error& e) {
      ++failed_;
      diag_error("job '{}': {}", j.job.name, e.what());
      return;
    }
    ++runs_started_;
    const pid_t group = p->pid();
    if (opt_.json) {
      event(j, "start", [&](JsonWriter& w) {
        w.field("tick", tick)
            .field("late_ms", std::chrono::duration<double, std::milli>(started - due).count())
            .field("spawn_ms", std::chrono::duration<double, std::milli>(Clock::now() - started).count())
            .field("pid", static_cast<std::int64_t>(group));
      });
    }
    // The readers share the process (its pipes) and the job, and belong to
    // runs_, so shutdown waits for them whatever happens to this greenlet.
    auto out = runs_.spawn([this, js, p] { pass_through(*js, p->stdout_pipe(), true); });
    auto err = runs_.spawn([this, js, p] { pass_through(*js, p->stderr_pipe(), false); });
    const bool limited = opt_.timeout > Duration::zero();
    const auto time_limit = started + opt_.timeout;
    bool timed_out = false;
    std::optional<int> rc = p->wait(limited ? opt_.timeout : forever);
    if (!rc) {
      timed_out = true;
      ++timed_out_;
      diag_warn("job '{}' ran longer than --timeout {}: sending SIGTERM", j.job.name, format_duration(opt_.timeout));
      green::proc::signal_tree(group, SIGTERM);
      rc = p->wait(opt_.grace);
      if (!rc) {
        diag_warn("job '{}' still running {} after SIGTERM: sending SIGKILL", j.job.name, format_duration(opt_.grace));
        green::proc::signal_tree(group, SIGKILL);
        rc = p->wait();
      }
    }
    // What the job wrote before it exited comes before its exit event; a
    // background process it left may keep the pipes open, so wait only until
    // nothing is left to read now, not for their end.
    for (int spins = 0; !(out.ready() && err.ready()); ++spins) {
      if ((out.ready() || !has_input(p->stdout_pipe())) && (err.ready() || !has_input(p->stderr_pipe()))) break;
      if (queued_ >= kQueueLimit)
        wait_for_room();  // stdout is behind: the readers wait for it too
      else if (Output::err().pending() > 0)
        Output::err().flush();  // so is stderr
      else
        green::sleep(spins < 100 ? Duration::zero() : Duration(1ms));
    }
    const int status = green::proc::shell_status(*rc);
    if (status != 0) ++failed_;
    if (opt_.json) {
      const double secs = std::chrono::duration<double>(Clock::now() - started).count();
      event(j, "exit",
            [&](JsonWriter& w) { w.field("exit_code", status).field("duration", secs).field("timed_out", timed_out); });
    }
    // The run is over when its process exits: the next tick may start the
    // job again even while what it left in the background still runs.
    finished();
    if (timed_out) {
      green::proc::signal_tree(group, SIGKILL);
      return;
    }
    if (!limited) return;  // what it left runs on until shutdown
    // What the run left in the background is stopped at its --timeout too.
    // (kill(-group, 0) first: it is cheap, the /proc walk is not.)
    auto left_behind = [&] { return ::kill(-group, 0) == 0 && leftovers(group); };
    if (out.ready() && err.ready() && !left_behind()) return;
    if (Clock::now() < time_limit) stop_.wait(time_limit - Clock::now());
    if (stopping_) return;  // shutdown deals with it, after --grace
    if (left_behind() && green::proc::signal_tree(group, SIGKILL) > 0)
      diag_warn("job '{}': killed what it left running at --timeout {}", j.job.name, format_duration(opt_.timeout));
  }

  // Whether processes of a finished run's group still run.
  static bool leftovers(pid_t group) {
    for (const auto& p : green::proc::descendants())
      if (p.pgid == group) return true;
    return false;
  }
  // --tab FILE is watched (inotify, on the hub) and reloaded when it
  // changes: jobs that stay the same keep their schedule and their runs,
  // new ones start, removed ones stop starting (their runs finish). A file
  // that no longer parses is reported and the jobs loaded before are kept.
  void watch_crontab() {
    namespace asio = boost::asio;
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
      diag_warn("cannot watch {} for changes: {}", opt_.tab, std::strerror(errno));
      return;
    }
    asio::posix::stream_descriptor sd(green::io_context(), fd);
    // The directory, not the file: editors and `mv` replace the file.
    const auto slash = opt_.tab.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : opt_.tab.substr(0, slash);
    const std::string base = slash == std::string::npos ? opt_.tab : opt_.tab.substr(slash + 1);
    if (::inotify_add_watch(fd, dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
      diag_warn("cannot watch {} for changes: {}", opt_.tab, std::strerror(errno));
      return;
    }
    alignas(inotify_event) char buf[4096];
    for (;;) {
      auto [ec] = green::await_op<boost::system::error_code>(
          [&](auto handler) { sd.async_wait(asio::posix::descriptor_base::wait_read, std::move(handler)); },
          [&] {
            boost::system::error_code ignored;
            sd.cancel(ignored);
          });
      if (ec) return;
      bool ours = false;
      for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t off = 0; off < n;) {
          const auto* e = reinterpret_cast<const inotify_event*>(buf + off);
          if (e->len > 0 && base == e->name) ours = true;
          off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
        }
      }
      if (ours) reload();
    }
  }

  void reload() {
    std::string text;
    std::vector<Job> tab;
    try {
      text = read_crontab_file(opt_.tab);
      if (text == tab_text_) return;  // touched, not changed
      tab = parse_tab(text, opt_.tab);
    } catch (const UsageError& e) {
      diag_error("{}; keeping the jobs loaded before", e.what());
      return;
    }
    tab_text_ = text;
    std::vector<std::shared_ptr<JobState>> next, added, old;
    for (auto& j : jobs_) (j->job.line == 0 ? next : old).push_back(j);  // --every jobs stay
    for (auto& job : tab) {
      auto same = std::find_if(old.begin(), old.end(), [&](const auto& o) { return o && same_job(o->job, job); });
      if (same != old.end()) {
        (*same)->job.line = job.line;
        next.push_back(std::move(*same));
        *same = nullptr;
      } else {
        added.push_back(std::make_shared<JobState>(JobState{std::move(job)}));
        next.push_back(added.back());
      }
    }
    std::size_t removed = 0;
    for (auto& o : old) {
      if (!o) continue;
      ++removed;
      o->scheduler.kill();
      retired_.push_back(o);
    }
    std::erase_if(retired_, [](const auto& r) { return r.use_count() == 1; });  // no runs left
    jobs_ = std::move(next);
    set_prefixes();
    const auto anchor = Clock::now();
    for (auto& j : added) start_scheduler(j, anchor);
    diag("reloaded {}: {}, {} added, {} removed", opt_.tab, count_of(tab.size(), "job"), added.size(), removed);
  }

  const CronOptions& opt_;
  std::vector<std::shared_ptr<JobState>> jobs_;
  std::vector<std::shared_ptr<JobState>> retired_;  // removed by a reload; runs may still use them
  std::string tab_text_;                             // the crontab as last loaded
  bool watch_tab_ = false;
  GreenletRef reloader_;
  bool shares_stdout_ = false;
  green::Event stop_;
  green::Event hurry_;     // a second signal: cut the grace short
  bool stopping_ = false;  // no run starts any more
  bool reap_retry_ = false;
  green::Group runs_;  // runs and their output readers
  std::deque<std::string> queue_;  // for stdout, in order (see emit_stdout)
  std::size_t queued_ = 0;         // bytes in queue_
  green::Event wake_writer_, room_;
  bool writer_done_ = false;
  GreenletRef writer_;
  std::size_t running_ = 0;
  std::size_t runs_started_ = 0, failed_ = 0, timed_out_ = 0, skipped_ = 0;
};

int run_cron(const CronOptions& opt) {
  if (opt.prefix != "auto" && opt.prefix != "always" && opt.prefix != "never")
    throw UsageError("--prefix must be auto, always or never");
  std::string tab_text;
  std::vector<Job> jobs = load_jobs(opt, tab_text);
  if (opt.test) {
    if (jobs.empty()) throw UsageError("--test needs jobs (--every DUR CMD or --tab FILE)");
    return print_schedule(opt, jobs);
  }
  if (jobs.empty() && opt.main.empty())
    throw UsageError("nothing to run: give --every DUR CMD, --tab FILE, or a command after --");
  return run_tool(
      [&] {
        Cron cron(opt, std::move(jobs), std::move(tab_text));
        return cron.run();
      },
      /*second_signal_exits=*/false);
}

}  // namespace

void setup_cron(CLI::App& app, int& status) {
  auto opt = std::make_shared<CronOptions>();
  CLI::App* sub = app.add_subcommand(
      "cron", "Run commands on a schedule: every DUR while a main command runs, or from a crontab until stopped");
  sub->footer(
      "Each job runs as /bin/sh -c CMD with stdin from /dev/null, in its own process group; its output passes\n"
      "through line by line, prefixed with the job's name and a tab when there is more than one job (a line\n"
      "over 64 KiB, or a last line without newline, is cut into pieces; --json marks them \"partial\").\n"
      "--every jobs first run one DUR after start, then on a fixed grid (a late run does not shift the next).\n"
      "A run that would overlap the job's previous one is skipped (one warning per job) unless --overlap is\n"
      "given; a run ends when its process exits, even if processes it started in the background run on.\n"
      "Crontab: 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, ranges,\n"
      "lists, steps and names (no year field); @hourly @daily @weekly @monthly @yearly @every DUR (DUR may\n"
      "be compound: 1h30m); NAME=value lines set the environment; a '# name: NAME' comment right above a\n"
      "job names it; times are local (TZ, which must name a known zone). The file is reloaded when it\n"
      "changes: unchanged jobs keep running, a version that does not parse is reported and the old one kept.\n"
      "No job outlives green: it adopts the jobs' orphaned background processes (subreaper) and kills a\n"
      "run's whole process tree at --timeout, and everything left at shutdown after --grace (a second\n"
      "signal cuts the grace short).\n"
      "Exit status: MAIN's status when a main command is given (127 when it cannot be found); 0 when no job\n"
      "can run again; 130/143 after SIGINT/SIGTERM; 1 when stdout fails (a full disk); 2 for usage errors\n"
      "and bad crontabs (reported as FILE:LINE before anything runs). A summary goes to stderr at every stop.");
  auto* every = sub->add_option("--every", opt->every, "Run CMD every DUR (repeatable): --every 200ms 'echo cron'")
                    ->type_name("DUR CMD")
                    ->allow_extra_args(false);
  auto* name = sub->add_option("--name", "Name the --every job given just before (output prefix, JSON 'job')")
                   ->type_name("NAME")
                   ->expected(1)
                   ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->add_option("--tab", opt->tab,
                  "Run the jobs of this crontab until stopped, reloading it when it changes ('-': read it from stdin)")
      ->type_name("FILE");
  sub->add_flag("--test", opt->test, "Only check the jobs and print each one's next five run times");
  sub->add_option("--from", opt->from, "With --test: count from this local time instead of now")
      ->type_name("'YYYY-MM-DD HH:MM[:SS]'");
  sub->add_flag("--json", opt->json, "Write JSON Lines events (start, output, exit, skip) instead of raw output");
  sub->add_flag("--overlap", opt->overlap, "Start a run even while the job's previous run is still going");
  sub->add_option("--nice", opt->nice,
                  "Run the jobs at this much lower CPU priority (as nice -n N), so busy jobs cannot delay the ticks")
      ->type_name("N")
      ->check(CLI::Range(0, 19));
  add_duration_option(sub, "--timeout", opt->timeout,
                      "Stop a run that takes longer, and what it left running: SIGTERM, then SIGKILL after --grace "
                      "(0: no limit)");
  add_duration_option(sub, "--grace", opt->grace,
                      "Time between SIGTERM and SIGKILL, and for running jobs to finish at shutdown");
  sub->add_option("--prefix", opt->prefix, "Prefix job output lines with the job: auto (when >1 job), always, never")
      ->type_name("WHEN")
      ->capture_default_str();
  sub->add_option("main", opt->main, "The main command (after --): jobs run while it runs; its exit status is ours")
      ->type_name("-- MAIN...");
  sub->final_callback([opt, sub, every, name, &status] {
    // --name belongs to the --every before it on the command line
    // (parse_order() lists an option once per value: --every twice).
    opt->every_names.assign(opt->every.size(), "");
    std::size_t every_values = 0, names = 0;
    const auto given = name->as<std::vector<std::string>>();
    for (const CLI::Option* o : sub->parse_order()) {
      if (o == every) ++every_values;
      if (o != name) continue;
      const std::size_t everies = (every_values + 1) / 2;
      if (everies == 0) throw UsageError("--name names the --every job before it; there is none");
      if (!opt->every_names[everies - 1].empty()) throw UsageError("--name given twice for one --every job");
      opt->every_names[everies - 1] = given.at(names++);
    }
    status = run_cron(*opt);
  });
}

GREEN_SUBCOMMAND(cron, setup_cron);

}  // namespace green::tools
