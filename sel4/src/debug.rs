//! The debug kernel's console and halt (`CONFIG_DEBUG_BUILD` only: on a release kernel these
//! syscalls do not exist and output is dropped).

/// Writes one byte to the kernel's serial console.
pub fn debug_put_char(c: u8) {
    #[cfg(sel4_debug_build)]
    crate::syscalls::one_arg(crate::Syscall::DebugPutChar, crate::Word::from(c));
    #[cfg(not(sel4_debug_build))]
    let _ = c;
}

/// Stops the kernel (QEMU keeps running; the runner stops it). Never returns.
pub fn debug_halt() -> ! {
    #[cfg(sel4_debug_build)]
    crate::syscalls::one_arg(crate::Syscall::DebugHalt, 0);
    loop {
        crate::syscalls::yield_now();
    }
}

/// The kernel's type tag of the capability at `cap` (0 for an empty slot); `None` on a release
/// kernel, which lacks the call.
pub fn debug_cap_identify(cap: crate::Word) -> Option<crate::Word> {
    #[cfg(sel4_debug_build)]
    return Some(crate::syscalls::one_arg_result(
        crate::Syscall::DebugCapIdentify,
        cap,
    ));
    #[cfg(not(sel4_debug_build))]
    {
        let _ = cap;
        None
    }
}

/// `core::fmt::Write` over [`debug_put_char`].
#[derive(Debug, Default, Clone, Copy)]
pub struct DebugWriter;

impl core::fmt::Write for DebugWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        s.bytes().for_each(debug_put_char);
        Ok(())
    }
}
