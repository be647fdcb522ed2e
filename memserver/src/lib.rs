//! memserver core: the buddy (page) layer, SLUB-style slab caches partitioned per core and per
//! memory node, kmalloc, debug checks and slabinfo. `no_std` + `alloc`; all allocator metadata
//! lives in server-private memory (the `alloc` heap), never inside the objects it hands out.
#![cfg_attr(not(feature = "std"), no_std)]
extern crate alloc;

pub mod buddy;
pub mod platform;
pub mod topology;
