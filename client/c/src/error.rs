//! Error codes of the C API and the last-error cell. Codes 1..=63 are the protocol's own
//! ([`memserver_protocol::Error`]): the build script writes their `MEMSERVER_E_*` macros into the
//! header from that enum, so they are declared once. Codes from 64 up belong to this layer. Only
//! the thread of the C program (one per task) sets the cell.
use core::ffi::{c_char, c_int, CStr};
use core::sync::atomic::{AtomicI32, Ordering};
use memserver_protocol::Error;

/// No failure recorded.
pub const MEMSERVER_OK: c_int = 0;
/// No client is connected (on the host: none installed; on seL4: the handshake failed).
pub const MEMSERVER_E_NOT_CONNECTED: c_int = 64;
/// Called while another call of this API runs (from a constructor, or from a second thread).
pub const MEMSERVER_E_IN_USE: c_int = 65;
/// More distinct constructor functions than `MEMSERVER_MAX_CTORS`.
pub const MEMSERVER_E_TOO_MANY_CTORS: c_int = 66;

/// This layer's codes and texts.
const OWN: [(c_int, &CStr); 3] = [
    (
        MEMSERVER_E_NOT_CONNECTED,
        c"not connected to the memory server",
    ),
    (
        MEMSERVER_E_IN_USE,
        c"memserver API called while another call runs",
    ),
    (
        MEMSERVER_E_TOO_MANY_CTORS,
        c"too many distinct constructors",
    ),
];

/// Codes below this are the protocol's.
const FIRST_OWN_CODE: c_int = 64;

const _: () = {
    let mut i = 0;
    while i < Error::ALL.len() {
        assert!((Error::ALL[i] as u16) < FIRST_OWN_CODE as u16);
        i += 1;
    }
};

/// The C code of a protocol error.
pub(crate) fn code(e: Error) -> c_int {
    e as u16 as c_int
}

static LAST: AtomicI32 = AtomicI32::new(MEMSERVER_OK);

/// Records a failure; returns `-code` (the `int` convention).
pub(crate) fn fail(code: c_int) -> c_int {
    LAST.store(code, Ordering::Relaxed);
    -code
}

/// Records a failure for a call that returns a pointer; returns NULL.
pub(crate) fn fail_null<T>(code: c_int) -> *mut T {
    LAST.store(code, Ordering::Relaxed);
    core::ptr::null_mut()
}

/// The code of the last failed call (0 if none failed yet). Successful calls leave it alone.
#[no_mangle]
pub extern "C" fn memserver_last_error() -> c_int {
    LAST.load(Ordering::Relaxed)
}

/// A static, NUL-terminated description of `code` (either sign); "unknown error" for a code this
/// version does not know, "success" for 0.
#[no_mangle]
pub extern "C" fn memserver_strerror(code: c_int) -> *const c_char {
    let code = code.unsigned_abs() as c_int;
    if code == MEMSERVER_OK {
        return c"success".as_ptr();
    }
    let protocol = Error::ALL.iter().map(|&e| (self::code(e), e.message()));
    match protocol.chain(OWN).find(|&(c, _)| c == code) {
        Some((_, s)) => s.as_ptr(),
        None => c"unknown error".as_ptr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(code: c_int) -> &'static str {
        // SAFETY: `memserver_strerror` returns a pointer to a static NUL-terminated string.
        unsafe { CStr::from_ptr(memserver_strerror(code)) }
            .to_str()
            .unwrap()
    }

    #[test]
    fn every_code_has_its_own_text_and_both_signs_agree() {
        let mut seen = std::collections::HashSet::new();
        for &e in Error::ALL {
            let t = text(code(e));
            assert_ne!(t, "unknown error", "{e:?}");
            assert_eq!(t, text(-code(e)));
            assert!(seen.insert(t), "{e:?} shares its text");
        }
        for (c, _) in OWN {
            assert!(c >= FIRST_OWN_CODE);
            assert!(seen.insert(text(c)));
        }
        assert_eq!(text(0), "success");
        assert_eq!(text(63), "unknown error");
        assert_eq!(text(c_int::MIN), "unknown error");
    }
}
