//! memserver core: the buddy (page) layer, SLUB-style slab caches partitioned per core and per
//! memory node, kmalloc, debug checks and slabinfo. `no_std` + `alloc`; all allocator metadata
//! lives in server-private memory (the `alloc` heap), never inside the objects it hands out.
#![cfg_attr(not(feature = "std"), no_std)]
extern crate alloc;

pub mod allocator;
pub mod buddy;
pub mod kmalloc;
pub mod platform;
pub mod release;
pub mod server;
pub mod slab;
pub mod slabinfo;
pub mod topology;

pub use allocator::{
    Allocator, CacheInfo, CacheRef, CoreGuard, KmallocRef, OwnerStats, PurgeReport, Stats,
};
pub use kmalloc::KmallocSet;
pub use release::PageRelease;
pub use slab::{
    AllocError, BatchFreeError, CacheError, CacheFlags, CacheId, CacheParams, CoreError,
    CreateError, Ctor, DestroyError, FreeError, InitError, Invariant, KmallocError, NewSlab,
    OwnerId, Track, Violation, ViolationKind,
};
