// Greenlet stacks: carved from large mappings and reused.
//
// Why not one guard page per stack: every PROT_NONE page splits a mapping, so
// each guarded stack costs two kernel VMAs and the default vm.max_map_count
// (65530) stops at ~32k greenlets. Here a slab of many stacks is one
// mapping with a single guard page at its bottom, and each stack is guarded
// by a canary word kept in the top bytes of the stack below it, the first
// place an overflow writes. The hub checks the canary (and the stack pointer)
// every time a greenlet switches out and when it finishes, and aborts with a
// message naming the stack size: an overflow is reported before any other
// greenlet can run on the damaged memory, instead of corrupting it silently.
// An overflow that runs on past the canaries ends on the slab's guard page,
// where a SIGSEGV handler (on an alternate signal stack) says so.
//
// Free stacks are kept for reuse, but not all of their memory: after a burst
// (a million greenlets finished) the pool would otherwise hold gigabytes of
// touched pages until the hub ends. Every kTrimEvery releases (counted while
// more than kKeepFree stacks of a size are free), the pool gives
// back (madvise MADV_DONTNEED) the pages of the free stacks beyond the
// kKeepFree most recently freed ones that stayed free for the whole interval
// since the previous pass (the fewest free stacks seen in it), so a workload
// whose concurrency swings back and forth does not fault its stacks in again
// and again. Of each run of adjacent returned stacks the top page stays: it
// holds the canary of the stack above, which may be in use. A returned stack
// is handed out again like any other (its canary is rewritten then) and
// faults its pages back in as it runs.
#pragma once

#include <green/detail/greenlet_base.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace green::detail {

inline constexpr std::uint64_t kStackCanary = 0x67726565'6e21c0deULL;  // "green!" + 0xc0de
inline constexpr std::size_t kStackHeader = 64;                        // reserved top bytes of each stack

class StackPool {
 public:
  StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  ~StackPool();

  /// A stack of at least `size` usable bytes (rounded to pages).
  StackRef allocate(std::size_t size);
  void deallocate(const StackRef& s) noexcept;

  std::size_t allocated() const noexcept { return allocated_; }
  std::size_t free_count() const noexcept;
  /// Free stacks whose pages were given back to the kernel, ever.
  std::size_t returned() const noexcept { return returned_; }

  /// Free stacks kept resident per stack size, and how many releases
  /// (deallocate calls) pass between two looks at the rest.
  static constexpr std::size_t kKeepFree = 1024;
  static constexpr std::size_t kTrimEvery = 1024;

  static std::size_t page_size() noexcept;
  static std::size_t round_size(std::size_t size) noexcept;

 private:
  struct Slab {
    void* base;
    std::size_t bytes;
  };
  struct SizeClass {
    std::vector<StackRef> free;         // LIFO: reuse the warmest stack first
    std::size_t next_slab_stacks = 16;  // doubles up to kMaxSlabStacks
    std::size_t cold = 0;               // free[0, cold) hold no pages (returned or never used)
    std::size_t low_water = 0;          // fewest free stacks since the last trim pass (>= cold)
  };
  void grow(std::size_t size, SizeClass& sc);
  [[gnu::noinline, gnu::cold]] void trim() noexcept;
  void trim(SizeClass& sc) noexcept;

  std::map<std::size_t, SizeClass> classes_;
  std::vector<Slab> slabs_;
  std::size_t allocated_ = 0;
  std::size_t returned_ = 0;
  std::size_t releases_ = 0;  // deallocations since the last trim pass (see deallocate)
};

/// An alternate signal stack for the hub's thread (if it has none), so the
/// SIGSEGV handler can report a guard-page hit from an exhausted stack.
class AltSignalStack {
 public:
  AltSignalStack() noexcept;
  ~AltSignalStack();
  AltSignalStack(const AltSignalStack&) = delete;
  AltSignalStack& operator=(const AltSignalStack&) = delete;

 private:
  void* mem_ = nullptr;
  std::size_t size_ = 0;
};

/// Gives the pages of `s` wholly below `sp` (a parked greenlet's saved
/// stack pointer) back to the kernel; they fault back in, zeroed, when the
/// greenlet runs that deep again. The top of the stack, which holds the
/// canary of the stack above, is never below a live stack pointer.
void release_below(const StackRef& s, const void* sp) noexcept;

[[noreturn, gnu::cold]] void stack_overflowed(const StackRef& s, std::uint64_t id) noexcept;

/// Aborts with a clear message if greenlet `id` (on `s`) overflowed. Runs at
/// every switch, so only the check is inline.
inline void check_stack(const StackRef& s, const void* sp, std::uint64_t id) noexcept {
  const bool canary_ok = s.canary == nullptr || *s.canary == kStackCanary;
  const bool sp_ok = sp >= static_cast<const void*>(s.lo);
  if (!canary_ok || !sp_ok) [[unlikely]]
    stack_overflowed(s, id);
}

/// The id of the greenlet running on this thread, 0 for none; called from
/// the SIGSEGV handler, so async-signal-safe (hub.cpp).
std::uint64_t running_greenlet_id() noexcept;

}  // namespace green::detail
