//! EL0 reads of the performance counters the loader opened to user mode (PMU cycle counter,
//! generic timer virtual count). Under QEMU `-icount shift=0` the cycle counter counts guest
//! instructions exactly.

use core::arch::asm;

/// `PMCCNTR_EL0`, preceded by an instruction barrier so earlier instructions are counted.
#[inline(always)]
pub fn cycle_counter() -> u64 {
    let v: u64;
    // SAFETY: the loader grants EL0 read access (PMUSERENR_EL0); reading has no side effects.
    unsafe {
        asm!("isb", "mrs {}, pmccntr_el0", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// `CNTVCT_EL0`.
#[inline(always)]
pub fn virtual_counter() -> u64 {
    let v: u64;
    // SAFETY: the loader grants EL0 access (CNTKCTL_EL1); reading has no side effects.
    unsafe {
        asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}
