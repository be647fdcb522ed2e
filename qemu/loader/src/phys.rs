//! Owns writes to physical memory: carrying out a placement plan (`layout::Plan`), whose every
//! destination was checked to lie inside RAM and outside the loader's own image, tables and stacks.
//! The loader runs identity-mapped, so a physical address is also its loader address.
use memserver_loader::layout::{Memory, Plan};

/// Start of RAM on `qemu-system-aarch64 -machine virt`.
pub const RAM_START: u64 = 0x4000_0000;
/// End of RAM (exclusive): all memory nodes of the system description; `cargo xtask` passes it
/// in `MEMSERVER_RAM_END` (hex), the value it also gives the kernel (`CONFIG_MEMSERVER_RAM_END`).
pub const RAM_END: u64 = parse_hex(match option_env!("MEMSERVER_RAM_END") {
    Some(s) => s.as_bytes(),
    None => b"0x80000000",
});
/// End of what the loader identity-maps as normal memory (`mmu`: RAM below 2 GiB); the images
/// are placed below it.
const MAPPED_END: u64 = 0x8000_0000;

const fn parse_hex(text: &[u8]) -> u64 {
    assert!(
        text.len() > 2 && text[0] == b'0' && text[1] == b'x',
        "MEMSERVER_RAM_END is not 0x<hex>"
    );
    let mut n = 0u64;
    let mut i = 2;
    while i < text.len() {
        let d = match text[i] {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'a'..=b'f' => c - b'a' + 10,
            c @ b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("MEMSERVER_RAM_END is not 0x<hex>"),
        };
        n = n * 16 + d as u64;
        i += 1;
    }
    assert!(
        n > RAM_START,
        "MEMSERVER_RAM_END is not above the start of RAM"
    );
    n
}

extern "C" {
    static __loader_start: u8;
    static __loader_end: u8;
}

/// RAM the images may go to (RAM the loader maps), with the loader's own range (code, data,
/// page tables, stacks) reserved.
pub fn memory() -> Memory {
    Memory {
        ram: RAM_START..if RAM_END < MAPPED_END {
            RAM_END
        } else {
            MAPPED_END
        },
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
