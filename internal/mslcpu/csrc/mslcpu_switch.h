// mslcpu_switch.h — the fiber context switch, in assembly for x86-64 and arm64.
//
//   void mslcpu_switch(void **save_sp, void *load_sp);
//
// saves the callee-saved registers and the floating-point control state of the caller on its own
// stack, stores the stack pointer in *save_sp, switches to the stack load_sp (saved by an earlier
// mslcpu_switch, or prepared by mslcpu_prepare_stack) and returns into that context. No system
// call: glibc's swapcontext also saves and restores the signal mask with sigprocmask on every
// switch, which made a 256³ tiled matmul take seconds.
//
// Saved per switch: x86-64 (System V): rbx, rbp, r12–r15, rsp, MXCSR and the x87 control word.
// arm64 (AAPCS64): x19–x28, x29 (fp), x30 (lr), sp, d8–d15 and FPCR.
#pragma once
#include <stddef.h>
#include <stdint.h>


extern "C" void mslcpu_switch(void **save_sp, void *load_sp);

#if defined(__APPLE__)
#define MSLCPU_ASM_SYM(name) "_" #name
#define MSLCPU_ASM_TYPE(name)
#define MSLCPU_ASM_SIZE(name)
#else
#define MSLCPU_ASM_SYM(name) #name
#define MSLCPU_ASM_TYPE(name) ".type " #name ", @function\n"
#define MSLCPU_ASM_SIZE(name) ".size " #name ", .-" #name "\n"
#endif

#if defined(__x86_64__) && !defined(MSLCPU_UCONTEXT)
#define MSLCPU_HAVE_ASM_SWITCH 1
// Frame (growing down from the caller's return address): rbp rbx r12 r13 r14 r15, then 8 bytes
// holding MXCSR (low 4) and the x87 control word.
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl " MSLCPU_ASM_SYM(mslcpu_switch) "\n"
    MSLCPU_ASM_TYPE(mslcpu_switch)
    MSLCPU_ASM_SYM(mslcpu_switch) ":\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  subq $8, %rsp\n"
    "  stmxcsr (%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n"
    "  fldcw 4(%rsp)\n"
    "  addq $8, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    MSLCPU_ASM_SIZE(mslcpu_switch));

// mslcpu_prepare_stack lays out a first frame at the top of [stack, stack+size) so that
// mslcpu_switch to the returned stack pointer "returns" into entry with a correctly aligned
// stack (rsp ≡ 8 mod 16 at function entry) and the current FP control state. entry must not return.
static inline void *mslcpu_prepare_stack(void *stack, size_t size, void (*entry)()) {
  uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
  uint64_t *sp = (uint64_t *)(top - 72);
  uint32_t mxcsr;
  uint16_t fpcw;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(fpcw));
  __builtin_memset(sp, 0, 72);
  __builtin_memcpy(sp, &mxcsr, 4);
  __builtin_memcpy((char *)sp + 4, &fpcw, 2);
  sp[7] = (uint64_t)(uintptr_t)entry;  // return address popped by `ret`
  sp[8] = 0;                           // fake return address of entry (keeps the ABI alignment)
  return sp;
}

#elif defined(__aarch64__) && !defined(MSLCPU_UCONTEXT)
#define MSLCPU_HAVE_ASM_SWITCH 1
// Frame of 176 bytes: x19..x28, x29, x30, d8..d15, FPCR, padding.
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl " MSLCPU_ASM_SYM(mslcpu_switch) "\n"
    MSLCPU_ASM_TYPE(mslcpu_switch)
    MSLCPU_ASM_SYM(mslcpu_switch) ":\n"
    "  sub sp, sp, #176\n"
    "  stp x19, x20, [sp, #0]\n"
    "  stp x21, x22, [sp, #16]\n"
    "  stp x23, x24, [sp, #32]\n"
    "  stp x25, x26, [sp, #48]\n"
    "  stp x27, x28, [sp, #64]\n"
    "  stp x29, x30, [sp, #80]\n"
    "  stp d8, d9, [sp, #96]\n"
    "  stp d10, d11, [sp, #112]\n"
    "  stp d12, d13, [sp, #128]\n"
    "  stp d14, d15, [sp, #144]\n"
    "  mrs x9, fpcr\n"
    "  str x9, [sp, #160]\n"
    "  mov x9, sp\n"
    "  str x9, [x0]\n"
    "  mov sp, x1\n"
    "  ldp x19, x20, [sp, #0]\n"
    "  ldp x21, x22, [sp, #16]\n"
    "  ldp x23, x24, [sp, #32]\n"
    "  ldp x25, x26, [sp, #48]\n"
    "  ldp x27, x28, [sp, #64]\n"
    "  ldp x29, x30, [sp, #80]\n"
    "  ldp d8, d9, [sp, #96]\n"
    "  ldp d10, d11, [sp, #112]\n"
    "  ldp d12, d13, [sp, #128]\n"
    "  ldp d14, d15, [sp, #144]\n"
    "  ldr x9, [sp, #160]\n"
    "  msr fpcr, x9\n"
    "  add sp, sp, #176\n"
    "  ret\n"
    MSLCPU_ASM_SIZE(mslcpu_switch));

static inline void *mslcpu_prepare_stack(void *stack, size_t size, void (*entry)()) {
  uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
  uint64_t *sp = (uint64_t *)(top - 176);
  uint64_t fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  __builtin_memset(sp, 0, 176);
  sp[11] = (uint64_t)(uintptr_t)entry;  // x30: `ret` jumps here with sp = top
  sp[20] = fpcr;
  return sp;
}
#endif
