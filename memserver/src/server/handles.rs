//! One client's cache handles: a table of slots, each with a generation, so that a handle word is
//! `generation << 32 | (index + 1)`. A handle never issued is `BadHandle`; one whose cache was
//! destroyed (or whose slot was reused) is `StaleHandle`. Owned by the client's record (behind its
//! lock); no locking of its own.
use crate::slab::CacheId;
use crate::MetaAccount;
use alloc::vec::Vec;
use memserver_protocol::{Error, Failure};

/// Caches one client may have at once.
pub const MAX_CACHES: usize = 256;

/// What the server remembers about one of a client's caches.
#[derive(Clone, Copy, Debug)]
pub struct CacheEntry {
    pub id: CacheId,
    /// Usable bytes per object (quota accounting).
    pub usable: usize,
    pub stride: usize,
    /// The client runs a constructor over each fresh slab.
    pub remote_ctor: bool,
}

#[derive(Default)]
struct Slot {
    generation: u32,
    entry: Option<CacheEntry>,
}

/// Heap bytes of a table of `slots` slots.
fn table_bytes(slots: usize) -> u64 {
    (slots * core::mem::size_of::<Slot>()) as u64
}

#[derive(Default)]
pub struct Handles {
    slots: Vec<Slot>,
}

impl Handles {
    /// Stores `entry` and returns its new handle word. A growth of the table is charged to
    /// `account` first (and allocated fallibly); a refusal changes nothing.
    pub fn insert(&mut self, entry: CacheEntry, account: &MetaAccount) -> Result<u64, Failure> {
        let index = match self.slots.iter().position(|s| s.entry.is_none()) {
            Some(i) => i,
            None if self.slots.len() < MAX_CACHES => {
                self.grow(account)?;
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
            None => return Err(Failure::with(Error::TooMany, [MAX_CACHES as u64, 0, 0])),
        };
        let slot = &mut self.slots[index];
        slot.generation = slot.generation.wrapping_add(1).max(1);
        slot.entry = Some(entry);
        Ok(((slot.generation as u64) << 32) | (index as u64 + 1))
    }

    /// Makes room for one more slot: the table doubles (at least 4, at most `MAX_CACHES`).
    fn grow(&mut self, account: &MetaAccount) -> Result<(), Failure> {
        let (len, cap) = (self.slots.len(), self.slots.capacity());
        if len < cap {
            return Ok(());
        }
        let new = (cap * 2).clamp(4, MAX_CACHES);
        let bytes = table_bytes(new) - table_bytes(cap);
        account
            .charge(bytes)
            .map_err(|e| super::quota::metadata_refused(&e))?;
        self.slots.try_reserve_exact(new - len).map_err(|_| {
            account.release(bytes);
            Failure::with(Error::OutOfMemory, [0, bytes, 0])
        })
    }

    /// Heap bytes of the table now (charged to the client's account).
    pub fn bytes(&self) -> u64 {
        table_bytes(self.slots.capacity())
    }

    fn slot(&self, handle: u64) -> Result<&Slot, Failure> {
        let index = (handle & 0xffff_ffff).wrapping_sub(1) as usize;
        let generation = (handle >> 32) as u32;
        match self.slots.get(index) {
            Some(slot) if generation == slot.generation && slot.entry.is_some() => Ok(slot),
            Some(slot) if generation != 0 && generation <= slot.generation => {
                Err(Failure::with(Error::StaleHandle, [handle, 0, 0]))
            }
            _ => Err(Failure::with(Error::BadHandle, [handle, 0, 0])),
        }
    }

    /// The entry of a live handle: one bounds check and one generation compare.
    #[inline]
    pub fn get(&self, handle: u64) -> Result<&CacheEntry, Failure> {
        let index = (handle & 0xffff_ffff).wrapping_sub(1) as usize;
        if let Some(Slot {
            generation,
            entry: Some(e),
        }) = self.slots.get(index)
        {
            if *generation == (handle >> 32) as u32 {
                return Ok(e);
            }
        }
        self.refuse(handle)
    }

    #[cold]
    fn refuse(&self, handle: u64) -> Result<&CacheEntry, Failure> {
        self.slot(handle)?;
        Err(Failure::new(Error::Internal))
    }

    /// Forgets the cache of `handle` (after the core destroyed it).
    pub fn remove(&mut self, handle: u64) -> Result<CacheEntry, Failure> {
        self.slot(handle)?;
        let index = (handle & 0xffff_ffff) as usize - 1;
        self.slots[index]
            .entry
            .take()
            .ok_or(Failure::new(Error::Internal))
    }

    /// Every slot in index order: its generation and entry (for snapshots).
    pub fn slots(&self) -> impl Iterator<Item = (u32, Option<&CacheEntry>)> {
        self.slots.iter().map(|s| (s.generation, s.entry.as_ref()))
    }

    pub fn iter(&self) -> impl Iterator<Item = &CacheEntry> {
        self.slots.iter().filter_map(|s| s.entry.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u32) -> CacheEntry {
        CacheEntry {
            id: CacheId {
                index: i,
                generation: 1,
            },
            usable: 8,
            stride: 8,
            remote_ctor: false,
        }
    }

    #[test]
    fn forged_and_stale_handles_are_told_apart() {
        let mut h = Handles::default();
        let account = MetaAccount::limited(u64::MAX);
        let a = h.insert(entry(1), &account).unwrap();
        assert_eq!(h.get(a).unwrap().id.index, 1);
        assert_eq!(h.get(0).unwrap_err().error, Error::BadHandle);
        assert_eq!(h.get(a + 1).unwrap_err().error, Error::BadHandle);
        assert_eq!(h.get(a + (1 << 32)).unwrap_err().error, Error::BadHandle);
        h.remove(a).unwrap();
        assert_eq!(h.get(a).unwrap_err().error, Error::StaleHandle);
        let b = h.insert(entry(2), &account).unwrap();
        assert_eq!(b & 0xffff_ffff, a & 0xffff_ffff, "slot reused");
        assert_eq!(h.get(a).unwrap_err().error, Error::StaleHandle);
        assert_eq!(h.get(b).unwrap().id.index, 2);
        assert_eq!(h.remove(a).unwrap_err().error, Error::StaleHandle);
    }
}
