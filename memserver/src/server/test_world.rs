//! Test set-up for the server's unit tests: a server over a small host arena, clients attached
//! with a magazine page and a window offset (so every address crosses the translation), and
//! requests sent through `dispatch` exactly as a transport delivers them.
use crate::platform::host::HostArena;
use crate::platform::Platform;
use crate::server::{AttachParams, Quota, Server, ServerConfig};
use crate::topology::{Topology, MAX_CORES};
use crate::Allocator;
use alloc::sync::Arc;
use memserver_protocol::ops::*;
use memserver_protocol::{Failure, MagazinePage, Message, Request, PROTOCOL_VERSION};

/// Client addresses are server addresses plus this.
pub const OFFSET: usize = 0x10_0000_0000;

/// A server and the arena it allocates from (field order is drop order).
pub struct World {
    pub server: Server,
    _arena: HostArena,
}

impl World {
    /// One node, one core, 8 MiB (2 MiB under Miri, where every page of the arena costs time to
    /// set up and validate; no test here fills the arena).
    pub fn new() -> World {
        const ARENA: usize = if cfg!(miri) { 2 << 20 } else { 8 << 20 };
        let arena = HostArena::new(ARENA, 1).unwrap();
        let core = Allocator::new(Topology::uniform(1, 1).unwrap(), arena.memory()).unwrap();
        World {
            server: Server::new(core, ServerConfig::default()),
            _arena: arena,
        }
    }
}

pub struct Client {
    pub badge: u64,
    /// Shared with the server, which keeps its address: an `Arc`, not a `Box`, since a `Box`
    /// claims unique access to the page (each move of it would invalidate the server's pointer).
    pub page: Arc<MagazinePage>,
    /// A 48-byte cache of the client's.
    pub handle: u64,
}

/// Sends `req` on core 0; the first five words of the reply body (zero-padded) or the failure.
pub fn send(s: &Server, badge: u64, req: Request<'_>) -> Result<[u64; 5], Failure> {
    let mut msg = Message::default();
    let (label, len) = req.encode(&mut msg.words);
    msg.label = label;
    msg.len = len;
    s.dispatch(0, badge, &mut msg);
    if msg.label != 0 {
        return Err(Failure::from_reply(msg.label, &msg.words[..msg.len]));
    }
    let mut body = [0; 5];
    let n = msg.len.min(body.len());
    body[..n].copy_from_slice(&msg.words[..n]);
    Ok(body)
}

/// Attaches and greets a client with a 48-byte cache named `name`.
pub fn client(s: &Server, name: &str) -> Client {
    let page = Arc::new(MagazinePage::new());
    let mut pages = [0; MAX_CORES];
    pages[0] = &*page as *const MagazinePage as usize;
    // SAFETY: the page is boxed in the returned `Client`, which the tests keep alive until the
    // server is dropped.
    let badge = unsafe {
        s.attach(&AttachParams {
            pages,
            offset: OFFSET,
            quota: Quota::UNLIMITED,
            slab_debug: "",
        })
    }
    .unwrap();
    let hello = HelloReq {
        version: PROTOCOL_VERSION,
    };
    send(s, badge, Request::Hello(hello)).unwrap();
    let create = CacheCreateReq {
        size: 48,
        align: 8,
        flags: 0,
        ctor: 0,
    };
    let handle = send(s, badge, Request::CacheCreate(create, name)).unwrap()[0];
    Client {
        badge,
        page,
        handle,
    }
}

/// One object of the client's cache (its client address).
pub fn alloc_obj(s: &Server, c: &Client) -> u64 {
    let req = AllocReq {
        handle: c.handle,
        flags: 0,
    };
    send(s, c.badge, Request::Alloc(req)).unwrap()[0]
}

/// One kmalloc block of `size` bytes (its client address).
pub fn kmalloc(s: &Server, c: &Client, size: u64) -> u64 {
    send(s, c.badge, Request::Kmalloc(KmallocReq { size, flags: 0 })).unwrap()[0]
}

/// Drains `addrs` of the client's cache through slot 1.
pub fn drain(s: &Server, c: &Client, addrs: &[u64]) -> Result<[u64; 5], Failure> {
    c.page.write_slot(1, addrs).unwrap();
    let req = DrainReq {
        handle: c.handle,
        slot: 1,
        count: addrs.len() as u64,
    };
    send(s, c.badge, Request::Drain(req))
}

/// Drains kmalloc blocks `addrs` through slot 2.
pub fn kfree_drain(s: &Server, c: &Client, addrs: &[u64]) -> Result<[u64; 5], Failure> {
    c.page.write_slot(2, addrs).unwrap();
    let req = KfreeDrainReq {
        slot: 2,
        count: addrs.len() as u64,
    };
    send(s, c.badge, Request::KfreeDrain(req))
}

/// The client's live objects as the server counts them.
pub fn live(s: &Server, c: &Client) -> u64 {
    s.usage(c.badge).unwrap().objects
}
