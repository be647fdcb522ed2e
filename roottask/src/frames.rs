//! The seL4 platform of the memory server: RAM untyped memory turned into the frames of the buddy
//! zones, one zone per memory node.
//!
//! Owns: for each node, one RAM untyped lying inside that node's physical range (taken out of the
//! root task's object allocator, so nothing else retypes from it), retyped into `ZONE_BYTES` of
//! 4 KiB frames; every frame mapped once into the server's window (read-write, never executable)
//! at `SERVER_WINDOW + node * NODE_STRIDE`, then moved into the frames CNode at its frame number.
//! Invariants: frame number `i` of node `n` has physical address `paddr_n + i * 4 KiB`, server
//! address `vaddr_n + i * 4 KiB` and its capability in frames-CNode slot `first_n + i`, so a
//! frame's capability follows from its physical or server address by arithmetic (no search). The
//! frames CNode's capabilities stay mapped in the server for the life of the system; clients get
//! copies. Single-threaded (built at boot, then read only).

use crate::numa::{NodeRange, NODES, ZONE_BYTES};
use alloc::vec::Vec;
use memserver::platform::{MemRange, Platform};
use memserver::topology::NodeId;
use sel4::cap_type::{CNode, Granule, Untyped};
use sel4::{
    init_thread, AbsoluteCPtr, Cap, CapRights, ObjectBlueprint, VmAttributes, Word, PAGE_SIZE,
};
use sel4_root_task::{AddressSpace, AllocError, ObjectAllocator, SpawnError, UntypedPool};

/// Server address of node 0's zone (top-level entry 1: the root image uses entry 0).
pub const SERVER_WINDOW: usize = 0x80_0000_0000;
/// Distance between the zones of consecutive nodes in the server window.
pub const NODE_STRIDE: usize = 0x4000_0000;
/// Frames retyped per invocation (the kernel's fan-out limit).
const BATCH: usize = 256;

/// Why the platform could not be built.
#[derive(Debug, Clone, Copy)]
pub enum PlatformError {
    /// No unused RAM untyped of at least `ZONE_BYTES` lies inside this node's range.
    NoUntypedForNode(u8),
    /// Root CNode slots or memory for the frames CNode ran out.
    Alloc(AllocError),
    /// Mapping a frame into the server window failed.
    Map(SpawnError),
    /// The kernel refused a retype or a move.
    Kernel(&'static str, sel4::Error),
    /// The kernel placed a frame elsewhere than the arithmetic says.
    FrameMisplaced { expected: Word, got: Word },
    /// The temporary slots were not consecutive.
    SlotsNotConsecutive,
}

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoUntypedForNode(n) => write!(f, "no unused RAM untyped for a zone of node {n}"),
            Self::Alloc(e) => write!(f, "allocation: {e:?}"),
            Self::Map(e) => write!(f, "mapping into the server window: {e:?}"),
            Self::Kernel(step, e) => write!(f, "{step}: {e:?}"),
            Self::FrameMisplaced { expected, got } => {
                write!(f, "frame at {got:#x}, expected {expected:#x}")
            }
            Self::SlotsNotConsecutive => write!(f, "temporary slots not consecutive"),
        }
    }
}

impl From<AllocError> for PlatformError {
    fn from(e: AllocError) -> Self {
        Self::Alloc(e)
    }
}

/// One node's zone.
#[derive(Debug, Clone, Copy)]
pub struct Zone {
    pub node: NodeId,
    pub paddr: Word,
    pub vaddr: usize,
    pub frames: usize,
    /// Frame number (frames-CNode slot) of the zone's first frame.
    pub first: usize,
}

/// The frames of all zones.
#[derive(Debug)]
pub struct Sel4Platform {
    zones: Vec<Zone>,
    ranges: Vec<MemRange>,
    cnode: Cap<CNode>,
    cnode_bits: usize,
    temp: Word,
}

impl Sel4Platform {
    /// Builds one zone per node from the RAM untypeds of `alloc`.
    pub fn build(alloc: &mut ObjectAllocator) -> Result<Self, PlatformError> {
        let picked = take_node_untypeds(alloc.untyped_pool())?;
        let frames_per_zone = ZONE_BYTES / PAGE_SIZE;
        let total = frames_per_zone * picked.len();
        let cnode_bits = total.next_power_of_two().trailing_zeros() as usize;
        let cnode: Cap<CNode> = alloc.allocate(ObjectBlueprint::CNode {
            size_bits: cnode_bits,
        })?;
        let temp = consecutive_slots(alloc, BATCH)?;
        let mut window = AddressSpace::existing(init_thread::VSPACE);
        let mut zones = Vec::new();
        let mut ranges = Vec::new();
        for (n, (untyped, paddr)) in picked.iter().enumerate() {
            let zone = Zone {
                node: NodeId(n as u8),
                paddr: *paddr,
                vaddr: SERVER_WINDOW + n * NODE_STRIDE,
                frames: frames_per_zone,
                first: n * frames_per_zone,
            };
            fill_zone(alloc, &mut window, *untyped, temp, cnode, cnode_bits, &zone)?;
            ranges.push(MemRange {
                node: zone.node,
                base: zone.vaddr,
                len: ZONE_BYTES,
            });
            zones.push(zone);
        }
        Ok(Self {
            zones,
            ranges,
            cnode,
            cnode_bits,
            temp,
        })
    }

    /// The zones.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Frames in all zones.
    pub fn total_frames(&self) -> usize {
        self.zones.iter().map(|z| z.frames).sum()
    }

    fn zone_of(&self, vaddr: usize) -> Option<&Zone> {
        let n = vaddr.checked_sub(SERVER_WINDOW)? / NODE_STRIDE;
        let z = self.zones.get(n)?;
        (vaddr >= z.vaddr && vaddr < z.vaddr + z.frames * PAGE_SIZE).then_some(z)
    }

    /// Frame number of the frame at server address `vaddr`.
    pub fn frame_of(&self, vaddr: usize) -> Option<usize> {
        let z = self.zone_of(vaddr)?;
        Some(z.first + (vaddr - z.vaddr) / PAGE_SIZE)
    }

    /// Server address of frame number `frame`.
    pub fn vaddr_of_frame(&self, frame: usize) -> Option<usize> {
        let z = self.zones.get(frame / (ZONE_BYTES / PAGE_SIZE))?;
        (frame >= z.first && frame < z.first + z.frames)
            .then(|| z.vaddr + (frame - z.first) * PAGE_SIZE)
    }

    /// Physical address of server address `vaddr`.
    pub fn paddr_of(&self, vaddr: usize) -> Option<Word> {
        let z = self.zone_of(vaddr)?;
        Some(z.paddr + (vaddr - z.vaddr) as Word)
    }

    /// Node of server address `vaddr`, by its physical address (the image's node ranges).
    pub fn node_of(&self, vaddr: usize) -> Option<NodeId> {
        crate::numa::node_of_paddr(self.paddr_of(vaddr)?)
    }

    /// Core `core`'s root CNode slot that is empty between uses (for a frame copy on its way to
    /// a client); one per core, so the serve loops of different cores never share one.
    pub fn temp_slot(&self, core: usize) -> Word {
        self.temp + (core % BATCH) as Word
    }

    /// The capability of frame number `frame` (in the frames CNode).
    pub fn frame_cap(&self, frame: usize) -> AbsoluteCPtr {
        self.cnode
            .relative_bits_with_depth(frame as Word, self.cnode_bits)
    }
}

impl Platform for Sel4Platform {
    fn memory(&self) -> &[MemRange] {
        &self.ranges
    }
}

/// For each node, the smallest unused RAM untyped inside its range with room for a zone; removes
/// them from the pool. Returns (untyped, physical address) per node.
fn take_node_untypeds(pool: &mut UntypedPool) -> Result<Vec<(Cap<Untyped>, Word)>, PlatformError> {
    let mut records: Vec<_> = pool.records().to_vec();
    let mut picked = Vec::new();
    for (n, range) in NODES.iter().enumerate() {
        let i = records
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.used == 0
                    && (1usize << r.size_bits) >= ZONE_BYTES
                    && inside(range, r.paddr, r.size_bits)
            })
            .min_by_key(|(_, r)| r.size_bits)
            .map(|(i, _)| i)
            .ok_or(PlatformError::NoUntypedForNode(n as u8))?;
        let r = records.swap_remove(i);
        picked.push((Cap::from_bits(r.slot), r.paddr));
    }
    *pool = UntypedPool::from_records(records);
    Ok(picked)
}

fn inside(range: &NodeRange, paddr: Word, size_bits: u8) -> bool {
    paddr >= range.start && paddr + (1 << size_bits) <= range.end
}

fn consecutive_slots(alloc: &mut ObjectAllocator, n: usize) -> Result<Word, PlatformError> {
    let first = alloc.slot()?;
    for i in 1..n {
        if alloc.slot()? != first + i as Word {
            return Err(PlatformError::SlotsNotConsecutive);
        }
    }
    Ok(first)
}

/// Retypes the zone's frames in batches into the temporary slots, maps each into the server
/// window and moves it to its frames-CNode slot.
fn fill_zone(
    alloc: &mut ObjectAllocator,
    window: &mut AddressSpace,
    untyped: Cap<Untyped>,
    temp: Word,
    cnode: Cap<CNode>,
    cnode_bits: usize,
    zone: &Zone,
) -> Result<(), PlatformError> {
    let root = init_thread::CNODE;
    let mut done = 0;
    while done < zone.frames {
        let n = BATCH.min(zone.frames - done);
        untyped
            .untyped_retype(
                &ObjectBlueprint::SmallPage,
                &root.relative_bits_with_depth(0, 0),
                temp as usize,
                n,
            )
            .map_err(|e| PlatformError::Kernel("Untyped_Retype (zone frames)", e))?;
        for j in 0..n {
            let frame: Cap<Granule> = Cap::from_bits(temp + j as Word);
            let index = done + j;
            if index == 0 {
                let got = frame
                    .frame_get_address()
                    .map_err(|e| PlatformError::Kernel("Page_GetAddress", e))?;
                if got != zone.paddr {
                    return Err(PlatformError::FrameMisplaced {
                        expected: zone.paddr,
                        got,
                    });
                }
            }
            window
                .map_frame(
                    alloc,
                    frame,
                    zone.vaddr + index * PAGE_SIZE,
                    CapRights::read_write(),
                    VmAttributes::DATA,
                )
                .map_err(PlatformError::Map)?;
            cnode
                .relative_bits_with_depth((zone.first + index) as Word, cnode_bits)
                .move_(&root.relative(frame))
                .map_err(|e| PlatformError::Kernel("CNode_Move (zone frame)", e))?;
        }
        done += n;
    }
    Ok(())
}
