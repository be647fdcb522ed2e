//! `profile_curve WORKLOAD SIZE OPS [--time]`: one point of a cost curve, for
//! `valgrind --tool=callgrind --toggle-collect=*profile_curve::measured*` (and, for the remote
//! rows, `*profile_curve::free_phase*`); see `memserver_bench::curves`, which runs every point.
//! The set-up (SIZE live objects or caches) and one warm-up pass of the same OPS operations run
//! outside the counted functions, so a count over OPS is the steady cost of one operation at
//! that size. With `--time` it runs the same operations
//! natively instead and prints nanoseconds per operation, the fastest of a few passes (the
//! wall-time confirmation).
//!
//! Workloads (one core unless said):
//! - `live-pairs N`: N live 64-byte objects of one cache; an operation frees a random live
//!   object and allocates one in its place, through a resolved cache (`CoreGuard::cache`).
//! - `live-kmalloc N`: N live objects of the kmalloc trace's sizes; an operation is one step of
//!   the trace (kfree a random slot, kmalloc a new size into it) through a resolved set.
//! - `caches-pairs C`: C caches of 32..256-byte objects, each with 16 live objects; an
//!   operation frees a random object of a random cache and allocates one in its place, by handle
//!   (`CoreGuard::free`/`alloc`, as the server resolves a client's handle per request).
//! - `caches-kmalloc C`: C/13 kmalloc sets (one per owner, as clients), each with 16 live
//!   objects; an operation is a trace step in a random set, by set (`CoreGuard::kfree`/`kmalloc`).
//! - `mimalloc-pairs N`, `mimalloc-kmalloc N`: the two live-object workloads through mimalloc
//!   (the control: what the same growing working set costs an allocator that keeps its
//!   metadata in the objects' own pages).
//! - `local NODES`, `remote NODES`: on two cores (one node, or two nodes of one core), 64
//!   objects allocated on core 0 then freed on core 0 (`local`) or on core 1 (`remote`, from
//!   the same thread); an operation is one object's allocation and free, core 0 taking remote
//!   frees back on its next allocations.
use std::hint::black_box;
use std::time::Instant;

use memserver::topology::CoreId;
use memserver::{CacheId, KmallocSet, OwnerId};
use memserver_bench::curves::{Workload, LIVE_PER_CACHE, REMOTE_BATCH, TIMED_PASSES};
use memserver_bench::fixture::{Fixture, CORE0, CORE1, OWNER};
use memserver_bench::peers::{Block, Mimalloc, Peer};
use memserver_bench::workload::{Mix, Trace, SEED};
use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

/// The counted function: everything the operations execute happens inside it.
#[inline(never)]
fn measured(run: &mut dyn FnMut()) {
    run()
}

/// The allocating half of a remote or local round (counted on its own for the remote rows' split).
#[inline(never)]
fn alloc_phase(f: &Fixture, id: CacheId, held: &mut [usize]) {
    let mut g = f.alloc.core(CORE0).expect("core 0");
    for h in held.iter_mut() {
        *h = g.alloc(id).expect("alloc");
    }
}

/// The freeing half, on `core`.
#[inline(never)]
fn free_phase(f: &Fixture, core: CoreId, id: CacheId, held: &[usize]) {
    let mut g = f.alloc.core(core).expect("core");
    for &h in held {
        g.free(id, black_box(h)).expect("free");
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("profile_curve: {msg}");
    std::process::exit(2)
}

/// Random indices below `n`, fixed seed.
fn indices(rng: &mut XorShiftRng, n: usize, ops: usize) -> Vec<u32> {
    (0..ops)
        .map(|_| (rng.next_u64() % n as u64) as u32)
        .collect()
}

/// Runs `op` once as a warm-up (every cache and class the operations touch has its array filled
/// and its slabs made), then under `measured`, or natively timed; prints ns per operation when timed: the
/// fastest of `TIMED_PASSES` passes (each pass repeats the same operations on the population the
/// previous one left, which is as large), so that the shared machine's preemptions weigh less.
fn run(ops: usize, time: bool, op: &mut dyn FnMut()) {
    op();
    if time {
        let ns = (0..TIMED_PASSES)
            .map(|_| {
                let t = Instant::now();
                op();
                t.elapsed().as_nanos() as f64 / ops as f64
            })
            .fold(f64::INFINITY, f64::min);
        println!("{ns:.2}");
    } else {
        measured(op);
        println!("{ops}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let time = args.iter().any(|a| a == "--time");
    let pos: Vec<&String> = args.iter().filter(|a| *a != "--time").collect();
    let (Some(w), Some(size), Some(ops)) = (pos.first(), pos.get(1), pos.get(2)) else {
        fail("usage: profile_curve WORKLOAD SIZE OPS [--time]")
    };
    let workload = Workload::parse(w).unwrap_or_else(|| fail("unknown workload"));
    let size: usize = size.parse().unwrap_or_else(|_| fail("SIZE"));
    let ops: usize = ops.parse().unwrap_or_else(|_| fail("OPS"));
    let mut rng = XorShiftRng::seed_from_u64(SEED);
    match workload {
        Workload::LivePairs => {
            let f = Fixture::new(1, 1, workload.arena_bytes(size)).expect("fixture");
            let id = f.cache("curve-64", 64).expect("cache");
            let mut g = f.alloc.core(CORE0).expect("core");
            let mut c = g.cache(id).expect("cache");
            let mut live: Vec<usize> = (0..size).map(|_| c.alloc().expect("alloc")).collect();
            let steps = indices(&mut rng, size, ops);
            run(ops, time, &mut || {
                for &s in &steps {
                    let slot = &mut live[s as usize];
                    c.free(black_box(*slot)).expect("free");
                    *slot = c.alloc().expect("alloc");
                }
            });
        }
        Workload::LiveKmalloc => {
            let f = Fixture::new(1, 1, workload.arena_bytes(size)).expect("fixture");
            let set = f.alloc.kmalloc_set_create(OWNER).expect("set");
            let t = Trace::new(&Mix::sample(), SEED, size, ops);
            let mut g = f.alloc.core(CORE0).expect("core");
            let mut k = g.kmalloc_set(&set).expect("set");
            let mut live: Vec<usize> = t
                .initial
                .iter()
                .map(|&s| k.kmalloc(s).expect("kmalloc"))
                .collect();
            run(ops, time, &mut || {
                for s in &t.steps {
                    let slot = &mut live[s.slot as usize];
                    k.kfree(*slot).expect("kfree");
                    *slot = k.kmalloc(black_box(s.size as usize)).expect("kmalloc");
                }
            });
        }
        Workload::MimallocPairs => {
            let mut live: Vec<Option<Block<Mimalloc>>> =
                (0..size).map(|_| Mimalloc::alloc(64)).collect();
            let steps = indices(&mut rng, size, ops);
            run(ops, time, &mut || {
                for &s in &steps {
                    let slot = &mut live[s as usize];
                    if let Some(b) = slot.take() {
                        Mimalloc::free(b);
                    }
                    *slot = Mimalloc::alloc(black_box(64));
                }
            });
        }
        Workload::MimallocKmalloc => {
            let t = Trace::new(&Mix::sample(), SEED, size, ops);
            let mut live: Vec<Option<Block<Mimalloc>>> =
                t.initial.iter().map(|&s| Mimalloc::alloc(s)).collect();
            run(ops, time, &mut || {
                for s in &t.steps {
                    let slot = &mut live[s.slot as usize];
                    if let Some(b) = slot.take() {
                        Mimalloc::free(b);
                    }
                    *slot = Mimalloc::alloc(black_box(s.size as usize));
                }
            });
        }
        Workload::CachesPairs => {
            let f = Fixture::new(1, 1, workload.arena_bytes(size)).expect("fixture");
            let ids: Vec<CacheId> = (0..size)
                .map(|i| {
                    f.cache(&format!("curve-{i}"), 32 * (1 + i % 8))
                        .expect("cache")
                })
                .collect();
            let mut g = f.alloc.core(CORE0).expect("core");
            let mut live: Vec<usize> = ids
                .iter()
                .flat_map(|&id| std::iter::repeat_n(id, LIVE_PER_CACHE))
                .map(|id| g.alloc(id).expect("alloc"))
                .collect();
            let steps = indices(&mut rng, live.len(), ops);
            run(ops, time, &mut || {
                for &s in &steps {
                    let id = ids[s as usize / LIVE_PER_CACHE];
                    let slot = &mut live[s as usize];
                    g.free(id, black_box(*slot)).expect("free");
                    *slot = g.alloc(black_box(id)).expect("alloc");
                }
            });
        }
        Workload::CachesKmalloc => {
            let f = Fixture::new(1, 1, workload.arena_bytes(size)).expect("fixture");
            let sets: Vec<KmallocSet> = (0..size.div_ceil(13))
                .map(|k| {
                    f.alloc
                        .kmalloc_set_create(OwnerId(1 + k as u32))
                        .expect("set")
                })
                .collect();
            let t = Trace::new(&Mix::sample(), SEED, sets.len() * LIVE_PER_CACHE, ops);
            let mut g = f.alloc.core(CORE0).expect("core");
            let mut live: Vec<usize> = t
                .initial
                .iter()
                .enumerate()
                .map(|(i, &s)| g.kmalloc(&sets[i / LIVE_PER_CACHE], s).expect("kmalloc"))
                .collect();
            run(ops, time, &mut || {
                for s in &t.steps {
                    let set = &sets[s.slot as usize / LIVE_PER_CACHE];
                    let slot = &mut live[s.slot as usize];
                    g.kfree(set, *slot).expect("kfree");
                    *slot = g.kmalloc(set, black_box(s.size as usize)).expect("kmalloc");
                }
            });
        }
        Workload::Local | Workload::Remote => {
            let nodes = size;
            let f = Fixture::new(nodes, 2 / nodes, workload.arena_bytes(size)).expect("fixture");
            let id = f.cache("curve-64", 64).expect("cache");
            let freer = if workload == Workload::Remote {
                CORE1
            } else {
                CORE0
            };
            let mut held = [0usize; REMOTE_BATCH];
            let mut round = |n: usize| {
                for _ in 0..n / REMOTE_BATCH {
                    alloc_phase(&f, id, &mut held);
                    free_phase(&f, freer, id, &held);
                }
            };
            // Warm-up outside the count: the arrays, outboxes and inboxes reach their steady size.
            round(64 * REMOTE_BATCH);
            run(ops, time, &mut || round(ops));
        }
    }
}
