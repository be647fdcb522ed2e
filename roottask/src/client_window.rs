//! Which client maps each buddy frame, and the mapping of handed-out blocks into a client's heap
//! window.
//!
//! Owns one record per frame: the client (index into the root task's client table) whose heap
//! window maps it and the slot of that client's mapping CNode holding the frame-cap copy used for
//! the mapping. Invariant: a frame is mapped in at most one client; the mapping moves to a new
//! owner (the old copy deleted, which unmaps it) before the reply that first hands out an object
//! of that frame to the new owner. A client's mapping CNode is made from its own untyped, so its
//! reclaim deletes every copy (and with it every mapping) at once.
//!
//! When a client's free, drain, destroy, shrink or detach returns a block to the buddy layer, the frames of
//! it that the client still maps are unmapped from it before the reply (so a use after free of a
//! returned block faults). A block returned while serving another client (the server shrinking
//! every cache before it reports out of memory) stays mapped in its last owner until it is handed
//! out again: that handout moves the mapping first.
//!
//! The block holding an object is found through the buddy layer (`allocated_order` of each
//! naturally aligned candidate head: zones are 4 MiB aligned in the server window), so a whole slab
//! (for the client-side constructor, red zones included) or a whole large block is mapped.

use crate::frames::Sel4Platform;
use alloc::vec;
use alloc::vec::Vec;
use memserver::buddy::{Buddy, MAX_ORDER, PAGE_SIZE};
use sel4::cap_type::{CNode, Granule};
use sel4::{init_thread, Cap, CapRights, VmAttributes, Word};
use sel4_root_task::{ObjectAllocator, Process};

/// Slots of a client's mapping CNode, as a power of two (every frame of both zones fits).
pub const MAP_CNODE_BITS: usize = 12;

/// Why a block could not be mapped into a client.
#[derive(Debug, Clone, Copy)]
pub enum MapError {
    /// The address is in no allocated buddy block.
    NoBlock(usize),
    /// The client's mapping CNode is full.
    MapSlotsExhausted,
    /// The kernel refused a copy, map, move or delete.
    Kernel(&'static str, sel4::Error),
    /// Paging structures for the window could not be made.
    Tables(sel4_root_task::SpawnError),
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoBlock(a) => write!(f, "{a:#x} is in no allocated block"),
            Self::MapSlotsExhausted => write!(f, "the client's mapping CNode is full"),
            Self::Kernel(step, e) => write!(f, "{step}: {e:?}"),
            Self::Tables(e) => write!(f, "paging structures: {e:?}"),
        }
    }
}

/// A client's side of the mappings: its VSpace, its mapping CNode and that CNode's free slots.
pub struct ClientMaps {
    pub cnode: Cap<CNode>,
    next: u32,
    free: Vec<u32>,
    /// Client address = server address + `offset` (wrapping).
    pub offset: usize,
    /// Frames mapped now.
    pub mapped: usize,
}

impl ClientMaps {
    pub fn new(cnode: Cap<CNode>, offset: usize) -> Self {
        Self {
            cnode,
            next: 0,
            free: Vec::new(),
            offset,
            mapped: 0,
        }
    }

    fn take_slot(&mut self) -> Result<u32, MapError> {
        if let Some(s) = self.free.pop() {
            return Ok(s);
        }
        if self.next as usize >= 1 << MAP_CNODE_BITS {
            return Err(MapError::MapSlotsExhausted);
        }
        self.next += 1;
        Ok(self.next - 1)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Owner {
    client: u16,
    slot: u32,
}

/// The per-frame mapping records.
pub struct FrameMappings {
    owners: Vec<Option<Owner>>,
}

/// The allocated buddy block holding `addr`: its head and its size in bytes.
pub fn block_of(buddy: &Buddy, addr: usize) -> Option<(usize, usize)> {
    (0..=MAX_ORDER).find_map(|order| {
        let head = addr & !((PAGE_SIZE << order) - 1);
        let o = buddy.allocated_order(head)?;
        let bytes = PAGE_SIZE << o;
        (addr < head + bytes).then_some((head, bytes))
    })
}

impl FrameMappings {
    pub fn new(frames: usize) -> Self {
        Self {
            owners: vec![None; frames],
        }
    }

    /// Frames mapped in any client.
    pub fn mapped_frames(&self) -> usize {
        self.owners.iter().filter(|o| o.is_some()).count()
    }

    /// Maps every frame of the block holding server address `addr` into client `client` (whose
    /// maps, process and object allocator are given), moving frames away from their previous
    /// client. `others` finds another client's maps by index. Returns the frames newly mapped.
    #[allow(clippy::too_many_arguments)]
    pub fn map_block(
        &mut self,
        platform: &Sel4Platform,
        buddy: &Buddy,
        addr: usize,
        core: usize,
        client: u16,
        maps: &mut ClientMaps,
        process: &mut Process,
        mem: &mut ObjectAllocator,
        mut others: impl FnMut(u16) -> Option<Cap<CNode>>,
    ) -> Result<usize, MapError> {
        let (head, bytes) = block_of(buddy, addr).ok_or(MapError::NoBlock(addr))?;
        let mut newly = 0;
        for page in (head..head + bytes).step_by(PAGE_SIZE) {
            let frame = platform.frame_of(page).ok_or(MapError::NoBlock(page))?;
            match self.owners[frame] {
                Some(o) if o.client == client => continue,
                Some(o) => {
                    if let Some(cnode) = others(o.client) {
                        cnode
                            .relative_bits_with_depth(o.slot as Word, MAP_CNODE_BITS)
                            .delete()
                            .map_err(|e| MapError::Kernel("CNode_Delete (stale mapping)", e))?;
                    }
                    self.owners[frame] = None;
                }
                None => {}
            }
            let slot = maps.take_slot()?;
            let temp = platform.temp_slot(core);
            let root = init_thread::CNODE;
            root.relative_bits_with_depth(temp, sel4::WORD_BITS)
                .copy(&platform.frame_cap(frame), CapRights::read_write())
                .map_err(|e| MapError::Kernel("CNode_Copy (frame for a client)", e))?;
            let copy: Cap<Granule> = Cap::from_bits(temp);
            let vaddr = page.wrapping_add(maps.offset);
            let mapped = process.map_frame(
                mem,
                copy,
                vaddr,
                CapRights::read_write(),
                VmAttributes::DATA,
            );
            if let Err(e) = mapped {
                let _ = root.relative(copy).delete();
                maps.free.push(slot);
                return Err(MapError::Tables(e));
            }
            maps.cnode
                .relative_bits_with_depth(slot as Word, MAP_CNODE_BITS)
                .move_(&root.relative(copy))
                .map_err(|e| MapError::Kernel("CNode_Move (client mapping)", e))?;
            self.owners[frame] = Some(Owner { client, slot });
            maps.mapped += 1;
            newly += 1;
        }
        Ok(newly)
    }

    /// Unmaps from `client` the frames it maps that lie in no allocated block any more: the runs
    /// of such frames around each server address of `addrs`, or with `all` every frame it maps.
    /// Returns the frames unmapped.
    pub fn release_free(
        &mut self,
        platform: &Sel4Platform,
        buddy: &Buddy,
        client: u16,
        maps: &mut ClientMaps,
        addrs: &[usize],
        all: bool,
    ) -> Result<usize, MapError> {
        let stale = |owners: &[Option<Owner>], f: usize| {
            owners
                .get(f)
                .copied()
                .flatten()
                .is_some_and(|o| o.client == client)
                && platform
                    .vaddr_of_frame(f)
                    .is_some_and(|v| block_of(buddy, v).is_none())
        };
        let mut n = 0;
        if all {
            for f in 0..self.owners.len() {
                if stale(&self.owners, f) {
                    self.unmap(f, maps)?;
                    n += 1;
                }
            }
            return Ok(n);
        }
        let mut checked = usize::MAX;
        for &addr in addrs {
            let Some(f) = platform.frame_of(addr) else {
                continue;
            };
            // Consecutive objects of a batch mostly share a frame: probe each frame once.
            if f == checked {
                continue;
            }
            checked = f;
            if !stale(&self.owners, f) {
                continue;
            }
            let mut lo = f;
            while lo > 0 && stale(&self.owners, lo - 1) {
                lo -= 1;
            }
            let mut hi = f;
            while stale(&self.owners, hi + 1) {
                hi += 1;
            }
            for g in lo..=hi {
                self.unmap(g, maps)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Deletes the client's copy of frame `frame` (which unmaps it) and frees its slot.
    fn unmap(&mut self, frame: usize, maps: &mut ClientMaps) -> Result<(), MapError> {
        let Some(o) = self.owners[frame] else {
            return Ok(());
        };
        maps.cnode
            .relative_bits_with_depth(o.slot as Word, MAP_CNODE_BITS)
            .delete()
            .map_err(|e| MapError::Kernel("CNode_Delete (returned block)", e))?;
        self.owners[frame] = None;
        maps.free.push(o.slot);
        maps.mapped -= 1;
        Ok(())
    }

    /// Forgets every mapping of `client` (its mapping CNode is about to be destroyed).
    pub fn forget_client(&mut self, client: u16) -> usize {
        let mut n = 0;
        for o in self.owners.iter_mut() {
            if o.is_some_and(|o| o.client == client) {
                *o = None;
                n += 1;
            }
        }
        n
    }
}
