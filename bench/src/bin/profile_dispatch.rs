//! `profile_dispatch [N]`: the server's dispatch alone (no transport), for
//! `valgrind --tool=callgrind --toggle-collect='*profile_dispatch::measured*'`, in N rounds of
//! what the on-target bench sends for a 64-byte cache: 256 register-only Alloc requests then 256
//! Free requests (magazines off; `measured_direct`), and 8 Refills of 32 whose addresses are kept
//! then 8 Drains of them (magazines of 32; `measured_batches`).
use std::hint::black_box;
use std::sync::Arc;

use memserver::platform::host::HostArena;
use memserver::platform::Platform;
use memserver::server::{AttachParams, Quota, Server, ServerConfig};
use memserver::topology::{Topology, MAX_CORES};
use memserver::Allocator;
use memserver_client::host::{magazine_page, HostSystem};
use memserver_client::{Client, Config};
use memserver_protocol::ops::{AllocReq, DrainReq, FreeReq, RefillReq};
use memserver_protocol::{MagazinePage, Message, Request};

const ROUND: usize = 256;

#[inline(never)]
fn measured_direct(server: &Server, badge: u64, handle: u64, rounds: usize) {
    let mut msg = Message::default();
    let mut objs = [0u64; ROUND];
    for _ in 0..rounds {
        for o in objs.iter_mut() {
            let (label, len) = Request::Alloc(AllocReq { handle, flags: 0 }).encode(&mut msg.words);
            msg.label = label;
            msg.len = len;
            server.dispatch(0, black_box(badge), &mut msg);
            assert_eq!(msg.label, 0);
            *o = msg.words[0];
        }
        for &addr in &objs {
            let (label, len) = Request::Free(FreeReq { handle, addr }).encode(&mut msg.words);
            msg.label = label;
            msg.len = len;
            server.dispatch(0, black_box(badge), &mut msg);
            assert_eq!(msg.label, 0);
        }
    }
}

/// Batches of 32 in flight at once: the bench client's burst of 256.
const BATCHES: usize = 8;

#[inline(never)]
fn measured_batches(server: &Server, badge: u64, handle: u64, page: &MagazinePage, rounds: usize) {
    let mut msg = Message::default();
    let mut held = [[0u64; 32]; BATCHES];
    let mut send = |req: Request| {
        let (label, len) = req.encode(&mut msg.words);
        msg.label = label;
        msg.len = len;
        server.dispatch(0, black_box(badge), &mut msg);
        assert_eq!(msg.label, 0);
    };
    for _ in 0..rounds {
        for batch in held.iter_mut() {
            let (slot, count, flags) = (0, 32, 0);
            send(Request::Refill(RefillReq {
                handle,
                slot,
                count,
                flags,
            }));
            page.read_slot(0, batch).expect("slot 0");
        }
        for batch in held.iter() {
            page.write_slot(0, batch).expect("slot 0");
            send(Request::Drain(DrainReq {
                handle,
                slot: 0,
                count: 32,
            }));
        }
    }
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let arena = HostArena::new(64 << 20, 1).expect("arena");
    let topo = Topology::uniform(1, 1).expect("topology");
    let alloc = Allocator::new(topo, arena.memory()).expect("allocator");
    let server = Arc::new(Server::new(alloc, ServerConfig::default()));
    let s = server.clone();
    let system = HostSystem::start(1, move |core, badge, msg| s.dispatch(core, badge, msg));
    let page = magazine_page();
    let mut pages = [0usize; MAX_CORES];
    pages[0] = Arc::as_ptr(&page) as usize;
    // SAFETY: `page` lives until the end of main, after the client is gone.
    let badge = unsafe {
        server.attach(&AttachParams {
            pages,
            offset: 0,
            quota: Quota::UNLIMITED,
            slab_debug: "",
        })
    }
    .expect("attach");
    let t = system.transport(0, badge, page.clone()).expect("transport");
    let mut c = Client::connect(t, Config { batch: 0 }).expect("connect");
    let cache = c
        .kmem_cache_create("bench_64", 64, 8, 0, None)
        .expect("create");
    measured_direct(&server, badge, cache.handle(), 3);
    measured_direct(&server, badge, cache.handle(), rounds);
    measured_batches(&server, badge, cache.handle(), &page, 3);
    measured_batches(&server, badge, cache.handle(), &page, rounds);
    println!("{rounds} rounds of {ROUND} objects, one message each and in batches of 32");
}
