//! Console output for C programs that have no C library: a string, a decimal and a hexadecimal
//! number. On seL4 the task's console (the debug kernel's serial output); on the host, stdout.
use core::ffi::{c_char, CStr};
use core::fmt::Write;

#[cfg(target_os = "none")]
fn console() -> impl Write {
    sel4_runtime::Console
}

#[cfg(not(target_os = "none"))]
fn console() -> impl Write {
    struct Stdout;
    impl Write for Stdout {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(s.as_bytes())
                .map_err(|_| core::fmt::Error)
        }
    }
    Stdout
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
    let mut out = console();
    for chunk in bytes.utf8_chunks() {
        let _ = out.write_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            let _ = out.write_char(char::REPLACEMENT_CHARACTER);
        }
    }
}

/// Writes `v` in decimal.
#[no_mangle]
pub extern "C" fn memserver_print_u64(v: u64) {
    let _ = write!(console(), "{v}");
}

/// Writes `v` in hexadecimal with a `0x` prefix.
#[no_mangle]
pub extern "C" fn memserver_print_hex(v: u64) {
    let _ = write!(console(), "{v:#x}");
}
