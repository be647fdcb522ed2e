//! Host end-to-end tests live in `tests/tests/`; this library holds their shared set-up: a
//! [`World`] is an arena standing in for RAM, the allocator over it, the server, the in-process
//! transport's endpoints (one per simulated core, in either [`Mode`]) and the magazine pages of
//! the attached clients.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
/// The README's examples (allocator core and client API), compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
mod readme {}

use memserver::platform::host::HostArena;
use memserver::platform::Platform;
use memserver::server::{AttachParams, Quota, Server, ServerConfig};
use memserver::topology::{Topology, MAX_CORES};
use memserver::{Allocator, Stats};
use memserver_client::host::{magazine_page, HostSystem, HostTransport, Mode};
use memserver_client::{Client, Config};
use memserver_protocol::{Error, Label, MagazinePage};
use std::sync::{Arc, Mutex};

/// A running server with its endpoints. Field order is drop order: server threads (threaded mode)
/// stop first, then the server goes, then the arena it allocated from.
pub struct World {
    pub system: HostSystem,
    pub server: Arc<Server>,
    pages: Mutex<Vec<Arc<MagazinePage>>>,
    _arena: HostArena,
}

impl World {
    /// `nodes` memory nodes with `cores_per_node` cores each, over `mib` MiB of arena, served in
    /// the host transport's default mode (the caller's thread runs the server's dispatch).
    pub fn new(nodes: usize, cores_per_node: usize, mib: usize) -> World {
        Self::with_mode(Mode::default(), nodes, cores_per_node, mib)
    }

    /// As [`World::new`], with the host transport in `mode` (e.g. one server thread per core).
    pub fn with_mode(mode: Mode, nodes: usize, cores_per_node: usize, mib: usize) -> World {
        let arena = HostArena::new(mib << 20, nodes).expect("arena");
        let topology = Topology::uniform(nodes, cores_per_node).expect("topology");
        let alloc = Allocator::new(topology, arena.memory()).expect("allocator");
        let server = Arc::new(Server::new(alloc, ServerConfig::default()));
        let s = server.clone();
        let system =
            HostSystem::with_mode(mode, nodes * cores_per_node, move |core, badge, msg| {
                let label = msg.label;
                s.dispatch(core, badge, msg);
                assert_declared(label, msg.label);
            });
        World {
            system,
            server,
            pages: Mutex::new(Vec::new()),
            _arena: arena,
        }
    }

    /// Attaches a client with a magazine page on every core; returns its badge and pages.
    pub fn attach(&self, quota: Quota) -> (u64, Vec<Arc<MagazinePage>>) {
        self.attach_with_debug(quota, "")
    }

    /// As [`World::attach`], with the client's `slab_debug` options.
    pub fn attach_with_debug(
        &self,
        quota: Quota,
        slab_debug: &str,
    ) -> (u64, Vec<Arc<MagazinePage>>) {
        let pages: Vec<_> = (0..self.system.cores()).map(|_| magazine_page()).collect();
        let mut addrs = [0usize; MAX_CORES];
        for (a, p) in addrs.iter_mut().zip(&pages) {
            *a = Arc::as_ptr(p) as usize;
        }
        // SAFETY: the pages are kept alive in `self.pages` for the whole life of the server.
        let badge = unsafe {
            self.server.attach(&AttachParams {
                pages: addrs,
                offset: 0,
                quota,
                slab_debug,
            })
        }
        .expect("attach");
        self.pages.lock().unwrap().extend(pages.iter().cloned());
        (badge, pages)
    }

    /// A transport for `badge` to `core`.
    pub fn transport(&self, core: usize, badge: u64, pages: &[Arc<MagazinePage>]) -> HostTransport {
        self.system
            .transport(core, badge, pages[core].clone())
            .expect("core exists")
    }

    /// An attached, greeted client on `core`.
    pub fn client(&self, core: usize, quota: Quota, batch: usize) -> Client<HostTransport> {
        let (badge, pages) = self.attach(quota);
        Client::connect(self.transport(core, badge, &pages), Config { batch }).expect("connect")
    }

    /// As [`World::client`], for a client attached with `slab_debug` options.
    pub fn client_with_debug(
        &self,
        core: usize,
        quota: Quota,
        batch: usize,
        slab_debug: &str,
    ) -> Client<HostTransport> {
        let (badge, pages) = self.attach_with_debug(quota, slab_debug);
        Client::connect(self.transport(core, badge, &pages), Config { batch }).expect("connect")
    }

    /// The arena's address range `[start, end)` (every object the server hands out lies in it).
    pub fn arena_range(&self) -> (usize, usize) {
        (self._arena.base(), self._arena.base() + self._arena.len())
    }

    pub fn stats(&self) -> Stats {
        self.server.allocator().stats()
    }

    /// `validate()` of the server (core invariants and per-client accounting).
    pub fn validate(&self) {
        self.server.validate().expect("server invariants");
        assert_eq!(self.system.panics(), 0, "the server panicked");
    }
}

/// Fills an object with a pattern derived from `tag`.
pub fn stamp(addr: usize, len: usize, tag: u64) {
    let bytes = tag.to_le_bytes();
    // SAFETY: callers pass objects the server handed to one of their clients (`len` usable bytes).
    let obj = unsafe { std::slice::from_raw_parts_mut(addr as *mut u8, len) };
    for (i, b) in obj.iter_mut().enumerate() {
        *b = bytes[i % 8] ^ (i as u8);
    }
}

/// Whether an object still holds the pattern of `tag`.
pub fn intact(addr: usize, len: usize, tag: u64) -> bool {
    let bytes = tag.to_le_bytes();
    // SAFETY: as in `stamp`.
    let obj = unsafe { std::slice::from_raw_parts(addr as *const u8, len) };
    obj.iter()
        .enumerate()
        .all(|(i, b)| *b == bytes[i % 8] ^ (i as u8))
}

/// Every refusal the server sends is one its operation declares (or a common one): the table
/// of operations is the contract. A failed check fails the test that sent the message.
fn assert_declared(request: u64, reply: u64) {
    if reply == 0 {
        return;
    }
    let error = Error::from_code(reply).expect("a reply label that is no error code");
    match Label::try_from(request) {
        Ok(label) => assert!(
            label.may_answer(error),
            "{label:?} answered {error:?}, which its table entry does not declare"
        ),
        Err(_) => assert_eq!(error, Error::UnknownLabel),
    }
}

/// Requests sent straight to a server's `dispatch`, word for word as a transport delivers them,
/// for tests that build exact messages (bad elements, refusals) rather than use the client stub.
/// Clients see their objects through a window offset, so every address crosses the translation.
pub mod raw {
    use memserver::platform::host::HostArena;
    use memserver::platform::Platform;
    use memserver::server::{AttachParams, Quota, Server, ServerConfig};
    use memserver::topology::{Topology, MAX_CORES};
    use memserver::Allocator;
    use memserver_protocol::ops::*;
    use memserver_protocol::{Failure, MagazinePage, Message, Request, PROTOCOL_VERSION};

    /// Client addresses are server addresses plus this.
    pub const OFFSET: u64 = 0x10_0000_0000;

    /// A server over its own arena (field order is drop order).
    pub struct RawWorld {
        pub server: Server,
        _arena: HostArena,
    }

    /// `nodes` nodes with one core each, over `mib` MiB.
    pub fn world(nodes: usize, mib: usize) -> RawWorld {
        let arena = HostArena::new(mib << 20, nodes).unwrap();
        let topology = Topology::uniform(nodes, 1).unwrap();
        let core = Allocator::new(topology, arena.memory()).unwrap();
        RawWorld {
            server: Server::new(core, ServerConfig::default()),
            _arena: arena,
        }
    }

    /// A greeted client with a magazine page per core and two caches of its own.
    pub struct RawClient {
        pub badge: u64,
        pub pages: Vec<Box<MagazinePage>>,
        /// Caches of 48 and 200 bytes.
        pub a: u64,
        pub b: u64,
    }

    /// Sends `req` on `core`: the reply body or the failure, which must be one the operation
    /// declares.
    pub fn send(
        s: &Server,
        core: usize,
        badge: u64,
        req: Request<'_>,
    ) -> Result<Vec<u64>, Failure> {
        let mut msg = Message::default();
        let (label, len) = req.encode(&mut msg.words);
        msg.label = label;
        msg.len = len;
        s.dispatch(core, badge, &mut msg);
        if msg.label != 0 {
            let f = Failure::from_reply(msg.label, &msg.words[..msg.len]);
            assert!(
                req.label().may_answer(f.error),
                "{:?} answered undeclared {f:?}",
                req.label()
            );
            return Err(f);
        }
        Ok(msg.words[..msg.len].to_vec())
    }

    /// Attaches and greets (on every core) a client with `slab_debug` options and `quota`.
    pub fn client(s: &Server, debug: &str, quota: Quota) -> RawClient {
        let cores = s.allocator().topology().cores();
        let pages: Vec<Box<MagazinePage>> =
            (0..cores).map(|_| Box::new(MagazinePage::new())).collect();
        let mut addrs = [0; MAX_CORES];
        for (a, p) in addrs.iter_mut().zip(&pages) {
            *a = &**p as *const MagazinePage as usize;
        }
        // SAFETY: the pages are boxed in the returned client, which the tests keep as long as
        // the server.
        let badge = unsafe {
            s.attach(&AttachParams {
                pages: addrs,
                offset: OFFSET as usize,
                quota,
                slab_debug: debug,
            })
        }
        .unwrap();
        for core in 0..cores {
            let hello = HelloReq {
                version: PROTOCOL_VERSION,
            };
            send(s, core, badge, Request::Hello(hello)).unwrap();
        }
        let create = |size| {
            let req = CacheCreateReq {
                size,
                align: 8,
                flags: 0,
                ctor: 0,
            };
            send(s, 0, badge, Request::CacheCreate(req, "obj")).unwrap()[0]
        };
        let (a, b) = (create(48), create(200));
        RawClient { badge, pages, a, b }
    }

    /// One object of the cache `handle` (its client address).
    pub fn alloc(s: &Server, core: usize, c: &RawClient, handle: u64) -> Result<u64, Failure> {
        let req = AllocReq { handle, flags: 0 };
        send(s, core, c.badge, Request::Alloc(req)).map(|r| r[0])
    }

    /// One kmalloc block (its client address).
    pub fn kmalloc(s: &Server, core: usize, c: &RawClient, size: u64) -> Result<u64, Failure> {
        send(
            s,
            core,
            c.badge,
            Request::Kmalloc(KmallocReq { size, flags: 0 }),
        )
        .map(|r| r[0])
    }

    /// Drains `addrs` of the cache `handle` through slot 1 of the page of `core`.
    pub fn drain(
        s: &Server,
        core: usize,
        c: &RawClient,
        handle: u64,
        addrs: &[u64],
    ) -> Result<(), Failure> {
        c.pages[core].write_slot(1, addrs).unwrap();
        let req = DrainReq {
            handle,
            slot: 1,
            count: addrs.len() as u64,
        };
        send(s, core, c.badge, Request::Drain(req)).map(|_| ())
    }

    /// Drains kmalloc blocks `addrs` through slot 2 of the page of `core`.
    pub fn kfree_drain(
        s: &Server,
        core: usize,
        c: &RawClient,
        addrs: &[u64],
    ) -> Result<(), Failure> {
        c.pages[core].write_slot(2, addrs).unwrap();
        let req = KfreeDrainReq {
            slot: 2,
            count: addrs.len() as u64,
        };
        send(s, core, c.badge, Request::KfreeDrain(req)).map(|_| ())
    }
}
