//! Which client maps each buddy frame, and the mapping of handed-out blocks into a client's heap
//! window.
//!
//! Owns one record per frame: the client (index into the root task's client table) whose heap
//! window maps it and the slot of that client's mapping CNode holding the frame-cap copy used for
//! the mapping. Invariant: a frame is mapped in at most one client, and never taken from the client
//! that maps it (a block with a frame mapped in another client is refused whole). A client's mapping CNode is made from its own untyped, so its
//! reclaim deletes every copy (and with it every mapping) at once.
//!
//! Every block an owner gives back (its own free, drain, destroy, shrink or detach, and also the
//! server shrinking every cache while serving *another* client before it reports out of memory)
//! is announced by the allocator core through [`WindowRelease`] (its [`PageRelease`] hook) before
//! the buddy layer gets it: the frames of the block are unmapped there from whichever client maps
//! them. So a frame in the buddy layer is mapped in no client, and a use after free faults.
//!
//! A block's frames are mapped in a client all together or not at all: [`FrameMappings::map_block`]
//! maps every frame of the block (and unmaps the ones it mapped if it fails part way), the release
//! hook unmaps every frame of a returned block. So the record of the frame holding an object's
//! first byte says whether the object's whole block is mapped; the serve loop checks that record
//! ([`FrameOwners::mapped_in`]) for each handed-out object and calls `map_block` only for a block
//! new to the client.
//!
//! Locking: the records and every client's slot pool are behind one lock (`Mutex<FrameMappings>`),
//! taken after a client's table entry and after allocator locks (the hook runs inside the
//! allocator), and before the buddy zone locks (`block_of`). The records are atomics written only
//! under that lock and also read without it ([`FrameOwners`]) by the serve loop for the blocks of
//! objects it just handed out: every write to such a block's records happened before the block
//! went through the allocator's locks to that allocation, so a relaxed read sees it.
//!
//! The block holding a handed-out object comes from the allocator's own records
//! (`Server::client_block`: the page map's slab or large block, and its owner), so only a block
//! the allocator gives to that client is mapped, and whole (a slab for the client-side
//! constructor, red zones included, or a large block); never an address read from client
//! memory, another client's block or a free one.

use crate::frames::Sel4Platform;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use memserver::buddy::{Buddy, MAX_ORDER, PAGE_SIZE};
use memserver::{OwnerId, PageRelease};
use sel4::cap_type::{CNode, Granule};
use sel4::{init_thread, Cap, CapRights, VmAttributes, Word};
use sel4_root_task::{ObjectAllocator, Process};
use spin::Mutex;

/// Slots of a client's mapping CNode, as a power of two: at least this many.
const MIN_MAP_CNODE_BITS: usize = 12;
/// At most this many (a CNode of 2^15 slots takes 1 MiB of the client's own untyped, which
/// also holds its image, threads and page tables: a client maps at most 128 MiB at once).
const MAX_MAP_CNODE_BITS: usize = 15;

/// The size (bits) of the mapping CNode of a client whose quota allows `quota_bytes` of
/// objects, on a machine whose zones hold `frames` frames: room for twice the frames its quota
/// could fill (partly used slabs, red zones), or for every frame, whichever is less, within
/// [`MIN_MAP_CNODE_BITS`]..=[`MAX_MAP_CNODE_BITS`].
pub fn map_cnode_bits(quota_bytes: u64, frames: usize) -> usize {
    let wanted = (quota_bytes / PAGE_SIZE as u64)
        .saturating_mul(2)
        .min(frames as u64)
        .max(1);
    let bits = (u64::BITS - (wanted - 1).leading_zeros()) as usize;
    bits.clamp(MIN_MAP_CNODE_BITS, MAX_MAP_CNODE_BITS)
}

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
    /// A frame of the block is mapped in another client (never taken from it).
    OwnedByAnother(usize),
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoBlock(a) => write!(f, "{a:#x} is in no allocated block"),
            Self::MapSlotsExhausted => write!(f, "the client's mapping CNode is full"),
            Self::Kernel(step, e) => write!(f, "{step}: {e:?}"),
            Self::Tables(e) => write!(f, "paging structures: {e:?}"),
            Self::OwnedByAnother(a) => write!(f, "{a:#x} is mapped in another client"),
        }
    }
}

/// A client's side of the mappings: its mapping CNode and where its heap window lies.
pub struct ClientMaps {
    pub cnode: Cap<CNode>,
    /// Client address = server address + `offset` (wrapping).
    pub offset: usize,
}

impl ClientMaps {
    pub fn new(cnode: Cap<CNode>, offset: usize) -> Self {
        Self { cnode, offset }
    }
}

/// The slots of one client's mapping CNode: its size (bits), next never used, freed ones, and
/// how many hold a mapped frame now.
struct Slots {
    bits: usize,
    next: u32,
    free: Vec<u32>,
    mapped: usize,
}

impl Slots {
    fn new(bits: usize) -> Self {
        Slots {
            bits,
            next: 0,
            free: Vec::new(),
            mapped: 0,
        }
    }

    fn take_slot(&mut self) -> Result<u32, MapError> {
        if let Some(s) = self.free.pop() {
            return Ok(s);
        }
        if self.next as usize >= 1 << self.bits {
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

impl Owner {
    /// The record word: 0 for none, else `(client + 1) << 32 | slot`.
    fn word(self) -> u64 {
        ((self.client as u64 + 1) << 32) | self.slot as u64
    }

    fn from_word(w: u64) -> Option<Self> {
        let client = (w >> 32).checked_sub(1)?;
        Some(Self {
            client: client as u16,
            slot: w as u32,
        })
    }
}

/// The per-frame records (which client maps the frame, and in which slot of its mapping CNode),
/// one atomic word each; written under the [`FrameMappings`] lock, readable without it. Built
/// once per boot, lives for the life of the root task.
#[derive(Clone, Copy)]
pub struct FrameOwners(&'static [AtomicU64]);

impl FrameOwners {
    fn new(frames: usize) -> Self {
        Self(Vec::leak((0..frames).map(|_| AtomicU64::new(0)).collect()))
    }

    /// Whether frame `frame` is mapped in client `client`.
    #[inline]
    pub fn mapped_in(self, frame: usize, client: u16) -> bool {
        self.0
            .get(frame)
            .is_some_and(|w| w.load(Ordering::Relaxed) >> 32 == client as u64 + 1)
    }

    fn get(self, frame: usize) -> Option<Owner> {
        Owner::from_word(self.0.get(frame)?.load(Ordering::Relaxed))
    }

    /// Only under the [`FrameMappings`] lock.
    fn set(self, frame: usize, owner: Option<Owner>) {
        if let Some(w) = self.0.get(frame) {
            w.store(owner.map_or(0, Owner::word), Ordering::Relaxed);
        }
    }

    fn iter(self) -> impl Iterator<Item = Option<Owner>> {
        self.0
            .iter()
            .map(|w| Owner::from_word(w.load(Ordering::Relaxed)))
    }
}

/// The per-frame mapping records, and the slot pool of every client's mapping CNode.
pub struct FrameMappings {
    owners: FrameOwners,
    slots: Vec<Slots>,
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
    /// Records for `frames` frames and `clients` client table entries.
    pub fn new(frames: usize, clients: usize) -> Self {
        Self {
            owners: FrameOwners::new(frames),
            slots: (0..clients)
                .map(|_| Slots::new(MIN_MAP_CNODE_BITS))
                .collect(),
        }
    }

    /// Client table entry `client` gets a new client whose mapping CNode has `bits` bits.
    pub fn open_client(&mut self, client: u16, bits: usize) {
        if let Some(s) = self.slots.get_mut(client as usize) {
            *s = Slots::new(bits);
        }
    }

    /// The records, for reading without the lock.
    pub fn owners(&self) -> FrameOwners {
        self.owners
    }

    /// Frames mapped in client `client`.
    pub fn mapped_in(&self, client: u16) -> usize {
        self.slots.get(client as usize).map_or(0, |s| s.mapped)
    }

    /// Frames mapped in any client.
    pub fn mapped_frames(&self) -> usize {
        self.owners.iter().filter(|o| o.is_some()).count()
    }

    /// Maps every frame of `block` (first byte, bytes: a block the allocator's records give to
    /// this client, `Server::client_block`) into client `client` (whose maps, process and object
    /// allocator are given); a block with a frame mapped in another client is refused whole
    /// (frames are never taken from a client). Returns the frames newly mapped.
    /// If a frame cannot be mapped, every frame of the block mapped in `client` is unmapped again
    /// (a block is mapped whole or not at all) and the error returned.
    #[allow(clippy::too_many_arguments)]
    pub fn map_block(
        &mut self,
        platform: &Sel4Platform,
        (head, bytes): (usize, usize),
        core: usize,
        client: u16,
        maps: &mut ClientMaps,
        process: &mut Process,
        mem: &mut ObjectAllocator,
    ) -> Result<usize, MapError> {
        if self.slots.get(client as usize).is_none() {
            return Err(MapError::MapSlotsExhausted);
        }
        for page in (head..head + bytes).step_by(PAGE_SIZE) {
            let frame = platform.frame_of(page).ok_or(MapError::NoBlock(page))?;
            if self.owners.get(frame).is_some_and(|o| o.client != client) {
                return Err(MapError::OwnedByAnother(page));
            }
        }
        let mut newly = 0;
        for page in (head..head + bytes).step_by(PAGE_SIZE) {
            match self.map_frame(platform, page, core, client, maps, process, mem) {
                Ok(n) => newly += n,
                Err(e) => {
                    let cnode = maps.cnode;
                    let frames = (head..head + bytes).step_by(PAGE_SIZE);
                    for f in frames.filter_map(|p| platform.frame_of(p)) {
                        if self.owners.mapped_in(f, client) {
                            let _ = self.unmap(f, &mut |_| Some(cnode));
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(newly)
    }

    /// Maps the frame at server address `page` into `client` unless it is mapped there already;
    /// returns the frames newly mapped (0 or 1).
    #[allow(clippy::too_many_arguments)]
    fn map_frame(
        &mut self,
        platform: &Sel4Platform,
        page: usize,
        core: usize,
        client: u16,
        maps: &mut ClientMaps,
        process: &mut Process,
        mem: &mut ObjectAllocator,
    ) -> Result<usize, MapError> {
        let frame = platform.frame_of(page).ok_or(MapError::NoBlock(page))?;
        match self.owners.get(frame) {
            Some(o) if o.client == client => return Ok(0),
            // Checked for the whole block by `map_block` under this lock.
            Some(_) => return Err(MapError::OwnedByAnother(page)),
            None => {}
        }
        let bits = self.slots[client as usize].bits;
        let slot = self.slots[client as usize].take_slot()?;
        let temp = platform.temp_slot(core);
        let root = init_thread::CNODE;
        let copied = root
            .relative_bits_with_depth(temp, sel4::WORD_BITS)
            .copy(&platform.frame_cap(frame), CapRights::read_write());
        if let Err(e) = copied {
            self.slots[client as usize].free.push(slot);
            return Err(MapError::Kernel("CNode_Copy (frame for a client)", e));
        }
        let copy: Cap<Granule> = Cap::from_bits(temp);
        let vaddr = page.wrapping_add(maps.offset);
        let mapped = process.map_frame(
            mem,
            copy,
            vaddr,
            CapRights::read_write(),
            VmAttributes::DATA,
        );
        let moved = mapped.map_err(MapError::Tables).and_then(|()| {
            maps.cnode
                .relative_bits_with_depth(slot as Word, bits)
                .move_(&root.relative(copy))
                .map_err(|e| MapError::Kernel("CNode_Move (client mapping)", e))
        });
        if let Err(e) = moved {
            // Deleting the copy unmaps it if it was mapped.
            let _ = root.relative(copy).delete();
            self.slots[client as usize].free.push(slot);
            return Err(e);
        }
        self.owners.set(frame, Some(Owner { client, slot }));
        self.slots[client as usize].mapped += 1;
        Ok(1)
    }

    /// Checks that every frame recorded as mapped in a client lies in an allocated buddy block
    /// (nothing the buddy layer could hand out is reachable by a client); the first frame that
    /// does not, as its error.
    pub fn check_none_free(&self, platform: &Sel4Platform, buddy: &Buddy) -> Result<(), usize> {
        for (f, o) in self.owners.iter().enumerate() {
            let in_block = platform
                .vaddr_of_frame(f)
                .is_some_and(|v| block_of(buddy, v).is_some());
            if o.is_some() && !in_block {
                return Err(f);
            }
        }
        Ok(())
    }

    /// Deletes the copy of frame `frame` in the mapping CNode of the client that maps it (which
    /// unmaps it there) and frees its slot; `cnode_of` finds a client's mapping CNode. Returns
    /// whether the frame was mapped.
    fn unmap(
        &mut self,
        frame: usize,
        cnode_of: &mut impl FnMut(u16) -> Option<Cap<CNode>>,
    ) -> Result<bool, MapError> {
        let Some(o) = self.owners.get(frame) else {
            return Ok(false);
        };
        let bits = self.slots.get(o.client as usize).map(|s| s.bits);
        if let (Some(cnode), Some(bits)) = (cnode_of(o.client), bits) {
            cnode
                .relative_bits_with_depth(o.slot as Word, bits)
                .delete()
                .map_err(|e| MapError::Kernel("CNode_Delete (returned block)", e))?;
        }
        self.owners.set(frame, None);
        if let Some(s) = self.slots.get_mut(o.client as usize) {
            s.free.push(o.slot);
            s.mapped -= 1;
        }
        Ok(true)
    }

    /// Forgets every mapping of `client` (its mapping CNode is about to be destroyed).
    /// Its slot pool starts empty for the next client of that entry.
    pub fn forget_client(&mut self, client: u16) -> usize {
        let mut n = 0;
        for (frame, o) in self.owners.iter().enumerate() {
            if o.is_some_and(|o| o.client == client) {
                self.owners.set(frame, None);
                n += 1;
            }
        }
        if let Some(s) = self.slots.get_mut(client as usize) {
            *s = Slots::new(MIN_MAP_CNODE_BITS);
        }
        n
    }
}

/// The allocator core's [`PageRelease`] hook on seL4: unmaps every frame of a returned block from
/// the client that maps it, before the buddy layer can hand the block to anyone else. Built once
/// at boot; everything it reads lives for the life of the root task.
pub struct WindowRelease {
    pub platform: &'static Sel4Platform,
    pub mappings: &'static Mutex<FrameMappings>,
    /// Each client table entry's mapping CNode (0: none).
    pub cnodes: &'static [AtomicU64],
    /// Frames unmapped from a client because their block went back to the buddy layer.
    pub unmapped: AtomicU64,
    /// Frames whose unmapping the kernel refused (they stay mapped: reported, counted).
    pub failures: AtomicU64,
}

impl WindowRelease {
    /// Client `index`'s mapping CNode, if it has one.
    pub fn cnode_of(&self, index: u16) -> Option<Cap<CNode>> {
        let bits = self.cnodes.get(index as usize)?.load(Ordering::Acquire);
        (bits != 0).then(|| Cap::<CNode>::from_bits(bits))
    }
}

impl PageRelease for WindowRelease {
    fn released(&self, owner: OwnerId, addr: usize, order: u8) {
        let mut m = self.mappings.lock();
        let mut cnode_of = |i| self.cnode_of(i);
        for page in (addr..addr + (PAGE_SIZE << order)).step_by(PAGE_SIZE) {
            let Some(frame) = self.platform.frame_of(page) else {
                continue;
            };
            match m.unmap(frame, &mut cnode_of) {
                Ok(true) => {
                    self.unmapped.fetch_add(1, Ordering::Relaxed);
                }
                Ok(false) => {}
                Err(e) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    sel4_root_task::debug_println!(
                        "memserver: unmapping {page:#x} of owner {} failed: {e}",
                        owner.0
                    );
                }
            }
        }
    }
}
