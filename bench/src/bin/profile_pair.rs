//! `profile_pair [N]`: the fast-path workloads for `valgrind --tool=callgrind` instruction counts
//! (run by `cargo xtask bench` when valgrind is installed; see `memserver_bench::callgrind`).
//! Each runs in its own never-inlined function, so a function's inclusive count over its number
//! of operations is the cost of one: N alloc+free pairs of a 64-byte object (memserver through a
//! held `CoreGuard` and a resolved cache, and by handle; and mimalloc), N objects in batches of 32
//! (`alloc_batch`, `free_batch`), N steps of the kmalloc mixed trace (memserver through a resolved set, and by set; mimalloc), and N
//! objects allocated on core 0 and freed on core 1 from one thread (memserver).
use std::hint::black_box;

use memserver::{CacheId, CoreGuard, KmallocSet};
use memserver_bench::fixture::{Fixture, CORE0, CORE1, OWNER};
use memserver_bench::peers::{Block, Mimalloc, Peer};
use memserver_bench::workload::Trace;

#[inline(never)]
fn memserver_pairs(g: &mut CoreGuard<'_>, id: CacheId, n: usize) {
    let mut c = g.cache(id).expect("cache");
    for _ in 0..n {
        let a = c.alloc().expect("alloc");
        c.free(black_box(a)).expect("free");
    }
}

#[inline(never)]
fn memserver_handle_pairs(g: &mut CoreGuard<'_>, id: CacheId, n: usize) {
    for _ in 0..n {
        let a = g.alloc(black_box(id)).expect("alloc");
        g.free(id, black_box(a)).expect("free");
    }
}

/// Objects allocated on core 0 and freed on core 1 in batches of 64, from one thread (what the
/// producer/consumer bench does on two threads, without the threads).
#[inline(never)]
fn memserver_remote(f: &Fixture, id: CacheId, n: usize) {
    let mut held = [0usize; 64];
    for _ in 0..n / 64 {
        let mut g0 = f.alloc.core(CORE0).expect("core 0");
        for h in held.iter_mut() {
            *h = g0.alloc(id).expect("alloc");
        }
        drop(g0);
        let mut g1 = f.alloc.core(CORE1).expect("core 1");
        for &h in held.iter() {
            g1.free(id, black_box(h)).expect("free");
        }
    }
}

/// Batches of 32: `alloc_batch` then `free_batch` (what the server does per Refill and Drain).
#[inline(never)]
fn memserver_batches(g: &mut CoreGuard<'_>, id: CacheId, n: usize) {
    let mut held = [0usize; 32];
    for _ in 0..n / 32 {
        g.alloc_batch(id, &mut held).expect("alloc_batch");
        g.free_batch(id, black_box(&held)).expect("free_batch");
    }
}

#[inline(never)]
fn mimalloc_pairs(n: usize) {
    for _ in 0..n {
        let b = Mimalloc::alloc(black_box(64)).expect("alloc");
        Mimalloc::free(black_box(b));
    }
}

#[inline(never)]
fn memserver_mixed(
    g: &mut CoreGuard<'_>,
    set: &KmallocSet,
    t: &Trace,
    live: &mut [usize],
    n: usize,
) {
    let mut k = g.kmalloc_set(set).expect("kmalloc set");
    for s in t.steps.iter().cycle().take(n) {
        let slot = &mut live[s.slot as usize];
        k.kfree(*slot).expect("kfree");
        *slot = k.kmalloc(black_box(s.size as usize)).expect("kmalloc");
    }
}

#[inline(never)]
fn memserver_set_mixed(
    g: &mut CoreGuard<'_>,
    set: &KmallocSet,
    t: &Trace,
    live: &mut [usize],
    n: usize,
) {
    for s in t.steps.iter().cycle().take(n) {
        let slot = &mut live[s.slot as usize];
        g.kfree(set, *slot).expect("kfree");
        *slot = g.kmalloc(set, black_box(s.size as usize)).expect("kmalloc");
    }
}

#[inline(never)]
fn mimalloc_mixed(t: &Trace, live: &mut [Option<Block<Mimalloc>>], n: usize) {
    for s in t.steps.iter().cycle().take(n) {
        let slot = &mut live[s.slot as usize];
        if let Some(b) = slot.take() {
            Mimalloc::free(b);
        }
        *slot = Mimalloc::alloc(black_box(s.size as usize));
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let f = Fixture::new(1, 1, 64 << 20).expect("fixture");
    let id = f.cache("bench-64", 64).expect("cache");
    let set = f.alloc.kmalloc_set_create(OWNER).expect("kmalloc set");
    let t = Trace::standard();
    let mut g = f.alloc.core(CORE0).expect("core");
    // Warm-ups run here, outside the counted functions: refills and first touches stay out.
    let a = g.alloc(id).expect("alloc");
    g.free(id, a).expect("free");
    memserver_pairs(&mut g, id, n);
    memserver_handle_pairs(&mut g, id, n);
    memserver_batches(&mut g, id, n);
    if let Some(b) = Mimalloc::alloc(64) {
        Mimalloc::free(b);
    }
    mimalloc_pairs(n);
    let mut live: Vec<usize> = t
        .initial
        .iter()
        .map(|&s| g.kmalloc(&set, s).expect("kmalloc"))
        .collect();
    let mut mi: Vec<Option<Block<Mimalloc>>> =
        t.initial.iter().map(|&s| Mimalloc::alloc(s)).collect();
    for s in &t.steps {
        let slot = &mut live[s.slot as usize];
        g.kfree(&set, *slot).expect("kfree");
        *slot = g.kmalloc(&set, s.size as usize).expect("kmalloc");
        let m = &mut mi[s.slot as usize];
        if let Some(b) = m.take() {
            Mimalloc::free(b);
        }
        *m = Mimalloc::alloc(s.size as usize);
    }
    memserver_mixed(&mut g, &set, &t, &mut live, n);
    memserver_set_mixed(&mut g, &set, &t, &mut live, n);
    mimalloc_mixed(&t, &mut mi, n);
    drop(g);
    let two = Fixture::new(1, 2, 64 << 20).expect("fixture");
    let rid = two.cache("bench-64", 64).expect("cache");
    memserver_remote(&two, rid, 64 * 4);
    let t0 = std::time::Instant::now();
    memserver_remote(&two, rid, n);
    eprintln!(
        "memserver_remote: {:.1} ns per object (one thread)",
        t0.elapsed().as_nanos() as f64 / n as f64
    );
    println!("{n}");
}
