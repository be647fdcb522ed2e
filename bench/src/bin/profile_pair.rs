//! `profile_pair [N]`: N alloc+free pairs of a 64-byte object, memserver then mimalloc, in
//! separate never-inlined functions, for `valgrind --tool=callgrind --toggle-collect=...`
//! instruction counts of the fast path (see `BENCHMARKS.md`). Measures nothing itself.
use std::hint::black_box;

use memserver::{CacheId, CoreGuard};
use memserver_bench::fixture::{Fixture, CORE0, OWNER};
use memserver_bench::peers::{Mimalloc, Peer};
use memserver_bench::workload::Trace;

#[inline(never)]
fn memserver_pairs(g: &mut CoreGuard<'_>, id: CacheId, n: usize) {
    for _ in 0..n {
        let a = g.alloc(black_box(id)).expect("alloc");
        g.free(id, black_box(a)).expect("free");
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
    set: &memserver::KmallocSet,
    t: &Trace,
    live: &mut [usize],
) {
    for s in &t.steps {
        let slot = &mut live[s.slot as usize];
        g.kfree(set, *slot).expect("kfree");
        *slot = g.kmalloc(set, black_box(s.size as usize)).expect("kmalloc");
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let f = Fixture::new(1, 1, 64 << 20).expect("fixture");
    let id = f.cache("bench-64", 64).expect("cache");
    let set = f.alloc.kmalloc_set_create(OWNER).expect("kmalloc set");
    let t = Trace::standard();
    let mut g = f.alloc.core(CORE0).expect("core");
    memserver_pairs(&mut g, id, n);
    mimalloc_pairs(n);
    let mut live: Vec<usize> = t
        .initial
        .iter()
        .map(|&s| g.kmalloc(&set, s).expect("kmalloc"))
        .collect();
    memserver_mixed(&mut g, &set, &t, &mut live);
}
