//! The kmalloc family for C, and the calls about the whole client: statistics, flushing the
//! kmalloc magazines, `/proc/slabinfo` text. `kmalloc` takes blocks from the stub's per-class
//! magazines; `kfree` does not know the block's size, so each one is one message to the server
//! (which checks it at once).
use crate::connection::with;
use crate::error::{code, fail, fail_null};
use crate::flags::{gfp_t, wants_zero};
use core::ffi::{c_char, c_int, c_long, c_void};
use memserver_client::Failure;
use memserver_protocol::Error;

fn protocol(f: Failure) -> c_int {
    code(f.error)
}

fn allocate(size: usize, flags: gfp_t) -> Result<*mut c_void, c_int> {
    let zero = wants_zero(flags)?;
    with(|c| {
        let r = if zero {
            c.kzalloc(size)
        } else {
            c.kmalloc(size)
        };
        r.map(|a| a as *mut c_void).map_err(protocol)
    })
}

/// A block of at least `size` bytes (8-byte aligned; power-of-two sizes up to 8 KiB are aligned to
/// their size), or NULL (see `memserver_last_error()`). Sizes above 8 KiB, up to 4 MiB, come
/// straight from the page allocator. `flags`: `GFP_KERNEL`, or with `__GFP_ZERO`. Size 0 is
/// `ZERO_SIZE_PTR`, as in Linux.
#[no_mangle]
pub extern "C" fn kmalloc(size: usize, flags: gfp_t) -> *mut c_void {
    allocate(size, flags).unwrap_or_else(fail_null)
}

/// As `kmalloc`, zeroed.
#[no_mangle]
pub extern "C" fn kzalloc(size: usize, flags: gfp_t) -> *mut c_void {
    allocate(size, flags | crate::flags::__GFP_ZERO).unwrap_or_else(fail_null)
}

/// A zeroed array of `n` elements of `size` bytes; NULL with `MEMSERVER_E_SIZE_TOO_LARGE` if the
/// product overflows.
#[no_mangle]
pub extern "C" fn kcalloc(n: usize, size: usize, flags: gfp_t) -> *mut c_void {
    match n.checked_mul(size) {
        Some(bytes) => kzalloc(bytes, flags),
        None => fail_null(code(Error::SizeTooLarge)),
    }
}

/// Frees a block from `kmalloc`, `kzalloc` or `kcalloc`. 0, or minus the code (an address that is
/// not a live kmalloc block of this client, a double free). NULL and `ZERO_SIZE_PTR` do nothing,
/// as in the kernel.
///
/// # Safety
/// `p` is not used after a successful free. (The server checks `p` itself; a wrong pointer is an
/// error, never a corruption of the server.)
#[no_mangle]
pub unsafe extern "C" fn kfree(p: *const c_void) -> c_int {
    if p.is_null() {
        return 0;
    }
    with(|c| c.kfree(p as usize).map_err(protocol)).map_or_else(fail, |()| 0)
}

/// The usable size of the kmalloc block at `p` (0 for NULL, `ZERO_SIZE_PTR` or an address that
/// is not one).
///
/// # Safety
/// None beyond passing a pointer: `p` is sent to the server, which looks it up in its own records;
/// the library never dereferences it.
#[no_mangle]
pub unsafe extern "C" fn ksize(p: *const c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    with(|c| c.ksize(p as usize).map_err(protocol)).unwrap_or_else(|c| {
        fail(c);
        0
    })
}

/// The client's accounting at the server.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct memserver_stats {
    /// Objects the server counts as this client's (including those in the stub's magazines).
    pub live_objects: u64,
    pub live_bytes: u64,
    /// The client's quota (`UINT64_MAX`: unlimited).
    pub quota_objects: u64,
    pub quota_bytes: u64,
    /// Bytes of server metadata charged for this client (its record, caches, slab records).
    pub metadata_bytes: u64,
    /// Its metadata quota (`UINT64_MAX`: bounded by the server's metadata budget only).
    pub quota_metadata: u64,
    /// Violations the server's debug checks found in this client's objects (reports ever
    /// logged; read them with `memserver_violations`).
    pub violations: u64,
}

/// Fills `*out` with this client's accounting. 0, or minus the code.
///
/// # Safety
/// `out` is NULL (refused with `MEMSERVER_E_NULL_POINTER`) or valid for writing one
/// `struct memserver_stats`.
#[no_mangle]
pub unsafe extern "C" fn memserver_stats(out: *mut memserver_stats) -> c_int {
    if out.is_null() {
        return fail(code(Error::NullPointer));
    }
    match with(|c| c.stats().map_err(protocol)) {
        Ok(s) => {
            let stats = memserver_stats {
                live_objects: s.live_objects,
                live_bytes: s.live_bytes,
                quota_objects: s.quota_objects,
                quota_bytes: s.quota_bytes,
                metadata_bytes: s.metadata_bytes,
                quota_metadata: s.quota_metadata,
                violations: s.violations,
            };
            // SAFETY: the caller's contract: `out` is valid for a write of one stats record.
            unsafe { out.write(stats) };
            0
        }
        Err(c) => fail(c),
    }
}

/// Returns the blocks held in the stub's kmalloc magazines to the server (they are live at the
/// server until then). 0, or minus the code.
#[no_mangle]
pub extern "C" fn memserver_flush() -> c_int {
    with(|c| c.flush_kmalloc().map_err(protocol)).map_or_else(fail, |()| 0)
}

/// Writes into `buf` with room for `len` bytes, as `snprintf` does.
struct Truncating<'a> {
    buf: &'a mut [u8],
    written: usize,
    total: usize,
}

impl core::fmt::Write for Truncating<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self
            .buf
            .len()
            .saturating_sub(1)
            .saturating_sub(self.written);
        let n = s.len().min(room);
        if let (Some(to), Some(from)) = (
            self.buf.get_mut(self.written..self.written + n),
            s.as_bytes().get(..n),
        ) {
            to.copy_from_slice(from);
            self.written += n;
        }
        self.total = self.total.saturating_add(s.len());
        Ok(())
    }
}

/// Writes `/proc/slabinfo` (version 2.1) text for this client's caches (`all == 0`) or for every
/// cache of the server into `buf`, as `snprintf` does: at most `len - 1` bytes and a NUL (nothing
/// if `len` is 0). Returns the length of the whole text (if it is `>= len`, the text was cut), or
/// minus the code.
///
/// # Safety
/// `buf` is valid for writes of `len` bytes (it may be NULL when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn memserver_slabinfo(buf: *mut c_char, len: usize, all: c_int) -> c_long {
    let buf: &mut [u8] = if len == 0 || buf.is_null() {
        &mut []
    } else {
        // SAFETY: the caller's contract: `buf` is valid for writes of `len` bytes, and nothing
        // else refers to it during this call.
        unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) }
    };
    let mut out = Truncating {
        buf,
        written: 0,
        total: 0,
    };
    let r = with(|c| c.slabinfo(all != 0, &mut out).map_err(protocol));
    if let Some(nul) = out.buf.get_mut(out.written) {
        *nul = 0;
    }
    match r {
        Ok(()) => c_long::try_from(out.total).unwrap_or(c_long::MAX),
        Err(c) => fail(c) as c_long,
    }
}
