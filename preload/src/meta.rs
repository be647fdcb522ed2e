//! The allocator of the allocator: where the core's own metadata (page map, buddy lists, slab
//! records, arrays) lives when the core runs inside the process it serves. It takes memory from
//! `mmap` only, never from `malloc`, so building the heap cannot recurse into it.
//!
//! Power-of-two classes of 16 B to 64 KiB on free lists threaded through the free blocks,
//! carved from 1 MiB chunks; anything larger (or aligned above a page) is a mapping of its own,
//! returned with `munmap` (so the core's large zeroed tables stay untouched until used). One
//! spin lock; only slow paths of the heap allocate metadata.
use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

const MIN_SHIFT: usize = 4;
const MAX_SHIFT: usize = 16;
const CLASSES: usize = MAX_SHIFT - MIN_SHIFT + 1;
const CHUNK: usize = 1 << 20;
const PAGE: usize = 4096;

struct Pools {
    free: [usize; CLASSES],
    /// Unused tail of the current chunk.
    next: usize,
    end: usize,
}

/// The metadata allocator (the crate's `#[global_allocator]`).
pub struct Meta {
    pools: spin::Mutex<Pools>,
}

impl Meta {
    pub const fn new() -> Meta {
        Meta {
            pools: spin::Mutex::new(Pools {
                free: [0; CLASSES],
                next: 0,
                end: 0,
            }),
        }
    }
}

impl Default for Meta {
    fn default() -> Meta {
        Meta::new()
    }
}

/// The class of a request, or `None` for a mapping of its own.
fn class(l: Layout) -> Option<usize> {
    let size = l.size().max(l.align()).max(1 << MIN_SHIFT);
    if size > 1 << MAX_SHIFT || l.align() > PAGE {
        return None;
    }
    Some(size.next_power_of_two().trailing_zeros() as usize - MIN_SHIFT)
}

/// `len` bytes of fresh zeroed memory aligned to `align` (a power of two), or null.
pub fn map(len: usize, align: usize) -> *mut u8 {
    let extra = if align > PAGE { align } else { 0 };
    let Some(total) = len.checked_add(extra) else {
        return ptr::null_mut();
    };
    let total = total.next_multiple_of(PAGE);
    // SAFETY: an anonymous private mapping at an address of the kernel's choice; no existing
    // memory is affected.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            total,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    let base = p as usize;
    if extra == 0 {
        return p.cast();
    }
    let start = base.next_multiple_of(align);
    let keep = len.next_multiple_of(PAGE);
    // SAFETY: both ranges lie inside the mapping just made and are page-aligned; nothing
    // points into them.
    unsafe {
        if start > base {
            libc::munmap(base as *mut _, start - base);
        }
        let tail = base + total - (start + keep);
        if tail > 0 {
            libc::munmap((start + keep) as *mut _, tail);
        }
    }
    start as *mut u8
}

/// Returns a mapping made by `map(len, _)`.
///
/// # Safety
/// `p` came from `map` with this `len` and is not used afterwards.
pub unsafe fn unmap(p: *mut u8, len: usize) {
    // SAFETY: the caller's contract.
    unsafe { libc::munmap(p.cast(), len.next_multiple_of(PAGE)) };
}

// SAFETY: blocks are handed out once until returned (free lists under the lock), each at least
// the layout's size and aligned to it (a class block of size 2^k is carved at a multiple of
// 2^k from a page-aligned chunk, and classes never exceed a page's alignment need: requests
// aligned above a page are mapped on their own).
unsafe impl GlobalAlloc for Meta {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let Some(c) = class(l) else {
            return map(l.size(), l.align());
        };
        let size = 1usize << (c + MIN_SHIFT);
        let mut p = self.pools.lock();
        let head = p.free[c];
        if head != 0 {
            // SAFETY: a block on a free list holds the next block's address in its first word.
            p.free[c] = unsafe { *(head as *const usize) };
            return head as *mut u8;
        }
        let mut at = p.next.next_multiple_of(size.min(PAGE));
        if at == 0 || at + size > p.end {
            let chunk = map(CHUNK, PAGE);
            if chunk.is_null() {
                return ptr::null_mut();
            }
            p.next = chunk as usize;
            p.end = chunk as usize + CHUNK;
            at = p.next;
        }
        p.next = at + size;
        at as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, l: Layout) {
        let Some(c) = class(l) else {
            // SAFETY: mapped on its own by `alloc` with this layout.
            unsafe { unmap(ptr, l.size()) };
            return;
        };
        let mut p = self.pools.lock();
        // SAFETY: the block is ours and free from now on; its first word links the list.
        unsafe { *(ptr as *mut usize) = p.free[c] };
        p.free[c] = ptr as usize;
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if class(l).is_none() {
            // Fresh mappings are zero: the pages stay untouched until used.
            return map(l.size(), l.align());
        }
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { self.alloc(l) };
        if !p.is_null() {
            // SAFETY: `p` holds at least `l.size()` bytes.
            unsafe { ptr::write_bytes(p, 0, l.size()) };
        }
        p
    }
}
