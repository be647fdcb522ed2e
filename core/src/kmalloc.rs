//! kmalloc: per-owner sets of size-class caches (8 … 8K, as Linux's `kmalloc-*` caches) and large
//! blocks straight from the buddy layer above the largest class. `kfree` finds the cache (or the
//! large block) from the address alone through the page map.
//!
//! Owns the size-class table and the large-block table (`LargeBlocks`, behind the allocator's
//! large-block lock: lock order core → large → buddy).
use alloc::collections::BTreeMap;

use crate::buddy::{MAX_ORDER, PAGE_SIZE};
use crate::slab::{CacheId, OwnerId};

/// Object sizes of the kmalloc caches.
pub const KMALLOC_SIZES: [usize; 13] = [
    8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192,
];
/// Names of the kmalloc caches, as in Linux's slabinfo.
pub const KMALLOC_NAMES: [&str; 13] = [
    "kmalloc-8",
    "kmalloc-16",
    "kmalloc-32",
    "kmalloc-64",
    "kmalloc-96",
    "kmalloc-128",
    "kmalloc-192",
    "kmalloc-256",
    "kmalloc-512",
    "kmalloc-1k",
    "kmalloc-2k",
    "kmalloc-4k",
    "kmalloc-8k",
];
/// Largest size served by a cache; above it kmalloc takes whole buddy blocks.
pub const KMALLOC_MAX_CACHE_SIZE: usize = 8192;
/// Largest kmalloc size (one block of the largest buddy order).
pub const KMALLOC_MAX_SIZE: usize = PAGE_SIZE << MAX_ORDER;

/// Class index for sizes 1..=192, by `(size - 1) / 8` (Linux's `size_index`).
const SMALL_INDEX: [u8; 24] = [
    0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6,
];

/// What `kmalloc(0)` returns, as Linux's `ZERO_SIZE_PTR`: not null, so a caller can tell it
/// from a failure, but no block: `kfree` of it does nothing, `ksize` of it is 0, and `krealloc`
/// of it allocates anew. No zone holds address 16 (the first page is never memory of a zone),
/// so it is never an object's address either.
pub const ZERO_SIZE_PTR: usize = 16;

/// The class serving `size` (1..=8192), or `None` above the largest class.
#[inline(always)]
pub fn class_of(size: usize) -> Option<usize> {
    if size <= 192 {
        Some(SMALL_INDEX[(size.max(1) - 1) / 8] as usize)
    } else if size <= KMALLOC_MAX_CACHE_SIZE {
        // 256 → 7, 512 → 8, …, 8192 → 12.
        Some((usize::BITS - (size - 1).leading_zeros()) as usize - 1)
    } else {
        None
    }
}

/// One owner's kmalloc caches. Copyable handle; becomes stale when the owner is purged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KmallocSet {
    pub owner: OwnerId,
    pub caches: [CacheId; 13],
}

/// A large kmalloc block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LargeRec {
    pub owner: OwnerId,
    pub order: u8,
}

/// All large blocks, by address.
#[derive(Debug, Default)]
pub struct LargeBlocks {
    pub blocks: BTreeMap<usize, LargeRec>,
}

impl LargeBlocks {
    pub fn frames(&self) -> usize {
        self.blocks.values().map(|b| 1usize << b.order).sum()
    }

    pub fn frames_of(&self, owner: OwnerId) -> usize {
        self.blocks
            .values()
            .filter(|b| b.owner == owner)
            .map(|b| 1usize << b.order)
            .sum()
    }
}

/// Smallest buddy order holding `size` bytes.
pub fn large_order(size: usize) -> u8 {
    size.div_ceil(PAGE_SIZE)
        .next_power_of_two()
        .trailing_zeros() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_maps_to_the_smallest_class_that_fits() {
        // Every size natively; under Miri (slow at plain arithmetic, and there is no unsafe code
        // here) every class's edges and every 13th size between them.
        let edges = KMALLOC_SIZES.iter().flat_map(|&k| [k, k + 1]);
        let sizes: Vec<usize> = if cfg!(miri) {
            (1..=KMALLOC_MAX_CACHE_SIZE)
                .step_by(13)
                .chain(edges)
                .collect()
        } else {
            (1..=KMALLOC_MAX_CACHE_SIZE).collect()
        };
        for size in sizes.into_iter().filter(|&s| s <= KMALLOC_MAX_CACHE_SIZE) {
            let c = class_of(size).unwrap();
            assert!(KMALLOC_SIZES[c] >= size, "size {size}");
            assert!(c == 0 || KMALLOC_SIZES[c - 1] < size, "size {size}");
        }
        assert_eq!(class_of(8193), None);
    }

    #[test]
    fn large_orders() {
        assert_eq!(large_order(8193), 2);
        assert_eq!(large_order(16384), 2);
        assert_eq!(large_order(16385), 3);
        assert_eq!(large_order(KMALLOC_MAX_SIZE), MAX_ORDER);
    }
}
