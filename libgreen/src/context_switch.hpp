// The stack switch under the hub. Private to libgreen.
//
// Why not Boost.Context's jump_fcontext: it is entered by a `call` and left
// by an indirect jump, so the call is never matched by a `ret`: the CPU's
// return-stack predictor is one entry off in the resumed context and every
// return on its way out of the scheduler mispredicts (two ping-ponging
// contexts each two calls deep: 27 ns per switch with jump_fcontext).
//
// Why not a switch function that returns on the other stack either (what
// libgreen had before): its `ret` is predicted to the call site it was
// entered from, which is right for two greenlets ping-ponging through the
// same sleep(0) but wrong whenever the two sides are different call sites
// (join() resuming after a greenlet's last switch, a new greenlet's first
// entry); spawn+join paid 12% for it.
//
// So the switch is inline assembly at every switch site that neither calls
// nor returns: it pushes rbp and its resume address, swaps stack pointers,
// pops the other side's and jumps there. The return-stack predictor is left
// alone, and the indirect jump is predicted per switch site from branch
// history. A new context starts by "resuming" at its entry function, as if
// called from address 0 (which ends DWARF and frame-pointer backtraces); the
// entry must never return, nor call a function that does not return before
// its last switch (the call would stay on the return-stack predictor).
// The other registers are the asm's clobbers, so the compiler saves only
// those it needs around each site. Neither the MXCSR nor the x87 control
// word is switched: the rounding mode and exception masks belong to the
// thread, and every greenlet of a hub shares them.
//
// x86-64 only (and not with CET shadow stacks); elsewhere the hub uses
// jump_fcontext behind the same calls.
#pragma once

#include <cstddef>

#if defined(__x86_64__) && !defined(GREEN_BOOST_CONTEXT_SWITCH) && !(defined(__CET__) && (__CET__ & 2))
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

/// Prepares the stack [top - size, top) (`top` 16-byte aligned) to run
/// `entry`; returns the stack pointer to switch to.
inline void* make_context(char* top, std::size_t /*size*/, ContextEntry entry) noexcept {
  // switch_context pops the resume address and rbp, then jumps; rsp is left
  // on the null return address, 8 below a 16-byte boundary as after a call.
  void** sp = reinterpret_cast<void**>(top) - 3;
  sp[0] = reinterpret_cast<void*>(entry);  // resume address
  sp[1] = nullptr;                         // rbp
  sp[2] = nullptr;                         // the entry's return address
  return sp;
}

#if defined(__CET__) && (__CET__ & 1)
#define GREEN_SWITCH_LANDING "endbr64\n\t"
#else
#define GREEN_SWITCH_LANDING ""
#endif
#ifdef __AVX512F__
#define GREEN_SWITCH_CLOBBERS_AVX512                                                                            \
  , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", \
      "xmm28", "xmm29", "xmm30", "xmm31", "k1", "k2", "k3", "k4", "k5", "k6", "k7"
#else
#define GREEN_SWITCH_CLOBBERS_AVX512
#endif

/// Switches from the running context (its stack pointer saved in *save_sp)
/// to the one suspended at `to_sp`; returns, once something switches back,
/// the context that did. Inline at every call site (see above).
[[gnu::always_inline]] inline Context* switch_context(void** save_sp, void* to_sp, Context* self) noexcept {
  // Everything but rsp and rbp is the other side's once the jump is made:
  // rdi carries `self` across (a new context's entry gets it as its
  // argument), rsi and rdx are outputs only to say they are lost. The 128
  // bytes skipped first are the red zone, where a leaf function may keep
  // live data below rsp.
  void* arg = self;
  asm volatile(
      "leaq -128(%%rsp), %%rsp\n\t"
      "pushq %%rbp\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "movq %%rsp, (%1)\n\t"
      "movq %2, %%rsp\n\t"
      "popq %%rax\n\t"
      "popq %%rbp\n\t"
      "jmpq *%%rax\n"
      "1:\n\t" GREEN_SWITCH_LANDING "leaq 128(%%rsp), %%rsp"
      : "+D"(arg), "+S"(save_sp), "+d"(to_sp)
      :
      : "rax", "rbx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3",
        "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st",
        "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6",
        "mm7", "memory", "cc" GREEN_SWITCH_CLOBBERS_AVX512);
  return static_cast<Context*>(arg);
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
