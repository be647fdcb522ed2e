//! The seL4 platform of the memory server: all RAM untyped memory the root task does not keep
//! for itself, turned into the frames of the buddy zones.
//!
//! Owns: every RAM untyped lying in the configured memory nodes (`system::config().nodes`), less
//! a reserve the root task keeps for its own objects and its clients' (the smallest untypeds of
//! node 0, see [`reserve_bytes`]), and at most `memory_per_node` of each node when the
//! description limits it; each is taken out of the root task's object allocator (so nothing else
//! retypes from it), cut at node boundaries into zones, retyped from its watermark on into 4 KiB
//! frames, every frame mapped once into the server window (read-write, never executable) and
//! moved into the frames CNode at its frame number.
//!
//! The zones lie in the server window one after the other, in physical order, each at the
//! first address not below the previous zone's end that is congruent to its physical address
//! modulo the largest buddy block (4 MiB): blocks naturally aligned in the window are naturally
//! aligned in physical memory, and the window spans about the memory managed (the allocator's
//! page map covers the span), however sparse the zones are in physical memory.
//! Invariants: zones are sorted by address and numbered consecutively: frame `i` of zone `z` has
//! physical address `z.paddr + i * 4 KiB`, server address `z.vaddr + i * 4 KiB` and its
//! capability in frames-CNode slot `z.first + i`, so a frame's capability follows from its
//! address by a search over the (few) zones and arithmetic. The frames CNode's capabilities stay
//! mapped in the server for the life of the system; clients get copies. Built once at boot, then
//! read only.
//!
//! Cost: one retype per 256 frames, one map and one move per frame, one page table per 2 MiB:
//! linear in the RAM managed.

use alloc::vec::Vec;
use memserver::platform::{MemRange, Platform};
use memserver::topology::NodeId;
use memserver_system::Node;
use sel4::cap_type::{CNode, Granule, Untyped, PD, PT, PUD};
use sel4::{
    init_thread, AbsoluteCPtr, Cap, CapRights, ObjectBlueprint, VmAttributes, Word, PAGE_SIZE,
};
use sel4_root_task::{AllocError, ObjectAllocator, UntypedPool, UntypedRecord};

/// Start of the server window (top-level entry 1: the root image uses entry 0); it spans 512 GiB,
/// more than `virt` can have.
pub const SERVER_WINDOW: usize = 0x80_0000_0000;
/// The zones' alignment in the window, relative to physical memory: the largest buddy block.
const BLOCK: usize = PAGE_SIZE << memserver::buddy::MAX_ORDER;
/// Frames retyped per invocation (the kernel's fan-out limit).
const BATCH: usize = 256;
/// What the root task keeps for its own objects besides the page tables and the clients: server
/// threads, endpoints, notifications, the frames CNode's neighbours, spare slots' objects.
const ROOT_RESERVE: u64 = 16 << 20;

/// What the root task keeps of `ram` bytes of RAM for a system of `clients` clients:
/// [`ROOT_RESERVE`], the untyped each client is made from (`2^CLIENT_MEMORY_BITS` bytes, for
/// every listed client at once), and the page tables of the server window and of the clients'
/// heap windows (one 4 KiB table per 2 MiB mapped, in each).
pub fn reserve_bytes(ram: u64, clients: usize) -> u64 {
    ROOT_RESERVE + ((clients as u64) << crate::clients::CLIENT_MEMORY_BITS) + 2 * (ram / 512)
}

/// Why the platform could not be built.
#[derive(Debug, Clone, Copy)]
pub enum PlatformError {
    /// The embedded configuration does not decode.
    Config(memserver_system::DecodeError),
    /// No RAM is left for the zones after the root task's reserve.
    NoMemory,
    /// Root CNode slots or memory for the frames CNode ran out.
    Alloc(AllocError),
    /// Mapping a frame or a paging structure into the server window failed.
    Map(&'static str, sel4::Error),
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
            Self::Config(e) => write!(f, "system configuration: {e}"),
            Self::NoMemory => write!(f, "no RAM untyped left for the zones"),
            Self::Alloc(e) => write!(f, "allocation: {e:?}"),
            Self::Map(step, e) => write!(f, "mapping into the server window: {step}: {e:?}"),
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

/// A zone: consecutive frames of one untyped on one node.
#[derive(Debug, Clone, Copy)]
pub struct Zone {
    pub node: NodeId,
    pub paddr: Word,
    pub vaddr: usize,
    pub frames: usize,
    /// Frame number (frames-CNode slot) of the zone's first frame.
    pub first: usize,
}

impl Zone {
    fn end(&self) -> usize {
        self.vaddr + self.frames * PAGE_SIZE
    }
}

/// The first server address not below `next` congruent to `paddr` modulo [`BLOCK`].
fn place(next: usize, paddr: Word) -> usize {
    let off = paddr as usize % BLOCK;
    (next - off).next_multiple_of(BLOCK) + off
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

/// A piece of an untyped to become a zone: its untyped (index among the candidates, and its
/// slot), where it starts, how many frames.
#[derive(Debug, Clone, Copy)]
struct Piece {
    untyped: usize,
    slot: Word,
    node: NodeId,
    paddr: Word,
    frames: usize,
}

impl Sel4Platform {
    /// [`Sel4Platform::build`], reporting its cost on the console: `measure zones_frames <n>`,
    /// `measure zones_build_instructions <n>` (guest instructions under `-icount`) and
    /// `measure boot_to_zones_instructions <n>` (since the loader started the counter).
    pub fn build_measured(alloc: &mut ObjectAllocator) -> Result<Self, PlatformError> {
        let before = sel4::pmu::cycle_counter();
        let platform = Self::build(alloc)?;
        let after = sel4::pmu::cycle_counter();
        sel4_root_task::debug_println!("measure zones_frames {}", platform.total_frames());
        sel4_root_task::debug_println!("measure zones_build_instructions {}", after - before);
        sel4_root_task::debug_println!("measure boot_to_zones_instructions {after}");
        Ok(platform)
    }

    /// Builds the zones from the RAM untypeds of `alloc`, keeping the root task's reserve.
    pub fn build(alloc: &mut ObjectAllocator) -> Result<Self, PlatformError> {
        let config = crate::system::config().map_err(PlatformError::Config)?;
        let nodes = &config.nodes;
        // The frames CNode is made first, sized for every frame the zones could get; the rest
        // of its untyped still goes to a zone.
        let upper = candidate_bytes(alloc.untyped_pool(), nodes) / PAGE_SIZE as u64;
        if upper == 0 {
            return Err(PlatformError::NoMemory);
        }
        let cnode_bits = (upper as usize).next_power_of_two().trailing_zeros() as usize;
        let cnode: Cap<CNode> = alloc.allocate(ObjectBlueprint::CNode {
            size_bits: cnode_bits,
        })?;
        let temp = consecutive_slots(alloc, BATCH)?;
        let reserve = reserve_bytes(config.ram_bytes(), config.clients.len());
        let taken = take_untypeds(
            alloc.untyped_pool(),
            nodes,
            reserve,
            config.server.memory_per_node,
        )?;
        let mut window = Window::default();
        let mut zones = Vec::with_capacity(taken.pieces.len());
        let mut ranges = Vec::with_capacity(taken.pieces.len());
        let mut first = 0;
        let mut next = SERVER_WINDOW;
        for p in &taken.pieces {
            let zone = Zone {
                node: p.node,
                paddr: p.paddr,
                vaddr: place(next, p.paddr),
                frames: p.frames,
                first,
            };
            let untyped = Cap::from_bits(p.slot);
            fill_zone(alloc, &mut window, untyped, temp, cnode, cnode_bits, &zone)?;
            ranges.push(MemRange {
                node: zone.node,
                base: zone.vaddr,
                len: zone.frames * PAGE_SIZE,
            });
            first += zone.frames;
            next = zone.end();
            zones.push(zone);
        }
        // What the zones left of their untypeds goes back to the root task.
        let pool = alloc.untyped_pool();
        let records = pool.records().iter().copied().chain(taken.leftovers);
        *pool = UntypedPool::from_records(records.collect::<Vec<_>>());
        Ok(Self {
            zones,
            ranges,
            cnode,
            cnode_bits,
            temp,
        })
    }

    /// The zones, by address.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Frames in all zones.
    pub fn total_frames(&self) -> usize {
        self.zones.iter().map(|z| z.frames).sum()
    }

    fn zone_of(&self, vaddr: usize) -> Option<&Zone> {
        let i = self.zones.partition_point(|z| z.end() <= vaddr);
        let z = self.zones.get(i)?;
        (vaddr >= z.vaddr).then_some(z)
    }

    /// Frame number of the frame at server address `vaddr`.
    pub fn frame_of(&self, vaddr: usize) -> Option<usize> {
        let z = self.zone_of(vaddr)?;
        Some(z.first + (vaddr - z.vaddr) / PAGE_SIZE)
    }

    /// Server address of frame number `frame`.
    pub fn vaddr_of_frame(&self, frame: usize) -> Option<usize> {
        let i = self.zones.partition_point(|z| z.first + z.frames <= frame);
        let z = self.zones.get(i)?;
        (frame >= z.first).then(|| z.vaddr + (frame - z.first) * PAGE_SIZE)
    }

    /// Physical address of server address `vaddr`.
    pub fn paddr_of(&self, vaddr: usize) -> Option<Word> {
        let z = self.zone_of(vaddr)?;
        Some(z.paddr + (vaddr - z.vaddr) as Word)
    }

    /// Node of server address `vaddr`, by its physical address (the configured node ranges).
    pub fn node_of(&self, vaddr: usize) -> Option<NodeId> {
        crate::system::node_of_paddr(self.paddr_of(vaddr)?)
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

/// First byte of `r` a frame can be retyped at (its watermark, page aligned).
fn free_start(r: &UntypedRecord) -> Word {
    (r.paddr + r.used).next_multiple_of(PAGE_SIZE as Word)
}

fn end_of(r: &UntypedRecord) -> Word {
    r.paddr + (1 << r.size_bits)
}

/// Bytes of RAM untyped inside the nodes not yet retyped.
fn candidate_bytes(pool: &UntypedPool, nodes: &[Node]) -> u64 {
    pool.records()
        .iter()
        .filter(|r| in_nodes(nodes, r))
        .map(|r| end_of(r).saturating_sub(free_start(r)))
        .sum()
}

fn in_nodes(nodes: &[Node], r: &UntypedRecord) -> bool {
    let (first, last) = (nodes.first(), nodes.last());
    first
        .zip(last)
        .is_some_and(|(f, l)| r.paddr >= f.start && end_of(r) <= l.end)
}

/// The untypeds taken for the zones and what becomes of them.
struct Taken {
    /// The pieces of the taken untypeds that become zones, by address (pieces of one untyped in order, from its
    /// watermark on).
    pieces: Vec<Piece>,
    /// Taken untypeds whose end no zone uses, with the watermark the zones leave: they go back
    /// to the pool once the zones are filled.
    leftovers: Vec<UntypedRecord>,
}

/// Takes the untypeds for the zones out of `pool`: every one inside the nodes except the
/// smallest of node 0 (by free bytes) that together hold at least `reserve` bytes, which stay in
/// the pool; of each node at most `per_node` bytes, the largest pieces first.
fn take_untypeds(
    pool: &mut UntypedPool,
    nodes: &[Node],
    reserve: u64,
    per_node: u64,
) -> Result<Taken, PlatformError> {
    let free = |r: &UntypedRecord| end_of(r).saturating_sub(free_start(r));
    let records: Vec<UntypedRecord> = pool.records().to_vec();
    // Node 0's untypeds, smallest free space first, until the reserve is covered.
    let mut node0: Vec<usize> = (0..records.len())
        .filter(|&i| nodes.first().is_some_and(|n| n.contains(records[i].paddr)))
        .collect();
    node0.sort_by_key(|&i| free(&records[i]));
    let mut kept_bytes = 0;
    let mut keep = Vec::new();
    for i in node0 {
        if kept_bytes >= reserve {
            break;
        }
        kept_bytes += free(&records[i]);
        keep.push(i);
    }
    let mut kept = Vec::new();
    let mut candidates = Vec::new();
    for (i, r) in records.into_iter().enumerate() {
        if keep.contains(&i) || !in_nodes(nodes, &r) || free(&r) == 0 {
            kept.push(r);
        } else {
            candidates.push(r);
        }
    }
    candidates.sort_by_key(|r| r.paddr);
    // Every piece of every candidate, cut at node boundaries.
    let mut all = Vec::new();
    for (u, r) in candidates.iter().enumerate() {
        for (n, node) in nodes.iter().enumerate() {
            let (s, e) = (free_start(r).max(node.start), end_of(r).min(node.end));
            // Untypeds smaller than a page (fragments) hold no frame.
            if e >= s + PAGE_SIZE as Word {
                all.push(Piece {
                    untyped: u,
                    slot: r.slot,
                    node: NodeId(n as u8),
                    paddr: s,
                    frames: ((e - s) / PAGE_SIZE as Word) as usize,
                });
            }
        }
    }
    // Of each node, the largest pieces up to `per_node` (the last one cut short).
    let mut chosen: Vec<Piece> = Vec::new();
    for n in 0..nodes.len() {
        let mut of_node: Vec<Piece> = all
            .iter()
            .copied()
            .filter(|p| p.node.0 as usize == n)
            .collect();
        of_node.sort_by_key(|p| core::cmp::Reverse(p.frames));
        let mut left = per_node / PAGE_SIZE as u64;
        for mut p in of_node {
            if left == 0 {
                break;
            }
            p.frames = p.frames.min(left as usize);
            left -= p.frames as u64;
            chosen.push(p);
        }
    }
    chosen.sort_by_key(|p| p.paddr);
    // Frames are retyped from an untyped's watermark on: of each untyped keep only the chosen
    // pieces that continue where the previous one ended.
    let mut pieces: Vec<Piece> = Vec::new();
    for p in chosen {
        let r = &candidates[p.untyped];
        let watermark = match pieces.last() {
            Some(q) if q.untyped == p.untyped => q.paddr + (q.frames * PAGE_SIZE) as Word,
            _ => free_start(r),
        };
        if p.paddr == watermark {
            pieces.push(p);
        }
    }
    if pieces.is_empty() {
        return Err(PlatformError::NoMemory);
    }
    let mut leftovers = Vec::new();
    for (u, r) in candidates.into_iter().enumerate() {
        match pieces.iter().rfind(|p| p.untyped == u) {
            None => kept.push(r),
            Some(last) => {
                let end = last.paddr + (last.frames * PAGE_SIZE) as Word;
                if end < end_of(&r) {
                    leftovers.push(UntypedRecord {
                        used: end - r.paddr,
                        ..r
                    });
                }
            }
        }
    }
    *pool = UntypedPool::from_records(kept);
    Ok(Taken { pieces, leftovers })
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

/// The paging structures of the server window, made as frames are mapped in increasing address
/// order: only the latest upper directory, directory and page table can still be missing
/// entries, so each level remembers its latest index. They stay for the life of the system.
#[derive(Debug, Default)]
struct Window {
    pud: Option<usize>,
    pd: Option<usize>,
    pt: Option<usize>,
}

impl Window {
    /// Makes the paging structures covering `vaddr` (not below any address mapped before).
    fn ensure(&mut self, alloc: &mut ObjectAllocator, vaddr: usize) -> Result<(), PlatformError> {
        let root = init_thread::VSPACE;
        let attrs = VmAttributes::DEFAULT;
        let map = |step| move |e| PlatformError::Map(step, e);
        if self.pud != Some(vaddr >> 39) {
            let c: Cap<PUD> = alloc.allocate(ObjectBlueprint::PUD)?;
            c.pud_map(root, vaddr & !((1 << 39) - 1), attrs)
                .map_err(map("PageUpperDirectory_Map"))?;
            self.pud = Some(vaddr >> 39);
        }
        if self.pd != Some(vaddr >> 30) {
            let c: Cap<PD> = alloc.allocate(ObjectBlueprint::PD)?;
            c.pd_map(root, vaddr & !((1 << 30) - 1), attrs)
                .map_err(map("PageDirectory_Map"))?;
            self.pd = Some(vaddr >> 30);
        }
        if self.pt != Some(vaddr >> 21) {
            let c: Cap<PT> = alloc.allocate(ObjectBlueprint::PT)?;
            c.pt_map(root, vaddr & !((1 << 21) - 1), attrs)
                .map_err(map("PageTable_Map"))?;
            self.pt = Some(vaddr >> 21);
        }
        Ok(())
    }
}

/// Retypes the zone's frames in batches into the temporary slots, maps each into the server
/// window and moves it to its frames-CNode slot. The untyped's watermark is the zone's start
/// (pieces of one untyped are filled in address order).
fn fill_zone(
    alloc: &mut ObjectAllocator,
    window: &mut Window,
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
            let vaddr = zone.vaddr + index * PAGE_SIZE;
            window.ensure(alloc, vaddr)?;
            frame
                .frame_map(
                    init_thread::VSPACE,
                    vaddr,
                    CapRights::read_write(),
                    VmAttributes::DATA,
                )
                .map_err(|e| PlatformError::Map("Page_Map (zone frame)", e))?;
            cnode
                .relative_bits_with_depth((zone.first + index) as Word, cnode_bits)
                .move_(&root.relative(frame))
                .map_err(|e| PlatformError::Kernel("CNode_Move (zone frame)", e))?;
        }
        done += n;
    }
    Ok(())
}
