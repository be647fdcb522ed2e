//! Kernel objects from RAM untyped memory, each placed in a fresh slot of the root CNode.
//!
//! A *child* allocator owns one untyped object and a range of slots carved from its parent:
//! everything made from it can be destroyed at once with [`ObjectAllocator::reclaim`] (revoke of
//! the untyped: the kernel deletes every derived capability, so the objects, their mappings and
//! the CNodes' contents go away, and the next retype starts again at offset 0). Give each task its
//! own child allocator and its reclaim returns exactly what the task took.
//! Invariant: only this allocator retypes from its untypeds (so the watermarks mirror the kernel's).

use crate::{AllocError, ObjectRun, SlotAllocator, UntypedPool, UntypedRecord};
use sel4::cap_type::Untyped;
use sel4::{init_thread, BootInfo, Cap, CapType, ObjectBlueprint, SlotRegion, Word};

/// Allocates slots and objects for the root task.
#[derive(Debug)]
pub struct ObjectAllocator {
    slots: SlotAllocator,
    untyped: UntypedPool,
    /// For a child allocator: its untyped, its slot region, its size, its physical address.
    owner: Option<(Cap<Untyped>, SlotRegion, u8, Word)>,
}

impl ObjectAllocator {
    /// All empty slots and all RAM untypeds of `bootinfo`.
    pub fn new(bootinfo: &BootInfo<'_>) -> Self {
        Self {
            slots: SlotAllocator::new(bootinfo.empty()),
            untyped: UntypedPool::from_bootinfo(bootinfo),
            owner: None,
        }
    }

    /// A child allocator over a new untyped of `2^size_bits` bytes and `slots` slots, both taken
    /// from this allocator.
    pub fn child(&mut self, size_bits: u8, slots: usize) -> Result<ObjectAllocator, AllocError> {
        let run = self.allocate_run(
            ObjectBlueprint::Untyped {
                size_bits: usize::from(size_bits),
            },
            1,
        )?;
        let untyped = Cap::<Untyped>::from_bits(run.first_slot);
        let range = self.slots.alloc_range(slots)?;
        let region = SlotRegion {
            start: range.start,
            end: range.end,
        };
        Ok(Self {
            slots: SlotAllocator::new(region),
            untyped: UntypedPool::from_records([Self::record(untyped, size_bits, run.first_paddr)]),
            owner: Some((untyped, region, size_bits, run.first_paddr)),
        })
    }

    /// Slots this allocator hands out in all (its range, for a child).
    pub fn slot_capacity(&self) -> usize {
        self.owner
            .map_or(usize::MAX, |(_, r, _, _)| (r.end - r.start) as usize)
    }

    fn record(untyped: Cap<Untyped>, size_bits: u8, paddr: Word) -> UntypedRecord {
        UntypedRecord {
            slot: untyped.bits(),
            paddr,
            size_bits,
            used: 0,
        }
    }

    /// Destroys everything this child allocator made (revoke of its untyped) and makes all its
    /// memory and slots available again; slots it handed out that hold capabilities not derived
    /// from its untyped (e.g. minted endpoints) are emptied too. Fails with `NotAChild` on the
    /// root allocator.
    pub fn reclaim(&mut self) -> Result<(), AllocError> {
        let (untyped, region, size_bits, paddr) = self.owner.ok_or(AllocError::NotAChild)?;
        init_thread::CNODE
            .relative(untyped)
            .revoke()
            .map_err(AllocError::Revoke)?;
        for slot in self.slots.used(region.start) {
            init_thread::CNODE
                .relative_bits_with_depth(slot, sel4::WORD_BITS)
                .delete()
                .map_err(AllocError::Revoke)?;
        }
        self.slots = SlotAllocator::new(region);
        self.untyped = UntypedPool::from_records([Self::record(untyped, size_bits, paddr)]);
        Ok(())
    }

    /// A copy of `cap` with `rights` in a fresh slot (e.g. to map a frame a second time).
    pub fn copy<T: CapType>(
        &mut self,
        cap: Cap<T>,
        rights: sel4::CapRights,
    ) -> Result<Cap<T>, AllocError> {
        let slot = self.slots.alloc()?;
        init_thread::CNODE
            .relative_bits_with_depth(slot, sel4::WORD_BITS)
            .copy(&init_thread::CNODE.relative(cap), rights)
            .map_err(AllocError::Copy)?;
        Ok(Cap::from_bits(slot))
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
    /// slot.
    pub fn allocate_many(
        &mut self,
        blueprint: ObjectBlueprint,
        count: usize,
    ) -> Result<Word, AllocError> {
        self.allocate_run(blueprint, count)
            .map(|run| run.first_slot)
    }

    /// `count` objects of `blueprint` in consecutive slots and consecutive physical memory of
    /// one untyped (e.g. the frames of a buddy zone, findable by physical address).
    pub fn allocate_run(
        &mut self,
        blueprint: ObjectBlueprint,
        count: usize,
    ) -> Result<ObjectRun, AllocError> {
        let bits = blueprint.physical_size_bits();
        let (untyped_slot, paddr, before) = self.untyped.reserve_undoable(bits, count)?;
        let slots = match self.slots.alloc_range(count) {
            Ok(slots) => slots,
            Err(e) => {
                self.untyped.restore(untyped_slot, before);
                return Err(e);
            }
        };
        // Depth 0: the destination CNode is the root CNode itself.
        let dst = init_thread::CNODE.relative_bits_with_depth(0, 0);
        let result = Cap::<Untyped>::from_bits(untyped_slot).untyped_retype(
            &blueprint,
            &dst,
            slots.start as usize,
            count,
        );
        match result {
            Ok(()) => Ok(ObjectRun {
                first_slot: slots.start,
                first_paddr: paddr,
                count,
                size_bits: bits,
            }),
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
