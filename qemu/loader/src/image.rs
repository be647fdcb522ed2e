//! Owns placing the two ELF images in RAM. The kernel's LOAD segments go to their physical
//! addresses; the root task's go page-aligned right after the kernel's end, keeping their virtual
//! layout (one `pv_offset` for the whole image), as the seL4 5.0.0 boot contract requires. Every
//! segment is checked before the first byte is written, so a bad image changes nothing.
use crate::phys::{page_down, page_up, Region, RegionError, PAGE_SIZE};
use xmas_elf::header::{Class, Machine};
use xmas_elf::program::{ProgramHeader, Type};
use xmas_elf::ElfFile;

const MAX_SEGMENTS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageError {
    /// The ELF parser rejected the file.
    Malformed(&'static str),
    NotAarch64,
    NotElf64,
    NoLoadSegment,
    TooManySegments,
    /// A segment's file bytes lie outside the file, or its file size exceeds its memory size.
    SegmentOutsideFile,
    /// A segment's addresses overflow.
    AddressOverflow,
    Region(RegionError),
}

impl From<RegionError> for ImageError {
    fn from(e: RegionError) -> Self {
        ImageError::Region(e)
    }
}

/// Where an image ended up.
#[derive(Debug, Clone, Copy)]
pub struct Placed {
    /// First physical byte (page aligned).
    pub phys_start: u64,
    /// Physical end, exclusive, page aligned.
    pub phys_end: u64,
    /// Physical minus virtual address (wrapping).
    pub pv_offset: u64,
    /// Entry point (virtual).
    pub entry: u64,
}

struct Segment<'a> {
    dest: Region,
    bytes: &'a [u8],
}

fn parse(data: &[u8]) -> Result<ElfFile<'_>, ImageError> {
    let elf = ElfFile::new(data).map_err(ImageError::Malformed)?;
    if elf.header.pt1.class() != Class::SixtyFour {
        return Err(ImageError::NotElf64);
    }
    if elf.header.pt2.machine().as_machine() != Machine::AArch64 {
        return Err(ImageError::NotAarch64);
    }
    Ok(elf)
}

fn load_segments<'a>(elf: &'a ElfFile<'a>) -> impl Iterator<Item = ProgramHeader<'a>> + 'a {
    elf.program_iter()
        .filter(|ph| matches!(ph.get_type(), Ok(Type::Load)) && ph.mem_size() > 0)
}

fn file_bytes<'a>(elf: &ElfFile<'a>, ph: &ProgramHeader<'a>) -> Result<&'a [u8], ImageError> {
    let start = ph.offset() as usize;
    let end = start
        .checked_add(ph.file_size() as usize)
        .ok_or(ImageError::SegmentOutsideFile)?;
    if ph.file_size() > ph.mem_size() {
        return Err(ImageError::SegmentOutsideFile);
    }
    elf.input
        .get(start..end)
        .ok_or(ImageError::SegmentOutsideFile)
}

fn write_all(segments: &[Option<Segment<'_>>]) {
    for s in segments.iter().flatten() {
        s.dest.fill(s.bytes);
    }
}

/// Places the kernel at the physical addresses of its segments.
pub fn place_kernel(data: &[u8]) -> Result<Placed, ImageError> {
    let elf = parse(data)?;
    let mut segments: [Option<Segment<'_>>; MAX_SEGMENTS] = Default::default();
    let (mut lo, mut hi, mut pv_offset) = (u64::MAX, 0u64, 0u64);
    for (i, ph) in load_segments(&elf).enumerate() {
        let slot = segments.get_mut(i).ok_or(ImageError::TooManySegments)?;
        let dest = Region::new(ph.physical_addr(), ph.mem_size())?;
        let end = ph.physical_addr() + ph.mem_size();
        if ph.physical_addr() < lo {
            lo = ph.physical_addr();
            pv_offset = ph.physical_addr().wrapping_sub(ph.virtual_addr());
        }
        hi = hi.max(end);
        *slot = Some(Segment {
            dest,
            bytes: file_bytes(&elf, &ph)?,
        });
    }
    if hi == 0 {
        return Err(ImageError::NoLoadSegment);
    }
    write_all(&segments);
    Ok(Placed {
        phys_start: page_down(lo),
        phys_end: page_up(hi).ok_or(ImageError::AddressOverflow)?,
        pv_offset,
        entry: elf.header.pt2.entry_point(),
    })
}

/// Places a user image page-aligned at `phys_base`, keeping the distances between its segments.
pub fn place_user(data: &[u8], phys_base: u64) -> Result<Placed, ImageError> {
    let elf = parse(data)?;
    let (mut vlo, mut vhi) = (u64::MAX, 0u64);
    for ph in load_segments(&elf) {
        let end = ph
            .virtual_addr()
            .checked_add(ph.mem_size())
            .ok_or(ImageError::AddressOverflow)?;
        vlo = vlo.min(ph.virtual_addr());
        vhi = vhi.max(end);
    }
    if vhi == 0 {
        return Err(ImageError::NoLoadSegment);
    }
    let vlo = page_down(vlo);
    let vhi = page_up(vhi).ok_or(ImageError::AddressOverflow)?;
    let phys_base = page_up(phys_base).ok_or(ImageError::AddressOverflow)?;
    debug_assert_eq!(phys_base % PAGE_SIZE, 0);
    let pv_offset = phys_base.wrapping_sub(vlo);
    let whole = Region::new(phys_base, vhi - vlo)?;

    let mut segments: [Option<Segment<'_>>; MAX_SEGMENTS] = Default::default();
    for (i, ph) in load_segments(&elf).enumerate() {
        let slot = segments.get_mut(i).ok_or(ImageError::TooManySegments)?;
        *slot = Some(Segment {
            dest: Region::new(ph.virtual_addr().wrapping_add(pv_offset), ph.mem_size())?,
            bytes: file_bytes(&elf, &ph)?,
        });
    }
    whole.fill(&[]);
    write_all(&segments);
    Ok(Placed {
        phys_start: phys_base,
        phys_end: phys_base + (vhi - vlo),
        pv_offset,
        entry: elf.header.pt2.entry_point(),
    })
}
