//! A storm of refused allocations from one client against another client's throughput on
//! another core. `report` (run by `cargo xtask bench`) turns the medians into the ratio.
//!
//! The server holds a few thousand caches (twelve clients of 250 caches, one live object each)
//! and no free 4 MiB block (a client holds every other 2 MiB block of the arena). On core 1 a
//! victim client runs alloc + free pairs of a 64-byte object through the server's dispatch (one
//! message each, as a transport delivers them); on core 0, at the same time, a stormer asks for
//! 4 MiB in a loop:
//! - `cheap_refusals`: the stormer has no byte quota, so every request is refused with
//!   `QuotaExceeded` before the allocator is asked (the reference);
//! - `oom_refusals`: the stormer has quota, so every request reaches the buddy layer and is
//!   refused with `OutOfMemory`, after whatever the server does first to find memory.
//!
//! One element is one victim pair; the ratio `cheap ÷ oom` of time per pair is the victim's
//! throughput under the storm relative to the reference.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use memserver::platform::host::HostArena;
use memserver::platform::Platform;
use memserver::server::{AttachParams, Quota, Server, ServerConfig};
use memserver::topology::{Topology, MAX_CORES};
use memserver::Allocator;
use memserver_bench::pin;
use memserver_protocol::ops::*;
use memserver_protocol::{Error, MagazinePage, Message, Request, PROTOCOL_VERSION};

const ARENA: usize = 128 << 20;
const FILLERS: usize = 12;
const CACHES_EACH: usize = 250;
const STORM_SIZE: u64 = 4 << 20;

struct World {
    server: Arc<Server>,
    _pages: Vec<Box<MagazinePage>>,
    _arena: HostArena,
}

/// Sends `req` on `core`; the reply's label (0 or an error code) and first word.
fn send(s: &Server, core: usize, badge: u64, req: Request<'_>) -> (u64, u64) {
    let mut msg = Message::default();
    let (label, len) = req.encode(&mut msg.words);
    msg.label = label;
    msg.len = len;
    s.dispatch(core, badge, &mut msg);
    (msg.label, msg.words[0])
}

fn ok(reply: (u64, u64)) -> u64 {
    assert_eq!(reply.0, 0, "refused: {:?}", Error::from_code(reply.0));
    reply.1
}

impl World {
    fn attach(&mut self, quota: Quota) -> u64 {
        let page = Box::new(MagazinePage::new());
        let mut pages = [0; MAX_CORES];
        pages[0] = &*page as *const MagazinePage as usize;
        pages[1] = pages[0];
        self._pages.push(page);
        // SAFETY: the page is kept in `_pages` for as long as the server lives.
        let badge = unsafe {
            self.server.attach(&AttachParams {
                pages,
                offset: 0,
                quota,
                slab_debug: "",
            })
        }
        .expect("attach");
        let hello = HelloReq {
            version: PROTOCOL_VERSION,
        };
        ok(send(&self.server, 0, badge, Request::Hello(hello)));
        badge
    }

    fn cache(&self, badge: u64, size: u64) -> u64 {
        let req = CacheCreateReq {
            size,
            align: 8,
            flags: 0,
            ctor: 0,
        };
        ok(send(
            &self.server,
            0,
            badge,
            Request::CacheCreate(req, "filler"),
        ))
    }
}

/// The server described in the module documentation, with the victim's badge and cache handle
/// and the two stormers' badges (no byte quota; unlimited).
fn world() -> (World, u64, u64, u64, u64) {
    let arena = HostArena::new(ARENA, 1).expect("arena");
    let core = Allocator::new(Topology::uniform(1, 2).unwrap(), arena.memory()).unwrap();
    let mut w = World {
        server: Arc::new(Server::new(core, ServerConfig::default())),
        _pages: Vec::new(),
        _arena: arena,
    };
    for i in 0..FILLERS {
        let badge = w.attach(Quota::UNLIMITED);
        for k in 0..CACHES_EACH {
            // Sizes differ so that no cache merges into another.
            let handle = w.cache(badge, 16 + 8 * ((i * CACHES_EACH + k) % 500) as u64);
            ok(send(
                &w.server,
                k % 2,
                badge,
                Request::Alloc(AllocReq { handle, flags: 0 }),
            ));
        }
    }
    let victim = w.attach(Quota::UNLIMITED);
    let handle = w.cache(victim, 64);
    // The hog takes every 2 MiB block there is, then gives back every other one: 2 MiB blocks
    // stay free, none of 4 MiB.
    let hog = w.attach(Quota::UNLIMITED);
    let mut blocks = Vec::new();
    loop {
        let (label, addr) = send(
            &w.server,
            0,
            hog,
            Request::Kmalloc(KmallocReq {
                size: 2 << 20,
                flags: 0,
            }),
        );
        if label != 0 {
            break;
        }
        blocks.push(addr);
    }
    blocks.sort_unstable();
    for &a in blocks.iter().step_by(2) {
        ok(send(
            &w.server,
            0,
            hog,
            Request::Kfree(KfreeReq { addr: a }),
        ));
    }
    let cheap = w.attach(Quota {
        bytes: 0,
        ..Quota::UNLIMITED
    });
    let oom = w.attach(Quota::UNLIMITED);
    (w, victim, handle, cheap, oom)
}

/// Times `pairs` alloc + free pairs of the victim on core 1 while `stormer` asks for 4 MiB in a
/// loop on core 0 (refused with `expect`).
fn under_storm(
    w: &World,
    victim: u64,
    handle: u64,
    stormer: u64,
    expect: Error,
    pairs: u64,
) -> Duration {
    let stop = Arc::new(AtomicBool::new(false));
    let refusals = Arc::new(AtomicU64::new(0));
    let storm = {
        let (server, stop, refusals) = (w.server.clone(), stop.clone(), refusals.clone());
        std::thread::spawn(move || {
            let _ = pin::to_cpu(0);
            while !stop.load(Ordering::Relaxed) {
                let req = KmallocReq {
                    size: STORM_SIZE,
                    flags: 0,
                };
                let (label, _) = send(&server, 0, stormer, Request::Kmalloc(req));
                assert_eq!(Error::from_code(label), Some(expect));
                refusals.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // The storm is under way before the clock starts.
    while refusals.load(Ordering::Relaxed) < 2 {
        std::hint::spin_loop();
    }
    let s = &w.server;
    let start = Instant::now();
    for _ in 0..pairs {
        let addr = ok(send(
            s,
            1,
            victim,
            Request::Alloc(AllocReq { handle, flags: 0 }),
        ));
        ok(send(s, 1, victim, Request::Free(FreeReq { handle, addr })));
    }
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    storm.join().expect("stormer");
    took
}

fn refusal_storm(c: &mut Criterion) {
    let (w, victim, handle, cheap, oom) = world();
    let mut g = c.benchmark_group("refusal_storm");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("cheap_refusals", |b| {
        b.iter_custom(|n| under_storm(&w, victim, handle, cheap, Error::QuotaExceeded, n))
    });
    g.bench_function("oom_refusals", |b| {
        b.iter_custom(|n| under_storm(&w, victim, handle, oom, Error::OutOfMemory, n))
    });
    g.finish();
}

criterion_group!(benches, refusal_storm);

fn main() {
    // The victim runs on the measuring thread, on CPU 1; the stormer on CPU 0.
    let _ = pin::to_cpu(1);
    benches();
    Criterion::default().configure_from_args().final_summary();
}
