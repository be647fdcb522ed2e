//! `libmemserver_preload.so`: the C allocation ABI (`malloc`, `free`, `calloc`, `realloc`,
//! `reallocarray`, `posix_memalign`, `aligned_alloc`, `memalign`, `valloc`, `pvalloc`,
//! `malloc_usable_size`) over the memserver core, so that any host program runs on the
//! allocator: `LD_PRELOAD=target/release/libmemserver_preload.so program ...`.
//!
//! Where a request goes:
//! - up to 8 KiB: a size class (`classes`: 16-byte steps to 128 bytes, then four or eight per
//!   doubling),
//!   through the thread's magazine (`magazine`) over the per-core arrays;
//! - up to the mapping threshold: a buddy block through the core (aligned to its own size);
//! - above, or when the arena is full: a mapping of its own, unmapped on `free`. As glibc's
//!   `M_MMAP_THRESHOLD`, the threshold starts at 128 KiB and rises to the size of each mapped
//!   block freed (up to the largest buddy block, 4 MiB), so a program that keeps making and
//!   freeing blocks of one large size soon takes them from the arena; above 128 KiB only when
//!   the power-of-two block wastes at most a quarter of the request (`2 MiB + 8` is mapped).
//!
//! The arena (1 GiB of address space by default, `MEMSERVER_PRELOAD_ARENA=512M` etc.) is
//! reserved when the first call builds the heap (`heap`); the core's metadata comes from
//! `mmap` (`meta`), never from `malloc`. Pointers this library did not hand out (made while the
//! heap was being built, or by another allocator before it was loaded) are never freed and
//! `realloc` copies what it can read of them. `fork` takes the fork lock, so the child never
//! inherits a held core lock.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
extern crate alloc;

mod classes;
mod heap;
mod magazine;
mod meta;

use core::ffi::c_void;
use core::ptr;

use memserver_core::kmalloc::KMALLOC_MAX_SIZE;

use heap::Heap;

#[global_allocator]
static META: meta::Meta = meta::Meta::new();

/// malloc's alignment.
const MIN_ALIGN: usize = 16;
const PAGE: usize = 4096;

/// A small request's size class.
#[inline(always)]
fn small_class(size: usize) -> Option<usize> {
    classes::of(size)
}

/// Memory while the heap is being built: from the metadata allocator, never freed.
#[cold]
fn early(size: usize, align: usize) -> *mut u8 {
    let l = core::alloc::Layout::from_size_align(size.max(1), align.max(MIN_ALIGN));
    match l {
        // SAFETY: a non-zero layout.
        Ok(l) => unsafe { core::alloc::GlobalAlloc::alloc(&META, l) },
        Err(_) => ptr::null_mut(),
    }
}

/// A block above the classes: a buddy block (aligned to its size) through the core, else a
/// mapping of its own.
#[cold]
#[inline(never)]
fn large(heap: &Heap, size: usize, align: usize) -> *mut u8 {
    if heap.takes_buddy_block(size) && align <= KMALLOC_MAX_SIZE {
        let want = size.max(align).max(classes::MAX + 1);
        if let Ok(p) = heap.with_core(|g, set| g.kmalloc(set, want)) {
            if p % align == 0 {
                return p as *mut u8;
            }
            heap.with_core(|g, set| g.kfree(set, p)).ok();
        }
    }
    heap.map_block(size, align.max(PAGE))
}

fn alloc_aligned(size: usize, align: usize) -> *mut u8 {
    let Some(heap) = heap::get() else {
        return early(size, align);
    };
    // Every class is 16-byte aligned, a power-of-two class to its size (up to a page).
    let fit = if align <= MIN_ALIGN {
        size
    } else {
        size.max(align).next_power_of_two()
    };
    if let Some(c) = small_class(fit) {
        let p = magazine::pop(heap, c);
        if p != 0 && p % align == 0 {
            return p as *mut u8;
        }
        if p != 0 {
            magazine::push(heap, c, p);
        }
    }
    large(heap, size, align)
}

/// The usable size of a block this library handed out, if it is one.
fn usable(heap: &Heap, p: usize) -> Option<usize> {
    if heap.owns(p) {
        if let Some(c) = heap.class_of_obj(p) {
            return Some(classes::SIZES[c]);
        }
        return heap.with_core(|g, set| g.ksize(set, p)).ok();
    }
    heap.mapped_len(p)
}

/// Frees a block; pointers this library did not hand out are left alone.
#[inline(always)]
fn release(heap: &Heap, p: usize) {
    if heap.owns(p) {
        if let Some(c) = heap.class_of_obj(p) {
            magazine::push(heap, c, p);
            return;
        }
        release_large(heap, p);
        return;
    }
    heap.unmap_block(p);
}

#[cold]
#[inline(never)]
fn release_large(heap: &Heap, p: usize) {
    if heap.with_core(|g, set| g.kfree(set, p)).is_err() {
        heap::die(b"memserver preload: free(): invalid pointer\n");
    }
}

fn set_errno(e: i32) {
    // SAFETY: errno is the calling thread's.
    unsafe { *libc::__errno_location() = e };
}

/// # Safety
/// The C `malloc` contract.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    let Some(heap) = heap::get() else {
        return early(size, MIN_ALIGN).cast();
    };
    if let Some(c) = small_class(size) {
        let p = magazine::pop(heap, c);
        if p != 0 {
            return p as *mut c_void;
        }
    }
    let p = large(heap, size, MIN_ALIGN);
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

/// # Safety
/// The C `free` contract.
#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    let Some(heap) = heap::get() else {
        return;
    };
    release(heap, p as usize);
}

/// # Safety
/// The C `calloc` contract.
#[no_mangle]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    // SAFETY: forwarded.
    let p = unsafe { malloc(total) };
    if p.is_null() {
        return p;
    }
    // Blocks mapped on their own (outside the arena) are fresh zero pages.
    let fresh = heap::get().is_some_and(|h| !h.owns(p as usize));
    if !fresh {
        // SAFETY: the block holds at least `total` bytes.
        unsafe { ptr::write_bytes(p.cast::<u8>(), 0, total) };
    }
    p
}

/// # Safety
/// The C `realloc` contract.
#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        // SAFETY: forwarded.
        return unsafe { malloc(size) };
    }
    if size == 0 {
        // SAFETY: forwarded (glibc frees and returns null).
        unsafe { free(p) };
        return ptr::null_mut();
    }
    let a = p as usize;
    let old = match heap::get() {
        Some(heap) => usable(heap, a),
        None => None,
    };
    if let Some(old) = old {
        // Stays in place while it fits and does not waste more than half.
        let same_class = small_class(size).is_some_and(|c| classes::SIZES[c] == old);
        if size <= old && (same_class || size > classes::MAX && size > old / 2) {
            return p;
        }
    }
    // SAFETY: forwarded.
    let q = unsafe { malloc(size) };
    if q.is_null() {
        return q;
    }
    // A foreign block's size is unknown: copy what lies on its page (the rest of the request
    // is unspecified anyway), never reading past mapped memory.
    let n = old.unwrap_or(PAGE - a % PAGE).min(size);
    // SAFETY: `p` holds at least `n` readable bytes (its usable size, or up to its page's end),
    // `q` at least `size`; distinct blocks.
    unsafe { ptr::copy_nonoverlapping(p.cast::<u8>(), q.cast::<u8>(), n) };
    if old.is_some() {
        // SAFETY: forwarded; `p` is ours and not used again.
        unsafe { free(p) };
    }
    q
}

/// # Safety
/// The C `reallocarray` contract.
#[no_mangle]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: forwarded.
        Some(total) => unsafe { realloc(p, total) },
        None => {
            set_errno(libc::ENOMEM);
            ptr::null_mut()
        }
    }
}

/// # Safety
/// The C `posix_memalign` contract.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    if !align.is_power_of_two() || align % core::mem::size_of::<usize>() != 0 {
        return libc::EINVAL;
    }
    let p = alloc_aligned(size, align);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller's out-pointer.
    unsafe { *out = p.cast() };
    0
}

/// # Safety
/// The C `aligned_alloc` contract.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    let p = alloc_aligned(size, align);
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

/// # Safety
/// The C `memalign` contract (an alignment that is not a power of two is rounded up, as glibc
/// does).
#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(align) = align.max(1).checked_next_power_of_two() else {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    };
    let p = alloc_aligned(size, align);
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

/// # Safety
/// The C `valloc` contract.
#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { memalign(PAGE, size) }
}

/// # Safety
/// The C `pvalloc` contract.
#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { memalign(PAGE, size.max(1).next_multiple_of(PAGE)) }
}

/// # Safety
/// The C `malloc_usable_size` contract.
#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    heap::get().and_then(|h| usable(h, p as usize)).unwrap_or(0)
}
