//! Owns planning the placement of the two ELF images in RAM. The kernel's LOAD segments go to
//! their physical addresses; the root task's go page-aligned at a given base (right after the
//! kernel's end), keeping their virtual layout (one `pv_offset` for the whole image), as the seL4
//! 5.0.0 boot contract requires. A plan is only made when every destination lies inside RAM and
//! outside the reserved range (the running loader), so a bad image changes nothing: the binary
//! writes a plan only after it was made in full.
use core::ops::Range;
use xmas_elf::header::{Class, Machine};
use xmas_elf::program::{ProgramHeader, Type};
use xmas_elf::ElfFile;

pub const PAGE_SIZE: u64 = 4096;
/// Copies a plan holds at most (the root task's zero fill plus its segments).
pub const MAX_COPIES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageError {
    /// The ELF parser rejected the file.
    Malformed(&'static str),
    NotElf64,
    NotAarch64,
    NoLoadSegment,
    TooManySegments,
    /// A segment's file bytes lie outside the file, or exceed its memory size.
    SegmentOutsideFile,
    /// An address computation overflows.
    AddressOverflow,
    /// A destination leaves RAM.
    OutsideRam {
        start: u64,
        end: u64,
    },
    /// A destination would overwrite the reserved range (the running loader).
    OverlapsReserved {
        start: u64,
        end: u64,
    },
}

/// The machine's RAM and the part of it that must not be written.
#[derive(Debug, Clone)]
pub struct Memory {
    pub ram: Range<u64>,
    pub reserved: Range<u64>,
}

/// One write: `bytes` at `dest`, then zeroes up to `len` bytes in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy<'a> {
    pub dest: u64,
    pub len: u64,
    pub bytes: &'a [u8],
}

/// Where an image ends up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Writes to perform, in order, and the resulting placement.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    copies: [Option<Copy<'a>>; MAX_COPIES],
    pub placed: Placed,
}

impl<'a> Plan<'a> {
    pub fn copies(&self) -> impl Iterator<Item = &Copy<'a>> {
        self.copies.iter().flatten()
    }
}

pub const fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

pub fn page_up(x: u64) -> Option<u64> {
    Some(x.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

impl Memory {
    fn check(&self, start: u64, len: u64) -> Result<(), ImageError> {
        let end = start.checked_add(len).ok_or(ImageError::AddressOverflow)?;
        if start < self.ram.start || end > self.ram.end {
            return Err(ImageError::OutsideRam { start, end });
        }
        if start < self.reserved.end && self.reserved.start < end {
            return Err(ImageError::OverlapsReserved { start, end });
        }
        Ok(())
    }
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

fn load_segments<'e, 'a: 'e>(elf: &'e ElfFile<'a>) -> impl Iterator<Item = ProgramHeader<'a>> + 'e {
    elf.program_iter()
        .filter(|ph| matches!(ph.get_type(), Ok(Type::Load)) && ph.mem_size() > 0)
}

fn file_bytes<'a>(elf: &ElfFile<'a>, ph: &ProgramHeader<'a>) -> Result<&'a [u8], ImageError> {
    if ph.file_size() > ph.mem_size() {
        return Err(ImageError::SegmentOutsideFile);
    }
    let start = usize::try_from(ph.offset()).map_err(|_| ImageError::SegmentOutsideFile)?;
    let len = usize::try_from(ph.file_size()).map_err(|_| ImageError::SegmentOutsideFile)?;
    let end = start
        .checked_add(len)
        .ok_or(ImageError::SegmentOutsideFile)?;
    elf.input
        .get(start..end)
        .ok_or(ImageError::SegmentOutsideFile)
}

fn push<'a>(
    copies: &mut [Option<Copy<'a>>; MAX_COPIES],
    n: &mut usize,
    copy: Copy<'a>,
) -> Result<(), ImageError> {
    *copies.get_mut(*n).ok_or(ImageError::TooManySegments)? = Some(copy);
    *n += 1;
    Ok(())
}

/// Plans the kernel at the physical addresses of its segments.
pub fn plan_kernel<'a>(data: &'a [u8], memory: &Memory) -> Result<Plan<'a>, ImageError> {
    let elf = parse(data)?;
    let mut copies: [Option<Copy<'a>>; MAX_COPIES] = Default::default();
    let mut n = 0;
    let (mut lo, mut hi, mut pv_offset) = (u64::MAX, 0u64, 0u64);
    for ph in load_segments(&elf) {
        let (start, len) = (ph.physical_addr(), ph.mem_size());
        memory.check(start, len)?;
        if start < lo {
            lo = start;
            pv_offset = start.wrapping_sub(ph.virtual_addr());
        }
        hi = hi.max(start + len);
        let bytes = file_bytes(&elf, &ph)?;
        push(
            &mut copies,
            &mut n,
            Copy {
                dest: start,
                len,
                bytes,
            },
        )?;
    }
    if n == 0 {
        return Err(ImageError::NoLoadSegment);
    }
    Ok(Plan {
        copies,
        placed: Placed {
            phys_start: page_down(lo),
            phys_end: page_up(hi).ok_or(ImageError::AddressOverflow)?,
            pv_offset,
            entry: elf.header.pt2.entry_point(),
        },
    })
}

/// Plans a user image page-aligned at `phys_base` (rounded up to a page), keeping the distances
/// between its segments; the whole image range is zeroed first, then the segments written.
pub fn plan_user<'a>(
    data: &'a [u8],
    phys_base: u64,
    memory: &Memory,
) -> Result<Plan<'a>, ImageError> {
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
    let base = page_up(phys_base).ok_or(ImageError::AddressOverflow)?;
    let pv_offset = base.wrapping_sub(vlo);
    memory.check(base, vhi - vlo)?;

    let mut copies: [Option<Copy<'a>>; MAX_COPIES] = Default::default();
    let mut n = 0;
    let whole = Copy {
        dest: base,
        len: vhi - vlo,
        bytes: &[],
    };
    push(&mut copies, &mut n, whole)?;
    for ph in load_segments(&elf) {
        let dest = ph.virtual_addr().wrapping_add(pv_offset);
        debug_assert!(dest >= base && dest + ph.mem_size() <= base + (vhi - vlo));
        let bytes = file_bytes(&elf, &ph)?;
        push(
            &mut copies,
            &mut n,
            Copy {
                dest,
                len: ph.mem_size(),
                bytes,
            },
        )?;
    }
    Ok(Plan {
        copies,
        placed: Placed {
            phys_start: base,
            phys_end: base + (vhi - vlo),
            pv_offset,
            entry: elf.header.pt2.entry_point(),
        },
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    struct Seg {
        vaddr: u64,
        paddr: u64,
        data: &'static [u8],
        memsz: u64,
    }

    const DATA_AT: usize = 0x1000;

    /// A minimal little-endian ELF64 executable for `machine` with LOAD segments `segs`, in a
    /// buffer aligned for the parser.
    fn elf(machine: u16, entry: u64, segs: &[Seg]) -> Vec<u64> {
        let mut b: Vec<u8> = Vec::new();
        b.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&machine.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&entry.to_le_bytes());
        b.extend_from_slice(&64u64.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        for v in [64u16, 56, segs.len() as u16, 64, 0, 0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let mut offset = DATA_AT as u64;
        for s in segs {
            b.extend_from_slice(&1u32.to_le_bytes());
            b.extend_from_slice(&5u32.to_le_bytes());
            for v in [
                offset,
                s.vaddr,
                s.paddr,
                s.data.len() as u64,
                s.memsz,
                0x1000,
            ] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            offset += s.data.len() as u64;
        }
        b.resize(DATA_AT, 0);
        for s in segs {
            b.extend_from_slice(s.data);
        }
        b.resize(b.len().div_ceil(8) * 8, 0);
        b.chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn bytes(words: &[u64]) -> &[u8] {
        // SAFETY: a u64 slice viewed as its bytes; same memory, alignment 1 suffices.
        unsafe { core::slice::from_raw_parts(words.as_ptr().cast(), words.len() * 8) }
    }

    const AARCH64: u16 = 183;
    const KERNEL_VBASE: u64 = 0xffff_ff80_0000_0000;

    fn memory() -> Memory {
        Memory {
            ram: 0x4000_0000..0x8000_0000,
            reserved: 0x4800_0000..0x4810_0000,
        }
    }

    #[test]
    fn kernel_goes_to_its_physical_addresses() {
        let img = elf(
            AARCH64,
            KERNEL_VBASE,
            &[Seg {
                vaddr: KERNEL_VBASE,
                paddr: 0x4000_0000,
                data: b"kernel",
                memsz: 0x2345,
            }],
        );
        let plan = plan_kernel(bytes(&img), &memory()).unwrap();
        let copies: Vec<_> = plan.copies().collect();
        assert_eq!(copies.len(), 1);
        assert_eq!(
            (copies[0].dest, copies[0].len, copies[0].bytes),
            (0x4000_0000, 0x2345, &b"kernel"[..])
        );
        assert_eq!(plan.placed.phys_start, 0x4000_0000);
        assert_eq!(plan.placed.phys_end, 0x4000_3000);
        assert_eq!(plan.placed.entry, KERNEL_VBASE);
        assert_eq!(
            plan.placed.pv_offset,
            0x4000_0000u64.wrapping_sub(KERNEL_VBASE)
        );
    }

    #[test]
    fn user_image_keeps_its_layout_after_the_base() {
        let img = elf(
            AARCH64,
            0x40_0010,
            &[
                Seg {
                    vaddr: 0x40_0000,
                    paddr: 0x40_0000,
                    data: b"text",
                    memsz: 4,
                },
                Seg {
                    vaddr: 0x40_2100,
                    paddr: 0x40_2100,
                    data: b"data",
                    memsz: 0x1000,
                },
            ],
        );
        let plan = plan_user(bytes(&img), 0x4023_0800, &memory()).unwrap();
        let p = plan.placed;
        assert_eq!(p.phys_start, 0x4023_1000, "base rounds up to a page");
        assert_eq!(p.phys_end, 0x4023_1000 + 0x4000);
        assert_eq!(p.pv_offset, 0x4023_1000 - 0x40_0000);
        assert_eq!(p.entry, 0x40_0010);
        let copies: Vec<_> = plan
            .copies()
            .map(|c| (c.dest, c.len, c.bytes.len()))
            .collect();
        assert_eq!(
            copies,
            [
                (0x4023_1000, 0x4000, 0),
                (0x4023_1000, 4, 4),
                (0x4023_3100, 0x1000, 4)
            ],
            "the whole image is zeroed first, then each segment written at its offset"
        );
    }

    #[test]
    fn destinations_outside_ram_or_over_the_loader_are_refused() {
        let seg = |paddr| {
            [Seg {
                vaddr: KERNEL_VBASE,
                paddr,
                data: b"k",
                memsz: 0x1000,
            }]
        };
        let low = elf(AARCH64, 0, &seg(0x3fff_f000));
        assert_eq!(
            plan_kernel(bytes(&low), &memory()).unwrap_err(),
            ImageError::OutsideRam {
                start: 0x3fff_f000,
                end: 0x4000_0000
            }
        );
        let high = elf(AARCH64, 0, &seg(0x7fff_f800));
        assert!(matches!(
            plan_kernel(bytes(&high), &memory()),
            Err(ImageError::OutsideRam { .. })
        ));
        let over = elf(AARCH64, 0, &seg(0x480f_f000));
        assert_eq!(
            plan_kernel(bytes(&over), &memory()).unwrap_err(),
            ImageError::OverlapsReserved {
                start: 0x480f_f000,
                end: 0x4810_0000
            }
        );
        let user = elf(
            AARCH64,
            0,
            &[Seg {
                vaddr: 0x40_0000,
                paddr: 0,
                data: b"u",
                memsz: 0x2000,
            }],
        );
        assert!(matches!(
            plan_user(bytes(&user), 0x47ff_f000, &memory()),
            Err(ImageError::OverlapsReserved { .. })
        ));
    }

    #[test]
    fn malformed_or_foreign_images_are_refused() {
        let x86 = elf(
            62,
            0,
            &[Seg {
                vaddr: 0,
                paddr: 0x4000_0000,
                data: b"k",
                memsz: 1,
            }],
        );
        assert_eq!(
            plan_kernel(bytes(&x86), &memory()).unwrap_err(),
            ImageError::NotAarch64
        );
        let empty = elf(AARCH64, 0, &[]);
        assert_eq!(
            plan_kernel(bytes(&empty), &memory()).unwrap_err(),
            ImageError::NoLoadSegment
        );
        assert_eq!(
            plan_user(bytes(&empty), 0x4100_0000, &memory()).unwrap_err(),
            ImageError::NoLoadSegment
        );
        let too_big = elf(
            AARCH64,
            0,
            &[Seg {
                vaddr: 0,
                paddr: 0x4000_0000,
                data: b"abcd",
                memsz: 2,
            }],
        );
        assert_eq!(
            plan_kernel(bytes(&too_big), &memory()).unwrap_err(),
            ImageError::SegmentOutsideFile
        );
        let mut not_elf = elf(AARCH64, 0, &[]);
        not_elf[0] = 0;
        assert!(matches!(
            plan_kernel(bytes(&not_elf), &memory()),
            Err(ImageError::Malformed(_))
        ));
        let many: Vec<Seg> = (0..MAX_COPIES as u64)
            .map(|i| Seg {
                vaddr: 0x40_0000 + i * 0x1000,
                paddr: 0,
                data: b"",
                memsz: 8,
            })
            .collect();
        assert_eq!(
            plan_user(bytes(&elf(AARCH64, 0, &many)), 0x4100_0000, &memory()).unwrap_err(),
            ImageError::TooManySegments,
            "the zero fill takes one of the copies"
        );
    }
}
