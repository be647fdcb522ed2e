//! Everything one core owns: its copy of the handle table (handle → real cache), its per-cache
//! array and alien arrays, the reports of slabs made during the current guard, and scratch space.
//! Behind that core's lock (a [`crate::CoreGuard`] holds it); maintenance changes it only with all
//! core locks held, so the hot path reads it with no further synchronisation.
//!
//! Invariant of the hot handle: `hot_real` is what `resolve(hot_id)` returns, or `NO_CACHE`
//! (which names no cache, so a match on it falls to the full resolution); every change of the
//! tables resets it. Each core's caches sit on cache lines of their own ([`Padded`]), since their
//! array lengths are written on every operation.
//!
//! Invariant of a hot slab: it is a live slab of that cache on this core's node. Slabs are
//! released only with all core locks held, and the hot slabs of their cache are forgotten then.
use alloc::sync::Arc;
use alloc::vec::Vec;

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
    pub layout: Layout,
    /// `layout.span()`.
    pub span: usize,
    pub owner: OwnerId,
    /// Never set for checked caches (see the module docs).
    pub hot_slab: Option<HotSlab>,
    /// Takes the checked path (debug flags).
    pub checked: bool,
    pub array: ArrayCache,
    /// Per node: frees of that node's objects made on this core (own node's entry unused).
    pub alien: Vec<ArrayCache>,
    pub cache: Arc<Cache>,
}

impl CoreCache {
    pub fn new(cache: Arc<Cache>, nodes: usize) -> CoreCache {
        let t = cache.tunables;
        let (limit, batch) = if cache.direct() {
            (0, 1)
        } else {
            (t.limit as usize, t.batchcount as usize)
        };
        CoreCache {
            layout: cache.layout,
            span: cache.layout.span() as usize,
            owner: cache.owner,
            hot_slab: None,
            checked: cache.checked(),
            array: ArrayCache::new(limit, batch),
            alien: (0..nodes)
                .map(|_| ArrayCache::new(t.alien_limit as usize, t.alien_limit as usize))
                .collect(),
            cache,
        }
    }
}

#[derive(Debug)]
pub struct CoreState {
    pub handles: Vec<Handle>,
    pub caches: Vec<Option<Padded<CoreCache>>>,
    pub new_slabs: Vec<NewSlab>,
    pub scratch: Vec<Obj>,
    pub call_site: u64,
    /// The handle resolved last, and its real cache (see the module docs).
    pub hot_id: CacheId,
    pub hot_real: u32,
}

impl Default for CoreState {
    fn default() -> CoreState {
        CoreState {
            handles: Vec::new(),
            caches: Vec::new(),
            new_slabs: Vec::new(),
            scratch: Vec::new(),
            call_site: 0,
            hot_id: CacheId {
                index: 0,
                generation: 0,
            },
            hot_real: NO_CACHE,
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

    /// The real cache `id` names if it is the hot handle (else callers take
    /// [`CoreState::resolve_hot`]).
    #[inline(always)]
    pub fn hot(&self, id: CacheId) -> Option<usize> {
        (id == self.hot_id && self.hot_real != NO_CACHE).then_some(self.hot_real as usize)
    }

    /// `resolve`, remembering a live result as the hot handle.
    pub fn resolve_hot(&mut self, id: CacheId) -> Option<usize> {
        let real = self.resolve(id)?;
        self.hot_id = id;
        self.hot_real = real as u32;
        Some(real)
    }

    fn reset_hot(&mut self) {
        self.hot_real = NO_CACHE;
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
        self.reset_hot();
    }

    pub fn set_cache(&mut self, real: u32, c: Option<CoreCache>) {
        let i = real as usize;
        if self.caches.len() <= i {
            self.caches.resize_with(i + 1, || None);
        }
        self.caches[i] = c.map(Padded);
        self.reset_hot();
    }
}
