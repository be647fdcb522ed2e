//! A one-page window in the root task's own address space through which the root task fills
//! frames before handing them to another address space. Invariant: nothing else maps at
//! `vaddr`; a frame is mapped there only for the duration of one closure.

use crate::error::Step;
use crate::{AddressSpace, ObjectAllocator, SpawnError};
use sel4::cap_type::Granule;
use sel4::{init_thread, Cap, CapRights, VmAttributes, PAGE_SIZE};

/// Default window: 1 TiB, far from the root task's image (its own top-level entry).
pub const DEFAULT_SCRATCH_VADDR: usize = 0x100_0000_0000;

/// The root task's frame-filling window.
#[derive(Debug)]
pub struct Scratch {
    vaddr: usize,
    space: AddressSpace,
}

impl Scratch {
    /// A window at `vaddr` (page aligned, in a region the root task's image does not use).
    pub fn new(alloc: &mut ObjectAllocator, vaddr: usize) -> Result<Self, SpawnError> {
        let mut space = AddressSpace::existing(init_thread::VSPACE);
        space.ensure_tables(alloc, vaddr)?;
        Ok(Self { vaddr, space })
    }

    /// Maps `frame` at the window, runs `f` on its bytes, unmaps it.
    pub fn with_frame<R>(
        &mut self,
        frame: Cap<Granule>,
        f: impl FnOnce(&mut [u8; PAGE_SIZE]) -> R,
    ) -> Result<R, SpawnError> {
        frame
            .frame_map(
                self.space.root(),
                self.vaddr,
                CapRights::read_write(),
                VmAttributes::DATA,
            )
            .step("Page_Map (scratch)")?;
        // SAFETY: the frame is mapped read-write at `vaddr` until the unmap below, nothing else
        // maps there (module invariant), and the reference does not escape the closure.
        let page = unsafe { &mut *(self.vaddr as *mut [u8; PAGE_SIZE]) };
        let r = f(page);
        frame.frame_unmap().step("Page_Unmap (scratch)")?;
        Ok(r)
    }
}
