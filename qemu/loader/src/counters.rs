//! Owns the EL0 access grants for time measurement, done on every core before entering seL4
//! (5.0.0 never writes these registers, so the grants last): EL0 reads of the generic timer's
//! physical and virtual counters, and of the PMU cycle counter, enabled, 64 bits wide, counting
//! at every exception level. Under QEMU `-icount shift=0` that counter equals guest instructions.
use aarch64_cpu::registers::*;

const PMCR_E: u64 = 1 << 0;
const PMCR_C: u64 = 1 << 2;
const PMCR_LC: u64 = 1 << 6;
const PMCNTEN_CYCLES: u64 = 1 << 31;
const PMUSERENR_CR: u64 = 1 << 2;

pub fn grant_el0_access() {
    CNTKCTL_EL1.modify(CNTKCTL_EL1::EL0PCTEN::SET + CNTKCTL_EL1::EL0VCTEN::SET);
    // SAFETY: these writes configure only the PMU cycle counter and EL0's right to read it.
    unsafe {
        core::arch::asm!(
            "msr pmccfiltr_el0, xzr",
            "mrs {tmp}, pmcr_el0",
            "orr {tmp}, {tmp}, {pmcr}",
            "msr pmcr_el0, {tmp}",
            "msr pmcntenset_el0, {cnt}",
            "msr pmuserenr_el0, {user}",
            "isb",
            tmp = out(reg) _,
            pmcr = in(reg) PMCR_E | PMCR_C | PMCR_LC,
            cnt = in(reg) PMCNTEN_CYCLES,
            user = in(reg) PMUSERENR_CR,
            options(nostack),
        );
    }
}
