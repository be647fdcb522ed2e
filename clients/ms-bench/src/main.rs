//! memserver client `ms-bench`: the on-target bench (issue 6, target 5). Counts guest instructions
//! (the PMU cycle counter under QEMU `-icount shift=0`) of a 64-byte cache's alloc and free through
//! the client stub, in steady state (after warm-up rounds, so no new slab and no page mapping
//! falls in a window). Modes (see `harness::mode::bench`):
//! - `MAGAZINES` (batch: the start parameter, 32 if 0): rounds of `BURST` allocations then `BURST`
//!   frees, so refills and drains happen and are amortised over the pairs; then alloc-then-free
//!   pairs that never leave the magazine.
//! - `DIRECT` (magazines off): every alloc and every free is one register-only IPC.
//!
//! Every figure goes to the test driver; the checks (every object distinct, in the heap window,
//! intact, everything returned) run outside the timed windows. Nothing here panics.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![no_std]
#![no_main]

use memserver_client::{Client, Config, KmemCache};
use memserver_client_sel4::abi;
use memserver_client_sel4::Sel4Transport;
use ms_harness::{self as harness, figure, mode};
use ms_harness::{report, Checks};
use sel4::pmu::cycle_counter;
use sel4::Word;

sel4_runtime::declare_child_task!(main);

/// Object size of the bench cache (target 1's size, too).
const SIZE: usize = 64;
/// Objects allocated before any is freed in one round (eight batches of 32).
const BURST: usize = 256;
/// Rounds before measuring (slabs created and mapped, server arrays filled).
const WARM_UP: usize = 3;
/// Measured rounds.
const ROUNDS: usize = 8;

type C = Client<Sel4Transport>;

fn main(args: [Word; 4]) {
    let mut checks = Checks::new(args);
    let m = args[harness::arg::MODE];
    // SAFETY: the root task maps this client's magazine page for its core (spawn contract).
    let transport = unsafe { Sel4Transport::from_abi(args[harness::arg::CORE] as usize) };
    let batch = match (m, args[harness::arg::PARAM]) {
        (mode::bench::DIRECT, _) => 0,
        (_, 0) => 32,
        (_, b) => b as usize,
    };
    let mut client = match Client::connect(transport, Config { batch }) {
        Ok(c) => c,
        Err(f) => {
            checks.check(0, f.error.code(), 0);
            checks.done()
        }
    };
    checks.check(1, client.batch() as Word, batch as Word);
    match client.kmem_cache_create("bench_64", SIZE, 8, 0, None) {
        Ok(mut k) => {
            match m {
                mode::bench::MAGAZINES => magazines(&mut client, &mut k, batch, &mut checks),
                mode::bench::DIRECT => direct(&mut client, &mut k, &mut checks),
                _ => {
                    checks.check(2, m, mode::bench::MAGAZINES);
                }
            }
            let _ = client.kmem_cache_flush(&mut k);
            report::figure(figure::BENCH_CACHE_HANDLE, k.handle());
            checks.check(3, client.stats().map_or(Word::MAX, |s| s.live_objects), 0);
        }
        Err(e) => {
            checks.check(2, e.error.code(), 0);
        }
    }
    checks.done()
}

/// Allocates `BURST` objects into `objs`, then frees them; returns the instructions of both
/// loops, or `None` after reporting a failed operation.
fn round(
    c: &mut C,
    k: &mut KmemCache,
    objs: &mut [usize; BURST],
    checks: &mut Checks,
) -> Option<(Word, Word)> {
    let t0 = cycle_counter();
    for o in objs.iter_mut() {
        match c.kmem_cache_alloc(k) {
            Ok(a) => *o = a,
            Err(e) => {
                checks.check(10, e.error.code(), 0);
                return None;
            }
        }
    }
    let t1 = cycle_counter();
    if !objects_ok(objs, checks) {
        return None;
    }
    let t2 = cycle_counter();
    for &a in objs.iter() {
        if let Err(e) = c.kmem_cache_free(k, a) {
            checks.check(11, e.error.code(), 0);
            return None;
        }
    }
    let t3 = cycle_counter();
    Some((t1.wrapping_sub(t0), t3.wrapping_sub(t2)))
}

/// Every object distinct, `SIZE` apart at least, in the heap window, and writable without
/// disturbing the others.
fn objects_ok(objs: &[usize; BURST], checks: &mut Checks) -> bool {
    for (i, &a) in objs.iter().enumerate() {
        // SAFETY: a live object of at least `SIZE` bytes of our cache, 8-byte aligned.
        unsafe { (a as *mut u64).write(i as u64 ^ 0xbe9c) };
    }
    // SAFETY: as above.
    let intact = objs
        .iter()
        .enumerate()
        .all(|(i, &a)| unsafe { (a as *const u64).read() } == i as u64 ^ 0xbe9c);
    let mut sorted = *objs;
    sorted.sort_unstable();
    let apart = sorted.windows(2).all(|w| w[1] - w[0] >= SIZE);
    let window = abi::HEAP_WINDOW..abi::HEAP_WINDOW + (4usize << 30);
    let inside = objs.iter().all(|a| window.contains(a));
    checks.ok(12, intact) && checks.ok(13, apart) && checks.ok(14, inside)
}

fn magazines(c: &mut C, k: &mut KmemCache, batch: usize, checks: &mut Checks) {
    let mut objs = [0usize; BURST];
    for _ in 0..WARM_UP {
        if round(c, k, &mut objs, checks).is_none() {
            return;
        }
    }
    let before = c.messages();
    let mut total = 0;
    for _ in 0..ROUNDS {
        let Some((a, f)) = round(c, k, &mut objs, checks) else {
            return;
        };
        total += a + f;
    }
    let messages = c.messages() - before;
    // A round moves BURST objects out and back in batches: at most one refill and one drain per
    // batch, plus one of each at the magazine's edges.
    let bound = (2 * (BURST / batch + 1) * ROUNDS) as Word;
    checks.ok(20, messages > 0 && messages <= bound);
    report::figure(figure::BENCH_OBJECTS, (BURST * ROUNDS) as Word);
    report::figure(figure::BENCH_PAIR_INSTRUCTIONS, total);
    report::figure(figure::BENCH_MESSAGES, messages);

    let before = c.messages();
    let t0 = cycle_counter();
    for _ in 0..mode::bench::LOCAL_PAIRS {
        match c.kmem_cache_alloc(k) {
            Ok(a) => {
                if c.kmem_cache_free(k, a).is_err() {
                    checks.ok(21, false);
                    return;
                }
            }
            Err(e) => {
                checks.check(22, e.error.code(), 0);
                return;
            }
        }
    }
    let t1 = cycle_counter();
    checks.check(23, c.messages() - before, 0);
    report::figure(figure::BENCH_LOCAL_PAIR_INSTRUCTIONS, t1.wrapping_sub(t0));
}

fn direct(c: &mut C, k: &mut KmemCache, checks: &mut Checks) {
    let mut ok = true;
    let t0 = cycle_counter();
    for i in 0..mode::bench::PINGS {
        ok &= report::ping(0, [i, 1, 2, 3]);
    }
    let t1 = cycle_counter();
    checks.ok(31, ok);
    report::figure(figure::BENCH_PING_INSTRUCTIONS, t1.wrapping_sub(t0));
    let mut objs = [0usize; BURST];
    for _ in 0..WARM_UP {
        if round(c, k, &mut objs, checks).is_none() {
            return;
        }
    }
    let before = c.messages();
    let (mut allocs, mut frees) = (0, 0);
    for _ in 0..ROUNDS {
        let Some((a, f)) = round(c, k, &mut objs, checks) else {
            return;
        };
        allocs += a;
        frees += f;
    }
    let messages = c.messages() - before;
    checks.check(30, messages, (2 * BURST * ROUNDS) as Word);
    report::figure(figure::BENCH_OBJECTS, (BURST * ROUNDS) as Word);
    report::figure(figure::BENCH_ALLOC_INSTRUCTIONS, allocs);
    report::figure(figure::BENCH_FREE_INSTRUCTIONS, frees);
    report::figure(figure::BENCH_MESSAGES, messages);
}
