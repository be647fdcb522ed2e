//! Console output: the debug kernel's `DebugPutChar`; on a release kernel (no debug syscalls)
//! the PL011 UART once a task mapped it and called [`set_uart`] (otherwise output is dropped).
//! No locking: one thread per task prints.

use core::sync::atomic::{AtomicUsize, Ordering};

/// Where this task mapped the PL011's registers (0: not mapped).
static UART: AtomicUsize = AtomicUsize::new(0);

/// Prints through the PL011 whose register page is mapped at `base` when the kernel has no debug
/// console.
///
/// # Safety
/// `base` must be the virtual address of a device-memory mapping of a PL011's register page in
/// this address space, kept mapped for the life of the task.
pub unsafe fn set_uart(base: usize) {
    UART.store(base, Ordering::Release);
}

#[cfg(target_arch = "aarch64")]
fn put_char(c: u8) {
    const PL011_DR: usize = 0x00;
    const PL011_FR: usize = 0x18;
    const PL011_FR_TXFF: u32 = 1 << 5;
    let base = UART.load(Ordering::Acquire);
    if base == 0 {
        sel4::debug_put_char(c);
        return;
    }
    let fr = (base + PL011_FR) as *const u32;
    let dr = (base + PL011_DR) as *mut u32;
    // SAFETY: `set_uart`'s contract: `base` maps a PL011's registers as device memory; FR and DR
    // are its 32-bit registers.
    unsafe {
        while fr.read_volatile() & PL011_FR_TXFF != 0 {}
        dr.write_volatile(u32::from(c));
    }
}

/// `core::fmt::Write` to the kernel's serial console.
#[derive(Debug, Default, Clone, Copy)]
pub struct Console;

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        #[cfg(target_arch = "aarch64")]
        s.bytes().for_each(put_char);
        #[cfg(not(target_arch = "aarch64"))]
        let _ = s;
        Ok(())
    }
}
/// Prints to the kernel console.
#[macro_export]
macro_rules! debug_print {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::Console, $($arg)*);
    }};
}

/// Prints a line to the kernel console.
#[macro_export]
macro_rules! debug_println {
    () => { $crate::debug_print!("\n") };
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::Console, $($arg)*);
    }};
}
