//! Owns the first instructions of every core: masks interrupts, enables FP/SIMD at EL1 (Rust code
//! may use its registers), takes this core's 64 KiB stack from `.stacks` (linear by MPIDR Aff0), and
//! calls into Rust. The primary core (QEMU's entry, `_start`) also zeroes `.bss` first; secondary
//! cores enter at `_secondary_start` through PSCI CPU_ON, with the kernel entry in x0.
use core::arch::global_asm;

global_asm!(
    r#"
    .section .text.entry, "ax"
    .global _start
_start:
    msr daifset, #0xf
    mov x9, #(3 << 20)
    msr cpacr_el1, x9
    isb
    ldr x9, =__stacks_bottom
    mov x10, #0x10000
    add sp, x9, x10
    ldr x9, =__bss_start
    ldr x10, =__bss_end
1:  cmp x9, x10
    b.hs 2f
    str xzr, [x9], #8
    b 1b
2:  bl loader_main
3:  wfe
    b 3b

    .global _secondary_start
_secondary_start:
    msr daifset, #0xf
    mov x9, #(3 << 20)
    msr cpacr_el1, x9
    isb
    mrs x9, mpidr_el1
    and x9, x9, #0xff
    add x9, x9, #1
    lsl x9, x9, #16
    ldr x10, =__stacks_bottom
    add sp, x10, x9
    bl secondary_main
4:  wfe
    b 4b
"#
);

extern "C" {
    fn _secondary_start();
}

/// Physical address of the secondary cores' entry point (the loader runs identity-mapped).
pub fn secondary_entry() -> u64 {
    _secondary_start as *const () as u64
}
