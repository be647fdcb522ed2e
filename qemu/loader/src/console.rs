//! Owns the loader's output: the PL011 UART of QEMU `virt` at its physical address (identity
//! mapped as device memory once the MMU is on). Used only before the kernel takes over the UART.
use core::fmt;

const PL011_BASE: usize = 0x0900_0000;
const DR: usize = 0x00;
const FR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;

pub struct Console;

impl Console {
    fn put_byte(b: u8) {
        let fr = (PL011_BASE + FR) as *const u32;
        let dr = (PL011_BASE + DR) as *mut u32;
        // SAFETY: PL011_BASE is the UART of the `virt` machine; both registers are 32-bit aligned
        // device registers, and reading FR / writing DR has no effect beyond sending the byte.
        unsafe {
            while core::ptr::read_volatile(fr) & FR_TXFF != 0 {}
            core::ptr::write_volatile(dr, u32::from(b));
        }
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                Self::put_byte(b'\r');
            }
            Self::put_byte(b);
        }
        Ok(())
    }
}

/// `println!` for the loader: every line starts with `loader: `.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::console::Console, "loader: ");
        let _ = writeln!($crate::console::Console, $($arg)*);
    }};
}
