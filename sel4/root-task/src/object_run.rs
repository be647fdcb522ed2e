//! A run of objects made by one retype: consecutive slots and consecutive physical memory, so a
//! frame's capability follows from its physical address by arithmetic.

use sel4::Word;

/// Objects made by one retype: consecutive slots, consecutive physical addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRun {
    /// Slot of the first object.
    pub first_slot: Word,
    /// Physical address of the first object.
    pub first_paddr: Word,
    /// Number of objects.
    pub count: usize,
    /// Bytes of each object, as a power of two.
    pub size_bits: usize,
}

impl ObjectRun {
    /// The slot of the object holding physical address `paddr`, if it is in this run (so a
    /// frame's capability is found from its address by arithmetic, without a search).
    pub fn slot_of_paddr(&self, paddr: Word) -> Option<Word> {
        let offset = paddr.checked_sub(self.first_paddr)?;
        let index = offset >> self.size_bits;
        (index < self.count as Word).then_some(self.first_slot + index)
    }

    /// Physical address of the `i`-th object.
    pub fn paddr(&self, i: usize) -> Option<Word> {
        (i < self.count).then_some(self.first_paddr + ((i as Word) << self.size_bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_from_physical_address() {
        let run = ObjectRun {
            first_slot: 100,
            first_paddr: 0x4000_0000,
            count: 4,
            size_bits: 12,
        };
        assert_eq!(run.slot_of_paddr(0x4000_0000), Some(100));
        assert_eq!(run.slot_of_paddr(0x4000_3fff), Some(103));
        assert_eq!(run.slot_of_paddr(0x4000_4000), None);
        assert_eq!(run.slot_of_paddr(0x3fff_ffff), None);
        assert_eq!(run.paddr(2), Some(0x4000_2000));
        assert_eq!(run.paddr(4), None);
    }
}
