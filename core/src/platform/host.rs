//! The host platform: one block of memory from the OS allocator, aligned to the largest buddy block
//! and cut into equal page-aligned ranges, one per simulated memory node. The arena owns the memory
//! and returns it to the OS on drop; it never reads or writes the memory itself. Whoever hands its
//! addresses out (the buddy layer and everything above it) must be dropped first.
use alloc::vec::Vec;
use core::ptr::NonNull;
use std::alloc::{alloc, dealloc, Layout};

use super::{MemRange, Platform};
use crate::buddy::{MAX_ORDER, PAGE_SIZE};
use crate::topology::{NodeId, MAX_NODES};

/// Alignment of the arena: the size of the largest buddy block (4 MiB).
pub const ARENA_ALIGN: usize = PAGE_SIZE << MAX_ORDER;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostArenaError {
    /// `bytes` was 0.
    ZeroSize,
    /// `nodes` was 0.
    NoNodes,
    /// More nodes than `MAX_NODES`.
    TooManyNodes { nodes: usize },
    /// Each node would get less than one page.
    TooSmall { bytes: usize, nodes: usize },
    /// The size does not form a valid layout (too large for the address space).
    TooLarge { bytes: usize },
    /// The OS allocator refused the request.
    AllocFailed { bytes: usize },
}

/// Memory from the OS standing in for untyped RAM, split into `nodes` equal ranges.
#[derive(Debug)]
pub struct HostArena {
    ptr: NonNull<u8>,
    layout: Layout,
    ranges: Vec<MemRange>,
}

// SAFETY: the arena only owns the allocation (pointer and layout) and never touches its contents;
// moving or sharing that ownership between threads is sound.
unsafe impl Send for HostArena {}
// SAFETY: as above; `&HostArena` gives access only to the immutable range table.
unsafe impl Sync for HostArena {}

impl HostArena {
    /// Takes `bytes` (rounded down to whole pages per node) from the OS, aligned to
    /// [`ARENA_ALIGN`], and cuts it into `nodes` equal ranges, node 0 first.
    pub fn new(bytes: usize, nodes: usize) -> Result<HostArena, HostArenaError> {
        if bytes == 0 {
            return Err(HostArenaError::ZeroSize);
        }
        if nodes == 0 {
            return Err(HostArenaError::NoNodes);
        }
        if nodes > MAX_NODES {
            return Err(HostArenaError::TooManyNodes { nodes });
        }
        let per_node = bytes / nodes / PAGE_SIZE * PAGE_SIZE;
        if per_node == 0 {
            return Err(HostArenaError::TooSmall { bytes, nodes });
        }
        let total = per_node * nodes;
        let layout = Layout::from_size_align(total, ARENA_ALIGN)
            .map_err(|_| HostArenaError::TooLarge { bytes })?;
        // SAFETY: `layout` has a non-zero size (total >= PAGE_SIZE).
        let raw = unsafe { alloc(layout) };
        let ptr = NonNull::new(raw).ok_or(HostArenaError::AllocFailed { bytes: total })?;
        let base = ptr.as_ptr() as usize;
        let ranges = (0..nodes)
            .map(|n| MemRange {
                node: NodeId(n as u8),
                base: base + n * per_node,
                len: per_node,
            })
            .collect();
        Ok(HostArena {
            ptr,
            layout,
            ranges,
        })
    }

    /// Start of the arena.
    pub fn base(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Size of the arena in bytes (all nodes).
    pub fn len(&self) -> usize {
        self.layout.size()
    }

    /// Always false: an arena holds at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Platform for HostArena {
    fn memory(&self) -> &[MemRange] {
        &self.ranges
    }
}

impl Drop for HostArena {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc(self.layout)` in `new` and is freed only here.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_is_aligned_and_split_evenly() {
        let a = HostArena::new(8 << 20, 2).unwrap();
        assert_eq!(a.base() % ARENA_ALIGN, 0);
        assert_eq!(a.len(), 8 << 20);
        let m = a.memory();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].node, NodeId(0));
        assert_eq!(m[1].node, NodeId(1));
        assert_eq!(m[0].base, a.base());
        assert_eq!(m[1].base, a.base() + (4 << 20));
        assert!(m.iter().all(|r| r.len == 4 << 20));
    }

    #[test]
    fn sizes_round_down_to_pages_per_node() {
        let a = HostArena::new(3 * PAGE_SIZE + 100, 2).unwrap();
        assert!(a.memory().iter().all(|r| r.len == PAGE_SIZE));
        assert_eq!(a.len(), 2 * PAGE_SIZE);
    }

    #[test]
    fn memory_is_writable_end_to_end() {
        let a = HostArena::new(2 * PAGE_SIZE, 1).unwrap();
        let r = a.memory()[0];
        // SAFETY: both bytes lie inside the arena, which is alive and not shared.
        unsafe {
            (r.base as *mut u8).write(1);
            ((r.base + r.len - 1) as *mut u8).write(2);
            assert_eq!(((r.base + r.len - 1) as *const u8).read(), 2);
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "Miri stops with resource exhaustion instead of returning null for a huge allocation"
    )]
    fn allocation_failure_is_reported() {
        let bytes = 1usize << 62;
        assert_eq!(
            HostArena::new(bytes, 1).unwrap_err(),
            HostArenaError::AllocFailed { bytes }
        );
    }

    #[test]
    fn bad_sizes_are_rejected() {
        assert_eq!(HostArena::new(0, 1).unwrap_err(), HostArenaError::ZeroSize);
        assert_eq!(
            HostArena::new(PAGE_SIZE, 0).unwrap_err(),
            HostArenaError::NoNodes
        );
        assert_eq!(
            HostArena::new(PAGE_SIZE * 8, MAX_NODES + 1).unwrap_err(),
            HostArenaError::TooManyNodes {
                nodes: MAX_NODES + 1
            }
        );
        assert_eq!(
            HostArena::new(PAGE_SIZE, 2).unwrap_err(),
            HostArenaError::TooSmall {
                bytes: PAGE_SIZE,
                nodes: 2
            }
        );
        assert_eq!(
            HostArena::new(usize::MAX / 2 + 1, 1).unwrap_err(),
            HostArenaError::TooLarge {
                bytes: usize::MAX / 2 + 1
            }
        );
    }
}
