//! Object allocation through the in-process host transport (the protocol's exact words, badge and
//! shared magazine page) with magazine batches of 1, 8 and 32 and with magazines off, next to the
//! direct core path, in the same run. The workload per iteration allocates 256 objects of a
//! 64-byte cache and frees them all (512 operations), so magazines must really refill and drain.
//!
//! `client` is the host transport in its default mode, where the caller's thread runs the
//! server's dispatch (seL4's IPC fastpath switches straight into the server thread on one core);
//! target 4 compares `client` "batch 32" with `direct` "guard per round". `threaded` is the same
//! client with one server thread per core and a hand-over between two running threads per
//! message, kept as a diagnostic. Messages per object and process CPU time per operation are
//! measured over a fixed run and printed.
//!
//! `cargo bench -p memserver --bench transport`; with `--profile-dispatch N` the binary instead
//! runs the server's dispatch alone for callgrind (see [`profile`]).
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use memserver::platform::host::HostArena;
use memserver::platform::Platform;
use memserver::server::{AttachParams, Quota, Server, ServerConfig};
use memserver::topology::{CoreId, Topology, MAX_CORES};
use memserver::{Allocator, CacheFlags, CacheId, CacheParams, Ctor, OwnerId};
use memserver_client::host::{magazine_page, HostSystem, HostTransport, Mode};
use memserver_client::{Client, Config, KmemCache, Transport};
use memserver_protocol::{MagazinePage, Message};

const N: usize = 256;
const SIZE: usize = 64;

fn attach(server: &Server) -> (u64, Arc<MagazinePage>) {
    let page = magazine_page();
    let mut pages = [0usize; MAX_CORES];
    pages[0] = Arc::as_ptr(&page) as usize;
    // SAFETY: `page` is kept alive by the transport (an `Arc`), which outlives the bench.
    let badge = unsafe {
        server.attach(&AttachParams {
            pages,
            offset: 0,
            quota: Quota::UNLIMITED,
            slab_debug: "",
        })
    }
    .unwrap();
    (badge, page)
}

fn client(system: &HostSystem, server: &Server, batch: usize) -> Client<HostTransport> {
    let (badge, page) = attach(server);
    let t = system.transport(0, badge, page).unwrap();
    Client::connect(t, Config { batch }).unwrap()
}

/// CPU time of the whole process (client and server threads), in nanoseconds.
/// A 64-byte cache without flags of the bench's own owner, for the direct core path.
fn plain_cache(server: &Server, name: &str) -> CacheId {
    server
        .allocator()
        .cache_create(CacheParams {
            name,
            size: SIZE,
            align: 8,
            flags: CacheFlags::empty(),
            ctor: Ctor::None,
            owner: OwnerId(u32::MAX),
        })
        .unwrap()
}

fn cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid out-pointer for `clock_gettime`.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn round<T: Transport>(c: &mut Client<T>, cache: &mut KmemCache, objs: &mut Vec<usize>) {
    for _ in 0..N {
        objs.push(c.kmem_cache_alloc(cache).unwrap());
    }
    for o in objs.drain(..) {
        c.kmem_cache_free(cache, black_box(o)).unwrap();
    }
}

fn transport(cr: &mut Criterion) {
    let arena = HostArena::new(64 << 20, 1).unwrap();
    let alloc = Allocator::new(Topology::uniform(1, 2).unwrap(), arena.memory()).unwrap();
    let server = Arc::new(Server::new(alloc, ServerConfig::default()));
    let handler =
        |s: Arc<Server>| move |core, badge, msg: &mut Message| s.dispatch(core, badge, msg);
    let direct_system = HostSystem::with_mode(Mode::Direct, 1, handler(server.clone()));
    let threaded_system = HostSystem::with_mode(Mode::Threaded, 1, handler(server.clone()));

    let mut group = cr.benchmark_group("transport");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .throughput(Throughput::Elements(2 * N as u64));

    // The direct core path: the same workload on a core guard, no messages.
    let direct = plain_cache(&server, "direct");
    let mut objs = Vec::with_capacity(N);
    let cpu = cpu_ns();
    for _ in 0..64 {
        let mut g = server.allocator().core(CoreId(1)).unwrap();
        for _ in 0..N {
            objs.push(g.alloc(direct).unwrap());
        }
        for o in objs.drain(..) {
            g.free(direct, black_box(o)).unwrap();
        }
    }
    eprintln!(
        "transport/direct: {:.1} ns process CPU per operation",
        (cpu_ns() - cpu) as f64 / (64 * 2 * N) as f64
    );
    group.bench_function(BenchmarkId::new("direct", "guard per round"), |b| {
        b.iter(|| {
            let mut g = server.allocator().core(CoreId(1)).unwrap();
            for _ in 0..N {
                objs.push(g.alloc(direct).unwrap());
            }
            for o in objs.drain(..) {
                g.free(direct, black_box(o)).unwrap();
            }
        })
    });
    group.bench_function(BenchmarkId::new("direct", "guard per op"), |b| {
        b.iter(|| {
            for _ in 0..N {
                objs.push(
                    server
                        .allocator()
                        .core(CoreId(1))
                        .unwrap()
                        .alloc(direct)
                        .unwrap(),
                );
            }
            for o in objs.drain(..) {
                let mut g = server.allocator().core(CoreId(1)).unwrap();
                g.free(direct, black_box(o)).unwrap();
            }
        })
    });

    let runs = [
        ("client", &direct_system, [0usize, 1, 8, 32].as_slice()),
        ("threaded", &threaded_system, [0, 32].as_slice()),
    ];
    for (id, system, batches) in runs {
        for &batch in batches {
            let mut c = client(system, &server, batch);
            let mut cache = c.kmem_cache_create("bench", SIZE, 8, 0, None).unwrap();
            // Messages per object over a fixed run (after one warm round).
            round(&mut c, &mut cache, &mut objs);
            let before = c.messages();
            let rounds = 64;
            let cpu = cpu_ns();
            for _ in 0..rounds {
                round(&mut c, &mut cache, &mut objs);
            }
            let cpu_per_op = (cpu_ns() - cpu) as f64 / (rounds * 2 * N) as f64;
            let per_object = (c.messages() - before) as f64 / (rounds * N) as f64;
            eprintln!(
                "transport/{id}/batch-{batch}: {per_object:.4} messages per object (alloc+free), {:.4} per operation, {cpu_per_op:.1} ns process CPU per operation",
                per_object / 2.0
            );
            let name = if batch == 0 {
                "magazines off".to_string()
            } else {
                format!("batch {batch}")
            };
            group.bench_function(BenchmarkId::new(id, name), |b| {
                b.iter(|| round(&mut c, &mut cache, &mut objs))
            });
            c.kmem_cache_flush(&mut cache).unwrap();
            c.kmem_cache_destroy(&mut cache).unwrap();
            c.detach().unwrap();
        }
    }
    group.finish();
    drop(threaded_system);
    server.validate().unwrap();
}

/// Instruction-count workloads for callgrind: each runs in its own never-inlined function, so
/// `valgrind --tool=callgrind --toggle-collect='*transport::dispatch_<op>*'` over the bench binary
/// run with `--profile-dispatch N` counts exactly the server's dispatch of N messages of that
/// kind (Alloc, Free: one object each; Refill, Drain: 32 objects each). `core_alloc` and
/// `core_free` are the floor: the same objects through the core alone, one guard per object.
/// `client_round` and `direct_round` are target 4's workloads (N allocations and N frees each),
/// through the client with magazines of 32 over the direct host transport and on a held guard.
mod profile {
    use super::*;
    use memserver_protocol::ops::{AllocReq, DrainReq, FreeReq, RefillReq};
    use memserver_protocol::Request;

    fn send(server: &Server, badge: u64, msg: &mut Message, req: Request<'_>) -> u64 {
        let (label, len) = req.encode(&mut msg.words);
        msg.label = label;
        msg.len = len;
        server.dispatch(0, badge, msg);
        assert_eq!(msg.label, 0, "dispatch refused {req:?}");
        msg.words[0]
    }

    #[inline(never)]
    fn dispatch_alloc(server: &Server, badge: u64, handle: u64, objs: &mut [u64]) {
        let mut msg = Message::default();
        for o in objs.iter_mut() {
            *o = send(
                server,
                badge,
                &mut msg,
                Request::Alloc(AllocReq { handle, flags: 0 }),
            );
        }
    }

    #[inline(never)]
    fn dispatch_free(server: &Server, badge: u64, handle: u64, objs: &[u64]) {
        let mut msg = Message::default();
        for &addr in objs {
            send(
                server,
                badge,
                &mut msg,
                Request::Free(FreeReq { handle, addr }),
            );
        }
    }

    /// The floor under `dispatch_alloc`: the core's own work for one object, a guard per object.
    #[inline(never)]
    fn core_alloc(server: &Server, id: CacheId, objs: &mut [usize]) {
        for o in objs.iter_mut() {
            *o = server
                .allocator()
                .core(CoreId(0))
                .unwrap()
                .alloc(id)
                .unwrap();
        }
    }

    /// The floor under `dispatch_free`.
    #[inline(never)]
    fn core_free(server: &Server, id: CacheId, objs: &[usize]) {
        for &o in objs {
            server
                .allocator()
                .core(CoreId(0))
                .unwrap()
                .free(id, o)
                .unwrap();
        }
    }

    #[inline(never)]
    fn dispatch_refill(server: &Server, badge: u64, handle: u64, msg: &mut Message) {
        let req = RefillReq {
            handle,
            slot: 0,
            count: 32,
            flags: 0,
        };
        assert_eq!(send(server, badge, msg, Request::Refill(req)), 32);
    }

    #[inline(never)]
    fn dispatch_drain(server: &Server, badge: u64, handle: u64, msg: &mut Message) {
        let req = DrainReq {
            handle,
            slot: 0,
            count: 32,
        };
        assert_eq!(send(server, badge, msg, Request::Drain(req)), 32);
    }

    fn warm(server: &Server, badge: u64, handle: u64, objs: &mut [u64], msg: &mut Message) {
        for o in objs.iter_mut() {
            *o = send(
                server,
                badge,
                msg,
                Request::Alloc(AllocReq { handle, flags: 0 }),
            );
        }
        for &addr in objs.iter() {
            send(server, badge, msg, Request::Free(FreeReq { handle, addr }));
        }
        let refill = RefillReq {
            handle,
            slot: 0,
            count: 32,
            flags: 0,
        };
        send(server, badge, msg, Request::Refill(refill));
        let drain = DrainReq {
            handle,
            slot: 0,
            count: 32,
        };
        send(server, badge, msg, Request::Drain(drain));
    }

    /// Runs `n` messages of each kind (after a warm-up of the same).
    pub fn run(n: usize) {
        let arena = HostArena::new(64 << 20, 1).unwrap();
        let alloc = Allocator::new(Topology::uniform(1, 1).unwrap(), arena.memory()).unwrap();
        let server = Arc::new(Server::new(alloc, ServerConfig::default()));
        let (badge, _page) = attach(&server);
        let mut msg = Message::default();
        send(
            &server,
            badge,
            &mut msg,
            Request::Hello(memserver_protocol::ops::HelloReq {
                version: memserver_protocol::PROTOCOL_VERSION,
            }),
        );
        let create = memserver_protocol::ops::CacheCreateReq {
            size: SIZE as u64,
            align: 8,
            flags: 0,
            ctor: 0,
        };
        let handle = send(
            &server,
            badge,
            &mut msg,
            Request::CacheCreate(create, "profile"),
        );
        let mut objs = vec![0u64; N];
        // One warm-up round of each, then `n / N` rounds of N allocs and N frees and `n / 32`
        // refills of 32, each drained right away (steady state: the same objects come and go).
        for round in 0..=n / N {
            if round == 0 {
                warm(&server, badge, handle, &mut objs, &mut msg);
            } else {
                dispatch_alloc(&server, badge, handle, &mut objs);
                dispatch_free(&server, badge, handle, &objs);
            }
        }
        for _ in 0..n / 32 {
            dispatch_refill(&server, badge, handle, &mut msg);
            dispatch_drain(&server, badge, handle, &mut msg);
        }
        let id = plain_cache(&server, "floor");
        let mut addrs = vec![0usize; N];
        for _ in 0..=n / N {
            core_alloc(&server, id, &mut addrs);
            core_free(&server, id, &addrs);
        }
        // Target 4's two workloads: a round of N allocations and N frees through the client with
        // magazines of 32 over the direct host transport, and through a held guard.
        let system = HostSystem::with_mode(Mode::Direct, 1, {
            let s = server.clone();
            move |core, badge, msg: &mut Message| s.dispatch(core, badge, msg)
        });
        let mut c = client(&system, &server, 32);
        let mut cache = c.kmem_cache_create("round", SIZE, 8, 0, None).unwrap();
        let mut held = Vec::with_capacity(N);
        for r in 0..=n / N {
            if r == 0 {
                round(&mut c, &mut cache, &mut held);
                let mut g = server.allocator().core(CoreId(0)).unwrap();
                direct_round(&mut g, id, &mut addrs);
            } else {
                client_round(&mut c, &mut cache, &mut held);
                let mut g = server.allocator().core(CoreId(0)).unwrap();
                direct_round(&mut g, id, &mut addrs);
            }
        }
        c.kmem_cache_flush(&mut cache).unwrap();
        c.kmem_cache_destroy(&mut cache).unwrap();
        c.detach().unwrap();
        server.validate().unwrap();
    }

    /// One round of target 4 through the client (magazines of 32, direct host transport).
    #[inline(never)]
    fn client_round(c: &mut Client<HostTransport>, cache: &mut KmemCache, held: &mut Vec<usize>) {
        round(c, cache, held);
    }

    /// The same round on the local path: N allocations then N frees through a held guard.
    #[inline(never)]
    fn direct_round(g: &mut memserver::CoreGuard<'_>, id: CacheId, addrs: &mut [usize]) {
        for a in addrs.iter_mut() {
            *a = g.alloc(id).unwrap();
        }
        for &a in addrs.iter() {
            g.free(id, black_box(a)).unwrap();
        }
    }
}

criterion_group!(benches, transport);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--profile-dispatch") {
        let n = args
            .get(i + 1)
            .and_then(|a| a.parse().ok())
            .unwrap_or(32_000);
        profile::run(n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
