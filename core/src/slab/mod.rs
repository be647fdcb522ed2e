//! The slab layer: object caches on top of the buddy layer, per-core arrays over per-node slab
//! lists (Linux's SLAB design, and the sheaves Linux 6.18 brought back to SLUB), partitioned
//! per core and per memory node. The entry points are [`crate::Allocator`] and its [`crate::CoreGuard`];
//! this module holds the pieces they are built from.
//!
//! # Data structures (all metadata out of line, in server-private memory)
//! - `layout`: where objects sit in a slab (stride, red zones, order, objects per slab).
//! - `page_map`: one word per frame saying which slab (head frame, real cache, node) or large
//!   kmalloc block owns it, and per slab head a pointer to that slab's per-object state bytes
//!   (where the object is: slab free stack, a core's array, a shared array, or allocated, with
//!   the holding core; see `page_map::state`). Every free is checked against it in O(1).
//! - `node`: per cache and node, the slab records (free index stack, state bytes, owner
//!   records) on partial/full/free lists, and the node's shared array.
//! - `array`: per core and cache, the array of free objects (limit / batchcount), plus one alien
//!   array per other node for frees of objects whose slab lives there, and one outbox per other
//!   core for frees of objects that core allocated (handed to that core's inbox in the cache,
//!   a batch at a time).
//! - `percore`: everything one core owns: its handle table (with a small table of hot handles),
//!   arrays and new-slab reports.
//! - `cache`: a real cache's immutable description and its per-node state, and the slow paths
//!   that move objects between arrays and slabs (refill, flush, grow, release).
//! - `debug`: red zone, poison and owner tracking; `object_mem`: the only code that touches
//!   object memory; `merge`: which caches alias; `random`: free-order shuffling.
//!
//! # Locking (lock order, outermost first)
//! 1. the registry lock (`Allocator` maintenance only: create, destroy, shrink, purge, slabinfo,
//!    validate, statistics);
//! 2. the per-core locks, always in ascending core order. A [`crate::CoreGuard`] holds exactly
//!    one; maintenance that must see or drain every core takes all of them, ascending;
//! 3. a cache's per-node locks (`spin::Mutex<NodeCache>`), in ascending node order when several
//!    are held; the per-core slow paths take one at a time;
//! 4. the large-block table lock (kmalloc above the largest class);
//! 5. the buddy zone locks (inside the buddy layer).
//!
//! A cache's per-core inbox locks are leaves: held only to append or take a batch, with no other
//! lock taken meanwhile.
//!
//! Inside a guard, the core's arrays are touched with no further lock and no atomic
//! read-modify-write: alloc pops and marks the object `ALLOCATED` by this core; a free of an
//! object this core allocated is a plain store back to `CACHED` by this core. Only a free of an
//! object allocated on another core does a compare-exchange: it marks the object `REMOTE` and
//! sends it back to its allocating core, which alone puts it back into circulation (when its
//! array runs empty, or at a drain). Each object state has one writer at a time (its holder); the
//! only race (a double free on two cores at once) leaves an entry in transit whose mark is gone,
//! which the receiving core drops (see `page_map::state`).
//!
//! # Reclamation
//! Slab pages go back to the buddy layer only while **all** core locks are held (shrink, destroy,
//! purge). Every reader of the page map or of per-object state holds a core lock, so no reader can
//! see a slab's state bytes freed under it; arrays are drained before their slabs are released.
pub(crate) mod array;
pub(crate) mod cache;
pub mod debug;
pub mod error;
pub mod layout;
pub(crate) mod merge;
pub(crate) mod node;
pub(crate) mod object_mem;
pub(crate) mod page_map;
pub mod params;
pub(crate) mod percore;
pub(crate) mod random;
pub mod violation_log;

pub use debug::{Track, Violation, ViolationKind};
pub use error::{
    AllocError, BatchFreeError, CacheError, CoreError, CreateError, DestroyError, FreeError,
    InitError, Invariant, KmallocError,
};
pub use layout::{Layout, Tunables};
pub use params::{CacheFlags, CacheId, CacheParams, Ctor, OwnerId, MAX_NAME};
pub use violation_log::{CheckedOp, LogRead, Report, ViolationLog, LOG_ENTRIES};

/// Keeps `T` on its own cache lines (128 bytes: adjacent-line prefetch on x86, and arm64 lines).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

impl<T> core::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> core::ops::DerefMut for Padded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// A slab created during the current guard's operations for a cache with [`Ctor::Remote`]: the
/// caller must have the client run its constructor over every object before using any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewSlab {
    pub cache: CacheId,
    /// Address of the first object.
    pub first: usize,
    pub objects: u32,
    /// Distance between consecutive objects.
    pub stride: u32,
    /// Bytes of each object the constructor may initialise.
    pub object_size: u32,
}
