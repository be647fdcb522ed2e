//! Console output through the debug kernel's `DebugPutChar` (dropped on a release kernel).
//! No locking: one thread per task prints.

/// `core::fmt::Write` to the kernel's serial console.
#[derive(Debug, Default, Clone, Copy)]
pub struct Console;

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        #[cfg(target_arch = "aarch64")]
        s.bytes().for_each(sel4::debug_put_char);
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
