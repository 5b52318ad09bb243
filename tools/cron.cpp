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
#include "common/json.hpp"
#include "common/output.hpp"
#include "common/run.hpp"
#include "common/subcommand.hpp"

#include <green/green.hpp>
#include <green/proc.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <list>
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

// The jobs from --every and --tab, checked before anything runs.
std::vector<Job> load_jobs(const CronOptions& opt) {
  std::vector<Job> jobs;
  for (const auto& [dur, cmd] : opt.every) {
    Job j;
    j.schedule.every = parse_duration(dur);
    if (*j.schedule.every <= Duration::zero()) throw UsageError("--every needs a positive duration, got '" + dur + "'");
    j.schedule.text = "@every " + dur;
    j.command = j.name = cmd;
    jobs.push_back(std::move(j));
  }
  if (!opt.tab.empty()) {
    // `--tab -` reads the crontab from stdin (a file, a pipe or a terminal,
    // up to end of file), as `crontab -` does.
    const bool from_stdin = opt.tab == "-";
    std::stringstream text;
    if (from_stdin) {
      text << std::cin.rdbuf();
    } else {
      std::ifstream in(opt.tab);
      if (!in) throw UsageError("cannot read " + opt.tab + ": " + std::strerror(errno));
      text << in.rdbuf();
    }
    try {
      auto tab = cron::parse_crontab(text.str(), from_stdin ? "stdin" : opt.tab);
      for (auto& j : tab) jobs.push_back(std::move(j));
    } catch (const cron::ScheduleError& e) {
      throw UsageError(e.what());
    }
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
  return kExitOk;
}

struct JobState {
  Job job;
  std::string out_prefix{};  // "" or the job's name and a tab, coloured for stdout
  std::string err_prefix{};  // the same for stderr
  std::size_t running = 0;
  bool warned_overlap = false;
  std::list<green::proc::Process*> procs{};  // runs in progress
};

class Cron {
 public:
  Cron(const CronOptions& opt, std::vector<Job> jobs) : opt_(opt) {
    for (auto& j : jobs) jobs_.push_back(std::make_unique<JobState>(JobState{std::move(j)}));
    if (opt.prefix == "always" || (opt.prefix == "auto" && jobs_.size() > 1)) {
      // One colour per job, as docker compose does, so interleaved output reads apart.
      constexpr Color kJobColors[] = {Color::cyan, Color::magenta, Color::blue, Color::green, Color::yellow};
      std::size_t k = 0;
      for (auto& j : jobs_) {
        const Color c = kJobColors[k++ % std::size(kJobColors)];
        j->out_prefix = paint(j->job.name, c, color_stdout()) + "\t";
        j->err_prefix = paint(j->job.name, c, color_stderr()) + "\t";
      }
    }
    shares_stdout_ = !opt.main.empty();
  }

  int run() {
    const auto anchor = Clock::now();
    std::optional<green::proc::Process> main;
    if (!opt_.main.empty()) {
      try {
        main = green::proc::Process::spawn(opt_.main, {.new_process_group = false});
      } catch (const std::system_error& e) {
        diag_error("{}", e.what());
        return e.code().value() == ENOENT ? 127 : 126;
      }
    }
    std::vector<Greenlet<void>> schedulers;
    for (auto& j : jobs_) schedulers.push_back(green::spawn([this, &j, anchor] { schedule(*j, anchor); }));

    bool interrupted = false;
    std::optional<int> main_rc;
    try {
      if (main) {
        main_rc = main->wait();
      } else {
        stop_.wait();
      }
    } catch (const GreenletExit&) {
      interrupted = true;  // SIGINT/SIGTERM (run_tool sets the exit status)
    } catch (const LoopExit&) {
      // No job has a next run time any more: nothing left to do.
    }
    stop_time_ = Clock::now();
    stop_.set();
    for (auto& s : schedulers) s.join();

    if (interrupted && main && !main_rc) main->terminate();
    if (!runs_.join(opt_.grace)) {
      std::size_t n = 0;
      for (auto& j : jobs_) n += j->procs.size();
      diag_warn("killing {} job run(s) still running after --grace {}", n, format_duration(opt_.grace));
      for (auto& j : jobs_)
        for (auto* p : j->procs) p->kill();
      runs_.join();
    }
    if (main && !main_rc) {
      main_rc = main->wait(opt_.grace);
      if (!main_rc) {
        diag_warn("killing the main command after --grace {}", format_duration(opt_.grace));
        main->kill();
        main_rc = main->wait();
      }
    }
    // A reader that closed stdout (`| head -n 1`) ends the run quietly.
    if ((interrupted || skipped_ || failed_) && !Output::out().closed()) {
      diag("{} run(s), {} failed, {} timed out, {} skipped{}", runs_started_, failed_, timed_out_, skipped_,
           interrupted ? "; stopped by signal" : "");
    }
    return main_rc ? green::proc::shell_status(*main_rc) : kExitOk;
  }

 private:
  void schedule(JobState& j, Clock::time_point anchor) {
    const Schedule& s = j.job.schedule;
    if (s.every) {
      const Duration every = *s.every;
      for (std::int64_t k = 1;; ++k) {
        auto deadline = anchor + every * k;
        const auto now = Clock::now();
        if (now - deadline > every) {  // the hub was held up past a whole period: skip, do not pile up
          const std::int64_t caught_up = (now - anchor) / every + 1;
          for (; k < caught_up; ++k) skip(j, "late", k, anchor + every * k);
          deadline = anchor + every * k;
        }
        if (!wait_until(deadline)) return;
        fire(j, k, deadline);
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
      fire(j, k, Clock::now() - (SysClock::now() - SysClock::from_time_t(*next)));
      last = *next;
    }
  }

  // Sleeps until `deadline`; false when stopped first. A run that fell due
  // before the stop (a tick the hub had not got to yet) still counts.
  bool wait_until(Clock::time_point deadline) {
    const auto now = Clock::now();
    if (!stop_.is_set() && deadline > now && !stop_.wait(deadline - now)) return true;
    if (!stop_.is_set()) return true;
    return deadline <= stop_time_;
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

  void fire(JobState& j, std::int64_t tick, Clock::time_point due) {
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
    runs_.spawn([this, &j, tick, due] { run_once(j, tick, due); });
  }

  template <class F>
  void event(const JobState& j, const char* what, F&& fill) {
    JsonWriter w;
    w.field("event", what).field("job", j.job.name).field("time", iso_time(SysClock::now()));
    fill(w);
    emit_stdout(w.finish());
  }

  void emit_stdout(const std::string& line) {
    Output& out = Output::out();
    out.line(line);
    // MAIN writes to the same stdout directly: keep our lines in order with its.
    if (shares_stdout_) out.flush();
  }

  void pass_through(JobState& j, green::proc::Pipe& pipe, bool is_stdout) {
    while (auto line = pipe.read_line()) {
      if (opt_.json) {
        event(j, "output",
              [&](JsonWriter& w) { w.field("stream", is_stdout ? "stdout" : "stderr").field("line", *line); });
      } else if (is_stdout) {
        emit_stdout(j.out_prefix + *line);
      } else {
        std::string text = j.err_prefix + *line + "\n";
        std::fwrite(text.data(), 1, text.size(), stderr);
      }
    }
  }

  void run_once(JobState& j, std::int64_t tick, Clock::time_point due) {
    struct Running {
      JobState& j;
      ~Running() { --j.running; }
    } running{j};
    const auto started = Clock::now();
    green::proc::Options po;
    po.in = green::proc::Stdio::null;
    po.out = green::proc::Stdio::pipe;
    po.err = green::proc::Stdio::pipe;
    po.env_set = j.job.env;
    po.spawn_in_thread = true;  // vfork+exec must not hold up the other jobs' ticks
    po.nice = opt_.nice;
    std::optional<green::proc::Process> p;
    try {
      p = green::proc::Process::shell(j.job.command, po);
    } catch (const std::system_error& e) {
      ++failed_;
      diag_error("job '{}': {}", j.job.name, e.what());
      return;
    }
    ++runs_started_;
    auto where = j.procs.insert(j.procs.end(), &*p);
    struct Unlist {
      JobState& j;
      std::list<green::proc::Process*>::iterator it;
      ~Unlist() { j.procs.erase(it); }
    } unlist{j, where};
    if (opt_.json) {
      event(j, "start", [&](JsonWriter& w) {
        w.field("tick", tick)
            .field("late_ms", std::chrono::duration<double, std::milli>(started - due).count())
            .field("spawn_ms", std::chrono::duration<double, std::milli>(Clock::now() - started).count())
            .field("pid", static_cast<std::int64_t>(p->pid()));
      });
    }
    auto out = green::spawn([&] { pass_through(j, p->stdout_pipe(), true); });
    auto err = green::spawn([&] { pass_through(j, p->stderr_pipe(), false); });
    bool timed_out = false;
    std::optional<int> rc = p->wait(opt_.timeout > Duration::zero() ? opt_.timeout : forever);
    if (!rc) {
      timed_out = true;
      ++timed_out_;
      diag_warn("job '{}' ran longer than --timeout {}: sending SIGTERM", j.job.name, format_duration(opt_.timeout));
      p->terminate();
      rc = p->wait(opt_.grace);
      if (!rc) {
        diag_warn("job '{}' still running {} after SIGTERM: sending SIGKILL", j.job.name, format_duration(opt_.grace));
        p->kill();
        rc = p->wait();
      }
    }
    // A background process the job left behind may hold its pipes open: do
    // not wait for it beyond the grace period.
    if (!out.join(opt_.grace)) out.kill();
    if (!err.join(opt_.grace)) err.kill();
    const int status = green::proc::shell_status(*rc);
    if (status != 0) ++failed_;
    if (opt_.json) {
      const double secs = std::chrono::duration<double>(Clock::now() - started).count();
      event(j, "exit",
            [&](JsonWriter& w) { w.field("exit_code", status).field("duration", secs).field("timed_out", timed_out); });
    }
  }

  const CronOptions& opt_;
  std::vector<std::unique_ptr<JobState>> jobs_;
  bool shares_stdout_ = false;
  green::Event stop_;
  Clock::time_point stop_time_{};
  green::Group runs_;
  std::size_t runs_started_ = 0, failed_ = 0, timed_out_ = 0, skipped_ = 0;
};

int run_cron(const CronOptions& opt) {
  if (opt.prefix != "auto" && opt.prefix != "always" && opt.prefix != "never")
    throw UsageError("--prefix must be auto, always or never");
  std::vector<Job> jobs = load_jobs(opt);
  if (opt.test) {
    if (jobs.empty()) throw UsageError("--test needs jobs (--every DUR CMD or --tab FILE)");
    return print_schedule(opt, jobs);
  }
  if (jobs.empty() && opt.main.empty())
    throw UsageError("nothing to run: give --every DUR CMD, --tab FILE, or a command after --");
  return run_tool([&] {
    Cron cron(opt, std::move(jobs));
    return cron.run();
  });
}

}  // namespace

void setup_cron(CLI::App& app, int& status) {
  auto opt = std::make_shared<CronOptions>();
  CLI::App* sub = app.add_subcommand(
      "cron", "Run commands on a schedule: every DUR while a main command runs, or from a crontab until stopped");
  sub->footer(
      "Each job runs as /bin/sh -c CMD with stdin from /dev/null, in its own process group; its output passes\n"
      "through line by line (prefixed with the job's command and a tab when there is more than one job).\n"
      "--every jobs first run one DUR after start, then on a fixed grid (a late run does not shift the next).\n"
      "A run that would overlap the job's previous one is skipped (one warning per job) unless --overlap is given.\n"
      "Crontab: 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, ranges,\n"
      "lists, steps and names; @hourly @daily @weekly @monthly @yearly @every DUR; NAME=value lines set\n"
      "the environment; times are local (TZ).\n"
      "Exit status: MAIN's status when a main command is given (127 when it cannot be found); 0 when no job\n"
      "can run again; 130/143 after SIGINT/SIGTERM (running jobs get --grace to finish, then are killed);\n"
      "2 for usage errors and bad crontab lines (reported as FILE:LINE before anything runs).");
  sub->add_option("--every", opt->every, "Run CMD every DUR (repeatable): --every 200ms 'echo cron'")
      ->type_name("DUR CMD")
      ->allow_extra_args(false);
  sub->add_option("--tab", opt->tab, "Run the jobs of this crontab until stopped ('-': read it from stdin)")
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
                      "Stop a run that takes longer: SIGTERM, then SIGKILL after --grace (0: no limit)");
  add_duration_option(sub, "--grace", opt->grace,
                      "Time between SIGTERM and SIGKILL, and for running jobs to finish at shutdown");
  sub->add_option("--prefix", opt->prefix, "Prefix job output lines with the job: auto (when >1 job), always, never")
      ->capture_default_str();
  sub->add_option("main", opt->main, "The main command (after --): jobs run while it runs; its exit status is ours")
      ->type_name("-- MAIN...");
  sub->final_callback([opt, &status] { status = run_cron(*opt); });
}

GREEN_SUBCOMMAND(cron, setup_cron);

}  // namespace green::tools
