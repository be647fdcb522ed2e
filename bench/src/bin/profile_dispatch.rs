//! `profile_dispatch [N]`: the server's dispatch of register-only Alloc and Free requests (what
//! one message costs the server with magazines off, without any transport), for
//! `valgrind --tool=callgrind --toggle-collect='*profile_dispatch::measured*'`. Rounds of 256
//! allocations then 256 frees of a 64-byte cache, as the on-target bench's direct mode sends them.
use std::hint::black_box;
use std::sync::Arc;

use memserver::platform::host::HostArena;
use memserver::platform::Platform;
use memserver::server::{AttachParams, Quota, Server, ServerConfig};
use memserver::topology::{Topology, MAX_CORES};
use memserver::Allocator;
use memserver_client::host::{magazine_page, HostSystem};
use memserver_client::{Client, Config};
use memserver_protocol::ops::{AllocReq, FreeReq};
use memserver_protocol::{Message, Request};

const ROUND: usize = 256;

#[inline(never)]
fn measured_rounds(server: &Server, badge: u64, handle: u64, rounds: usize) {
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

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100);
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
    let cache = c.kmem_cache_create("bench_64", 64, 8, 0, None).expect("create");
    measured_rounds(&server, badge, cache.handle(), 3);
    measured_rounds(&server, badge, cache.handle(), rounds);
    println!("{} allocs and {} frees", rounds * ROUND, rounds * ROUND);
}
