//! The RAM untyped capabilities and how much of each has been retyped. The kernel places each
//! new object at its untyped's free index rounded up to the object's size; this pool mirrors that
//! watermark so it can pick an untyped with room without failed invocations (only this pool
//! retypes from them). Best fit: the smallest untyped that has room, to keep big ones whole.

use crate::AllocError;
use sel4::{BootInfo, Word};

/// Most untyped caps bootinfo can list.
pub const MAX_UNTYPED: usize = 192;

/// One RAM untyped and its watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UntypedRecord {
    /// Slot of the untyped cap in the root CNode.
    pub slot: Word,
    /// Physical address.
    pub paddr: Word,
    /// Size as a power of two.
    pub size_bits: u8,
    /// Bytes from the start already retyped (including alignment gaps).
    pub used: Word,
}

impl UntypedRecord {
    fn size(&self) -> Word {
        1 << self.size_bits
    }

    /// Where an object of `2^bits` bytes would go, if it fits.
    fn place(&self, bits: usize) -> Option<Word> {
        let align = 1u64.checked_shl(bits as u32)?;
        let start = self.used.checked_add(align - 1)? & !(align - 1);
        (start.checked_add(align)? <= self.size()).then_some(start)
    }
}

/// The RAM untypeds with watermarks.
#[derive(Debug, Clone)]
pub struct UntypedPool {
    records: heapless::Vec<UntypedRecord, MAX_UNTYPED>,
}

impl UntypedPool {
    /// The non-device untypeds of `bootinfo`, all unused.
    pub fn from_bootinfo(bootinfo: &BootInfo<'_>) -> Self {
        Self::from_records(bootinfo.untyped_list().filter(|u| !u.is_device).map(|u| {
            UntypedRecord {
                slot: u.slot,
                paddr: u.paddr,
                size_bits: u.size_bits,
                used: 0,
            }
        }))
    }

    /// A pool of the given records (at most [`MAX_UNTYPED`]; further ones are ignored).
    pub fn from_records(records: impl IntoIterator<Item = UntypedRecord>) -> Self {
        let mut v = heapless::Vec::new();
        for r in records {
            if v.push(r).is_err() {
                break;
            }
        }
        Self { records: v }
    }

    /// Chooses an untyped for `count` objects of `2^bits` bytes and advances its watermark.
    /// Returns the untyped's slot and the physical address of the first object.
    pub fn reserve(&mut self, bits: usize, count: usize) -> Result<(Word, Word), AllocError> {
        self.reserve_undoable(bits, count).map(|r| (r.0, r.1))
    }

    /// As [`reserve`](Self::reserve), also returning the watermark before it (for [`restore`](Self::restore)).
    pub fn reserve_undoable(
        &mut self,
        bits: usize,
        count: usize,
    ) -> Result<(Word, Word, Word), AllocError> {
        let total_bits = bits + (count.max(1).next_power_of_two().trailing_zeros() as usize);
        let best = self
            .records
            .iter_mut()
            .filter(|r| {
                r.place(bits)
                    .is_some_and(|s| s + ((count as Word) << bits) <= r.size())
            })
            .min_by_key(|r| (r.size_bits, r.used));
        let Some(r) = best else {
            return Err(AllocError::OutOfMemory {
                size_bits: total_bits,
            });
        };
        let start = r.place(bits).ok_or(AllocError::OutOfMemory {
            size_bits: total_bits,
        })?;
        let before = r.used;
        r.used = start + ((count as Word) << bits);
        Ok((r.slot, r.paddr + start, before))
    }

    /// Sets the watermark of `slot` back to `used` after the kernel refused a reservation.
    pub fn restore(&mut self, slot: Word, used: Word) {
        if let Some(r) = self.records.iter_mut().find(|r| r.slot == slot) {
            r.used = used;
        }
    }

    /// The watermark of the untyped at `slot`.
    pub fn used(&self, slot: Word) -> Option<Word> {
        self.records.iter().find(|r| r.slot == slot).map(|r| r.used)
    }

    /// Removes and returns the largest untyped nobody has retyped from (for a component that
    /// manages it wholesale, e.g. the memory server's buddy zones).
    pub fn take_largest_unused(&mut self) -> Option<UntypedRecord> {
        let (i, _) = self
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.used == 0)
            .max_by_key(|(_, r)| r.size_bits)?;
        Some(self.records.swap_remove(i))
    }

    /// All records.
    pub fn records(&self) -> &[UntypedRecord] {
        &self.records
    }

    /// Bytes not yet retyped.
    pub fn free_bytes(&self) -> Word {
        self.records.iter().map(|r| r.size() - r.used).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(slot: Word, size_bits: u8) -> UntypedRecord {
        UntypedRecord {
            slot,
            paddr: slot << 32,
            size_bits,
            used: 0,
        }
    }

    #[test]
    fn best_fit_with_kernel_alignment() {
        let mut p = UntypedPool::from_records([rec(1, 20), rec(2, 12), rec(3, 16)]);
        // A 16-byte endpoint goes to the smallest untyped.
        assert_eq!(p.reserve(4, 1), Ok((2, (2 << 32))));
        // A 4 KiB page no longer fits there (16 bytes used, aligned start 4096 + 4096 > 4096).
        assert_eq!(p.reserve(12, 1), Ok((3, (3 << 32))));
        assert_eq!(p.used(3), Some(4096));
        // A TCB (2 KiB) after an endpoint in untyped 2 would start at 2048.
        assert_eq!(p.reserve(11, 1), Ok((2, (2 << 32) + 2048)));
        assert_eq!(
            p.reserve(21, 1),
            Err(AllocError::OutOfMemory { size_bits: 21 })
        );
        // Sixteen pages no longer fit in untyped 3 (4 KiB used of 64 KiB): they go to untyped 1.
        assert_eq!(p.reserve(12, 16), Ok((1, 1 << 32)));
        assert_eq!(p.free_bytes(), (1 << 20) - 4096);
    }

    #[test]
    fn take_largest_unused() {
        let mut p = UntypedPool::from_records([rec(1, 20), rec(2, 24), rec(3, 16)]);
        p.reserve(23, 1).unwrap();
        assert_eq!(p.take_largest_unused().map(|r| r.slot), Some(1));
        assert_eq!(p.records().len(), 2);
    }
}
