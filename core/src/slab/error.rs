//! Errors of the slab layer, kmalloc and the allocator: what a caller did wrong (each refused
//! request changed nothing), what a debug check found, and which invariant `validate()` found
//! broken. Plain data.
use super::debug::{Track, Violation};
use super::params::CacheId;
use crate::buddy::BuddyError;
use crate::meta::MetaError;
use crate::topology::CoreId;

/// `Allocator::new` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    Buddy(BuddyError),
    /// The memory ranges are spread over an address span far larger than the memory itself
    /// (the page map covers the span).
    SparseMemory {
        span_frames: usize,
        frames: usize,
    },
}

/// `Allocator::core` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreError {
    NoSuchCore(CoreId),
}

/// `Allocator::cache_create` (or `kmalloc_set_create`) refused its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateError {
    EmptyName,
    NameTooLong {
        len: usize,
        max: usize,
    },
    /// The name holds a byte that is not printable ASCII, or a space.
    BadNameByte {
        at: usize,
    },
    ZeroSize,
    TooLarge {
        size: usize,
        max: usize,
    },
    /// The alignment is not a power of two (0 means "no requirement").
    BadAlign {
        align: usize,
    },
    AlignTooLarge {
        align: usize,
    },
    /// Flag bits that have no meaning.
    UnknownFlags {
        bits: u32,
    },
    /// Every cache handle index is in use.
    TooManyCaches,
    /// The owner's metadata account (or the heap) refused the cache's metadata.
    Metadata(MetaError),
}

/// A cache handle that is unknown, stale (destroyed) or forged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheError {
    BadCache(CacheId),
}

/// `Allocator::cache_destroy` refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestroyError {
    BadCache(CacheId),
    /// Objects are still allocated; the cache stays usable.
    Busy {
        live: usize,
    },
}

/// An allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    BadCache(CacheId),
    /// No node could supply a new slab (for an allocation bound to one node: that node).
    OutOfMemory,
    /// A node the topology does not have.
    BadNode,
    /// The owner's metadata account (or the heap) refused a new slab's metadata.
    Metadata(MetaError),
}

/// A free (or `ksize`) was refused; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    BadCache(CacheId),
    Null,
    /// The address is in no slab and no large block.
    NotOurs {
        addr: usize,
    },
    /// The address is an object of another cache (or a large kmalloc block).
    WrongCache {
        addr: usize,
    },
    /// The address is not the start of an object; `object` is the slot it falls in.
    Interior {
        addr: usize,
        object: usize,
    },
    /// The object was never handed out.
    NeverAllocated {
        addr: usize,
    },
    /// The object is already free. With `STORE_USER`, who freed it last.
    DoubleFree {
        addr: usize,
        last_free: Option<Track>,
    },
    /// The object belongs to a cache of another owner (kfree through another owner's set).
    ForeignOwner {
        addr: usize,
    },
    /// A debug check failed on the object being freed (overwritten active red zone).
    Corrupted(Violation),
}

/// `free_batch` refused: `error` is the first bad address's. Every address is checked before
/// any is freed, so `freed` is 0 unless another core freed one of the objects between the check
/// and the free (the first `freed` addresses were then freed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchFreeError {
    pub freed: usize,
    pub error: FreeError,
}

/// kmalloc refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KmallocError {
    TooLarge {
        size: usize,
        max: usize,
    },
    /// The set's caches were destroyed (its owner was purged).
    BadSet,
    OutOfMemory,
    /// A debug check of the block being freed (`krealloc`) found it damaged.
    Corrupted(Violation),
    /// `kmalloc_array`/`kcalloc`: `n * size` overflows.
    Overflow {
        n: usize,
        size: usize,
    },
    /// `kmalloc_node` of a node the topology does not have.
    BadNode,
    /// `krealloc` of an address that is no block of the set (nothing changed).
    BadPointer(FreeError),
    /// The owner's metadata account (or the heap) refused a new slab's or large block's
    /// metadata.
    Metadata(MetaError),
}

/// A broken internal invariant, found by `validate()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invariant {
    Buddy(crate::buddy::BuddyInvariant),
    /// A slab record is on a list that does not match its number of free objects.
    WrongList {
        cache: u32,
        slab: usize,
    },
    /// A list's links or recorded length are inconsistent.
    ListCorrupt {
        cache: u32,
        node: u8,
    },
    /// A free index is out of range or repeated.
    BadFreeIndex {
        cache: u32,
        slab: usize,
    },
    /// A page map entry does not name the slab (or large block) that owns the frame.
    PageMap {
        frame: usize,
    },
    /// An object is on a free stack or in an array but its state says it is allocated, or it is
    /// in two places at once.
    ObjectState {
        cache: u32,
        addr: usize,
    },
    /// An object in an array or shared array is not an object of that cache.
    StrayObject {
        cache: u32,
        addr: usize,
    },
    /// Objects per slab do not add up: free in slab + cached + allocated != objects.
    SlabCount {
        cache: u32,
        slab: usize,
    },
    /// A core's hot slab of a cache is not a live slab of that cache on the core's node.
    HotSlab {
        core: u8,
        cache: u32,
    },
    /// A per-core handle table disagrees with the registry.
    HandleTable {
        core: u8,
        index: u32,
    },
    /// The cache's count of quarantined objects disagrees with the state bytes.
    Quarantine {
        cache: u32,
        counted: u64,
        found: u64,
    },
    /// Buddy free frames + slab frames + large frames != all frames.
    FrameAccounting {
        free: usize,
        slab: usize,
        large: usize,
        total: usize,
    },
}
