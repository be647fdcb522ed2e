//! The client's violation log for C, like reading `dmesg` for Linux's `BUG <cache>: ...`
//! reports: what the server's debug checks found in this client's objects (damage found by an
//! allocation, which took the object out of use and served another; damage found by a refused
//! free), a page at a time with a cursor.
use crate::connection::with;
use crate::error::{code, fail};
use core::ffi::{c_char, c_long};
use memserver_client::violations::NAME_BYTES;
use memserver_client::ViolationRecord;
use memserver_protocol::Error;

/// `memserver_violation.op`: an allocation found a damaged free object (it was quarantined and
/// another object handed out).
pub const MEMSERVER_VIOLATION_ALLOC: u8 = 0;
/// `memserver_violation.op`: a free found the object damaged (the free was refused).
pub const MEMSERVER_VIOLATION_FREE: u8 = 1;
/// `memserver_violation.op`: a cache destroy found objects still allocated (it was refused).
pub const MEMSERVER_VIOLATION_DESTROY: u8 = 2;
/// `memserver_violation.kind`: a byte before the object.
pub const MEMSERVER_VIOLATION_RED_ZONE_LEFT: u8 = 0;
/// `memserver_violation.kind`: a byte after the object, or after the size kmalloc was asked for.
pub const MEMSERVER_VIOLATION_RED_ZONE_RIGHT: u8 = 1;
/// `memserver_violation.kind`: a byte of a freed object (write after free).
pub const MEMSERVER_VIOLATION_POISON: u8 = 2;
/// `memserver_violation.kind`: a byte of a slab's unused tail.
pub const MEMSERVER_VIOLATION_PADDING: u8 = 3;
/// `memserver_violation.kind`: an object still allocated at its cache's destroy.
pub const MEMSERVER_VIOLATION_LEAK: u8 = 4;

/// One report of the violation log.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct memserver_violation {
    /// Position in the log, from 0.
    pub seq: u64,
    /// The object (for padding: the slab).
    pub object: u64,
    /// Offset of the first bad byte from `object` (negative: before it).
    pub offset: i64,
    /// Call sites of the object's last allocation and free, with owner tracking (`U`); 0 when
    /// unknown.
    pub alloc_site: u64,
    pub free_site: u64,
    /// `MEMSERVER_VIOLATION_ALLOC` or `MEMSERVER_VIOLATION_FREE`.
    pub op: u8,
    /// `MEMSERVER_VIOLATION_RED_ZONE_LEFT` ... `MEMSERVER_VIOLATION_PADDING`.
    pub kind: u8,
    /// The byte the check expected there, and the byte it found.
    pub expected: u8,
    pub found: u8,
    /// Server cores of the last allocation and free, plus one (0: unknown).
    pub alloc_core: u8,
    pub free_core: u8,
    /// The cache's name, NUL-terminated.
    pub cache: [c_char; 33],
}

fn to_c(r: &ViolationRecord) -> memserver_violation {
    let mut cache = [0 as c_char; NAME_BYTES + 1];
    for (to, &from) in cache.iter_mut().zip(r.name_bytes()) {
        *to = from as c_char;
    }
    memserver_violation {
        seq: r.seq,
        object: r.object,
        offset: r.offset(),
        alloc_site: r.alloc_site,
        free_site: r.free_site,
        op: r.op(),
        kind: r.kind(),
        expected: r.expected(),
        found: r.found(),
        alloc_core: r.alloc_core().map_or(0, |c| c + 1),
        free_core: r.free_core().map_or(0, |c| c + 1),
        cache,
    }
}

/// Reads up to `max` reports of this client's violation log from `*cursor` (0 at first) into
/// `out`, oldest first, and advances `*cursor` past them. If `lost` is not NULL, `*lost`
/// receives how many reports the server's bounded log overwrote before they were read. Returns
/// the number of reports written (0: the log is read to its end), or minus the code.
///
/// # Safety
/// `cursor` is valid for reading and writing one `uint64_t`; `out` is valid for writes of
/// `max` records (it may be NULL when `max` is 0); `lost` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn memserver_violations(
    cursor: *mut u64,
    out: *mut memserver_violation,
    max: usize,
    lost: *mut u64,
) -> c_long {
    if cursor.is_null() || (out.is_null() && max > 0) {
        return fail(code(Error::NullPointer)) as c_long;
    }
    // SAFETY: the caller's contract: `cursor` is valid for a read.
    let mut at = unsafe { cursor.read() };
    let mut written = 0usize;
    let mut skipped = 0u64;
    while written < max {
        let mut n = 0;
        let r = with(|c| {
            c.violations(at, |rec| {
                if written + n < max {
                    // SAFETY: the caller's contract: `out` holds `max` records, and
                    // `written + n < max`.
                    unsafe { out.add(written + n).write(to_c(rec)) };
                    n += 1;
                }
            })
            .map_err(|f| code(f.error))
        });
        let head = match r {
            Ok(h) => h,
            Err(c) => return fail(c) as c_long,
        };
        if written == 0 {
            skipped = head.lost;
        }
        written += n;
        // Records beyond `max` are read again by the next call.
        at = head.next - (head.count - n as u64);
        if n == 0 || at >= head.total {
            break;
        }
    }
    // SAFETY: as above, `cursor` is valid for a write.
    unsafe { cursor.write(at) };
    if !lost.is_null() {
        // SAFETY: the caller's contract: a non-null `lost` is valid for a write.
        unsafe { lost.write(skipped) };
    }
    written as c_long
}
