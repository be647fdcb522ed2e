//! Access to a client's shared magazine pages: the only `unsafe` of the server. A page is
//! registered at attach with a contract (mapped, 4 KiB, alive until detach) and read or written only
//! through `MagazinePage`'s atomic accessors, so a client writing it concurrently cannot cause
//! undefined behaviour in the server: it can only make the server read untrusted values, which the
//! server validates like any other input.
use memserver_protocol::MagazinePage;

/// A registered magazine page (server address).
#[derive(Clone, Copy, Debug)]
pub struct PageRef {
    addr: usize,
}

impl PageRef {
    /// # Safety
    /// `addr` must be the server address of a mapped, 4 KiB-aligned page that stays mapped and is
    /// not used for anything else until the client that owns it is detached.
    pub unsafe fn new(addr: usize) -> Option<PageRef> {
        if addr == 0 || !addr.is_multiple_of(core::mem::align_of::<MagazinePage>()) {
            return None;
        }
        Some(PageRef { addr })
    }

    pub fn page(&self) -> &MagazinePage {
        // SAFETY: `new`'s contract: the page is mapped and reserved for this client until detach,
        // and the server drops every `PageRef` of a client at its detach. All access goes through
        // atomics, so concurrent writes by the client are not data races.
        unsafe { &*(self.addr as *const MagazinePage) }
    }
}
