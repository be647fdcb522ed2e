//! Owns the jump into seL4: x0 = user image physical start, x1 = its exclusive end,
//! x2 = pv_offset (physical minus virtual), x3 = user entry (virtual); the kernel's `_start` is
//! entered at its virtual address through TTBR1 with the MMU on.

#[derive(Debug, Clone, Copy, Default)]
pub struct BootArgs {
    pub user_phys_start: u64,
    pub user_phys_end: u64,
    pub pv_offset: u64,
    pub user_entry: u64,
}

pub fn enter_kernel(kernel_entry: u64, args: &BootArgs) -> ! {
    // SAFETY: the kernel image is in place and visible to instruction fetch, the MMU maps its
    // window, and the boot contract of seL4 5.0.0 is these four registers; the kernel never returns.
    unsafe {
        core::arch::asm!(
            "dsb sy",
            "isb",
            "br {entry}",
            entry = in(reg) kernel_entry,
            in("x0") args.user_phys_start,
            in("x1") args.user_phys_end,
            in("x2") args.pv_offset,
            in("x3") args.user_entry,
            options(noreturn, nostack),
        )
    }
}
