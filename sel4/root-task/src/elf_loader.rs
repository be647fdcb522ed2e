//! Loads an aarch64 ELF executable into an address space: every loadable segment gets fresh
//! frames (zeroed by the kernel's retype), filled with the file bytes through the scratch window
//! and mapped with the segment's rights (writable or read-only, executable or not).
//! Segments must be in ascending order and not share pages.

use crate::error::Step;
use crate::{AddressSpace, ObjectAllocator, Scratch, SpawnError};
use sel4::cap_type::Granule;
use sel4::{Cap, CapRights, ObjectBlueprint, VmAttributes, Word, PAGE_SIZE};
use xmas_elf::header::{Class, Data, Machine, Type};
use xmas_elf::program::Type as SegmentType;
use xmas_elf::ElfFile;

/// What loading produced.
#[derive(Debug, Clone, Copy)]
pub struct LoadedImage {
    /// Entry address.
    pub entry: Word,
    /// Pages mapped.
    pub pages: usize,
}

/// Loads `elf` into `space`; every frame cap created is passed to `on_frame` (for teardown).
pub fn load_elf(
    alloc: &mut ObjectAllocator,
    scratch: &mut Scratch,
    space: &mut AddressSpace,
    elf: &[u8],
    mut on_frame: impl FnMut(Cap<Granule>) -> Result<(), SpawnError>,
) -> Result<LoadedImage, SpawnError> {
    let file = ElfFile::new(elf).map_err(SpawnError::NotAnElf)?;
    let h = &file.header;
    if h.pt1.class() != Class::SixtyFour || h.pt1.data() != Data::LittleEndian {
        return Err(SpawnError::NotAnElf("not a 64-bit little-endian ELF"));
    }
    if h.pt2.machine().as_machine() != Machine::AArch64
        || h.pt2.type_().as_type() != Type::Executable
    {
        return Err(SpawnError::NotAnElf("not an aarch64 executable"));
    }
    let mut next_free = 0usize;
    let mut pages = 0;
    for ph in file.program_iter() {
        if ph.get_type() != Ok(SegmentType::Load) || ph.mem_size() == 0 {
            continue;
        }
        let vaddr = ph.virtual_addr() as usize;
        let bad = SpawnError::BadSegment {
            vaddr: ph.virtual_addr(),
        };
        let file_size = ph.file_size() as usize;
        let offset = ph.offset() as usize;
        let end = vaddr.checked_add(ph.mem_size() as usize).ok_or(bad)?;
        if file_size as u64 > ph.mem_size()
            || offset.checked_add(file_size).is_none_or(|e| e > elf.len())
        {
            return Err(SpawnError::NotAnElf("segment beyond the file"));
        }
        let first = vaddr & !(PAGE_SIZE - 1);
        if first < next_free || end > crate::vspace::USER_LIMIT {
            return Err(bad);
        }
        let flags = ph.flags();
        let rights = if flags.is_write() {
            CapRights::read_write()
        } else {
            CapRights::read_only()
        };
        let attrs = if flags.is_execute() {
            VmAttributes::DEFAULT
        } else {
            VmAttributes::DATA
        };
        let data = &elf[offset..offset + file_size];
        let mut page = first;
        while page < end {
            let frame: Cap<Granule> = alloc.allocate(ObjectBlueprint::SmallPage)?;
            let lo = page.max(vaddr);
            let hi = (page + PAGE_SIZE).min(vaddr + file_size);
            if lo < hi {
                scratch.with_frame(frame, |bytes| {
                    bytes[lo - page..hi - page].copy_from_slice(&data[lo - vaddr..hi - vaddr]);
                })?;
            }
            space.map_frame(alloc, frame, page, rights, attrs)?;
            if flags.is_execute() {
                frame
                    .frame_unify_instruction(0, PAGE_SIZE)
                    .step("Page_Unify_Instruction")?;
            }
            on_frame(frame)?;
            pages += 1;
            page += PAGE_SIZE;
        }
        next_free = page;
    }
    Ok(LoadedImage {
        entry: h.pt2.entry_point(),
        pages,
    })
}
