//! Error codes of the C API and the last-error cell. Codes 1..=63 are the protocol's own
//! ([`memserver_protocol::Error::code`]); the table below spells each one for the header and a
//! compile-time check ties every constant to its protocol value. Codes from 64 up belong to this
//! layer. Only the thread of the C program (one per task) sets the cell.
use core::ffi::{c_char, c_int};
use core::sync::atomic::{AtomicI32, Ordering};
use memserver_protocol::Error;

/// No failure recorded.
pub const MEMSERVER_OK: c_int = 0;
pub const MEMSERVER_E_UNKNOWN_LABEL: c_int = 1;
pub const MEMSERVER_E_BAD_LENGTH: c_int = 2;
pub const MEMSERVER_E_BAD_FIELD: c_int = 3;
pub const MEMSERVER_E_VERSION_MISMATCH: c_int = 4;
pub const MEMSERVER_E_BAD_PAYLOAD: c_int = 5;
pub const MEMSERVER_E_UNKNOWN_CLIENT: c_int = 6;
pub const MEMSERVER_E_NOT_GREETED: c_int = 7;
/// A cache pointer that is not a live cache of this program.
pub const MEMSERVER_E_BAD_HANDLE: c_int = 8;
pub const MEMSERVER_E_STALE_HANDLE: c_int = 9;
pub const MEMSERVER_E_BAD_BATCH: c_int = 10;
pub const MEMSERVER_E_BAD_SLOT: c_int = 11;
pub const MEMSERVER_E_DUPLICATE_ADDRESS: c_int = 12;
pub const MEMSERVER_E_SIZE_ZERO: c_int = 13;
pub const MEMSERVER_E_SIZE_TOO_LARGE: c_int = 14;
pub const MEMSERVER_E_BAD_ALIGN: c_int = 15;
/// A cache name that is empty, longer than 32 bytes, or not printable ASCII without spaces.
pub const MEMSERVER_E_BAD_NAME: c_int = 16;
pub const MEMSERVER_E_UNKNOWN_FLAG: c_int = 17;
pub const MEMSERVER_E_NULL_POINTER: c_int = 18;
pub const MEMSERVER_E_NOT_ALLOCATED: c_int = 19;
pub const MEMSERVER_E_DOUBLE_FREE: c_int = 20;
pub const MEMSERVER_E_INTERIOR_POINTER: c_int = 21;
pub const MEMSERVER_E_WRONG_CACHE: c_int = 22;
pub const MEMSERVER_E_FOREIGN_POINTER: c_int = 23;
pub const MEMSERVER_E_OUT_OF_MEMORY: c_int = 24;
pub const MEMSERVER_E_QUOTA_EXCEEDED: c_int = 25;
/// `kmem_cache_destroy` of a cache with live objects; the cache stays usable.
pub const MEMSERVER_E_CACHE_BUSY: c_int = 26;
pub const MEMSERVER_E_TOO_MANY: c_int = 27;
pub const MEMSERVER_E_RED_ZONE: c_int = 28;
pub const MEMSERVER_E_POISON: c_int = 29;
pub const MEMSERVER_E_BAD_CURSOR: c_int = 30;
pub const MEMSERVER_E_INTERNAL: c_int = 31;
/// No client is connected (on the host: none installed; on seL4: the handshake failed).
pub const MEMSERVER_E_NOT_CONNECTED: c_int = 64;
/// Called while another call of this API runs (from a constructor, or from a second thread).
pub const MEMSERVER_E_IN_USE: c_int = 65;
/// More distinct constructor functions than `MEMSERVER_MAX_CTORS`.
pub const MEMSERVER_E_TOO_MANY_CTORS: c_int = 66;

/// Every protocol error with its constant and name, in code order.
const PROTOCOL: [(Error, c_int, &core::ffi::CStr); 31] = [
    (
        Error::UnknownLabel,
        MEMSERVER_E_UNKNOWN_LABEL,
        c"unknown label",
    ),
    (
        Error::BadLength,
        MEMSERVER_E_BAD_LENGTH,
        c"bad message length",
    ),
    (Error::BadField, MEMSERVER_E_BAD_FIELD, c"bad field"),
    (
        Error::VersionMismatch,
        MEMSERVER_E_VERSION_MISMATCH,
        c"protocol version mismatch",
    ),
    (Error::BadPayload, MEMSERVER_E_BAD_PAYLOAD, c"bad payload"),
    (
        Error::UnknownClient,
        MEMSERVER_E_UNKNOWN_CLIENT,
        c"unknown client",
    ),
    (
        Error::NotGreeted,
        MEMSERVER_E_NOT_GREETED,
        c"client not greeted",
    ),
    (
        Error::BadHandle,
        MEMSERVER_E_BAD_HANDLE,
        c"bad cache handle",
    ),
    (
        Error::StaleHandle,
        MEMSERVER_E_STALE_HANDLE,
        c"stale cache handle",
    ),
    (Error::BadBatch, MEMSERVER_E_BAD_BATCH, c"bad batch count"),
    (Error::BadSlot, MEMSERVER_E_BAD_SLOT, c"bad magazine slot"),
    (
        Error::DuplicateAddress,
        MEMSERVER_E_DUPLICATE_ADDRESS,
        c"duplicate address in a batch",
    ),
    (Error::SizeZero, MEMSERVER_E_SIZE_ZERO, c"size zero"),
    (
        Error::SizeTooLarge,
        MEMSERVER_E_SIZE_TOO_LARGE,
        c"size too large",
    ),
    (Error::BadAlign, MEMSERVER_E_BAD_ALIGN, c"bad alignment"),
    (Error::BadName, MEMSERVER_E_BAD_NAME, c"bad cache name"),
    (
        Error::UnknownFlag,
        MEMSERVER_E_UNKNOWN_FLAG,
        c"unknown flag",
    ),
    (
        Error::NullPointer,
        MEMSERVER_E_NULL_POINTER,
        c"null pointer",
    ),
    (
        Error::NotAllocated,
        MEMSERVER_E_NOT_ALLOCATED,
        c"not an allocated object",
    ),
    (Error::DoubleFree, MEMSERVER_E_DOUBLE_FREE, c"double free"),
    (
        Error::InteriorPointer,
        MEMSERVER_E_INTERIOR_POINTER,
        c"interior pointer",
    ),
    (
        Error::WrongCache,
        MEMSERVER_E_WRONG_CACHE,
        c"object of another cache",
    ),
    (
        Error::ForeignPointer,
        MEMSERVER_E_FOREIGN_POINTER,
        c"object of another client",
    ),
    (
        Error::OutOfMemory,
        MEMSERVER_E_OUT_OF_MEMORY,
        c"out of memory",
    ),
    (
        Error::QuotaExceeded,
        MEMSERVER_E_QUOTA_EXCEEDED,
        c"quota exceeded",
    ),
    (
        Error::CacheBusy,
        MEMSERVER_E_CACHE_BUSY,
        c"cache has live objects",
    ),
    (
        Error::TooMany,
        MEMSERVER_E_TOO_MANY,
        c"too many caches or clients",
    ),
    (
        Error::RedZone,
        MEMSERVER_E_RED_ZONE,
        c"red zone overwritten",
    ),
    (Error::Poison, MEMSERVER_E_POISON, c"freed object written"),
    (
        Error::BadCursor,
        MEMSERVER_E_BAD_CURSOR,
        c"bad slabinfo cursor",
    ),
    (
        Error::Internal,
        MEMSERVER_E_INTERNAL,
        c"internal server error",
    ),
];

const _: () = {
    assert!(PROTOCOL.len() == Error::ALL.len());
    let mut i = 0;
    while i < PROTOCOL.len() {
        assert!(PROTOCOL[i].0 as u16 as c_int == PROTOCOL[i].1);
        assert!(Error::ALL[i] as u16 == PROTOCOL[i].0 as u16);
        i += 1;
    }
};

/// This layer's codes and names.
const OWN: [(c_int, &core::ffi::CStr); 3] = [
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
    let protocol = PROTOCOL.iter().map(|&(_, c, s)| (c, s));
    match protocol.chain(OWN).find(|&(c, _)| c == code) {
        Some((_, s)) => s.as_ptr(),
        None => c"unknown error".as_ptr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ffi::CStr;

    fn text(code: c_int) -> &'static str {
        // SAFETY: `memserver_strerror` returns a pointer to a static NUL-terminated string.
        unsafe { CStr::from_ptr(memserver_strerror(code)) }
            .to_str()
            .unwrap()
    }

    #[test]
    fn every_code_has_its_own_text_and_both_signs_agree() {
        let mut seen = std::collections::HashSet::new();
        for e in Error::ALL {
            let t = text(code(e));
            assert_ne!(t, "unknown error", "{e:?}");
            assert_eq!(t, text(-code(e)));
            assert!(seen.insert(t), "{e:?} shares its text");
        }
        for (c, _) in OWN {
            assert!(c >= 64);
            assert!(seen.insert(text(c)));
        }
        assert_eq!(text(0), "success");
        assert_eq!(text(63), "unknown error");
        assert_eq!(text(c_int::MIN), "unknown error");
    }
}
