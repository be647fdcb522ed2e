//! Kernel objects from RAM untyped memory, each placed in a fresh slot of the root CNode.

use crate::{AllocError, SlotAllocator, UntypedPool};
use sel4::cap_type::Untyped;
use sel4::{init_thread, BootInfo, Cap, CapType, ObjectBlueprint, Word};

/// Allocates slots and objects for the root task.
#[derive(Debug, Clone)]
pub struct ObjectAllocator {
    slots: SlotAllocator,
    untyped: UntypedPool,
}

impl ObjectAllocator {
    /// All empty slots and all RAM untypeds of `bootinfo`.
    pub fn new(bootinfo: &BootInfo<'_>) -> Self {
        Self {
            slots: SlotAllocator::new(bootinfo.empty()),
            untyped: UntypedPool::from_bootinfo(bootinfo),
        }
    }

    /// A free slot of the root CNode.
    pub fn slot(&mut self) -> Result<Word, AllocError> {
        self.slots.alloc()
    }

    /// One object of `blueprint`, as a capability of type `T` (the caller matches them).
    pub fn allocate<T: CapType>(
        &mut self,
        blueprint: ObjectBlueprint,
    ) -> Result<Cap<T>, AllocError> {
        let first = self.allocate_many(blueprint, 1)?;
        Ok(Cap::from_bits(first))
    }

    /// `count` objects of `blueprint` in consecutive slots from one untyped; returns the first
    /// slot (the physical address follows from [`UntypedPool`] if needed).
    pub fn allocate_many(
        &mut self,
        blueprint: ObjectBlueprint,
        count: usize,
    ) -> Result<Word, AllocError> {
        let slots = self.slots.alloc_range(count)?;
        let bits = blueprint.physical_size_bits();
        let (untyped_slot, _paddr, before) = self.untyped.reserve_undoable(bits, count)?;
        // Depth 0: the destination CNode is the root CNode itself.
        let dst = init_thread::CNODE.relative_bits_with_depth(0, 0);
        let result = Cap::<Untyped>::from_bits(untyped_slot).untyped_retype(
            &blueprint,
            &dst,
            slots.start as usize,
            count,
        );
        match result {
            Ok(()) => Ok(slots.start),
            Err(e) => {
                self.untyped.restore(untyped_slot, before);
                Err(AllocError::Retype(e))
            }
        }
    }

    /// The untyped memory (to hand whole untypeds to another component).
    pub fn untyped_pool(&mut self) -> &mut UntypedPool {
        &mut self.untyped
    }

    /// Free slots left.
    pub fn free_slots(&self) -> usize {
        self.slots.remaining()
    }
}
