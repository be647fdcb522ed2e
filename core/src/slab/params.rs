//! What a caller names when creating a cache (name, size, alignment, flags, constructor, owner)
//! and the handle types. Plain data; `Allocator::cache_create` validates it.
use bitflags::bitflags;

/// Longest cache name, in bytes.
pub const MAX_NAME: usize = 32;

/// Who owns a cache or a large block: a client of the server (or the server itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnerId(pub u32);

/// Handle of a cache. `generation` changes each time `index` is reused, so a stale or forged
/// handle is rejected rather than reaching another cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CacheId {
    pub index: u32,
    pub generation: u32,
}

bitflags! {
    /// Cache creation flags (Linux's `SLAB_*` flags that make sense here).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct CacheFlags: u32 {
        /// Align objects to cache lines (halving the line while two objects still fit).
        const HWCACHE_ALIGN = 1 << 0;
        /// Guard bytes before and after each object, checked on alloc and free.
        const RED_ZONE = 1 << 1;
        /// Fill free objects with `POISON_FREE`/`POISON_END`; check on the next alloc.
        const POISON = 1 << 2;
        /// Record owner, core, call site and sequence number of each object's last alloc and free.
        const STORE_USER = 1 << 3;
        /// Serve every alloc and free from the slab itself (no per-core array), so each operation
        /// is checked against the slab's own state.
        const CONSISTENCY_CHECKS = 1 << 4;
        /// Shuffle the free order of each new slab.
        const RANDOM_FREELIST = 1 << 5;
        /// Never merge this cache with another.
        const NO_MERGE = 1 << 6;
        /// A kmalloc size class (Linux's `SLAB_KMALLOC`): with `RED_ZONE`, each object's
        /// requested size is recorded and the bytes between it and the class size are red zone.
        const KMALLOC = 1 << 7;
    }
}

impl CacheFlags {
    /// The flags that make a cache a debug cache (never merged, checked path).
    pub const DEBUG: CacheFlags = CacheFlags::RED_ZONE
        .union(CacheFlags::POISON)
        .union(CacheFlags::STORE_USER)
        .union(CacheFlags::CONSISTENCY_CHECKS);
}

/// Object constructor.
#[derive(Clone, Copy, Debug)]
pub enum Ctor {
    None,
    /// Run by the server on every object of each new slab.
    Local(fn(*mut u8)),
    /// Run by the client: each new slab is reported as a [`crate::slab::NewSlab`] on the guard.
    Remote,
}

impl Ctor {
    pub fn is_none(&self) -> bool {
        matches!(self, Ctor::None)
    }
}

/// Arguments of `Allocator::cache_create`.
#[derive(Clone, Copy, Debug)]
pub struct CacheParams<'a> {
    /// 1..=`MAX_NAME` bytes of printable ASCII without spaces (slabinfo splits on whitespace).
    pub name: &'a str,
    /// Object size in bytes.
    pub size: usize,
    /// Minimum alignment: a power of two, at most a page.
    pub align: usize,
    pub flags: CacheFlags,
    pub ctor: Ctor,
    pub owner: OwnerId,
}
