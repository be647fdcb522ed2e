//! The registry of caches: handles (index and generation) naming real caches, and the real
//! caches with their reference counts. Behind the allocator's registry lock.
use super::*;

#[derive(Debug)]
pub(super) struct RealEntry {
    pub(super) cache: Arc<Cache>,
    /// Handles naming this cache (its own plus aliases).
    pub(super) refs: u32,
    /// Creation sequence number (slabinfo lists newest first, as Linux does).
    pub(super) created: u64,
}

#[derive(Debug, Default)]
pub(super) struct Registry {
    pub(super) handles: Vec<Handle>,
    pub(super) free_handles: Vec<u32>,
    pub(super) reals: Vec<Option<RealEntry>>,
    pub(super) free_reals: Vec<u32>,
    pub(super) created: u64,
}

impl Registry {
    pub(super) fn resolve(&self, id: CacheId) -> Option<u32> {
        let h = self.handles.get(id.index as usize)?;
        (h.generation == id.generation && h.real != NO_CACHE).then_some(h.real)
    }

    pub(super) fn real(&self, real: u32) -> &RealEntry {
        self.reals[real as usize].as_ref().expect("live real cache")
    }

    pub(super) fn new_handle(&mut self, real: u32) -> Result<CacheId, CreateError> {
        let index = match self.free_handles.pop() {
            Some(i) => i,
            None if self.handles.len() < MAX_HANDLES => {
                self.handles.push(Handle {
                    generation: 0,
                    real: NO_CACHE,
                });
                (self.handles.len() - 1) as u32
            }
            None => return Err(CreateError::TooManyCaches),
        };
        let h = &mut self.handles[index as usize];
        h.generation = h.generation.wrapping_add(1).max(1);
        h.real = real;
        Ok(CacheId {
            index,
            generation: h.generation,
        })
    }

    pub(super) fn drop_handle(&mut self, index: u32) -> Handle {
        let h = &mut self.handles[index as usize];
        h.real = NO_CACHE;
        self.free_handles.push(index);
        *h
    }

    pub(super) fn live_reals(&self) -> impl Iterator<Item = (u32, &RealEntry)> {
        self.reals
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (i as u32, r)))
    }
}
