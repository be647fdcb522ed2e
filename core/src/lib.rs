//! The memserver allocator core: the buddy (page) layer, slab caches with per-core arrays over
//! per-node slab lists (Linux's SLAB design, and the sheaves Linux 6.18 brought back to SLUB),
//! kmalloc, debug checks and `/proc/slabinfo` rows. `no_std` + `alloc`; all allocator metadata
//! lives in server-private memory (the `alloc` heap), never inside the objects it hands out.
//!
//! It knows nothing of clients or messages: the `memserver` crate serves it over IPC, and a
//! program can use it directly (see `Allocator`).
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
extern crate alloc;

pub mod allocator;
pub mod buddy;
pub mod kmalloc;
pub mod meta;
pub mod platform;
pub mod release;
pub mod slab;
pub mod slabinfo;
pub mod topology;

pub use allocator::{
    Allocator, BlockOwner, CacheInfo, CacheRef, CoreGuard, KmallocRef, NodePolicy, OwnerStats,
    PurgeReport, Reclaim, Stats,
};
pub use kmalloc::KmallocSet;
pub use meta::{MetaAccount, MetaError, MetaPool};
pub use release::PageRelease;
pub use slab::{
    AllocError, BatchFreeError, CacheError, CacheFlags, CacheId, CacheParams, CoreError,
    CreateError, Ctor, DestroyError, FreeError, InitError, Invariant, KmallocError, NewSlab,
    OwnerId, Track, Violation, ViolationKind,
};
pub use slab::{CheckedOp, LogRead, Report, ViolationLog, LOG_ENTRIES};
