//! The top-level [`Allocator`]: buddy layer, page map, per-core state and the registry of caches;
//! and the [`CoreGuard`] through which one core allocates and frees.
//!
//! One allocation, in the order a request meets the files:
//! - `guard`: `Allocator::core(c)` takes core `c`'s spin lock once for a batch of work; the
//!   guard's `alloc`/`free` resolve the handle in the core's hot table (or a [`CacheRef`] holds
//!   it resolved) and pop or push the core's array, with no further lock and no atomic
//!   read-modify-write;
//! - `slow`: an empty or full array refills from or flushes to the node lists, frees outside the
//!   hot slab find their slab through the page map, and caches with debug checks run here;
//! - `remote`: a free of an object another core allocated goes back to that core in batches;
//! - `kmalloc`: size classes over the same paths, large blocks straight from the buddy layer.
//!
//! Maintenance (`maintenance`: create, destroy, shrink, purge, slabinfo, statistics; `reclaim`
//! before out of memory; `validate`)
//! takes the registry lock (`registry`), then, where it must see or change every core, all core
//! locks in ascending order, then node locks; see the `slab` module for the full lock order. A
//! thread holding a `CoreGuard` must not call maintenance, nor take a second guard.
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use crate::buddy::Buddy;
use crate::kmalloc::{
    class_of, large_order, KmallocSet, LargeBlocks, LargeRec, KMALLOC_MAX_SIZE, KMALLOC_NAMES,
    KMALLOC_SIZES,
};
use crate::meta;
use crate::platform::MemRange;
use crate::release::PageRelease;
use crate::slab::array::Obj;
use crate::slab::cache::{locate, locate_entry, Cache, Env};
use crate::slab::debug::{Track, TrackPair};
use crate::slab::merge;
use crate::slab::node::Holder;
use crate::slab::node::{List, SlabRec};
use crate::slab::page_map::{
    slab_key, state, Entry, PageMap, StateRef, MAX_REAL_CACHES, NO_SLAB_KEY,
};
use crate::slab::percore::{CacheBox, CoreCache, CoreState, Handle, HotSlab, NO_CACHE};
use crate::slab::{
    AllocError, BatchFreeError, CacheError, CacheFlags, CacheId, CacheParams, CoreError,
    CreateError, DestroyError, FreeError, InitError, Invariant, KmallocError, Layout, NewSlab,
    OwnerId, Padded, Tunables, ViolationLog, MAX_NAME,
};
use crate::slabinfo::{SlabinfoRow, HEADER};
use crate::topology::{CoreId, NodeId, Topology, MAX_CORES};

mod api;
mod guard;
mod kmalloc;
mod maintenance;
mod quarantine;
mod reclaim;
mod registry;
mod remote;
mod slow;
mod snapshot;
mod validate;

pub use api::NodePolicy;
pub use guard::CacheRef;
pub use kmalloc::KmallocRef;
pub use reclaim::Reclaim;
use registry::{RealEntry, Registry};
pub use snapshot::{CacheSnapshot, NodeSnapshot, SlabSnapshot, Snapshot};

/// Most cache handles alive at once.
pub const MAX_HANDLES: usize = 1 << 20;

/// Description of a cache, for callers (e.g. the server telling a client its object size).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheInfo {
    pub name: String,
    pub owner: OwnerId,
    pub flags: CacheFlags,
    pub layout: Layout,
    pub tunables: Tunables,
    /// The handle names an alias of a cache created earlier (merged).
    pub is_alias: bool,
    /// Handles naming the same real cache, this one included.
    pub refs: u32,
}

/// What `purge_owner` returned to the buddy layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub caches: usize,
    pub handles: usize,
    pub slab_frames: usize,
    pub large_blocks: usize,
    pub large_frames: usize,
    /// Objects that were still allocated.
    pub live_objects: usize,
}

/// Whole-allocator accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub total_frames: usize,
    pub free_frames: usize,
    pub slab_frames: usize,
    pub large_frames: usize,
    pub real_caches: usize,
    pub handles: usize,
    /// Objects handed out and not freed (objects in arrays are not counted).
    pub objects_in_use: usize,
    /// Bytes of objects handed out (objects × object size) plus large blocks.
    pub bytes_in_use: usize,
}

/// An allocated block (a slab or a large kmalloc block) and its owner, from the allocator's
/// records ([`Allocator::block_owner`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockOwner {
    /// Address of its first byte.
    pub head: usize,
    pub bytes: usize,
    pub owner: OwnerId,
}

/// One owner's accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnerStats {
    pub caches: usize,
    pub slab_frames: usize,
    pub large_blocks: usize,
    pub large_frames: usize,
    pub objects_in_use: usize,
}

/// The allocator core: buddy zones, slab caches per core and node, kmalloc.
///
/// ```
/// use memserver_core::platform::{host::HostArena, Platform};
/// use memserver_core::topology::{CoreId, Topology};
/// use memserver_core::{Allocator, CacheFlags, CacheParams, Ctor, OwnerId};
///
/// let arena = HostArena::new(16 << 20, 2).unwrap();
/// let alloc = Allocator::new(Topology::uniform(2, 1).unwrap(), arena.memory()).unwrap();
/// let cache = alloc
///     .cache_create(CacheParams {
///         name: "demo",
///         size: 40,
///         align: 8,
///         flags: CacheFlags::HWCACHE_ALIGN,
///         ctor: Ctor::None,
///         owner: OwnerId(1),
///     })
///     .unwrap();
/// let kmalloc = alloc.kmalloc_set_create(OwnerId(1)).unwrap();
/// {
///     let mut core = alloc.core(CoreId(0)).unwrap();
///     let obj = core.alloc(cache).unwrap();
///     let buf = core.kmalloc(&kmalloc, 100).unwrap();
///     assert_eq!(core.ksize(&kmalloc, buf), Ok(128));
///     core.free(cache, obj).unwrap();
///     core.kfree(&kmalloc, buf).unwrap();
/// }
/// let mut text = String::new();
/// alloc.slabinfo(Some(OwnerId(1)), &mut text).unwrap();
/// assert!(text.starts_with("slabinfo - version: 2.1\n"));
/// alloc.validate().unwrap();
/// alloc.purge_owner(OwnerId(1));
/// ```
pub struct Allocator {
    topology: Topology,
    buddy: Buddy,
    map: PageMap,
    cores: Box<[Padded<spin::Mutex<CoreState>>]>,
    registry: spin::Mutex<Registry>,
    large: spin::Mutex<LargeBlocks>,
    seq: AtomicU64,
    /// Some cache holds more empty slabs than Linux keeps (see `trim`).
    trim_pending: AtomicBool,
    /// Reclaims deferred after failing (see `reclaim`).
    deferral: spin::Mutex<reclaim::Deferral>,
    /// Told about every block an owner gives back, before the buddy layer gets it.
    release: Option<&'static dyn PageRelease>,
    /// Each owner's violation log (see `quarantine`); a leaf lock.
    logs: spin::Mutex<Vec<(OwnerId, Arc<ViolationLog>)>>,
}

impl fmt::Debug for Allocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Allocator")
            .field("cores", &self.topology.cores())
            .field("nodes", &self.topology.nodes())
            .field("total_frames", &self.buddy.total_frames())
            .finish_non_exhaustive()
    }
}

impl Allocator {
    /// An allocator over `memory` (ranges tagged with nodes of `topology`). The memory must stay
    /// mapped and untouched by anyone but the allocator's users while the allocator lives.
    pub fn new(topology: Topology, memory: &[MemRange]) -> Result<Allocator, InitError> {
        Self::with_release(topology, memory, None)
    }

    /// `new`, with `release` told about every block an owner gives back (a slab of its caches,
    /// a large kmalloc block) before the buddy layer can hand it to anyone else.
    pub fn with_release(
        topology: Topology,
        memory: &[MemRange],
        release: Option<&'static dyn PageRelease>,
    ) -> Result<Allocator, InitError> {
        let buddy = Buddy::new(&topology, memory).map_err(InitError::Buddy)?;
        let map = PageMap::new(memory)?;
        let cores = (0..topology.cores())
            .map(|_| Padded(spin::Mutex::new(CoreState::default())))
            .collect();
        Ok(Allocator {
            topology,
            buddy,
            map,
            cores,
            registry: spin::Mutex::new(Registry::default()),
            large: spin::Mutex::new(LargeBlocks::default()),
            seq: AtomicU64::new(1),
            trim_pending: AtomicBool::new(false),
            deferral: spin::Mutex::new(reclaim::Deferral::default()),
            release,
            logs: spin::Mutex::new(Vec::new()),
        })
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn buddy(&self) -> &Buddy {
        &self.buddy
    }

    fn env(&self) -> Env<'_> {
        Env {
            buddy: &self.buddy,
            map: &self.map,
            topology: &self.topology,
            trim_pending: &self.trim_pending,
        }
    }

    /// Takes core `core`'s lock for a batch of operations.
    #[inline]
    pub fn core(&self, core: CoreId) -> Result<CoreGuard<'_>, CoreError> {
        let node = self
            .topology
            .node_of(core)
            .ok_or(CoreError::NoSuchCore(core))?;
        let mut state = self.cores[core.0 as usize].lock();
        state.new_slabs.clear();
        state.call_site = 0;
        Ok(CoreGuard {
            alloc: self,
            state: ManuallyDrop::new(state),
            core,
            node,
        })
    }

    /// Every core's lock, in ascending order, held in place: maintenance and release paths take
    /// them without allocating.
    fn lock_cores(&self) -> heapless::Vec<spin::MutexGuard<'_, CoreState>, MAX_CORES> {
        let mut held = heapless::Vec::new();
        for c in self.cores.iter().take(MAX_CORES) {
            // `take` keeps the count within the capacity; a topology has at most `MAX_CORES`.
            let _ = held.push(c.lock());
        }
        held
    }
}

fn slab_frames(cache: &Cache) -> usize {
    cache.nodes.iter().map(|n| n.lock().slabs()).sum::<usize>() << cache.layout.order
}

fn check_name(name: &str) -> Result<(), CreateError> {
    if name.is_empty() {
        return Err(CreateError::EmptyName);
    }
    if name.len() > MAX_NAME {
        return Err(CreateError::NameTooLong {
            len: name.len(),
            max: MAX_NAME,
        });
    }
    if let Some(at) = name.bytes().position(|b| !b.is_ascii_graphic()) {
        return Err(CreateError::BadNameByte { at });
    }
    Ok(())
}

/// One core's access to the allocator, holding that core's lock (see the module docs).
pub struct CoreGuard<'a> {
    alloc: &'a Allocator,
    /// Dropped first in `drop`, so that `trim` runs with no core lock held.
    state: ManuallyDrop<spin::MutexGuard<'a, CoreState>>,
    core: CoreId,
    node: NodeId,
}

impl fmt::Debug for CoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoreGuard")
            .field("core", &self.core)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Drop for CoreGuard<'_> {
    /// Releases the core lock, then returns empty slabs beyond what Linux keeps if a free path
    /// left some (the free path itself may not: slabs go back only with every core lock held).
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: `state` is dropped exactly once, here, and not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.state) };
        if self.alloc.trim_pending.load(Ordering::Relaxed) {
            trim_after_drop(self.alloc);
        }
    }
}

#[cold]
#[inline(never)]
fn trim_after_drop(alloc: &Allocator) {
    alloc.trim();
}

fn not_allocated(addr: usize, s: u8, last_free: Option<Track>) -> FreeError {
    if state::ever(s) == 0 {
        FreeError::NeverAllocated { addr }
    } else {
        FreeError::DoubleFree { addr, last_free }
    }
}
