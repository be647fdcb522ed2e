//! A client's magazine pages, and the server-private staging page the server works on instead.
//!
//! Each thread of a client has its magazine page (mapped in the client and in the root task); any
//! thread of the client may write any of its pages at any time. So the server never reads or
//! writes a client's page: it is attached with a staging page per core, mapped only in the root
//! task. Before a request that reads the page (Drain, KfreeDrain), the serve loop copies the
//! named slot's words once from the client's page into the staging page (the server then
//! validates that copy); after a reply that wrote the page (Refill, KmallocRefill, fresh slabs of
//! an Alloc), the root task maps the blocks of what the staging page says was handed out, and
//! only then copies those words to the client's page. What the root task maps therefore comes
//! from server-private memory, never from client-writable memory.
//!
//! Both pages of a client are made from the client's untyped, so its reclaim unmaps them. Used by
//! the serve loop of the page's core with the client's entry held.

use memserver_protocol::{Label, MagazinePage, FRESH_MAX, MAX_BATCH};
use sel4::Word;
use sel4_root_task::SharedPage;

/// Whether request `label` reads the magazine page (so its slot is staged first).
#[inline(always)]
pub fn reads_page(label: Word) -> bool {
    label == Label::Drain.word() || label == Label::KfreeDrain.word()
}

/// Whether the successful reply `reply` to request `label` wrote the magazine page (so it is
/// published to the client's page).
#[inline(always)]
pub fn writes_page(label: Word, reply: &[Word]) -> bool {
    label == Label::Refill.word()
        || label == Label::KmallocRefill.word()
        || ((label == Label::Alloc.word() || label == Label::AllocNode.word()) && reply[1] != 0)
}

/// The magazine page of one core of a client and its staging page.
#[derive(Debug, Clone, Copy)]
pub struct Magazine {
    /// Mapped in the client and the root task.
    pub shared: SharedPage,
    /// Root task address of the staging page (mapped only in the root task).
    pub staging: usize,
}

impl Magazine {
    /// The client's page (its words are untrusted input).
    pub fn client(&self) -> &MagazinePage {
        // SAFETY: the page is mapped read-write in the root task at `local_vaddr` until the
        // client is reclaimed, which takes the entry the caller holds; every access is atomic.
        unsafe { &*(self.shared.local_vaddr as *const MagazinePage) }
    }

    /// The staging page the server reads and writes.
    pub fn staging(&self) -> &MagazinePage {
        // SAFETY: as for `client`: mapped read-write at `staging` until the reclaim; atomics only.
        unsafe { &*(self.staging as *const MagazinePage) }
    }

    /// Before dispatching request `label` with request words `words`: copies the slot it reads
    /// (if any, and if slot and count are in range; otherwise the server refuses the request on
    /// its words alone) from the client's page to the staging page.
    #[inline(never)]
    pub fn stage_request(&self, label: Word, words: &[Word]) {
        let (slot, count) = if label == Label::Drain.word() {
            (words[1], words[2])
        } else if label == Label::KfreeDrain.word() {
            (words[0], words[1])
        } else {
            return;
        };
        copy_slot(self.client(), self.staging(), slot, count);
    }

    /// After a successful reply to request `label` (slot `slot`) whose reply words are `reply`,
    /// with every block it handed out mapped: copies what the server wrote to the staging page
    /// (the slot's addresses, the fresh-slab records) to the client's page.
    #[inline(never)]
    pub fn publish_reply(&self, label: Word, slot: Word, reply: &[Word]) {
        let (count, fresh) = if label == Label::Refill.word() {
            (reply[0], reply[1])
        } else if label == Label::KmallocRefill.word() {
            (reply[0], 0)
        } else if label == Label::Alloc.word() || label == Label::AllocNode.word() {
            (0, reply[1])
        } else {
            return;
        };
        if count != 0 {
            copy_slot(self.staging(), self.client(), slot, count);
        }
        let (from, to) = (self.staging(), self.client());
        for i in 0..(fresh as usize).min(FRESH_MAX) {
            if let Some(f) = from.read_fresh(i) {
                to.write_fresh(i, f);
            }
        }
    }
}

/// Copies the first `count` words of `slot` from `from` to `to`, if both are in range.
fn copy_slot(from: &MagazinePage, to: &MagazinePage, slot: Word, count: Word) {
    if count as usize > MAX_BATCH {
        return;
    }
    let (Some(src), Some(dst)) = (from.slot(slot as usize), to.slot(slot as usize)) else {
        return;
    };
    for (d, s) in dst.iter().zip(src).take(count as usize) {
        d.store(
            s.load(core::sync::atomic::Ordering::Relaxed),
            core::sync::atomic::Ordering::Relaxed,
        );
    }
}
