//! The only code that reads or writes object memory: constructor calls, zeroing, and red zone /
//! poison fills and checks. Allocator state is never kept here.
//!
//! Invariant for every function: `[addr, addr + len)` lies inside a slab (or large block) that
//! the allocator currently holds from the buddy layer, whose memory stays mapped for the
//! allocator's lifetime. The memory belongs to a client that may write it at any time (on seL4
//! from its own address space, on the host from another thread), so it is only accessed through
//! raw pointers with volatile reads and writes; no Rust reference to it is ever formed.
use core::ptr;

/// Sets `len` bytes at `addr` to `byte`.
pub(crate) fn fill(addr: usize, len: usize, byte: u8) {
    // SAFETY: see the module invariant; `write_bytes` on raw bytes needs no alignment.
    unsafe { ptr::write_bytes(addr as *mut u8, byte, len) }
}

/// Copies `len` bytes from `from` to `to` (two objects; they may not overlap).
pub(crate) fn copy(from: usize, to: usize, len: usize) {
    // SAFETY: see the module invariant, for both ranges; distinct live objects never overlap.
    unsafe { ptr::copy_nonoverlapping(from as *const u8, to as *mut u8, len) }
}

/// Reads the byte at `addr`.
pub(crate) fn read(addr: usize) -> u8 {
    // SAFETY: see the module invariant.
    unsafe { ptr::read_volatile(addr as *const u8) }
}

/// Writes the byte at `addr`.
pub(crate) fn write(addr: usize, byte: u8) {
    // SAFETY: see the module invariant.
    unsafe { ptr::write_volatile(addr as *mut u8, byte) }
}

/// The first byte in `[addr, addr + len)` that is not `expected`: its offset and value.
pub(crate) fn first_mismatch(addr: usize, len: usize, expected: u8) -> Option<(usize, u8)> {
    let word = u64::from_ne_bytes([expected; 8]);
    let mut off = 0;
    while off < len {
        let at = addr + off;
        if at & 7 == 0 && len - off >= 8 {
            // SAFETY: see the module invariant; `at` is 8-aligned and 8 bytes remain.
            let w = unsafe { ptr::read_volatile(at as *const u64) };
            if w == word {
                off += 8;
                continue;
            }
        }
        let b = read(at);
        if b != expected {
            return Some((off, b));
        }
        off += 1;
    }
    None
}

/// Runs a local constructor on the object at `addr`.
pub(crate) fn construct(ctor: fn(*mut u8), addr: usize) {
    ctor(addr as *mut u8)
}
