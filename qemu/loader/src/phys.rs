//! Owns writes to physical memory: a `Region` is a range of RAM that is checked, when it is made, to
//! lie inside the machine's RAM and outside the loader's own image, tables and stacks; only then
//! can bytes be copied into it. The loader runs identity-mapped, so physical = loader virtual.

/// RAM of `qemu-system-aarch64 -machine virt -m 1G`.
pub const RAM_START: u64 = 0x4000_0000;
pub const RAM_END: u64 = 0x8000_0000;
pub const PAGE_SIZE: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionError {
    /// The range wraps around the address space.
    Overflow,
    /// The range leaves the machine's RAM.
    OutsideRam { start: u64, end: u64 },
    /// The range would overwrite the running loader.
    OverlapsLoader { start: u64, end: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    start: u64,
    len: u64,
}

extern "C" {
    static __loader_start: u8;
    static __loader_end: u8;
}

/// The loader's own physical range (code, data, page tables, stacks).
pub fn loader_range() -> (u64, u64) {
    (
        core::ptr::addr_of!(__loader_start) as u64,
        core::ptr::addr_of!(__loader_end) as u64,
    )
}

impl Region {
    pub fn new(start: u64, len: u64) -> Result<Self, RegionError> {
        let end = start.checked_add(len).ok_or(RegionError::Overflow)?;
        if start < RAM_START || end > RAM_END {
            return Err(RegionError::OutsideRam { start, end });
        }
        let (lo, hi) = loader_range();
        if start < hi && lo < end {
            return Err(RegionError::OverlapsLoader { start, end });
        }
        Ok(Region { start, len })
    }

    /// Copies `src` to the start of the region and zeroes the rest of it.
    pub fn fill(&self, src: &[u8]) {
        let copy = (src.len() as u64).min(self.len) as usize;
        let dest = self.start as usize as *mut u8;
        // SAFETY: `new` checked that [start, start + len) is RAM outside the loader, so nothing
        // the loader uses is overwritten; `copy` <= len and `src` cannot alias that range because
        // `src` lies inside the loader's image.
        unsafe {
            core::ptr::copy_nonoverlapping(src.as_ptr(), dest, copy);
            core::ptr::write_bytes(dest.add(copy), 0, self.len as usize - copy);
        }
    }
}

pub const fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

pub fn page_up(x: u64) -> Option<u64> {
    Some(x.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}
