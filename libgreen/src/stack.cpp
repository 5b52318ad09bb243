#include "stack.hpp"

#include "sanitizers.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define GREEN_VALGRIND_STACK_REGISTER(lo, hi) VALGRIND_STACK_REGISTER(lo, hi)
#else
#define GREEN_VALGRIND_STACK_REGISTER(lo, hi) 0
#endif

namespace green::detail {

namespace {

constexpr std::size_t kMaxSlabStacks = 1024;

constexpr const char kStackAdvice[] =
    "Deep recursion and large local arrays need a larger stack: spawn it with "
    "green::SpawnOptions{.stack_size = BYTES}, or raise every greenlet's with "
    "green::set_default_stack_size(BYTES). (Stacks are committed lazily: a larger "
    "size costs address space, not memory, until it is used.)";

// Guard pages of every live slab, for the SIGSEGV handler to recognise an
// overflow that ran all the way down to one (an overflow that stops short is
// caught by the canaries at the next switch). Written before the count is
// published, read without locks from the handler.
constexpr std::size_t kMaxGuards = 16384;
std::atomic<void*> g_guards[kMaxGuards];
std::atomic<std::size_t> g_guard_count{0};
std::mutex g_guard_mutex;
struct sigaction g_previous_segv;

void on_segv(int sig, siginfo_t* info, void* uctx) {
  const std::size_t page = StackPool::page_size();
  const char* addr = static_cast<const char*>(info->si_addr);
  const std::size_t n = g_guard_count.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    const char* guard = static_cast<const char*>(g_guards[i].load(std::memory_order_relaxed));
    if (guard && addr >= guard && addr < guard + page) {
      // Only async-signal-safe calls here: the message is assembled by hand.
      char msg[512];
      std::size_t len = 0;
      auto put = [&](const char* text) {
        while (*text && len < sizeof msg) msg[len++] = *text++;
      };
      char digits[24];
      std::size_t d = sizeof digits;
      digits[--d] = '\0';
      std::uint64_t id = running_greenlet_id();
      do {
        digits[--d] = static_cast<char>('0' + id % 10);
        id /= 10;
      } while (id && d > 0);
      put("green: greenlet ");
      put(digits + d);
      put(" overflowed its stack (it ran into a guard page). ");
      put(kStackAdvice);
      put("\n");
      ssize_t ignored = ::write(2, msg, len);
      (void)ignored;
      ::signal(SIGSEGV, SIG_DFL);  // returning re-faults and dies by SIGSEGV
      return;
    }
  }
  // Not ours: hand it to whoever was there before (ASan, a debugger's, SIG_DFL).
  if (g_previous_segv.sa_flags & SA_SIGINFO) {
    if (g_previous_segv.sa_sigaction) return g_previous_segv.sa_sigaction(sig, info, uctx);
  } else if (g_previous_segv.sa_handler != SIG_DFL && g_previous_segv.sa_handler != SIG_IGN) {
    return g_previous_segv.sa_handler(sig);
  }
  ::signal(SIGSEGV, SIG_DFL);
}

void register_guard(void* page) noexcept {
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = &on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, &g_previous_segv);
  });
  std::lock_guard<std::mutex> lock(g_guard_mutex);
  const std::size_t n = g_guard_count.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) {  // reuse a slot freed by an unmapped slab
    void* expected = nullptr;
    if (g_guards[i].compare_exchange_strong(expected, page)) return;
  }
  if (n == kMaxGuards) return;  // beyond this, an overflow there is a plain SIGSEGV
  g_guards[n].store(page, std::memory_order_relaxed);
  g_guard_count.store(n + 1, std::memory_order_release);
}

void unregister_guard(void* page) noexcept {
  std::lock_guard<std::mutex> lock(g_guard_mutex);
  const std::size_t n = g_guard_count.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) {
    void* expected = page;
    if (g_guards[i].compare_exchange_strong(expected, nullptr)) return;
  }
}

}  // namespace

AltSignalStack::AltSignalStack() noexcept {
  stack_t current;
  if (::sigaltstack(nullptr, &current) != 0 || !(current.ss_flags & SS_DISABLE)) return;
  size_ = 64 * 1024;
  void* mem = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  stack_t ss{};
  ss.ss_sp = mem;
  ss.ss_size = size_;
  if (::sigaltstack(&ss, nullptr) != 0) {
    ::munmap(mem, size_);
    return;
  }
  mem_ = mem;
}

AltSignalStack::~AltSignalStack() {
  if (!mem_) return;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  ::sigaltstack(&ss, nullptr);
  ::munmap(mem_, size_);
}

std::size_t StackPool::page_size() noexcept {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

std::size_t StackPool::round_size(std::size_t size) noexcept {
  const std::size_t page = page_size();
  if (size < 4 * page) size = 4 * page;
  return (size + page - 1) / page * page;
}

StackPool::~StackPool() {
  for (const Slab& s : slabs_) {
    unregister_guard(s.base);
    ::munmap(s.base, s.bytes);
  }
}

std::size_t StackPool::free_count() const noexcept {
  std::size_t n = 0;
  for (const auto& [size, sc] : classes_) n += sc.free.size();
  return n;
}

void StackPool::grow(std::size_t size, SizeClass& sc) {
  const std::size_t page = page_size();
  const std::size_t count = sc.next_slab_stacks;
  const std::size_t bytes = page + count * size;
  // MAP_NORESERVE: only the pages a greenlet touches count; a million 64 KiB
  // stacks are 64 GiB of address space but a few GiB resident.
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) throw std::bad_alloc();
  if (::mprotect(base, page, PROT_NONE) != 0) {
    ::munmap(base, bytes);
    throw std::bad_alloc();
  }
  slabs_.push_back({base, bytes});
  register_guard(base);
  char* first = static_cast<char*>(base) + page;
  // Push in reverse so the lowest-addressed stacks are handed out first and
  // neighbours tend to be in use together.
  sc.free.reserve(sc.free.size() + count);
  for (std::size_t i = count; i-- > 0;) {
    StackRef s;
    s.lo = first + i * size;
    s.hi = s.lo + size;
    // The canary guarding this stack lives at the top of the stack below;
    // the lowest stack has the guard page below it instead.
    s.canary = i == 0 ? nullptr : reinterpret_cast<std::uint64_t*>(s.lo) - 1;
    GREEN_VALGRIND_STACK_REGISTER(s.lo, s.hi);
    sc.free.push_back(s);
  }
  allocated_ += count;
  // Fresh stacks hold no pages: trim() has nothing to give back from them.
  // (cold <= low_water always holds, which lets allocate() test one bound.)
  if (sc.cold + count == sc.free.size()) {
    sc.cold = sc.free.size();
    sc.low_water = std::max(sc.low_water, sc.cold);
  }
  if (sc.next_slab_stacks < kMaxSlabStacks) sc.next_slab_stacks *= 2;
}

StackRef StackPool::allocate(std::size_t size) {
  size = round_size(size);
  SizeClass& sc = classes_[size];
  if (sc.free.empty()) grow(size, sc);
  StackRef s = sc.free.back();
  sc.free.pop_back();
  const std::size_t left = sc.free.size();
  if (left < sc.low_water) [[unlikely]] {
    sc.low_water = left;
    if (left < sc.cold) sc.cold = left;  // a returned stack: it faults its pages back in
  }
  // The canary goes in when the stack is first handed out, not when its slab
  // is carved: writing a slab's worth at once made one spawn in 1024 pay a
  // thousand page faults (tens of ms here) and kept unused stacks resident.
  // The word sits in the reserved header of the stack below, which no frame
  // ever uses, so writing it while that stack runs is safe; stacks are handed
  // out bottom-up, so that page is normally resident already. It is written
  // on every hand-out: trim() may have dropped the page that held it.
  if (s.canary) *s.canary = kStackCanary;
  return s;
}

void StackPool::deallocate(const StackRef& s) noexcept {
  // A stack abandoned mid-unwind may still carry ASan redzones.
  GREEN_ASAN_UNPOISON(s.lo, static_cast<std::size_t>(s.hi - s.lo));
  auto it = classes_.find(static_cast<std::size_t>(s.hi - s.lo));
  if (it == classes_.end()) return;  // cannot happen: the class was made on allocate
  SizeClass& sc = it->second;
  try {
    sc.free.push_back(s);
  } catch (...) {
    // Out of memory growing the free list: the stack stays mapped, unused.
  }
  // Releases are counted only while more than kKeepFree stacks are free:
  // spawn+join one at a time (a handful of free stacks) pays one compare.
  if (sc.free.size() > kKeepFree && ++releases_ >= kTrimEvery) [[unlikely]]
    trim();
}

void StackPool::trim() noexcept {
  releases_ = 0;
  for (auto& [size, sc] : classes_) trim(sc);
}

void StackPool::trim(SizeClass& sc) noexcept {
  const std::size_t n = sc.free.size();
  // Candidates: the bottom of the LIFO, below both the kKeepFree warmest and
  // the low-water mark (stacks above it were handed out again during the
  // interval: the workload still uses that many).
  const std::size_t end = std::min(sc.low_water, n > kKeepFree ? n - kKeepFree : 0);
  sc.low_water = n;
  if (end <= sc.cold) return;
  // Address order, so that neighbours merge into one madvise call; highest
  // address first, so the lowest is handed out first again (as after grow()).
  const auto first = sc.free.begin() + static_cast<std::ptrdiff_t>(sc.cold);
  const auto last = sc.free.begin() + static_cast<std::ptrdiff_t>(end);
  std::sort(first, last, [](const StackRef& a, const StackRef& b) { return a.lo > b.lo; });
  const std::size_t page = page_size();
  for (std::size_t i = end; i > sc.cold;) {
    // A run of adjacent free stacks: free[j..i) in descending address order.
    std::size_t j = i - 1;
    while (j > sc.cold && sc.free[j - 1].lo == sc.free[j].hi) --j;
    char* lo = sc.free[i - 1].lo;
    char* hi = sc.free[j].hi;
    // The run's top page holds the canary of the stack above it, which may
    // be in use: that page stays. (Telling a free neighbour from a busy one
    // would cost the spawn+join path a store per release; keeping one page
    // per run of free stacks costs little, as runs tend to be long.)
    hi -= page;
    // MADV_DONTNEED, not MADV_FREE: the pages leave the resident set now
    // rather than under memory pressure, and come back zeroed.
    if (hi > lo) ::madvise(lo, static_cast<std::size_t>(hi - lo), MADV_DONTNEED);
    i = j;
  }
  returned_ += end - sc.cold;
  sc.cold = end;
}

void release_below(const StackRef& s, const void* sp) noexcept {
  if (!s.lo || sp <= static_cast<const void*>(s.lo) || sp > static_cast<const void*>(s.hi)) return;
  const std::size_t page = StackPool::page_size();
  const auto lo = reinterpret_cast<std::uintptr_t>(s.lo);  // page-aligned (see grow)
  const auto end = reinterpret_cast<std::uintptr_t>(sp) & ~(page - 1);
  if (end > lo) ::madvise(s.lo, end - lo, MADV_DONTNEED);
}

void stack_overflowed(const StackRef& s, std::uint64_t id) noexcept {
  std::fprintf(stderr, "green: greenlet %llu overflowed its stack of %zu bytes. %s\n",
               static_cast<unsigned long long>(id), static_cast<std::size_t>(s.hi - s.lo), kStackAdvice);
  std::abort();
}

}  // namespace green::detail
