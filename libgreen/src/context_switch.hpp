// The stack switch under the hub. Private to libgreen.
//
// Why not Boost.Context's jump_fcontext: it leaves by an indirect jump, not
// a return, so the call that entered it is never matched by a `ret`. The
// CPU's return-stack predictor is then one entry off in the resumed
// greenlet, and every return on its way out of the scheduler (switch_out,
// sleep, the caller's) mispredicts: measured here, two ping-ponging contexts
// each two calls deep cost 27 ns per switch with jump_fcontext and 13.5 ns
// with a switch that saves the callee-saved registers, swaps stack pointers
// and returns. jump_fcontext also saves and restores the MXCSR and x87
// control words (+3 ns here); this switch does not: the floating-point
// rounding mode and exception masks belong to the thread, and every
// greenlet of a hub shares them.
//
// x86-64 only; elsewhere the hub uses jump_fcontext behind the same calls.
#pragma once

#include <cstddef>

#if defined(__x86_64__) && !defined(GREEN_BOOST_CONTEXT_SWITCH)
#define GREEN_OWN_SWITCH 1
#else
#include <boost/context/detail/fcontext.hpp>
#endif

namespace green::detail {

struct Context;

/// Called on a new context's stack the first time it runs, with the context
/// that switched to it. Must not return.
using ContextEntry = void (*)(Context* prev) noexcept;

#ifdef GREEN_OWN_SWITCH

extern "C" {
// Saves the callee-saved registers on the current stack, stores the stack
// pointer in *save_sp, continues on `to_sp` and returns `arg` there (in the
// resumed context, as the result of its own earlier green_switch_context
// call, or as the argument of a new context's entry).
[[gnu::visibility("hidden")]] void* green_switch_context(void** save_sp, void* to_sp, void* arg) noexcept;
[[gnu::visibility("hidden")]] void green_context_start() noexcept;
}

/// Prepares the stack [top - size, top) (`top` 16-byte aligned) to run
/// `entry`; returns the stack pointer to switch to.
inline void* make_context(char* top, std::size_t /*size*/, ContextEntry entry) noexcept {
  // green_switch_context pops r15, r14, r13, r12, rbx, rbp and returns into
  // green_context_start, which calls rbx(prev) with rsp 16-byte aligned.
  void** sp = reinterpret_cast<void**>(top) - 9;
  for (int i = 0; i < 9; ++i) sp[i] = nullptr;
  sp[4] = reinterpret_cast<void*>(entry);                         // rbx
  sp[6] = reinterpret_cast<void*>(&green_context_start);          // return address
  return sp;
}

/// Switches from the running context (its stack pointer saved in *save_sp)
/// to the one suspended at `to_sp`; returns, once something switches back,
/// the context that did.
inline Context* switch_context(void** save_sp, void* to_sp, Context* self) noexcept {
  return static_cast<Context*>(green_switch_context(save_sp, to_sp, self));
}

#else

namespace fallback {
inline ContextEntry g_entry = nullptr;  // every context runs the hub's entry
inline void start(boost::context::detail::transfer_t t) noexcept;
}  // namespace fallback

inline void* make_context(char* top, std::size_t size, ContextEntry entry) noexcept {
  fallback::g_entry = entry;
  return boost::context::detail::make_fcontext(top, size, &fallback::start);
}

/// The suspended side's fcontext is only known once it has switched: the
/// resumed context stores it into the one that switched (`*t.data`).
struct FallbackFrom {
  void** save_sp;
  Context* self;
};

inline Context* finish_fallback(boost::context::detail::transfer_t t) noexcept {
  auto* from = static_cast<FallbackFrom*>(t.data);
  *from->save_sp = t.fctx;
  return from->self;
}

inline Context* switch_context(void** save_sp, void* to_sp, Context* self) noexcept {
  FallbackFrom from{save_sp, self};
  return finish_fallback(boost::context::detail::jump_fcontext(to_sp, &from));
}

inline void fallback::start(boost::context::detail::transfer_t t) noexcept { g_entry(finish_fallback(t)); }

#endif

}  // namespace green::detail
