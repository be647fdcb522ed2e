//! memserver client `ms-alpha`: slab caches over seL4 IPC. Modes (see `harness::mode::alpha`): the
//! demo part (caches through magazines and one by one), a cache lifecycle with constructor counts,
//! batches through magazines with message counts, a victim for the adversarial client, and large
//! blocks for node placement; with a thread on each of two cores (`threads`): frees across cores,
//! a fault of the second thread, and a second thread scribbling the first one's magazine page.
//! Every check is reported to the test driver; nothing here panics.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use memserver_client::{cache_flags, Client, Config, KmemCache};
use memserver_client_sel4::abi;
use memserver_client_sel4::Sel4Transport;
use ms_harness::{self as harness, figure, mode};
use ms_harness::{report, Checks};
use sel4::Word;

mod threads;

sel4_runtime::declare_child_task!(main);

static CTOR_RUNS: AtomicU64 = AtomicU64::new(0);
const CTOR_MAGIC: u64 = 0xc0ffee;

fn ctor(obj: *mut u8) {
    CTOR_RUNS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the stub calls the constructor on objects of a fresh slab of this client's cache,
    // mapped read-write in its heap window, each at least 8 bytes and 8-byte aligned.
    unsafe { (obj as *mut u64).write(CTOR_MAGIC) };
}

fn in_window(addr: usize) -> bool {
    (abi::HEAP_WINDOW..abi::HEAP_WINDOW + (4usize << 30)).contains(&addr)
}

fn main(args: [Word; 4]) {
    let mut checks = Checks::new(args);
    let m = args[harness::arg::MODE];
    // SAFETY: the root task maps this client's magazine page for its core (spawn contract).
    let transport = unsafe { Sel4Transport::from_abi(args[harness::arg::CORE] as usize) };
    let core = args[harness::arg::CORE] as usize;
    let batch = match m {
        mode::alpha::BATCHES => 16,
        mode::alpha::TWO_CORES | mode::alpha::SECOND_THREAD_FAULTS | mode::alpha::SCRIBBLED => 0,
        _ => 32,
    };
    let mut client = match Client::connect(transport, Config { batch }) {
        Ok(c) => c,
        Err(f) => {
            checks.check(0, f.error.code(), 0);
            checks.done()
        }
    };
    match m {
        mode::DEMO => demo(&mut client, &mut checks),
        mode::alpha::LIFECYCLE => lifecycle(&mut client, &mut checks),
        mode::alpha::BATCHES => batches(&mut client, &mut checks),
        mode::alpha::VICTIM => victim(&mut client, &mut checks),
        mode::alpha::NODE => node(&mut client, &mut checks),
        mode::alpha::TWO_CORES => threads::two_cores(&mut client, &mut checks, core),
        mode::alpha::SECOND_THREAD_FAULTS => {
            threads::second_thread_faults(&mut client, &mut checks, core)
        }
        mode::alpha::BRIEF => brief(&mut client, &mut checks),
        mode::alpha::SCRIBBLED => {
            let victim = args[harness::arg::PARAM] as usize;
            threads::scribbled(&mut client, &mut checks, core, victim)
        }
        _ => {
            checks.check(0, m, mode::DEMO);
        }
    }
    report::figure(figure::MESSAGES, client.messages());
    report::figure(figure::CORE, client.core());
    checks.done()
}

pub(crate) type C = Client<Sel4Transport>;

fn create(
    c: &mut C,
    checks: &mut Checks,
    id: Word,
    name: &str,
    size: usize,
    flags: u64,
    f: Option<fn(*mut u8)>,
) -> Option<KmemCache> {
    match c.kmem_cache_create(name, size, 8, flags, f) {
        Ok(k) => Some(k),
        Err(e) => {
            checks.check(id, e.error.code(), 0);
            None
        }
    }
}

fn demo(c: &mut C, checks: &mut Checks) {
    let Some(mut nodes) = create(
        c,
        checks,
        1,
        "alpha_nodes",
        48,
        cache_flags::HWCACHE_ALIGN,
        Some(ctor),
    ) else {
        return;
    };
    let mut objs = [0usize; 200];
    let before = c.messages();
    for (i, o) in objs.iter_mut().enumerate() {
        match c.kmem_cache_alloc(&mut nodes) {
            Ok(a) => {
                // SAFETY: a live 48-byte object of our cache in our heap window.
                unsafe { (a as *mut u64).add(1).write(i as u64) };
                *o = a;
            }
            Err(e) => {
                checks.check(2, e.error.code(), 0);
                return;
            }
        }
    }
    let ok = objs
        .iter()
        .enumerate()
        // SAFETY: as above: each object is still ours.
        .all(|(i, &a)| unsafe { (a as *const u64).add(1).read() } == i as u64);
    checks.ok(3, ok);
    for &a in &objs {
        let _ = c.kmem_cache_free(&mut nodes, a);
    }
    ms_harness::println!(
        "alpha: 200 objects of alpha_nodes allocated and freed through magazines in {} messages, constructor ran {} times",
        c.messages() - before,
        CTOR_RUNS.load(Ordering::Relaxed)
    );
    let Some(mut checked) = create(
        c,
        checks,
        4,
        "alpha_checked",
        64,
        cache_flags::RED_ZONE | cache_flags::POISON,
        None,
    ) else {
        return;
    };
    let before = c.messages();
    for _ in 0..10 {
        match c.kmem_cache_alloc(&mut checked) {
            Ok(a) => {
                let _ = c.kmem_cache_free(&mut checked, a);
            }
            Err(e) => {
                checks.check(5, e.error.code(), 0);
            }
        }
    }
    ms_harness::println!(
        "alpha: 10 alloc/free pairs one by one (red zone + poison cache) in {} messages",
        c.messages() - before
    );
    report::figure(figure::OBJECTS, 210);
}

fn lifecycle(c: &mut C, checks: &mut Checks) {
    let Some(mut k) = create(c, checks, 1, "alpha_ctor", 64, 0, Some(ctor)) else {
        return;
    };
    let per_slab = k.objects_per_slab() as u64;
    checks.ok(2, per_slab > 1);
    let first = match c.kmem_cache_alloc(&mut k) {
        Ok(a) => a,
        Err(e) => {
            checks.check(3, e.error.code(), 0);
            return;
        }
    };
    checks.ok(4, in_window(first));
    // One slab made: the constructor ran once per object of it, in this task.
    checks.check(5, CTOR_RUNS.load(Ordering::Relaxed), per_slab);
    // SAFETY: a live object of our cache, constructed by `ctor`.
    checks.check(6, unsafe { (first as *const u64).read() }, CTOR_MAGIC);
    let mut more = [0usize; 64];
    let n = (per_slab as usize + 1).min(more.len());
    for o in more[..n].iter_mut() {
        match c.kmem_cache_alloc(&mut k) {
            Ok(a) => *o = a,
            Err(e) => {
                checks.check(7, e.error.code(), 0);
                return;
            }
        }
    }
    // More objects than one slab holds: a second slab, constructed once more per object.
    checks.check(8, CTOR_RUNS.load(Ordering::Relaxed) % per_slab, 0);
    checks.ok(9, CTOR_RUNS.load(Ordering::Relaxed) >= 2 * per_slab);
    // Destroy with live objects fails with the live count and leaves the cache usable.
    let busy = c.kmem_cache_destroy(&mut k);
    checks.check(
        10,
        busy.err().map_or(0, |f| f.error.code()),
        memserver_protocol::Error::CacheBusy.code(),
    );
    let _ = c.kmem_cache_free(&mut k, first);
    for &a in &more[..n] {
        let _ = c.kmem_cache_free(&mut k, a);
    }
    let _ = c.kmem_cache_flush(&mut k);
    checks.check(11, c.stats().map_or(u64::MAX, |s| s.live_objects), 0);
    checks.ok(12, c.kmem_cache_destroy(&mut k).is_ok());
    report::figure(figure::CTOR_RUNS, CTOR_RUNS.load(Ordering::Relaxed));
}

fn batches(c: &mut C, checks: &mut Checks) {
    let Some(mut k) = create(c, checks, 1, "alpha_batch", 32, 0, None) else {
        return;
    };
    const N: usize = 1000;
    let mut objs = [0usize; N];
    let before = c.messages();
    let t0 = sel4::pmu::cycle_counter();
    for o in objs.iter_mut() {
        match c.kmem_cache_alloc(&mut k) {
            Ok(a) => *o = a,
            Err(e) => {
                checks.check(2, e.error.code(), 0);
                return;
            }
        }
    }
    let t1 = sel4::pmu::cycle_counter();
    let alloc_msgs = c.messages() - before;
    for (i, &a) in objs.iter().enumerate() {
        // SAFETY: a live 32-byte object of our cache.
        unsafe { (a as *mut u64).write(i as u64 ^ 0xabcd) };
    }
    // Batches of 16: one Refill per 16 objects.
    checks.check(3, alloc_msgs, N.div_ceil(16) as u64);
    // SAFETY: as above.
    let intact = objs
        .iter()
        .enumerate()
        .all(|(i, &a)| unsafe { (a as *const u64).read() } == i as u64 ^ 0xabcd);
    checks.ok(4, intact);
    let mut sorted = objs;
    sorted.sort_unstable();
    checks.ok(5, sorted.windows(2).all(|w| w[1] - w[0] >= 32));
    checks.ok(6, objs.iter().all(|&a| in_window(a)));
    let before = c.messages();
    let t2 = sel4::pmu::cycle_counter();
    for &a in &objs {
        let _ = c.kmem_cache_free(&mut k, a);
    }
    let t3 = sel4::pmu::cycle_counter();
    let free_msgs = c.messages() - before;
    report::figure(figure::ALLOC_1000_INSTRUCTIONS, t1.wrapping_sub(t0));
    report::figure(figure::FREE_1000_INSTRUCTIONS, t3.wrapping_sub(t2));
    checks.ok(7, free_msgs <= N.div_ceil(16) as u64);
    let _ = c.kmem_cache_flush(&mut k);
    checks.check(8, c.stats().map_or(u64::MAX, |s| s.live_objects), 0);
    // One by one: a debug cache bypasses the magazines, one message per operation.
    let Some(mut d) = create(
        c,
        checks,
        9,
        "alpha_one_by_one",
        32,
        cache_flags::CONSISTENCY_CHECKS,
        None,
    ) else {
        return;
    };
    let before = c.messages();
    for _ in 0..20 {
        match c.kmem_cache_alloc(&mut d) {
            Ok(a) => {
                let _ = c.kmem_cache_free(&mut d, a);
            }
            Err(e) => {
                checks.check(10, e.error.code(), 0);
            }
        }
    }
    checks.check(11, c.messages() - before, 40);
    let _ = c.kmem_cache_destroy(&mut d);
    let _ = c.kmem_cache_destroy(&mut k);
    report::figure(figure::OBJECTS, (N + 20) as u64);
}

fn victim(c: &mut C, checks: &mut Checks) {
    let Some(mut k) = create(c, checks, 1, "victim", harness::VICTIM_SIZE, 0, None) else {
        return;
    };
    let mut objs = [0usize; harness::VICTIM_OBJECTS];
    for (obj, slot) in objs.iter_mut().enumerate() {
        match c.kmem_cache_alloc(&mut k) {
            Ok(a) => {
                for i in 0..harness::VICTIM_SIZE / 8 {
                    // SAFETY: a live 48-byte object of our cache.
                    unsafe { (a as *mut u64).add(i).write(harness::victim_word(obj, i)) };
                }
                report::figure(figure::ADDRESS, a as Word);
                *slot = a;
            }
            Err(e) => {
                checks.check(2, e.error.code(), 0);
                return;
            }
        }
    }
    // Another client attacks meanwhile; once the driver says so, the objects must be intact.
    while !report::poll() {
        sel4::yield_now();
    }
    for (obj, &a) in objs.iter().enumerate() {
        let intact = (0..harness::VICTIM_SIZE / 8).all(|i| {
            // SAFETY: a live 48-byte object of our cache.
            unsafe { (a as *const u64).add(i).read_volatile() == harness::victim_word(obj, i) }
        });
        checks.ok(3, intact);
    }
}

/// A cache with a few objects, held until the driver says go, then given back.
fn brief(c: &mut C, checks: &mut Checks) {
    let Some(mut k) = create(c, checks, 1, "brief", 64, 0, None) else {
        return;
    };
    let mut objs = [0usize; 8];
    for o in objs.iter_mut() {
        *o = c.kmem_cache_alloc(&mut k).unwrap_or(0);
        checks.ok(2, *o != 0);
    }
    report::figure(figure::OBJECTS, objs.len() as Word);
    while !report::poll() {
        sel4::yield_now();
    }
    for o in objs.into_iter().filter(|&o| o != 0) {
        checks.ok(3, c.kmem_cache_free(&mut k, o).is_ok());
    }
    checks.ok(4, c.kmem_cache_destroy(&mut k).is_ok());
}

fn node(c: &mut C, checks: &mut Checks) {
    for i in 0..3 {
        match c.kmalloc(4 << 20) {
            Ok(a) => {
                // SAFETY: a live 4 MiB block of ours: its first and last byte.
                unsafe {
                    (a as *mut u8).write(i as u8);
                    ((a + (4 << 20) - 1) as *mut u8).write(i as u8);
                }
                report::figure(figure::ADDRESS, a as Word);
            }
            Err(e) => {
                checks.check(1 + i, e.error.code(), 0);
            }
        }
    }
}
