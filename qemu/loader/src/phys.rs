//! Owns writes to physical memory: carrying out a placement plan (`layout::Plan`), whose every
//! destination was checked to lie inside RAM and outside the loader's own image, tables and stacks.
//! The loader runs identity-mapped, so a physical address is also its loader address.
use memserver_loader::layout::{Memory, Plan};

/// RAM of `qemu-system-aarch64 -machine virt -m 1G`.
pub const RAM_START: u64 = 0x4000_0000;
pub const RAM_END: u64 = 0x8000_0000;

extern "C" {
    static __loader_start: u8;
    static __loader_end: u8;
}

/// RAM, with the loader's own range (code, data, page tables, stacks) reserved.
pub fn memory() -> Memory {
    Memory {
        ram: RAM_START..RAM_END,
        reserved: core::ptr::addr_of!(__loader_start) as u64
            ..core::ptr::addr_of!(__loader_end) as u64,
    }
}

/// Performs the plan's copies in order: bytes, then zeroes up to each copy's length.
pub fn write(plan: &Plan<'_>) {
    for c in plan.copies() {
        let dest = c.dest as usize as *mut u8;
        let copy = c.bytes.len().min(c.len as usize);
        // SAFETY: the plan was made against `memory()`, so [dest, dest + len) is RAM outside the
        // loader and nothing the loader uses is overwritten; `bytes` lies inside the loader's
        // image, so it cannot overlap the destination.
        unsafe {
            core::ptr::copy_nonoverlapping(c.bytes.as_ptr(), dest, copy);
            core::ptr::write_bytes(dest.add(copy), 0, c.len as usize - copy);
        }
    }
}
