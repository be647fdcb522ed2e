//! Console output for C programs that have no C library: a string, a decimal and a hexadecimal
//! number. On seL4 the program's line-buffered console through the root task (which owns the
//! UART, so output works on a release kernel too); on the host, stdout.
use core::ffi::{c_char, CStr};
use core::fmt::Write;

#[cfg(target_os = "none")]
fn write(f: impl FnOnce(&mut dyn Write)) {
    crate::runtime::with_console(|c| f(c));
}

#[cfg(not(target_os = "none"))]
fn write(f: impl FnOnce(&mut dyn Write)) {
    struct Stdout;
    impl Write for Stdout {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(s.as_bytes())
                .map_err(|_| core::fmt::Error)
        }
    }
    f(&mut Stdout)
}

/// Writes the NUL-terminated string `s` (no newline added; invalid UTF-8 is shown as U+FFFD).
/// NULL prints nothing.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn memserver_print(s: *const c_char) {
    if s.is_null() {
        return;
    }
    // SAFETY: the caller's contract: a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(s) }.to_bytes();
    write(|out| {
        for chunk in bytes.utf8_chunks() {
            let _ = out.write_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                let _ = out.write_char(char::REPLACEMENT_CHARACTER);
            }
        }
    });
}

/// Writes `v` in decimal.
#[no_mangle]
pub extern "C" fn memserver_print_u64(v: u64) {
    write(|out| {
        let _ = write!(out, "{v}");
    });
}

/// Writes `v` in hexadecimal with a `0x` prefix.
#[no_mangle]
pub extern "C" fn memserver_print_hex(v: u64) {
    write(|out| {
        let _ = write!(out, "{v:#x}");
    });
}
