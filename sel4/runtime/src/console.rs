//! Console output: the debug kernel's `DebugPutChar`; on a release kernel (no debug syscalls)
//! the PL011 UART once a task mapped it and called [`set_uart`] (otherwise output is dropped).
//!
//! Locking: each [`print`] (so each `debug_print!`/`debug_println!`) holds the task's print lock,
//! so lines from threads on different cores do not interleave. The wait is bounded: a thread that
//! waits [`PATIENCE`] turns prints anyway, so a holder that never runs again (preempted for good on
//! its core, or faulted mid-line) cannot stop the others, at the price of one mixed line. The
//! waiter executes `yield` each turn: under QEMU's round-robin TCG (`-icount`) that hands the
//! emulated CPU to the other cores, the holder among them.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

/// Whether a thread of this task is printing.
static PRINTING: AtomicBool = AtomicBool::new(false);

/// How many turns a print waits for another thread's print before it goes ahead.
const PATIENCE: u32 = 1 << 20;

/// Prints `args` to the kernel console as one unit (see the module comment for the lock).
pub fn print(args: core::fmt::Arguments<'_>) {
    use core::fmt::Write as _;
    let held = (0..PATIENCE).any(|_| {
        let won = PRINTING
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if !won {
            pause();
        }
        won
    });
    let _ = Console.write_fmt(args);
    if held {
        PRINTING.store(false, Ordering::Release);
    }
}

/// One turn of waiting for the print lock.
fn pause() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `yield` is a hint with no architectural effect on memory or registers.
    unsafe {
        core::arch::asm!("yield", options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(target_arch = "aarch64"))]
    core::hint::spin_loop();
}

/// `core::fmt::Write` to the kernel's serial console, unlocked: prefer [`print`] (and the macros),
/// which keep a whole message together.
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
/// Prints to the kernel console, as one unit with respect to the task's other threads.
#[macro_export]
macro_rules! debug_print {
    ($($arg:tt)*) => {
        $crate::print(format_args!($($arg)*))
    };
}

/// Prints a line to the kernel console, as one unit with respect to the task's other threads.
#[macro_export]
macro_rules! debug_println {
    () => { $crate::debug_print!("\n") };
    ($($arg:tt)*) => {
        $crate::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
