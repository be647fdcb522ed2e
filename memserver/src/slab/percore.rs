//! Everything one core owns: its copy of the handle table (handle → real cache), its per-cache
//! array and alien arrays, the reports of slabs made during the current guard, and scratch space.
//! Behind that core's lock (a [`crate::CoreGuard`] holds it); maintenance changes it only with all
//! core locks held, so the hot path reads it with no further synchronisation.
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::array::{ArrayCache, Obj};
use super::cache::Cache;
use super::layout::Layout;
use super::params::CacheId;
use super::NewSlab;

/// Marks a vacant handle.
pub const NO_CACHE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle {
    pub generation: u32,
    pub real: u32,
}

/// One real cache as seen by one core.
#[derive(Debug)]
pub struct CoreCache {
    pub layout: Layout,
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
            checked: cache.checked(),
            array: ArrayCache::new(limit, batch),
            alien: (0..nodes)
                .map(|_| ArrayCache::new(t.alien_limit as usize, t.alien_limit as usize))
                .collect(),
            cache,
        }
    }
}

#[derive(Debug, Default)]
pub struct CoreState {
    pub handles: Vec<Handle>,
    pub caches: Vec<Option<CoreCache>>,
    pub new_slabs: Vec<NewSlab>,
    pub scratch: Vec<Obj>,
    pub call_site: u64,
}

impl CoreState {
    /// The real cache index a live handle names.
    #[inline(always)]
    pub fn resolve(&self, id: CacheId) -> Option<usize> {
        let h = self.handles.get(id.index as usize)?;
        (h.generation == id.generation && h.real != NO_CACHE).then_some(h.real as usize)
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
    }

    pub fn set_cache(&mut self, real: u32, c: Option<CoreCache>) {
        let i = real as usize;
        if self.caches.len() <= i {
            self.caches.resize_with(i + 1, || None);
        }
        self.caches[i] = c;
    }
}
