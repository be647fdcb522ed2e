//! The blocks of the objects a successful reply hands out to a client, made reachable in its heap
//! window before the reply leaves.
//!
//! For each handed-out object (and each fresh slab the reply reports) the frame holding its first
//! byte is looked up in the lock-free frame records ([`crate::client_window::FrameOwners`]). A
//! block is mapped in a client whole or not at all (see [`crate::client_window`]), so that one
//! read says whether the object's whole block is mapped; `map_block` runs only for a block new to
//! the client. The page last found mapped is remembered, so the objects of a refill that follow
//! each other in a page cost one compare each.
//!
//! The addresses are read from the server's own reply and from the staging page the server wrote
//! (server-private memory, see [`crate::staging`]); the client's page gets them only afterwards.
//! So every block mapped is one the allocator just assigned to this client, and it stays this
//! client's until the mapping is done: a free of one of its objects by a thread on this core waits
//! for this serve loop, and a free from another core goes to this core's inbox, which only this
//! core moves on (at its next request); so no block can be released, and reach another client,
//! in between.
//!
//! Locking: runs in the serve loop with the client's table entry held (its maps, process and
//! object allocator are touched only to map a new block, under the frame-mappings lock).

use crate::client_window::MapError;
use crate::clients::Client;
use crate::service::MemServer;
use core::sync::atomic::Ordering;
use memserver::buddy::PAGE_SIZE;
use memserver_protocol::ops::ZERO_SIZE_PTR;
use memserver_protocol::{Label, Message, FRESH_MAX, MAX_BATCH};
use sel4::Word;

const PAGE_SHIFT: u32 = PAGE_SIZE.trailing_zeros();

/// What one reply handed out, and what making it reachable cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Handed {
    pub objects: u64,
    pub frames_mapped: u64,
    pub map_failures: u64,
    /// Addresses in a block that is not this client's (refused, nothing mapped).
    pub foreign_refused: u64,
}

/// Makes the blocks of what the successful reply in `msg` to request `label` (magazine slot
/// `slot`) handed out reachable in client `index` (`c`, its entry, held by the caller). Requests
/// that hand nothing out cost a label compare;
/// one object in a block the client maps already costs one record read.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn after_success(
    ms: &MemServer,
    core: usize,
    index: usize,
    c: &mut Client,
    label: Word,
    slot: Word,
    msg: &Message,
) -> Handed {
    // One object: [addr, fresh] (Alloc, AllocNode) or [addr, usable] (the kmalloc family;
    // ZERO_SIZE_PTR, the answer to a kmalloc of 0 bytes or a krealloc to 0, is no block).
    let by_handle = label == Label::Alloc.word() || label == Label::AllocNode.word();
    let one = by_handle
        || label == Label::Kmalloc.word()
        || label == Label::KmallocNode.word()
        || label == Label::Krealloc.word();
    if one {
        if msg.words[0] == 0 || msg.words[0] == ZERO_SIZE_PTR {
            return Handed::default();
        }
        let fresh = by_handle && msg.words[1] != 0;
        let addr = (msg.words[0] as usize).wrapping_sub(c.maps.offset);
        if !fresh && ms.is_mapped(addr, index as u16) {
            return Handed {
                objects: 1,
                ..Handed::default()
            };
        }
    } else if label != Label::Refill.word() && label != Label::KmallocRefill.word() {
        return Handed::default();
    }
    handed_out(ms, core, index, c, label, slot, msg)
}

impl MemServer {
    /// Whether the block holding server address `addr` is mapped in client `client` (the record
    /// of the frame holding `addr`: a block is mapped whole or not at all).
    #[inline]
    fn is_mapped(&self, addr: usize, client: u16) -> bool {
        self.platform
            .frame_of(addr)
            .is_some_and(|f| self.owners.mapped_in(f, client))
    }
}

/// [`after_success`] for a batch, a fresh slab or a block that may be new.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn handed_out(
    ms: &MemServer,
    core: usize,
    index: usize,
    c: &mut Client,
    label: Word,
    slot: Word,
    msg: &Message,
) -> Handed {
    let (objects, fresh) = if label == Label::Alloc.word() || label == Label::AllocNode.word() {
        (0, msg.words[1])
    } else if label == Label::Refill.word() {
        (msg.words[0].min(MAX_BATCH as Word) as usize, msg.words[1])
    } else if label == Label::KmallocRefill.word() {
        (msg.words[0].min(MAX_BATCH as Word) as usize, 0)
    } else {
        (0, 0)
    };
    let Some(magazine) = c.magazine_of(core).copied() else {
        return Handed::default();
    };
    let page = magazine.staging();
    let mut blocks = Handout::new(ms, core, index as u16, c);
    let handed = if objects == 0 {
        blocks.object(msg.words[0]);
        1
    } else {
        if let Some(words) = page.slot(slot as usize) {
            blocks.objects(words[..objects].iter().map(|w| w.load(Ordering::Relaxed)));
        }
        objects as u64
    };
    for i in 0..(fresh as usize).min(FRESH_MAX) {
        if let Some(f) = page.read_fresh(i) {
            blocks.object(f.first);
        }
    }
    Handed {
        objects: handed,
        ..blocks.handed
    }
}

/// The objects of one reply to one client.
struct Handout<'a> {
    ms: &'a MemServer,
    core: usize,
    client: u16,
    c: &'a mut Client,
    /// Client address = server address + `offset` (wrapping).
    offset: usize,
    /// The server page number last found mapped in the client.
    last: usize,
    handed: Handed,
}

impl<'a> Handout<'a> {
    fn new(ms: &'a MemServer, core: usize, client: u16, c: &'a mut Client) -> Self {
        Self {
            ms,
            core,
            client,
            offset: c.maps.offset,
            c,
            last: usize::MAX,
            handed: Handed::default(),
        }
    }

    /// The object at client address `client_addr`.
    fn object(&mut self, client_addr: Word) {
        self.objects(core::iter::once(client_addr));
    }

    /// The objects at client addresses `addrs` (the page last found mapped is kept in a register
    /// across the loop: a batch's objects mostly share pages).
    #[inline]
    fn objects(&mut self, addrs: impl Iterator<Item = Word>) {
        let (offset, client, mut last) = (self.offset, self.client, self.last);
        for a in addrs {
            let addr = (a as usize).wrapping_sub(offset);
            let page = addr >> PAGE_SHIFT;
            if page == last {
                continue;
            }
            if self.ms.is_mapped(addr, client) || self.map(addr) {
                last = page;
            }
        }
        self.last = last;
    }

    /// Maps the block holding server address `addr` (new to the client); whether it is mapped.
    #[cold]
    fn map(&mut self, addr: usize) -> bool {
        let ms = self.ms;
        let c = &mut *self.c;
        // The block as the allocator's records give it to this client (taken before the
        // mappings lock: the allocator's locks come first). Under this client's entry lock none
        // of its blocks can go back meanwhile: only its own requests or its purge free them,
        // and a shrink releases only empty slabs, never one holding the object just handed out.
        let Ok(block) = ms.server.client_block(c.badge, addr) else {
            self.handed.foreign_refused += 1;
            return false;
        };
        let r: Result<usize, MapError> = ms.mappings.lock().map_block(
            ms.platform,
            block,
            self.core,
            self.client,
            &mut c.maps,
            &mut c.process,
            &mut c.mem,
        );
        match r {
            Ok(newly) => {
                self.handed.frames_mapped += newly as u64;
                true
            }
            Err(MapError::OwnedByAnother(_)) => {
                self.handed.foreign_refused += 1;
                false
            }
            Err(e) => {
                self.handed.map_failures += 1;
                sel4_root_task::debug_println!(
                    "memserver: mapping {:#x} for client entry {} failed: {e}",
                    addr.wrapping_add(self.offset),
                    self.client
                );
                false
            }
        }
    }
}
