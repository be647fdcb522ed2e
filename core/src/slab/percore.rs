//! Everything one core owns: its copy of the handle table (handle → real cache) with a small
//! direct-mapped table of hot handles, its per-cache array, alien arrays and outboxes, the reports
//! of slabs made during the current guard, and scratch space. Behind that core's lock (a
//! [`crate::CoreGuard`] holds it); maintenance changes it only with all core locks held, so the hot
//! path reads it with no further synchronisation.
//!
//! Invariant of the hot handles: see [`HotHandle`]; limited to caches without debug checks (the
//! only ones the fast path serves), and emptied by every change of the tables. Each core's caches
//! sit on cache lines of their own ([`Padded`]), since their array lengths are written on every
//! operation.
//!
//! Pointer provenance: each core cache lives in an allocation of its own ([`CacheBox`]), and every
//! reference to it is made from the one raw pointer that box keeps; the hot table and the
//! resolved views (`CacheRef`, `KmallocRef`) hold copies of that same pointer. So making a new
//! reference to a cache (or to any other) never invalidates a pointer held elsewhere, under both
//! Stacked and Tree Borrows.
//!
//! Invariant of a hot slab: it is a live slab of that cache on this core's node. Slabs are
//! released only with all core locks held, and the hot slabs of their cache are forgotten then.
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ptr::NonNull;

use super::array::{ArrayCache, Obj};
use super::cache::{Cache, Located};
use super::layout::Layout;
use super::page_map::{state, StateRef};
use super::params::{CacheId, OwnerId};
use super::{NewSlab, Padded};
use crate::meta::{try_vec, MetaError};
use crate::topology::NodeId;

/// Marks a vacant handle.
pub const NO_CACHE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle {
    pub generation: u32,
    pub real: u32,
}

/// A slab a free by handle on this core found last: a free inside it is checked with no page
/// map read. It may be another node's slab (a consumer freeing a producer's objects): only a
/// slab of this core's node takes the local fast free, since the core's array holds only its
/// node's objects.
#[derive(Clone, Copy, Debug)]
pub struct HotSlab {
    /// Address of the first object.
    pub first: usize,
    /// State byte of the first object.
    pub states: StateRef,
    /// The slab's node.
    pub home: NodeId,
    /// The state of an object this core allocated from the slab if the slab is of this core's
    /// node (`state::allocated`), else `state::NEVER`: the fast free's one comparison.
    pub mine: u8,
}

impl HotSlab {
    /// The slab of object `at`, hot on core `core` of node `node`.
    pub fn of(at: &Located, node: NodeId, core: u8) -> HotSlab {
        HotSlab {
            first: at.first,
            states: at.states,
            home: at.home,
            mine: if at.home == node {
                state::allocated(core)
            } else {
                state::NEVER
            },
        }
    }
}

/// One real cache as seen by one core.
#[derive(Debug)]
pub struct CoreCache {
    /// Index of the real cache.
    pub real: u32,
    pub layout: Layout,
    pub owner: OwnerId,
    /// Never set for checked caches (see the module docs).
    pub hot_slab: Option<HotSlab>,
    /// Takes the checked path (debug flags).
    pub checked: bool,
    pub array: ArrayCache,
    /// Per node: frees of that node's objects made on this core (own node's entry unused).
    pub alien: Vec<ArrayCache>,
    /// Per core: objects that core allocated and this core freed, on their way back (own core's
    /// entry unused; see `page_map::state`).
    pub outbox: Vec<ArrayCache>,
    pub cache: Arc<Cache>,
}

impl CoreCache {
    /// The state byte of the object at `addr` and the slab's node, if `addr` is a slot start
    /// in the hot slab.
    #[inline(always)]
    pub fn hot_state(&self, addr: usize) -> Option<(StateRef, &HotSlab)> {
        let h = self.hot_slab.as_ref()?;
        let off = addr.wrapping_sub(h.first);
        if off >= self.layout.span as usize {
            return None;
        }
        let idx = self.layout.index_of(off)?;
        // SAFETY: a hot slab is a live slab of this cache (module invariant) and `h.states` its
        // object 0's state byte; `off` is below the slab's span, so `idx` is below its objects.
        Some((unsafe { h.states.nth(idx) }, h))
    }

    /// The core's view of `cache`; its arrays are allocated fallibly
    /// ([`crate::meta::cache_bytes`] counts them).
    pub fn try_new(cache: Arc<Cache>, nodes: usize, cores: usize) -> Result<CoreCache, MetaError> {
        let t = cache.tunables;
        let (limit, batch) = if cache.direct() {
            (0, 1)
        } else {
            (t.limit as usize, t.batchcount as usize)
        };
        let mut alien = try_vec(nodes)?;
        for _ in 0..nodes {
            alien.push(ArrayCache::try_new(
                t.alien_limit as usize,
                t.alien_limit as usize,
            )?);
        }
        let mut outbox = try_vec(cores)?;
        for _ in 0..cores {
            outbox.push(ArrayCache::try_new(limit.min(batch), batch)?);
        }
        Ok(CoreCache {
            real: cache.real,
            layout: cache.layout,
            owner: cache.owner,
            hot_slab: None,
            checked: cache.checked(),
            array: ArrayCache::try_new(limit, batch)?,
            alien,
            outbox,
            cache,
        })
    }
}

#[derive(Debug)]
pub struct CoreState {
    pub handles: Vec<Handle>,
    /// Per real cache; only `set_cache` adds or removes one (see the hot table invariant).
    caches: Vec<Option<CacheBox>>,
    pub new_slabs: Vec<NewSlab>,
    pub scratch: Vec<Obj>,
    pub call_site: u64,
    /// Recently resolved handles of fast caches (see `HotHandle`).
    hot: [HotHandle; HOT_HANDLES],
}

/// Entries of the hot handle table: enough for a kmalloc set's 13 classes plus a few caches.
const HOT_HANDLES: usize = 32;

/// One core's cache in an allocation of its own, owned through a raw pointer (see the module's
/// note on provenance). Its address never changes while it lives, even when `caches` grows.
pub struct CacheBox(NonNull<Padded<CoreCache>>);

// SAFETY: a `CacheBox` owns its `CoreCache` as a `Box` would; `CoreCache` is `Send`.
unsafe impl Send for CacheBox {}

impl CacheBox {
    /// Moves `c` into an allocation of its own, or gives the heap's refusal (and drops `c`).
    pub fn try_new(c: CoreCache) -> Result<CacheBox, MetaError> {
        let layout = core::alloc::Layout::new::<Padded<CoreCache>>();
        // SAFETY: the layout's size is nonzero (a `CoreCache` has fields of nonzero size).
        let p = unsafe { alloc::alloc::alloc(layout) }.cast::<Padded<CoreCache>>();
        let p = NonNull::new(p).ok_or(MetaError::Heap {
            bytes: layout.size() as u64,
        })?;
        // SAFETY: `p` is a fresh allocation of `Padded<CoreCache>`'s layout, valid for writes;
        // allocated by the global allocator with `Layout::new`, as `Box::from_raw` in `drop`
        // requires.
        unsafe { p.as_ptr().write(Padded(c)) };
        Ok(CacheBox(p))
    }

    /// The cache; every reference to it is derived from this pointer.
    #[inline(always)]
    fn ptr(&self) -> NonNull<CoreCache> {
        // SAFETY: the box's pointer is valid for the box's whole life, so the field's address is
        // in bounds and non-null; the projection makes no reference, so the result keeps the
        // box's provenance.
        unsafe { NonNull::new_unchecked(core::ptr::addr_of_mut!((*self.0.as_ptr()).0)) }
    }
}

impl Drop for CacheBox {
    fn drop(&mut self) {
        // SAFETY: the pointer came from the global allocator with `Box`'s layout (`try_new`) and
        // holds an initialised value; it is dropped once, here; the hot
        // table forgets every copy when a cache is replaced or removed (`set_cache`).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

impl core::fmt::Debug for CacheBox {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // SAFETY: the box is live; a shared reference for the duration of the call.
        let cc = unsafe { self.ptr().as_ref() };
        cc.fmt(f)
    }
}

/// An entry of the direct-mapped hot handle table (private; the invariant is this module's). Invariant: the entry at slot `k` either
/// holds a handle `id` with `id.index % HOT_HANDLES == k` and a pointer to the cache without
/// debug checks that `id` resolves to, inside this core's `caches`; or it is vacant, holding an
/// index that is not `k` modulo `HOT_HANDLES` (which no handle looked up at slot `k` carries) and
/// a dangling pointer. So a lookup that matches an entry's `id` may use its pointer. Every change
/// of `handles` or `caches` (which may move the caches) empties the table.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(16))]
struct HotHandle {
    id: CacheId,
    cache: NonNull<CoreCache>,
}

// SAFETY: the pointer targets a cache owned by the same `CoreState`, and is only dereferenced
// through `&mut CoreState`; moving the state to another thread moves the cache's owner with it.
unsafe impl Send for HotHandle {}

/// The hot table with every slot vacant, made once at compile time (emptying the table is a
/// copy of it, not a loop: it happens at every cache create and destroy on every core).
const VACANT_TABLE: [HotHandle; HOT_HANDLES] = {
    let vacant = HotHandle {
        id: CacheId {
            index: 0,
            generation: 0,
        },
        cache: NonNull::dangling(),
    };
    let mut table = [vacant; HOT_HANDLES];
    let mut k = 0;
    while k < HOT_HANDLES {
        table[k].id.index = (k + 1) as u32;
        k += 1;
    }
    table
};

/// The hot table with every slot vacant.
fn vacant_table() -> [HotHandle; HOT_HANDLES] {
    VACANT_TABLE
}

impl Default for CoreState {
    fn default() -> CoreState {
        CoreState {
            handles: Vec::new(),
            caches: Vec::new(),
            new_slabs: Vec::new(),
            scratch: Vec::new(),
            call_site: 0,
            hot: vacant_table(),
        }
    }
}

impl CoreState {
    /// The real cache index a live handle names.
    #[inline(always)]
    pub fn resolve(&self, id: CacheId) -> Option<usize> {
        let h = self.handles.get(id.index as usize)?;
        (h.generation == id.generation && h.real != NO_CACHE).then_some(h.real as usize)
    }

    /// The fast (unchecked) cache `id` names, if `id` is in the hot table (else callers take
    /// [`CoreState::resolve_hot`]).
    #[inline(always)]
    pub fn hot(&mut self, id: CacheId) -> Option<&mut CoreCache> {
        let h = self.hot[id.index as usize % HOT_HANDLES];
        if h.id != id {
            return None;
        }
        // SAFETY: an entry whose `id` matches a handle looked up at its slot is not vacant, so
        // its pointer is a copy of the pointer of a live `CacheBox` in `caches` (invariant of
        // `HotHandle`); `&mut self` makes this the only reference to any of them.
        let cc = unsafe { &mut *h.cache.as_ptr() };
        debug_assert!(!cc.checked);
        Some(cc)
    }

    /// `resolve`, remembering a live result of a fast cache in the hot table.
    pub fn resolve_hot(&mut self, id: CacheId) -> Option<usize> {
        let real = self.resolve(id)?;
        if let Some(cache) = self.cache_ptr(real) {
            // SAFETY: a live cache of this state, read while `&mut self` is held.
            if !unsafe { cache.as_ref() }.checked {
                self.hot[id.index as usize % HOT_HANDLES] = HotHandle { id, cache };
            }
        }
        Some(real)
    }

    pub fn cache(&self, real: usize) -> Option<&CoreCache> {
        let p = self.caches.get(real)?.as_ref()?.ptr();
        // SAFETY: the box is live while `self` is borrowed, and `&self` allows no `&mut` to it.
        Some(unsafe { p.as_ref() })
    }

    pub fn cache_mut(&mut self, real: usize) -> Option<&mut CoreCache> {
        let mut p = self.cache_ptr(real)?;
        // SAFETY: the box is live while `self` is borrowed, and `&mut self` makes this the only
        // reference to it.
        Some(unsafe { p.as_mut() })
    }

    /// The pointer every reference to cache `real` is made from (see the module docs): valid
    /// until `set_cache` replaces or removes that cache, which needs `&mut self`. Callers that
    /// keep it (resolved views of a guard) dereference it only while they borrow this state
    /// exclusively and make no other reference to the same cache meanwhile.
    pub fn cache_ptr(&mut self, real: usize) -> Option<NonNull<CoreCache>> {
        Some(self.caches.get(real)?.as_ref()?.ptr())
    }

    /// One more than the highest real index this core has held a cache at.
    pub fn cache_slots(&self) -> usize {
        self.caches.len()
    }

    /// The cache `real` with the core's report and scratch vectors, for slow paths.
    pub fn cache_parts(
        &mut self,
        real: usize,
    ) -> Option<(&mut CoreCache, &mut Vec<NewSlab>, &mut Vec<Obj>)> {
        let mut p = self.caches.get(real)?.as_ref()?.ptr();
        // SAFETY: as in `cache_mut`; the report and scratch vectors are other fields.
        let cc = unsafe { p.as_mut() };
        Some((cc, &mut self.new_slabs, &mut self.scratch))
    }

    pub fn set_handle(&mut self, index: u32, h: Handle) {
        let i = index as usize;
        if self.handles.len() <= i {
            self.handles.resize(
                i + 1,
                Handle {
                    generation: 0,
                    real: NO_CACHE,
                },
            );
        }
        self.handles[i] = h;
        self.hot = vacant_table();
    }

    /// Makes room (fallibly) for handle `index` and real cache `real` in this core's tables, so
    /// that `set_handle` and `set_cache` for them do not allocate.
    pub fn reserve(&mut self, index: u32, real: u32) -> Result<(), MetaError> {
        let h = (index as usize + 1).saturating_sub(self.handles.len());
        self.handles
            .try_reserve(h)
            .map_err(|e| crate::meta::heap_error(e, h * core::mem::size_of::<Handle>()))?;
        let c = (real as usize + 1).saturating_sub(self.caches.len());
        self.caches
            .try_reserve(c)
            .map_err(|e| crate::meta::heap_error(e, c * core::mem::size_of::<usize>()))
    }

    pub fn set_cache(&mut self, real: u32, c: Option<CacheBox>) {
        let i = real as usize;
        if self.caches.len() <= i {
            self.caches.resize_with(i + 1, || None);
        }
        self.caches[i] = c;
        self.hot = vacant_table();
    }
}
