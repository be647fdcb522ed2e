//! The registry of caches: handles (index and generation) naming real caches, and the real
//! caches with their reference counts. Behind the allocator's registry lock.
use super::*;
use crate::meta::{self, MetaAccount, MetaError};

#[derive(Debug)]
pub(super) struct RealEntry {
    pub(super) cache: Arc<Cache>,
    /// Handles naming this cache (its own plus aliases).
    pub(super) refs: u32,
    /// Creation sequence number (slabinfo lists newest first, as Linux does).
    pub(super) created: u64,
    /// Metadata charged for its alias handles (released as each goes).
    pub(super) alias_bytes: u64,
}

#[derive(Debug, Default)]
pub(super) struct Registry {
    pub(super) handles: Vec<Handle>,
    pub(super) free_handles: Vec<u32>,
    pub(super) reals: Vec<Option<RealEntry>>,
    pub(super) free_reals: Vec<u32>,
    pub(super) created: u64,
    /// Each owner's metadata account (owners without one are not charged).
    pub(super) accounts: Vec<(OwnerId, Arc<MetaAccount>)>,
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

    pub(super) fn account(&self, owner: OwnerId) -> Option<Arc<MetaAccount>> {
        self.accounts
            .iter()
            .find(|(o, _)| *o == owner)
            .map(|(_, a)| a.clone())
    }

    /// Makes room (fallibly) for one more handle, so that `new_handle` and a later
    /// `drop_handle` do not allocate; returns the index `new_handle` will use.
    pub(super) fn reserve_handle(&mut self) -> Result<u32, MetaError> {
        let bytes = core::mem::size_of::<Handle>() + 4;
        self.handles
            .try_reserve(1)
            .map_err(|e| meta::heap_error(e, bytes))?;
        let all = self.handles.len() + 1;
        self.free_handles
            .try_reserve(all.saturating_sub(self.free_handles.len()))
            .map_err(|e| meta::heap_error(e, bytes))?;
        Ok(match self.free_handles.last() {
            Some(&i) => i,
            None => self.handles.len() as u32,
        })
    }

    /// Makes room (fallibly) for one more real cache, as `reserve_handle` for handles.
    pub(super) fn reserve_real(&mut self) -> Result<(), MetaError> {
        let bytes = core::mem::size_of::<Option<RealEntry>>() + 4;
        self.reals
            .try_reserve(1)
            .map_err(|e| meta::heap_error(e, bytes))?;
        let all = self.reals.len() + 1;
        self.free_reals
            .try_reserve(all.saturating_sub(self.free_reals.len()))
            .map_err(|e| meta::heap_error(e, bytes))
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
