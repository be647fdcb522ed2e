//! The server: many untrusting clients use the allocator core through protocol messages.
//!
//! - [`clients`]: who is attached (badge = slot + generation), each client's record behind its lock.
//! - [`handles`]: a client's cache handles (with generations); [`quota`]: its usage and limits.
//! - [`page`]: the shared magazine pages (the server's only `unsafe`); [`errors`]: core errors to
//!   wire errors, with addresses translated into the client's window; [`scratch`]: a client's
//!   reused staging arrays for batch addresses; [`snapshot`]: the whole state, for tests.
//! - [`dispatch`]: one message in, one reply out: decode, route, encode. [`objects`],
//!   [`kmalloc`], [`caches`], [`info`]: the operations.
//!
//! Trust: every word of a request and of a magazine page is untrusted. Requests are decoded by the
//! protocol crate into typed values; the operation then checks the client's own state (handles,
//! quota, page) and the core checks every address. A refused request changes nothing (a batch
//! free is checked whole by the core before any object is freed). A client's objects and pages
//! belong to its owner id only.
//!
//! Locking: a request holds its client's slot lock, then at most one core guard at a time;
//! maintenance (create, destroy, shrink, purge) runs with no guard held. Nothing holds two slots.
pub mod api;
pub mod caches;
pub mod clients;
pub mod debug;
pub mod dispatch;
pub mod errors;
pub mod handles;
pub mod info;
pub mod kmalloc;
pub mod objects;
pub mod page;
pub mod quota;
pub mod scratch;
pub mod snapshot;
#[cfg(all(test, feature = "std"))]
mod test_world;

use crate::allocator::{Allocator, PurgeReport};
use crate::kmalloc::KMALLOC_SIZES;
use crate::slab::OwnerId;
use crate::topology::MAX_CORES;
use crate::MetaPool;
use alloc::sync::Arc;
use clients::{ClientRecord, Clients};
use core::sync::atomic::{AtomicU32, Ordering};
use errors::Window;
use memserver_protocol::{Error, Failure};
use page::PageRef;

pub use quota::{Quota, Usage};

#[derive(Clone, Copy, Debug)]
pub struct ServerConfig {
    /// Clients attached at once.
    pub max_clients: usize,
    /// Largest batch a Refill or Drain may move (at most [`memserver_protocol::MAX_BATCH`]).
    pub max_batch: usize,
    /// Bytes of server metadata all clients together may use (their records, caches, slab
    /// records, debug tracks): each client's metadata quota is reserved from it at attach, and
    /// clients with an unlimited metadata quota share what is left. The system sizes it from
    /// the memory it gives the server's heap, leaving room for the server's own tables.
    pub metadata_budget: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_clients: 64,
            max_batch: memserver_protocol::MAX_BATCH,
            metadata_budget: u64::MAX,
        }
    }
}

/// What the system (root task, or the host harness) says about a new client.
#[derive(Clone, Copy, Debug)]
pub struct AttachParams<'a> {
    /// Server address of the client's magazine page on each core (0: none on that core).
    pub pages: [usize; MAX_CORES],
    /// Client address = server address + `offset` (wrapping) for every object handed out.
    pub offset: usize,
    pub quota: Quota,
    /// The client's cache debug options in Linux's `slab_debug=` syntax (F, Z, P, U, optionally
    /// limited to named caches, kmalloc caches included); empty: none. See [`debug`].
    pub slab_debug: &'a str,
}

/// A broken invariant of the server (beyond the core's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerInvariant {
    Core(crate::slab::Invariant),
    /// A client's counted live objects differ from what the core holds for its owner.
    Usage {
        owner: OwnerId,
        counted: u64,
        core: u64,
    },
}

pub struct Server {
    alloc: Allocator,
    clients: Clients,
    /// The metadata budget (`ServerConfig::metadata_budget`).
    metadata: Arc<MetaPool>,
    next_owner: AtomicU32,
    config: ServerConfig,
}

impl Server {
    pub fn new(alloc: Allocator, config: ServerConfig) -> Server {
        let config = ServerConfig {
            max_batch: config.max_batch.clamp(1, memserver_protocol::MAX_BATCH),
            ..config
        };
        Server {
            alloc,
            clients: Clients::new(config.max_clients),
            metadata: Arc::new(MetaPool::new(config.metadata_budget)),
            next_owner: AtomicU32::new(1),
            config,
        }
    }

    pub fn allocator(&self) -> &Allocator {
        &self.alloc
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Attaches a client; returns its badge (the endpoint capability is minted with it). Its
    /// metadata quota is reserved from the server's metadata budget: one that does not fit is
    /// refused with `QuotaExceeded` `[3, unreserved bytes, quota]`, one too small for the
    /// client's own record and kmalloc caches with `QuotaExceeded` `[2, quota, needed]`.
    ///
    /// # Safety
    /// Every nonzero `params.pages[i]` must be the server address of a mapped, 4 KiB-aligned page
    /// reserved for this client until it is detached (see [`page::PageRef::new`]).
    pub unsafe fn attach(&self, params: &AttachParams<'_>) -> Result<u64, Failure> {
        let mut pages = [None; MAX_CORES];
        for (p, &addr) in pages.iter_mut().zip(&params.pages) {
            if addr != 0 {
                // SAFETY: the caller's contract above.
                *p = Some(unsafe { PageRef::new(addr) }.ok_or(Failure::new(Error::BadField))?);
            }
        }
        debug::DebugOptions::check(params.slab_debug)?;
        // Built under the lock of the slot it goes into: with no free slot nothing is made.
        self.clients.insert_with(|| self.make_record(params, pages))
    }

    /// A new client's record: its metadata quota is reserved from the budget and the record
    /// charged to it before anything is allocated; a refusal undoes everything made so far.
    fn make_record(
        &self,
        params: &AttachParams<'_>,
        pages: [Option<PageRef>; MAX_CORES],
    ) -> Result<ClientRecord, Failure> {
        let metadata = quota::Metadata::reserve(&self.metadata, params.quota.metadata)?;
        let record_bytes = quota::record_bytes(params.slab_debug.len());
        metadata
            .account
            .charge(record_bytes)
            .map_err(|e| quota::metadata_refused(&e))?;
        let unwind = |owner: Option<OwnerId>| {
            if let Some(owner) = owner {
                self.alloc.purge_owner(owner);
            }
            metadata.account.release(record_bytes);
        };
        let debug = debug::DebugOptions::parse(params.slab_debug).inspect_err(|_| unwind(None))?;
        let owner = OwnerId(self.next_owner.fetch_add(1, Ordering::Relaxed));
        self.alloc
            .set_account(owner, metadata.account.clone())
            .map_err(|e| {
                unwind(None);
                quota::metadata_refused(&e)
            })?;
        let log = Arc::new(crate::slab::ViolationLog::new());
        self.alloc
            .set_violation_log(owner, log.clone())
            .map_err(|e| {
                unwind(Some(owner));
                quota::metadata_refused(&e)
            })?;
        let kmalloc = self
            .alloc
            .kmalloc_set_create_with(owner, |name| debug.flags_for(name))
            .map_err(|e| {
                unwind(Some(owner));
                errors::create(&e)
            })?;
        let scratch = scratch::Scratch::try_new().inspect_err(|_| unwind(Some(owner)))?;
        let mut kmalloc_checked = 0u64;
        let mut kmalloc_usable = [0; KMALLOC_SIZES.len()];
        for (k, (u, id)) in kmalloc_usable.iter_mut().zip(&kmalloc.caches).enumerate() {
            let info = self.alloc.cache_info(*id).map_err(|_| {
                unwind(Some(owner));
                Failure::new(Error::Internal)
            })?;
            *u = info.layout.usable as usize;
            if info.flags.intersects(crate::slab::CacheFlags::DEBUG) {
                kmalloc_checked |= 1 << k;
            }
        }
        let record = ClientRecord {
            owner,
            greeted: false,
            quota: params.quota,
            usage: Usage::default(),
            metadata,
            record_bytes,
            handles: Default::default(),
            kmalloc,
            kmalloc_usable,
            kmalloc_checked,
            debug,
            log,
            pages,
            window: Window {
                offset: params.offset,
            },
            scratch,
        };
        Ok(record)
    }

    /// Detaches a client (it left, faulted or exited): everything it owned returns to the buddy
    /// layer, its metadata quota to the budget, and its badge becomes unknown.
    pub fn detach(&self, badge: u64) -> Result<PurgeReport, Failure> {
        let guard = self.clients.lock(badge)?;
        let record = guard.remove()?;
        Ok(self.retire(record))
    }

    /// Detaches every attached client, as [`Server::detach`] does one: afterwards no badge is
    /// known and the allocator holds nothing for any client. Returns how many were attached.
    /// For a system that stops serving, and for a harness that reuses one server between runs.
    pub fn detach_all(&self) -> usize {
        let mut n = 0;
        self.clients.remove_all(|record| {
            self.retire(record);
            n += 1;
        });
        n
    }

    /// Returns everything a removed client held: its objects, caches and large blocks (the
    /// core releases their metadata), then its record's own metadata; dropping the record
    /// gives its metadata quota back to the budget.
    fn retire(&self, record: ClientRecord) -> PurgeReport {
        let report = self.alloc.purge_owner(record.owner);
        let account = &record.metadata.account;
        account.release(record.record_bytes + record.handles.bytes());
        debug_assert_eq!(account.used(), 0, "metadata left charged after a purge");
        report
    }

    /// The server's metadata budget: total and unreserved bytes.
    pub fn metadata_budget(&self) -> (u64, u64) {
        (self.metadata.total(), self.metadata.free())
    }

    /// The usage the server counts for a client.
    pub fn usage(&self, badge: u64) -> Result<Usage, Failure> {
        Ok(self.clients.lock(badge)?.record()?.usage)
    }

    /// The block holding server address `addr` if the allocator's records give it to the client
    /// with `badge`: its first byte and size. The root task maps only such blocks into a client
    /// (never an address taken from client memory, never another client's or a free block):
    /// `ForeignPointer` for a block of another owner, `NotAllocated` for no allocated block.
    pub fn client_block(&self, badge: u64, addr: usize) -> Result<(usize, usize), Failure> {
        let owner = self.clients.lock(badge)?.record()?.owner;
        match self.alloc.block_owner(addr) {
            Some(b) if b.owner == owner => Ok((b.head, b.bytes)),
            Some(_) => Err(Failure::with(Error::ForeignPointer, [addr as u64, 0, 0])),
            None => Err(Failure::with(Error::NotAllocated, [addr as u64, 0, 0])),
        }
    }

    /// The server metadata charged for a client now, in bytes.
    pub fn metadata_used(&self, badge: u64) -> Result<u64, Failure> {
        Ok(self.clients.lock(badge)?.record()?.metadata.used())
    }

    /// The core's invariants, plus: every client's counted live objects equal the core's count
    /// for its owner.
    pub fn validate(&self) -> Result<(), ServerInvariant> {
        self.alloc.validate().map_err(ServerInvariant::Core)?;
        self.clients.for_each(|r| {
            let s = self.alloc.owner_stats(r.owner);
            let core = (s.objects_in_use + s.large_blocks) as u64;
            if core != r.usage.objects {
                return Err(ServerInvariant::Usage {
                    owner: r.owner,
                    counted: r.usage.objects,
                    core,
                });
            }
            Ok(())
        })
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::test_world::*;
    use memserver_protocol::ops::KfreeReq;
    use memserver_protocol::{Error, Request};

    /// The root task maps a block into a client only if the allocator's records give it to
    /// that client: its own slabs and large blocks are found whole, another client's block and
    /// free memory (a freed large block, an address no block holds) are refused.
    #[test]
    fn client_blocks_come_from_the_allocators_records() {
        let world = World::new();
        let s = &world.server;
        let (a, b) = (client(s, "a"), client(s, "b"));
        let server = |client_addr: u64| (client_addr as usize).wrapping_sub(OFFSET);
        let obj = server(alloc_obj(s, &a));
        let (head, bytes) = s.client_block(a.badge, obj).unwrap();
        assert!(head <= obj && obj < head + bytes && head % 4096 == 0);
        assert_eq!(s.client_block(a.badge, obj + 17), Ok((head, bytes)));
        let f = s.client_block(b.badge, obj).unwrap_err();
        assert_eq!(f.error, Error::ForeignPointer);
        let large = server(kmalloc(s, &b, 20_000));
        let (lh, lb) = s.client_block(b.badge, large + 8192).unwrap();
        assert_eq!((lh, lb), (large, 32 << 10));
        assert_eq!(
            s.client_block(a.badge, large).unwrap_err().error,
            Error::ForeignPointer
        );
        let addr = (large + OFFSET) as u64;
        send(s, b.badge, Request::Kfree(KfreeReq { addr })).unwrap();
        assert_eq!(
            s.client_block(b.badge, large).unwrap_err().error,
            Error::NotAllocated
        );
        assert_eq!(
            s.client_block(a.badge, 0).unwrap_err().error,
            Error::NotAllocated
        );
        assert_eq!(
            s.client_block(b.badge ^ (1 << 40), obj).unwrap_err().error,
            Error::UnknownClient
        );
    }

    /// Detaching everyone returns every client's objects, caches and large blocks, makes every
    /// badge unknown, and leaves the server as it was before the first attach (accounting and
    /// invariants); a client that left by itself is not counted again.
    #[test]
    fn detach_all_returns_the_server_to_its_start() {
        let world = World::new();
        let s = &world.server;
        let initial = s.allocator().stats();
        let clients: Vec<Client> = ["a", "b", "c"].iter().map(|n| client(s, n)).collect();
        for c in &clients {
            alloc_obj(s, c);
            kmalloc(s, c, 64);
            kmalloc(s, c, 20_000);
        }
        s.detach(clients[2].badge).unwrap();
        assert_ne!(s.allocator().stats(), initial);
        assert_eq!(s.detach_all(), 2);
        for c in &clients {
            let reply = send(s, c.badge, Request::Stats(Default::default()));
            assert_eq!(reply.unwrap_err().error, Error::UnknownClient);
        }
        s.validate().unwrap();
        assert_eq!(s.allocator().stats(), initial);
        assert_eq!(s.detach_all(), 0);
        let again = client(s, "again");
        assert!(clients.iter().all(|c| c.badge != again.badge));
        alloc_obj(s, &again);
    }
}
