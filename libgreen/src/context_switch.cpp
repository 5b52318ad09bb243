// See context_switch.hpp for why the hub switches stacks itself.
#include "context_switch.hpp"

#ifdef GREEN_OWN_SWITCH
// System V x86-64: rbx, rbp, r12-r15 are callee-saved; everything else the
// caller of green_switch_context already treats as clobbered.
asm(R"(
	.text
	.p2align 4
	.globl green_switch_context
	.hidden green_switch_context
	.type green_switch_context, @function
green_switch_context:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	movq %rdx, %rax
	ret
	.size green_switch_context, .-green_switch_context

	.p2align 4
	.globl green_context_start
	.hidden green_context_start
	.type green_context_start, @function
green_context_start:
	.cfi_startproc
	.cfi_undefined rip
	movq %rax, %rdi
	callq *%rbx
	ud2
	.cfi_endproc
	.size green_context_start, .-green_context_start
)");
#endif
