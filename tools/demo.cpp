// `green demo`: the seeds' patterns run on the hub, with their output. It is
// the smallest end-to-end check that the hub works on this machine; the
// network tools replace it as the quick start's main job.
#include "common/color.hpp"
#include "common/duration.hpp"
#include "common/output.hpp"
#include "common/run.hpp"
#include "common/subcommand.hpp"

#include <green/green.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace green::tools {

namespace {

using namespace std::chrono_literals;

struct DemoOptions {
  std::size_t tasks = 100;
  std::size_t concurrency = 20;
};

void say(std::string_view line) { Output::out().line(line); }

// A section title, bold on a colour terminal.
void title(std::string_view text) { say(paint(text, Color::bold, color_stdout())); }

int run_demo(const DemoOptions& opt) {
  return run_tool([&] {
    title("== two greenlets switching with sleep(0)");
    green::joinall({green::spawn([] {
                      say("12");
                      green::sleep(0s);
                      say("34");
                    }),
                    green::spawn([] {
                      say("56");
                      green::sleep(0s);
                      say("78");
                    })});

    title(fmt::format("== Pool({}).map over {}, each sleeping 10 ms", opt.concurrency, count_of(opt.tasks, "task")));
    const auto start = Clock::now();
    green::Pool pool(opt.concurrency);
    std::vector<std::size_t> input(opt.tasks);
    for (std::size_t i = 0; i < input.size(); ++i) input[i] = i;
    auto results = pool.map(
        [](std::size_t i) {
          green::sleep(10ms);
          return i * i;
        },
        input);
    std::size_t sum = 0;
    for (std::size_t r : results) sum += r;
    say(fmt::format("{} (sum of squares {}) in {:.2f} s; one at a time would take {:.2f} s",
                    count_of(results.size(), "result"), sum, seconds_since(start),
                    static_cast<double>(opt.tasks) * 0.010));

    title("== Queue(maxsize=3): a boss and three workers");
    green::Queue<int> tasks(3);
    auto worker = [&](const char* name) {
      try {
        for (;;) {
          int task = tasks.get(100ms);
          say(fmt::format("Worker {} got task {}", name, task));
          green::sleep(0s);
        }
      } catch (const green::QueueEmpty&) {
        say("Quitting time!");
      }
    };
    // The boss and the workers use `tasks` on this greenlet's stack, so they
    // belong to a group declared after it: when this greenlet is killed (a
    // signal, a full disk on stdout) the group's destructor kills them before
    // `tasks` goes, and none of them touches it again.
    green::Group crew;
    crew.spawn([&] {
      for (int i = 1; i <= 9; ++i) tasks.put(i);
      say("Assigned all work");
    });
    for (const char* name : {"steve", "john", "bob"}) crew.spawn(worker, name);
    crew.join();

    title("== Timeout");
    try {
      green::Timeout t(50ms);
      green::sleep(10s);
    } catch (const green::Timeout& e) {
      say(fmt::format("Could not complete: {}", e.what()));
    }
    return kExitOk;
  });
}

}  // namespace

void setup_demo(CLI::App& app, int& status) {
  auto opt = std::make_shared<DemoOptions>();
  CLI::App* sub = app.add_subcommand("demo", "Run the gevent seeds' patterns on the hub and show their output");
  sub->add_option("-n,--tasks", opt->tasks, "Tasks for the Pool.map part")
      ->type_name("N")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  sub->add_option("-c,--concurrency", opt->concurrency, "Pool size")
      ->type_name("N")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  sub->final_callback([opt, &status] { status = run_demo(*opt); });
}

GREEN_SUBCOMMAND(demo, setup_demo);

}  // namespace green::tools
