//! Free slots of the root CNode: a bump allocator over bootinfo's empty region. Slots are never
//! returned (objects the root task deletes leave their slot unused); the region holds thousands.

use crate::AllocError;
use sel4::{SlotRegion, Word};

/// Hands out the empty slots of the root CNode in order.
#[derive(Debug, Clone)]
pub struct SlotAllocator {
    next: Word,
    end: Word,
}

impl SlotAllocator {
    /// All slots of `region` free.
    pub fn new(region: SlotRegion) -> Self {
        Self {
            next: region.start,
            end: region.end,
        }
    }

    /// One free slot.
    pub fn alloc(&mut self) -> Result<Word, AllocError> {
        self.alloc_range(1).map(|r| r.start)
    }

    /// `n` consecutive free slots.
    pub fn alloc_range(&mut self, n: usize) -> Result<core::ops::Range<Word>, AllocError> {
        let start = self.next;
        let end = start
            .checked_add(n as Word)
            .ok_or(AllocError::SlotsExhausted)?;
        if end > self.end {
            return Err(AllocError::SlotsExhausted);
        }
        self.next = end;
        Ok(start..end)
    }

    /// The slots handed out so far.
    pub fn used(&self, region_start: Word) -> core::ops::Range<Word> {
        region_start..self.next
    }

    /// Slots still free.
    pub fn remaining(&self) -> usize {
        (self.end - self.next) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_in_order_until_exhausted() {
        let mut s = SlotAllocator::new(SlotRegion { start: 10, end: 14 });
        assert_eq!(s.alloc(), Ok(10));
        assert_eq!(s.alloc_range(2), Ok(11..13));
        assert_eq!(s.alloc_range(2), Err(AllocError::SlotsExhausted));
        assert_eq!(s.remaining(), 1);
        assert_eq!(s.alloc(), Ok(13));
        assert_eq!(s.alloc(), Err(AllocError::SlotsExhausted));
        assert_eq!(s.used(10), 10..14);
    }
}
