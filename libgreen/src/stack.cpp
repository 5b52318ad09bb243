#include "stack.hpp"

#include "sanitizers.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
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
  for (const Slab& s : slabs_) ::munmap(s.base, s.bytes);
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
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                      -1, 0);
  if (base == MAP_FAILED) throw std::bad_alloc();
  if (::mprotect(base, page, PROT_NONE) != 0) {
    ::munmap(base, bytes);
    throw std::bad_alloc();
  }
  slabs_.push_back({base, bytes});
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
    *(reinterpret_cast<std::uint64_t*>(s.hi) - 1) = kStackCanary;
    GREEN_VALGRIND_STACK_REGISTER(s.lo, s.hi);
    sc.free.push_back(s);
  }
  allocated_ += count;
  if (sc.next_slab_stacks < kMaxSlabStacks) sc.next_slab_stacks *= 2;
}

StackRef StackPool::allocate(std::size_t size) {
  size = round_size(size);
  SizeClass& sc = classes_[size];
  if (sc.free.empty()) grow(size, sc);
  StackRef s = sc.free.back();
  sc.free.pop_back();
  return s;
}

void StackPool::deallocate(const StackRef& s) noexcept {
  // A stack abandoned mid-unwind may still carry ASan redzones.
  GREEN_ASAN_UNPOISON(s.lo, static_cast<std::size_t>(s.hi - s.lo));
  auto it = classes_.find(static_cast<std::size_t>(s.hi - s.lo));
  if (it == classes_.end()) return;  // cannot happen: the class was made on allocate
  try {
    it->second.free.push_back(s);
  } catch (...) {
    // Out of memory growing the free list: the stack stays mapped, unused.
  }
}

void check_stack(const StackRef& s, const void* sp) noexcept {
  const bool canary_ok = s.canary == nullptr || *s.canary == kStackCanary;
  const bool sp_ok = sp >= static_cast<const void*>(s.lo);
  if (canary_ok && sp_ok) [[likely]]
    return;
  std::fprintf(stderr,
               "green: greenlet stack overflow (stack of %zu bytes exhausted); "
               "spawn it with a larger green::SpawnOptions::stack_size\n",
               static_cast<std::size_t>(s.hi - s.lo));
  std::abort();
}

}  // namespace green::detail
