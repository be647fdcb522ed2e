//! An address space: a page global directory with an ASID, and the upper directories,
//! directories and page tables created on demand when a frame is mapped (each covers 512 GiB,
//! 1 GiB and 2 MiB of address space). Invariant: `tables` lists every paging structure this
//! value mapped, at most one per (level, index).

use crate::error::Step;
use crate::{ObjectAllocator, SpawnError};
use sel4::cap_type::{AsidPool, Granule, Unspecified, VSpace, PD, PT, PUD};
use sel4::{Cap, CapRights, ObjectBlueprint, VmAttributes};

/// Paging structures one address space can hold.
pub const MAX_TABLES: usize = 48;

/// Highest user address + 1 (48-bit address space, lower half).
pub const USER_LIMIT: usize = 1 << 47;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Pud,
    Pd,
    Pt,
}

impl Level {
    const fn shift(self) -> u32 {
        match self {
            Self::Pud => 39,
            Self::Pd => 30,
            Self::Pt => 21,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Table {
    level: Level,
    index: usize,
    cap: Cap<Unspecified>,
}

/// A VSpace and the paging structures mapped into it.
#[derive(Debug, Clone)]
pub struct AddressSpace {
    root: Cap<VSpace>,
    tables: heapless::Vec<Table, MAX_TABLES>,
}

impl AddressSpace {
    /// A new VSpace, with an ASID from `asid_pool` (assigned before anything is mapped).
    pub fn create(
        alloc: &mut ObjectAllocator,
        asid_pool: Cap<AsidPool>,
    ) -> Result<Self, SpawnError> {
        let root: Cap<VSpace> = alloc.allocate(ObjectBlueprint::PGD)?;
        asid_pool.asid_pool_assign(root).step("ASIDPool_Assign")?;
        Ok(Self::existing(root))
    }

    /// An existing VSpace (e.g. the root task's own); only regions it does not use yet may be
    /// mapped through this value, since it knows nothing of the paging structures already there.
    pub fn existing(root: Cap<VSpace>) -> Self {
        Self {
            root,
            tables: heapless::Vec::new(),
        }
    }

    /// The VSpace root.
    pub fn root(&self) -> Cap<VSpace> {
        self.root
    }

    /// The paging structures created so far.
    pub fn tables(&self) -> impl Iterator<Item = Cap<Unspecified>> + '_ {
        self.tables.iter().map(|t| t.cap)
    }

    /// Creates the paging structures covering `vaddr` that are missing.
    pub fn ensure_tables(
        &mut self,
        alloc: &mut ObjectAllocator,
        vaddr: usize,
    ) -> Result<(), SpawnError> {
        self.ensure_levels(alloc, vaddr, &[Level::Pud, Level::Pd, Level::Pt])
    }

    /// Creates the upper directory and directory covering `vaddr` that are missing, and no page
    /// table: what a 2 MiB frame mapped at `vaddr` needs.
    pub fn ensure_directories(
        &mut self,
        alloc: &mut ObjectAllocator,
        vaddr: usize,
    ) -> Result<(), SpawnError> {
        self.ensure_levels(alloc, vaddr, &[Level::Pud, Level::Pd])
    }

    fn ensure_levels(
        &mut self,
        alloc: &mut ObjectAllocator,
        vaddr: usize,
        levels: &[Level],
    ) -> Result<(), SpawnError> {
        if vaddr >= USER_LIMIT {
            return Err(SpawnError::BadSegment {
                vaddr: vaddr as u64,
            });
        }
        for &level in levels {
            let index = vaddr >> level.shift();
            if self
                .tables
                .iter()
                .any(|t| t.level == level && t.index == index)
            {
                continue;
            }
            if self.tables.is_full() {
                return Err(SpawnError::TooManyMappings);
            }
            let base = index << level.shift();
            let attrs = VmAttributes::DEFAULT;
            let cap = match level {
                Level::Pud => {
                    let c: Cap<PUD> = alloc.allocate(ObjectBlueprint::PUD)?;
                    c.pud_map(self.root, base, attrs)
                        .step("PageUpperDirectory_Map")?;
                    c.upcast()
                }
                Level::Pd => {
                    let c: Cap<PD> = alloc.allocate(ObjectBlueprint::PD)?;
                    c.pd_map(self.root, base, attrs).step("PageDirectory_Map")?;
                    c.upcast()
                }
                Level::Pt => {
                    let c: Cap<PT> = alloc.allocate(ObjectBlueprint::PT)?;
                    c.pt_map(self.root, base, attrs).step("PageTable_Map")?;
                    c.upcast()
                }
            };
            let pushed = self.tables.push(Table { level, index, cap });
            debug_assert!(pushed.is_ok(), "checked is_full above");
        }
        Ok(())
    }

    /// Maps a 4 KiB frame at `vaddr` (page aligned), creating paging structures as needed.
    pub fn map_frame(
        &mut self,
        alloc: &mut ObjectAllocator,
        frame: Cap<Granule>,
        vaddr: usize,
        rights: CapRights,
        attrs: VmAttributes,
    ) -> Result<(), SpawnError> {
        if vaddr & (sel4::PAGE_SIZE - 1) != 0 {
            return Err(SpawnError::BadSegment {
                vaddr: vaddr as u64,
            });
        }
        self.ensure_tables(alloc, vaddr)?;
        frame
            .frame_map(self.root, vaddr, rights, attrs)
            .step("Page_Map")
    }
}
