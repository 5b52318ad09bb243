// Small helpers shared by bench_core and bench_fiber: wall clock, resident
// memory and the process's mapping count, read from /proc.
#pragma once

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace bench {

inline double now_ns() {
  return static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

/// CPU time consumed by this (single-threaded) process: unlike the wall
/// clock, it does not count time the benchmark spent preempted by other
/// processes on a busy machine.
inline double cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

/// Resident set size in bytes (second field of /proc/self/statm, in pages).
inline long rss_bytes() {
  std::ifstream f("/proc/self/statm");
  long size = 0, resident = 0;
  f >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

/// Number of mappings (VMAs) of this process: lines of /proc/self/maps.
inline long map_count() {
  std::ifstream f("/proc/self/maps");
  std::string line;
  long n = 0;
  while (std::getline(f, line)) ++n;
  return n;
}

inline long max_map_count() {
  std::ifstream f("/proc/sys/vm/max_map_count");
  long n = -1;
  f >> n;
  return n;
}

inline long arg_long(int argc, char** argv, int i, long dflt) {
  if (i < argc) return std::strtol(argv[i], nullptr, 10);
  return dflt;
}

}  // namespace bench
