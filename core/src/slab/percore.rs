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
//! Invariant of a hot slab: it is a live slab of that cache on this core's node. Slabs are
//! released only with all core locks held, and the hot slabs of their cache are forgotten then.
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ptr::NonNull;

use super::array::{ArrayCache, Obj};
use super::cache::Cache;
use super::layout::Layout;
use super::page_map::StateRef;
use super::params::{CacheId, OwnerId};
use super::{NewSlab, Padded};

/// Marks a vacant handle.
pub const NO_CACHE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle {
    pub generation: u32,
    pub real: u32,
}

/// A slab a free on this core found last: a free inside it is checked with no page map read.
#[derive(Clone, Copy, Debug)]
pub struct HotSlab {
    /// Address of the first object.
    pub first: usize,
    /// State byte of the first object.
    pub states: StateRef,
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
    /// The state byte of the object at `addr` if `addr` is a slot start in the hot slab.
    #[inline(always)]
    pub fn hot_state(&self, addr: usize) -> Option<StateRef> {
        let h = self.hot_slab?;
        let off = addr.wrapping_sub(h.first);
        if off >= self.layout.span as usize {
            return None;
        }
        Some(h.states.nth(self.layout.index_of(off)?))
    }

    pub fn new(cache: Arc<Cache>, nodes: usize, cores: usize) -> CoreCache {
        let t = cache.tunables;
        let (limit, batch) = if cache.direct() {
            (0, 1)
        } else {
            (t.limit as usize, t.batchcount as usize)
        };
        CoreCache {
            real: cache.real,
            layout: cache.layout,
            owner: cache.owner,
            hot_slab: None,
            checked: cache.checked(),
            array: ArrayCache::new(limit, batch),
            alien: (0..nodes)
                .map(|_| ArrayCache::new(t.alien_limit as usize, t.alien_limit as usize))
                .collect(),
            outbox: (0..cores)
                .map(|_| ArrayCache::new(limit.min(batch), batch))
                .collect(),
            cache,
        }
    }
}

#[derive(Debug)]
pub struct CoreState {
    pub handles: Vec<Handle>,
    /// Per real cache; only `set_cache` adds or removes one (see the hot table invariant).
    caches: Vec<Option<Padded<CoreCache>>>,
    pub new_slabs: Vec<NewSlab>,
    pub scratch: Vec<Obj>,
    pub call_site: u64,
    /// Recently resolved handles of fast caches (see `HotHandle`).
    hot: [HotHandle; HOT_HANDLES],
}

/// Entries of the hot handle table: enough for a kmalloc set's 13 classes plus a few caches.
const HOT_HANDLES: usize = 32;

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

/// The hot table with every slot vacant.
fn vacant_table() -> [HotHandle; HOT_HANDLES] {
    core::array::from_fn(|k| HotHandle {
        id: CacheId {
            index: (k + 1) as u32,
            generation: 0,
        },
        cache: NonNull::dangling(),
    })
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
        // its pointer targets a cache in `caches`, which has not moved since (invariant of
        // `HotHandle`); `&mut self` makes this the only reference into `caches`.
        let cc = unsafe { &mut *h.cache.as_ptr() };
        debug_assert!(!cc.checked);
        Some(cc)
    }

    /// `resolve`, remembering a live result of a fast cache in the hot table.
    pub fn resolve_hot(&mut self, id: CacheId) -> Option<usize> {
        let real = self.resolve(id)?;
        if let Some(cc) = self.cache_mut(real).filter(|cc| !cc.checked) {
            let cache = NonNull::from(cc);
            self.hot[id.index as usize % HOT_HANDLES] = HotHandle { id, cache };
        }
        Some(real)
    }

    pub fn cache(&self, real: usize) -> Option<&CoreCache> {
        self.caches.get(real)?.as_deref()
    }

    pub fn cache_mut(&mut self, real: usize) -> Option<&mut CoreCache> {
        self.caches.get_mut(real)?.as_deref_mut()
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
        let cc = self.caches.get_mut(real)?.as_deref_mut()?;
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

    pub fn set_cache(&mut self, real: u32, c: Option<CoreCache>) {
        let i = real as usize;
        if self.caches.len() <= i {
            self.caches.resize_with(i + 1, || None);
        }
        self.caches[i] = c.map(Padded);
        self.hot = vacant_table();
    }
}
