//! Owns starting the secondary cores through PSCI CPU_ON (QEMU `virt` uses the `hvc` conduit when
//! the guest starts at EL1). Each secondary enters `_secondary_start` with the kernel entry as its
//! context id, turns on its MMU with the primary's tables, grants EL0 counter access and enters the
//! same kernel `_start`, which parks it until core 0 has booted.
use crate::{counters, entry, handoff, mmu};

const PSCI_CPU_ON_64: u64 = 0xC400_0003;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PsciError(pub i64);

/// Starts core `mpidr` (Aff0 only) at the loader's secondary entry; it will enter `kernel_entry`.
pub fn start_core(mpidr: u64, kernel_entry: u64) -> Result<(), PsciError> {
    let ret: i64;
    // SAFETY: a PSCI call into QEMU's firmware emulation; it only starts the named core at the
    // loader's secondary entry, whose stack is that core's own slot in `.stacks`.
    unsafe {
        core::arch::asm!(
            "hvc #0",
            inout("x0") PSCI_CPU_ON_64 => ret,
            inout("x1") mpidr => _,
            inout("x2") entry::secondary_entry() => _,
            inout("x3") kernel_entry => _,
            options(nostack),
        );
    }
    if ret == 0 {
        Ok(())
    } else {
        Err(PsciError(ret))
    }
}

#[no_mangle]
extern "C" fn secondary_main(kernel_entry: u64) -> ! {
    mmu::enable();
    counters::grant_el0_access();
    handoff::enter_kernel(kernel_entry, &handoff::BootArgs::default())
}
