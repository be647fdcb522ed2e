//! The memory server: clients, quotas, handles and the dispatch of protocol messages, over the
//! allocator core (`memserver-core`). `no_std` + `alloc`; it runs as the seL4 root task's service
//! and in-process on the host for tests, fuzzing and benchmarks.
//!
//! The core's modules and types are re-exported, so a server user names one crate.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
extern crate alloc;

pub mod server;

pub use memserver_core::{
    allocator, buddy, kmalloc, meta, platform, release, slab, slabinfo, topology,
};
pub use memserver_core::{
    AllocError, Allocator, BatchFreeError, BlockOwner, CacheError, CacheFlags, CacheId, CacheInfo,
    CacheParams, CacheRef, CoreError, CoreGuard, CreateError, Ctor, DestroyError, FreeError,
    InitError, Invariant, KmallocError, KmallocRef, KmallocSet, MetaAccount, MetaError, MetaPool,
    NewSlab, OwnerId, OwnerStats, PageRelease, PurgeReport, Stats, Track, Violation, ViolationKind,
};
