//! A page the root task shares with a task: one frame, mapped in the task at an address of the
//! task's choosing and (through a copy of the frame cap) in the root task's [`LocalWindow`].
//! The root task reads and writes it word by word with volatile accesses, bounds-checked, since
//! the other side may change it at any time. Invariant: the root task's mapping lives until the
//! allocator that made the frame is reclaimed; no access may follow that reclaim.

use crate::{LocalWindow, ObjectAllocator, Process, SpawnError};
use sel4::cap_type::Granule;
use sel4::{Cap, CapRights, ObjectBlueprint, VmAttributes, Word, PAGE_SIZE};

/// Words in a page.
pub const PAGE_WORDS: usize = PAGE_SIZE / core::mem::size_of::<Word>();

/// A page mapped in the root task and in a process.
#[derive(Debug, Clone, Copy)]
pub struct SharedPage {
    /// The frame as mapped in the process.
    pub frame: Cap<Granule>,
    /// The root task's copy of the frame cap.
    pub local_frame: Cap<Granule>,
    /// Address in the root task.
    pub local_vaddr: usize,
    /// Address in the process.
    pub remote_vaddr: usize,
}

impl SharedPage {
    /// A fresh zeroed frame from `mem`, mapped read-write in `process` at `remote_vaddr` and in
    /// the root task through `window` (whose paging structures come from `window_alloc`).
    pub fn create(
        mem: &mut ObjectAllocator,
        process: &mut Process,
        remote_vaddr: usize,
        window: &mut LocalWindow,
        window_alloc: &mut ObjectAllocator,
    ) -> Result<Self, SpawnError> {
        let frame: Cap<Granule> = mem.allocate(ObjectBlueprint::SmallPage)?;
        process.map_frame(
            mem,
            frame,
            remote_vaddr,
            CapRights::read_write(),
            VmAttributes::DATA,
        )?;
        let local_frame = mem.copy(frame, CapRights::read_write())?;
        let local_vaddr = window.map_existing(window_alloc, local_frame)?;
        Ok(Self {
            frame,
            local_frame,
            local_vaddr,
            remote_vaddr,
        })
    }

    /// Word `i` of the page; `None` beyond the page.
    pub fn read(&self, i: usize) -> Option<Word> {
        if i >= PAGE_WORDS {
            return None;
        }
        // SAFETY: `local_vaddr` is a mapped, page-aligned read-write page (module invariant) and
        // `i` is within it; volatile because the other task writes concurrently.
        Some(unsafe { core::ptr::read_volatile((self.local_vaddr as *const Word).add(i)) })
    }

    /// Writes word `i`; `false` (and nothing written) beyond the page.
    pub fn write(&self, i: usize, value: Word) -> bool {
        if i >= PAGE_WORDS {
            return false;
        }
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile((self.local_vaddr as *mut Word).add(i), value) };
        true
    }
}
