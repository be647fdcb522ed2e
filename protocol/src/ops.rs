//! Request and reply bodies: `#[repr(C)]` zerocopy structs of whole words, and the [`Op`] trait
//! that ties a request to its operation (implemented by the table of [`crate::operations`], which
//! also holds each request's stateless checks; the server validates the rest).
use crate::{Error, Failure, Label, MAGAZINE_SLOTS, MAX_BATCH, MSG_REGISTERS};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A fixed-size body of whole words.
pub trait Body: FromBytes + IntoBytes + Immutable + KnownLayout + Copy + Sized {
    const WORDS: usize = core::mem::size_of::<Self>() / 8;

    /// Decodes exactly `Self::WORDS` words.
    fn decode(words: &[u64]) -> Result<Self, Failure> {
        if words.len() != Self::WORDS {
            return Err(Failure::with(
                Error::BadLength,
                [Self::WORDS as u64, words.len() as u64, 0],
            ));
        }
        Self::read_from_bytes(words.as_bytes()).map_err(|_| Failure::new(Error::Internal))
    }

    /// Writes the body into `words` and returns its length in words.
    fn encode(&self, words: &mut [u64]) -> usize {
        words[..Self::WORDS]
            .as_mut_bytes()
            .copy_from_slice(self.as_bytes());
        Self::WORDS
    }
}

/// A request body: its label, its reply, whether both fit in the registers, the errors it may
/// answer with, and its stateless checks. Implemented only by the table of
/// [`crate::operations`].
pub trait Op: Body {
    const LABEL: Label;
    type Reply: Body;
    /// Request and reply both fit in [`MSG_REGISTERS`] words (checked at compile time).
    const FITS_REGISTERS: bool;
    /// The operation-specific errors of a reply (besides [`crate::operations::COMMON_ERRORS`]).
    const ERRORS: &'static [Error];
    /// The checks that need no server state.
    fn check(&self) -> Result<(), Failure>;
}

macro_rules! body {
    ($($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident: u64),* $(,)? })*) => {$(
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
        #[repr(C)]
        pub struct $name { $($(#[$fm])* pub $f: u64),* }
        impl Body for $name {}
    )*};
}

body! {
    /// Empty body.
    pub struct Empty {}
    pub struct HelloReq { pub version: u64 }
    pub struct HelloReply {
        pub version: u64,
        /// The core whose endpoint this is.
        pub core: u64,
        /// The largest batch a Refill or Drain may move.
        pub max_batch: u64,
        /// Bit `k`: kmalloc class `k` has debug checks (its stub sends every kmalloc and kfree
        /// of that class, so the server sees each requested size).
        pub kmalloc_checked: u64,
    }
    pub struct StatsReply {
        pub live_objects: u64,
        pub live_bytes: u64,
        pub quota_objects: u64,
        pub quota_bytes: u64,
        /// Bytes of server metadata charged for this client now (its record, caches, arrays,
        /// slab records, debug tracks, large block records).
        pub metadata_bytes: u64,
        /// Its metadata quota (`u64::MAX`: bounded by the server's metadata budget only).
        pub quota_metadata: u64,
        /// Violations the debug checks found in its objects (reports ever logged, see
        /// [`crate::violations`]).
        pub violations: u64,
    }
    /// Followed by the cache name as variable data ([`crate::varlen`]).
    pub struct CacheCreateReq {
        pub size: u64,
        pub align: u64,
        /// [`cache_flags`].
        pub flags: u64,
        /// 0: no constructor; 1: the client runs its constructor over every fresh slab.
        pub ctor: u64,
    }
    pub struct CacheCreateReply {
        pub handle: u64,
        /// Distance between consecutive objects of a slab.
        pub stride: u64,
        pub objects_per_slab: u64,
        /// Usable bytes of one object.
        pub object_size: u64,
        /// [`cache_flags`] of the cache as created: the creator's, plus the debug options the
        /// system gave this client (its stub must send every operation of a debug cache).
        pub flags: u64,
        /// Bytes of one slab of the cache, if every slab starts at a multiple of it in the
        /// client's address space (the stub then tells an object's slab and index from its
        /// address alone); 0: no such promise.
        pub slab_bytes: u64,
        /// Offset of a slab's first object from the slab's start.
        pub first_offset: u64,
    }
    pub struct DetachReq {}
    pub struct StatsReq {}
    pub struct DestroyReq { pub handle: u64 }
    pub struct ShrinkReq { pub handle: u64 }
    pub struct ShrinkReply { pub pages_freed: u64 }
    pub struct AllocReq {
        pub handle: u64,
        /// [`alloc_flags`].
        pub flags: u64,
    }
    pub struct AllocReply {
        pub addr: u64,
        /// Fresh slab records written to the magazine page (constructor runs over them first).
        pub fresh: u64,
    }
    pub struct FreeReq { pub handle: u64, pub addr: u64 }
    /// `kmem_cache_alloc_node`.
    pub struct AllocNodeReq {
        pub handle: u64,
        pub node: u64,
        /// [`alloc_flags`]: `ZERO`, `THISNODE`.
        pub flags: u64,
    }
    /// `kmalloc_node`.
    pub struct KmallocNodeReq {
        pub size: u64,
        pub node: u64,
        /// [`alloc_flags`]: `ZERO`, `THISNODE`.
        pub flags: u64,
    }
    /// `krealloc`: the block at `addr` (0: a new one) resized to `size` (0: freed).
    pub struct KreallocReq {
        pub addr: u64,
        pub size: u64,
        /// [`alloc_flags`]: `ZERO`.
        pub flags: u64,
    }
    pub struct RefillReq {
        pub handle: u64,
        pub slot: u64,
        pub count: u64,
        pub flags: u64,
    }
    pub struct RefillReply { pub count: u64, pub fresh: u64 }
    pub struct DrainReq { pub handle: u64, pub slot: u64, pub count: u64 }
    pub struct CountReply { pub count: u64 }
    /// Size 0 is answered with [`ZERO_SIZE_PTR`] (usable 0), as Linux's `kmalloc(0)`.
    pub struct KmallocReq { pub size: u64, pub flags: u64 }
    pub struct KmallocReply { pub addr: u64, pub usable: u64 }
    pub struct KfreeReq { pub addr: u64 }
    pub struct KsizeReq { pub addr: u64 }
    pub struct KsizeReply { pub usable: u64 }
    pub struct KmallocRefillReq {
        pub size: u64,
        pub slot: u64,
        pub count: u64,
        pub flags: u64,
    }
    pub struct KmallocRefillReply { pub count: u64, pub usable: u64 }
    pub struct KfreeDrainReq { pub slot: u64, pub count: u64 }
    /// Variable data follows the reply ([`crate::slabinfo`]).
    /// A page of the client's violation log ([`crate::violations`]).
    pub struct ViolationsReq {
        /// 0 at first, then the `next` of the previous reply.
        pub cursor: u64,
    }
    /// A page of slabinfo rows; see [`crate::slabinfo`] for the walk and its cursor.
    pub struct SlabinfoReq {
        /// [`SlabinfoScope`] as a word.
        pub scope: u64,
        /// 0 for the first page, then the `next` of the previous reply.
        pub cursor: u64,
        /// Server-wide scope after the first page: the name of the last row received, its
        /// bytes in these four words in memory order, zero-padded
        /// ([`crate::slabinfo::name_words`]). Zero otherwise.
        pub after0: u64,
        pub after1: u64,
        pub after2: u64,
        pub after3: u64,
    }
}

/// Cache creation flags on the wire (the server maps them to its core's flags).
pub mod cache_flags {
    /// Align objects to the cache line.
    pub const HWCACHE_ALIGN: u64 = 1 << 0;
    pub const RED_ZONE: u64 = 1 << 1;
    pub const POISON: u64 = 1 << 2;
    pub const STORE_USER: u64 = 1 << 3;
    pub const CONSISTENCY_CHECKS: u64 = 1 << 4;
    /// Randomised free order in each new slab.
    pub const RANDOM_ORDER: u64 = 1 << 5;
    pub const DEBUG: u64 = RED_ZONE | POISON | STORE_USER | CONSISTENCY_CHECKS;
    pub const ALL: u64 = HWCACHE_ALIGN | DEBUG | RANDOM_ORDER;
}

/// kmalloc size classes: a request is served from the smallest class that holds it; larger requests
/// up to [`KMALLOC_MAX`] come straight from the page allocator (no magazines).
pub const KMALLOC_CLASSES: [u64; 13] = [
    8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192,
];
/// Largest kmalloc request (4 MiB, the largest page block).
pub const KMALLOC_MAX: u64 = 4 << 20;
/// The answer to a kmalloc of 0 bytes (Kmalloc, KmallocNode, and Krealloc to size 0), as Linux's
/// `ZERO_SIZE_PTR`: not null, so not a failure, but no block. Kfree of it does nothing, Ksize of
/// it is 0, Krealloc of it allocates anew; no client address of a block is ever 16.
pub const ZERO_SIZE_PTR: u64 = 16;

/// Index of the smallest class holding `size`, or `None` above the largest class.
pub fn kmalloc_class(size: u64) -> Option<usize> {
    KMALLOC_CLASSES.iter().position(|&c| size <= c)
}

/// Allocation flags on the wire.
pub mod alloc_flags {
    /// Zero the object(s) before handing them out.
    pub const ZERO: u64 = 1 << 0;
    /// Node-bound allocation: that node only, no fallback (Linux's `__GFP_THISNODE`).
    pub const THISNODE: u64 = 1 << 1;
    /// Flags of Alloc, Refill, Kmalloc, KmallocRefill and Krealloc.
    pub const ALL: u64 = ZERO;
    /// Flags of AllocNode and KmallocNode.
    pub const NODE: u64 = ZERO | THISNODE;
}

/// Which caches a slabinfo request covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum SlabinfoScope {
    /// The caller's own caches.
    Own = 0,
    /// Every cache of every client, as the root's `/proc/slabinfo`.
    All = 1,
}

#[inline]
pub(crate) fn check_flags(flags: u64, known: u64) -> Result<(), Failure> {
    if flags & !known != 0 {
        return Err(Failure::with(Error::UnknownFlag, [flags & !known, 0, 0]));
    }
    Ok(())
}

#[inline]
pub(crate) fn check_slot(slot: u64) -> Result<(), Failure> {
    if slot >= MAGAZINE_SLOTS as u64 {
        return Err(Failure::with(Error::BadSlot, [slot, 0, 0]));
    }
    Ok(())
}

#[inline]
pub(crate) fn check_count(count: u64) -> Result<(), Failure> {
    if count == 0 || count > MAX_BATCH as u64 {
        return Err(Failure::with(Error::BadBatch, [count, MAX_BATCH as u64, 0]));
    }
    Ok(())
}

#[inline]
pub(crate) fn check_addr(addr: u64) -> Result<(), Failure> {
    if addr == 0 {
        return Err(Failure::new(Error::NullPointer));
    }
    Ok(())
}

#[inline]
pub(crate) fn check_size(size: u64) -> Result<(), Failure> {
    if size == 0 {
        return Err(Failure::new(Error::SizeZero));
    }
    Ok(())
}

impl SlabinfoReq {
    /// The four words of `after`.
    pub fn after(&self) -> [u64; 4] {
        [self.after0, self.after1, self.after2, self.after3]
    }

    pub fn scope(&self) -> SlabinfoScope {
        if self.scope == 1 {
            SlabinfoScope::All
        } else {
            SlabinfoScope::Own
        }
    }
}

/// A failure's detail travels in registers.
const _: () = assert!(crate::error::DETAIL_WORDS <= MSG_REGISTERS);
