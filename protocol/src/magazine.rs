//! The shared magazine page: one 4 KiB page per client and core, mapped in both the client and the
//! server. Batches of object addresses travel here, not through the IPC buffer: a Refill writes
//! addresses into a slot and the register reply says how many; a Drain is the reverse. Fresh-slab
//! records (for client-side constructors) follow the slots.
//!
//! Every word is an `AtomicU64` accessed with relaxed loads and stores: the other side may write the
//! page at any time, and the server treats everything it reads here as untrusted input. Ordering
//! between the two sides comes from the IPC call itself.
use core::sync::atomic::{AtomicU64, Ordering};

pub const PAGE_BYTES: usize = 4096;
/// Slots of a page; a request names one.
pub const MAGAZINE_SLOTS: usize = 4;
/// Addresses one slot holds; the largest batch of a Refill or Drain.
pub const MAX_BATCH: usize = 64;
/// Fresh-slab records a page holds.
pub const FRESH_MAX: usize = 64;

/// A slab made during the last operation; the client runs its constructor on
/// `first + i * stride` for `i` in `0..objects` before handing out any object of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreshSlab {
    pub first: u64,
    pub objects: u64,
}

#[repr(C, align(4096))]
pub struct MagazinePage {
    slots: [[AtomicU64; MAX_BATCH]; MAGAZINE_SLOTS],
    fresh: [[AtomicU64; 2]; FRESH_MAX],
    _reserved: [AtomicU64; 512 - MAGAZINE_SLOTS * MAX_BATCH - 2 * FRESH_MAX],
}

const _: () = assert!(core::mem::size_of::<MagazinePage>() == PAGE_BYTES);

impl Default for MagazinePage {
    fn default() -> Self {
        Self::new()
    }
}

impl MagazinePage {
    pub const fn new() -> Self {
        MagazinePage {
            slots: [const { [const { AtomicU64::new(0) }; MAX_BATCH] }; MAGAZINE_SLOTS],
            fresh: [const { [const { AtomicU64::new(0) }; 2] }; FRESH_MAX],
            _reserved: [const { AtomicU64::new(0) };
                512 - MAGAZINE_SLOTS * MAX_BATCH - 2 * FRESH_MAX],
        }
    }

    /// Copies the first `out.len()` words of `slot` into `out`; `None` if out of range.
    pub fn read_slot(&self, slot: usize, out: &mut [u64]) -> Option<()> {
        let words = self.slots.get(slot)?.get(..out.len())?;
        for (o, w) in out.iter_mut().zip(words) {
            *o = w.load(Ordering::Relaxed);
        }
        Some(())
    }

    /// The words of `slot`, to read in place (each one untrusted input); `None` if out of range.
    pub fn slot(&self, slot: usize) -> Option<&[AtomicU64; MAX_BATCH]> {
        self.slots.get(slot)
    }

    /// Writes `values` to the start of `slot`; `None` if out of range.
    pub fn write_slot(&self, slot: usize, values: &[u64]) -> Option<()> {
        let words = self.slots.get(slot)?.get(..values.len())?;
        for (w, v) in words.iter().zip(values) {
            w.store(*v, Ordering::Relaxed);
        }
        Some(())
    }

    pub fn read_fresh(&self, index: usize) -> Option<FreshSlab> {
        let [first, objects] = self.fresh.get(index)?;
        Some(FreshSlab {
            first: first.load(Ordering::Relaxed),
            objects: objects.load(Ordering::Relaxed),
        })
    }

    pub fn write_fresh(&self, index: usize, slab: FreshSlab) -> Option<()> {
        let [first, objects] = self.fresh.get(index)?;
        first.store(slab.first, Ordering::Relaxed);
        objects.store(slab.objects, Ordering::Relaxed);
        Some(())
    }
}
