//! The client table: a fixed number of slots, each behind its own spin lock, holding one attached
//! client's record. A badge is `generation << 32 | (slot + 1)`; detaching bumps the slot's
//! generation, so an old badge (a dead client's, or a guessed one) is `UnknownClient`.
//!
//! Locking: a request locks its client's slot for the whole operation, then (inside) at most one
//! core guard or the allocator's maintenance locks. No code holds a core guard while locking a
//! slot, and no code holds two slots, so slot locks cannot deadlock with the core's locks.
use super::errors::Window;
use super::handles::Handles;
use super::page::PageRef;
use super::quota::{Metadata, Quota, Usage};
use super::scratch::ScratchBox;
use crate::kmalloc::{KmallocSet, KMALLOC_SIZES};
use crate::slab::OwnerId;
use crate::topology::MAX_CORES;
use alloc::vec::Vec;
use memserver_protocol::{Error, Failure};
use spin::{Mutex, MutexGuard};

/// One attached client.
pub struct ClientRecord {
    pub owner: OwnerId,
    pub greeted: bool,
    pub quota: Quota,
    pub usage: Usage,
    /// The client's metadata account (its record, caches, slabs, large block records).
    pub metadata: Metadata,
    /// Charged for the record itself at attach ([`super::quota::record_bytes`]).
    pub record_bytes: u64,
    pub handles: Handles,
    pub kmalloc: KmallocSet,
    /// Usable bytes of each kmalloc class's objects.
    pub kmalloc_usable: [usize; KMALLOC_SIZES.len()],
    /// Bit `k`: kmalloc class `k` has debug checks (the stub must not keep its objects in a
    /// magazine).
    pub kmalloc_checked: u64,
    /// The client's `slab_debug` options, applied to every cache it creates.
    pub debug: super::debug::DebugOptions,
    /// Where the allocator reports the violations its debug checks find in this client's
    /// objects (read with `Violations`).
    pub log: alloc::sync::Arc<crate::slab::ViolationLog>,
    /// Magazine page per core (`None`: the client may not use that core's endpoint).
    pub pages: [Option<PageRef>; MAX_CORES],
    pub window: Window,
    pub scratch: ScratchBox,
}

#[derive(Default)]
pub struct Slot {
    generation: u32,
    pub record: Option<ClientRecord>,
}

pub struct Clients {
    slots: Vec<Mutex<Slot>>,
}

pub fn badge_of(slot: usize, generation: u32) -> u64 {
    ((generation as u64) << 32) | (slot as u64 + 1)
}

impl Clients {
    pub fn new(max: usize) -> Self {
        Clients {
            slots: (0..max).map(|_| Mutex::new(Slot::default())).collect(),
        }
    }

    /// Takes a free slot and fills it with the record `make` builds (under the slot's lock, so
    /// a refusal of `make`, or no free slot, leaves the table as it was); returns its badge.
    pub fn insert_with(
        &self,
        make: impl FnOnce() -> Result<ClientRecord, Failure>,
    ) -> Result<u64, Failure> {
        for (i, slot) in self.slots.iter().enumerate() {
            let mut s = slot.lock();
            if s.record.is_none() {
                s.record = Some(make()?);
                s.generation = s.generation.wrapping_add(1).max(1);
                return Ok(badge_of(i, s.generation));
            }
        }
        Err(Failure::with(
            Error::TooMany,
            [self.slots.len() as u64, 0, 0],
        ))
    }

    /// Locks the slot of `badge` if it names an attached client.
    #[inline]
    pub fn lock(&self, badge: u64) -> Result<ClientGuard<'_>, Failure> {
        let index = (badge & 0xffff_ffff).wrapping_sub(1) as usize;
        if let Some(slot) = self.slots.get(index) {
            let slot = slot.lock();
            if slot.generation == (badge >> 32) as u32 && slot.record.is_some() {
                return Ok(ClientGuard { slot });
            }
        }
        Err(Failure::with(Error::UnknownClient, [badge, 0, 0]))
    }

    /// Empties every slot (their badges become unknown), handing each removed record to `f`
    /// after its slot lock is released.
    pub fn remove_all(&self, mut f: impl FnMut(ClientRecord)) {
        for slot in &self.slots {
            let record = slot.lock().record.take();
            if let Some(r) = record {
                f(r);
            }
        }
    }

    /// Calls `f` on every attached client's record (one slot lock at a time), stopping at the
    /// first error.
    pub fn for_each<E>(&self, mut f: impl FnMut(&ClientRecord) -> Result<(), E>) -> Result<(), E> {
        for slot in &self.slots {
            if let Some(r) = slot.lock().record.as_ref() {
                f(r)?;
            }
        }
        Ok(())
    }
}

/// A locked, attached client.
pub struct ClientGuard<'a> {
    slot: MutexGuard<'a, Slot>,
}

impl ClientGuard<'_> {
    /// The client's record (`Clients::lock` only hands out guards of attached slots).
    #[inline]
    pub fn record(&mut self) -> Result<&mut ClientRecord, Failure> {
        self.slot
            .record
            .as_mut()
            .ok_or(Failure::new(Error::Internal))
    }

    /// Empties the slot (its badge becomes unknown) and returns the record.
    pub fn remove(mut self) -> Result<ClientRecord, Failure> {
        self.slot.record.take().ok_or(Failure::new(Error::Internal))
    }
}
