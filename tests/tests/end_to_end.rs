//! Several clients on two server cores (two nodes) through the in-process transport: caches with
//! and without constructors, batches through magazines and one-by-one debug caches, kmalloc across
//! every class and a large block, slabinfo totals, and exact accounting after every client leaves.
use memserver::server::Quota;
use memserver_client::{cache_flags, Client};
use memserver_protocol::ops::KMALLOC_CLASSES;
use memserver_protocol::{Error, SlabinfoRow};
use memserver_tests::{intact, stamp, World};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

static CTOR_RUNS: AtomicUsize = AtomicUsize::new(0);

fn fill_aa(p: *mut u8) {
    CTOR_RUNS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the stub calls constructors only on objects of a fresh slab of this client's cache
    // (40 usable bytes).
    unsafe { std::ptr::write_bytes(p, 0xAA, 40) };
}

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Totals {
    rows: u64,
    active_objs: u64,
    num_objs: u64,
    num_slabs: u64,
}

impl Totals {
    fn add(&mut self, r: &SlabinfoRow<'_>) {
        self.rows += 1;
        self.active_objs += r.active_objs;
        self.num_objs += r.num_objs;
        self.num_slabs += r.num_slabs;
    }
}

fn totals<T: memserver_client::Transport>(c: &mut Client<T>, all: bool) -> Totals {
    let mut t = Totals::default();
    c.slabinfo_rows(all, |r| t.add(r)).expect("slabinfo");
    t
}

/// One client's workload; returns its own slabinfo totals taken while everyone is still attached.
fn workload<T: memserver_client::Transport>(
    c: &mut Client<T>,
    id: u64,
    barrier: &Barrier,
) -> Totals {
    // A cache through magazines, objects stamped and checked.
    let mut objs = c
        .kmem_cache_create(&format!("objs-{id}"), 72, 8, 0, None)
        .unwrap();
    let mut held = Vec::new();
    for round in 0..4u64 {
        for i in 0..300 {
            let a = c.kmem_cache_alloc(&mut objs).unwrap();
            stamp(a, 72, id << 32 | round << 16 | i);
            held.push((a, id << 32 | round << 16 | i));
        }
        // Free every other one, keep the rest.
        let mut keep = Vec::new();
        for (k, (a, tag)) in held.drain(..).enumerate() {
            assert!(intact(a, 72, tag), "client {id}: object {a:#x} damaged");
            if k % 2 == 0 {
                c.kmem_cache_free(&mut objs, a).unwrap();
            } else {
                keep.push((a, tag));
            }
        }
        held = keep;
    }
    // A debug cache: every operation is one message the server checks.
    let mut checked = c
        .kmem_cache_create(
            &format!("checked-{id}"),
            24,
            8,
            cache_flags::RED_ZONE | cache_flags::POISON,
            None,
        )
        .unwrap();
    let before = c.messages();
    let d: Vec<usize> = (0..10)
        .map(|_| c.kmem_cache_alloc(&mut checked).unwrap())
        .collect();
    assert_eq!(c.messages() - before, 10, "debug caches bypass magazines");
    for &a in &d {
        stamp(a, 24, 7);
    }
    // kmalloc across every class and a large block, through magazines and directly.
    let mut blocks = Vec::new();
    for (k, &size) in KMALLOC_CLASSES.iter().enumerate() {
        for s in [size as usize, size as usize - 3] {
            let a = c.kmalloc(s).unwrap();
            assert!(c.ksize(a).unwrap() >= s);
            stamp(a, s, id * 100 + k as u64);
            blocks.push((a, s, id * 100 + k as u64));
        }
    }
    let big = c.kmalloc(100_000).unwrap();
    assert!(c.ksize(big).unwrap() >= 100_000);
    stamp(big, 100_000, id);
    barrier.wait();
    let own = totals(c, false);
    barrier.wait(); // the observer reads the totals now
    barrier.wait();
    for (a, s, tag) in blocks {
        assert!(intact(a, s, tag), "client {id}: kmalloc block damaged");
        c.kfree_sized(a, s).unwrap();
    }
    assert!(intact(big, 100_000, id));
    c.kfree(big).unwrap();
    for a in d {
        assert!(intact(a, 24, 7));
        c.kmem_cache_free(&mut checked, a).unwrap();
    }
    for (a, tag) in held {
        assert!(intact(a, 72, tag));
        c.kmem_cache_free(&mut objs, a).unwrap();
    }
    c.flush_kmalloc().unwrap();
    c.kmem_cache_destroy(&mut objs).unwrap();
    c.kmem_cache_destroy(&mut checked).unwrap();
    assert_eq!(c.stats().unwrap().live_objects, 0);
    own
}

#[test]
fn four_clients_on_two_cores_and_exact_accounting() {
    let world = Arc::new(World::new(2, 1, 64));
    let initial = world.stats();
    let barrier = Arc::new(Barrier::new(5));
    let threads: Vec<_> = (0..4u64)
        .map(|id| {
            let (world, barrier) = (world.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut c = world.client(id as usize % 2, Quota::UNLIMITED, 32);
                assert_eq!(c.core(), id % 2);
                let own = workload(&mut c, id, &barrier);
                c.detach().unwrap();
                own
            })
        })
        .collect();
    let mut observer = world.client(0, Quota::UNLIMITED, 32);
    barrier.wait();
    barrier.wait();
    let all = totals(&mut observer, true);
    let mine = totals(&mut observer, false);
    world.validate();
    barrier.wait();
    let mut sum = mine;
    for t in threads {
        let own = t.join().unwrap();
        sum.rows += own.rows;
        sum.active_objs += own.active_objs;
        sum.num_objs += own.num_objs;
        sum.num_slabs += own.num_slabs;
    }
    // Server-wide, each name is one row (every client's kmalloc-* merged, counts summed).
    assert_eq!(
        (all.active_objs, all.num_objs, all.num_slabs),
        (sum.active_objs, sum.num_objs, sum.num_slabs),
        "slabinfo totals equal the sum of the clients'"
    );
    assert!(sum.rows >= 5 * 13 + 8);
    assert!(all.rows > 13 && all.rows < sum.rows, "{all:?} {sum:?}");
    let mut text = String::new();
    observer.slabinfo(true, &mut text).unwrap();
    assert!(text.starts_with("slabinfo - version: 2.1\n# name"));
    observer.detach().unwrap();
    world.validate();
    assert_eq!(
        world.stats(),
        initial,
        "accounting returns exactly to its earlier value"
    );
}

#[test]
fn constructor_runs_client_side_once_per_object_of_a_fresh_slab() {
    let world = World::new(1, 2, 16);
    let mut c = world.client(1, Quota::UNLIMITED, 32);
    let mut cache = c
        .kmem_cache_create(
            "slab_test_cache",
            40,
            8,
            cache_flags::HWCACHE_ALIGN,
            Some(fill_aa),
        )
        .unwrap();
    let per_slab = cache.objects_per_slab();
    assert_eq!(
        per_slab, 64,
        "40-byte objects, cache-line aligned: 64 per 4 KiB page"
    );
    let a = c.kmem_cache_alloc(&mut cache).unwrap();
    assert_eq!(CTOR_RUNS.load(Ordering::Relaxed), per_slab);
    // SAFETY: `a` is our object of 40 bytes.
    let bytes = unsafe { std::slice::from_raw_parts(a as *const u8, 40) };
    assert!(bytes.iter().all(|&b| b == 0xAA));
    // The rest of the slab is served without running the constructor again.
    let more: Vec<usize> = (1..per_slab)
        .map(|_| c.kmem_cache_alloc(&mut cache).unwrap())
        .collect();
    assert_eq!(CTOR_RUNS.load(Ordering::Relaxed), per_slab);
    let next = c.kmem_cache_alloc(&mut cache).unwrap();
    assert_eq!(CTOR_RUNS.load(Ordering::Relaxed), 2 * per_slab);
    for x in more.into_iter().chain([a, next]) {
        c.kmem_cache_free(&mut cache, x).unwrap();
    }
    c.kmem_cache_destroy(&mut cache).unwrap();
    world.validate();
}

#[test]
fn magazines_amortise_messages_and_destroy_reports_live_objects() {
    let world = World::new(1, 1, 16);
    let mut c = world.client(0, Quota::UNLIMITED, 32);
    // 100-byte objects: no kmalloc class has that stride, so the cache is not merged (an alias
    // would be destroyed by dropping its reference, live objects or not, as in SLUB).
    let mut cache = c.kmem_cache_create("amortised", 100, 8, 0, None).unwrap();
    let start = c.messages();
    let objs: Vec<usize> = (0..1024)
        .map(|_| c.kmem_cache_alloc(&mut cache).unwrap())
        .collect();
    for &o in &objs {
        c.kmem_cache_free(&mut cache, o).unwrap();
    }
    let messages = c.messages() - start;
    assert!(
        messages <= 2 * 1024 / 32,
        "{messages} messages for 1024 objects"
    );
    // Live objects block destroy, with their count; the cache stays usable.
    let live: Vec<usize> = (0..5)
        .map(|_| c.kmem_cache_alloc(&mut cache).unwrap())
        .collect();
    let err = c.kmem_cache_destroy(&mut cache).unwrap_err();
    assert_eq!(err.error, Error::CacheBusy);
    assert_eq!(err.detail[0], 5);
    for o in live {
        c.kmem_cache_free(&mut cache, o).unwrap();
    }
    assert!(c.kmem_cache_shrink(&mut cache).is_ok());
    c.kmem_cache_destroy(&mut cache).unwrap();
    let err = c.kmem_cache_alloc(&mut cache).unwrap_err();
    assert_eq!(err.error, Error::StaleHandle);
    world.validate();
}

#[test]
fn typed_cache_round_trip() {
    use memserver_client::TypedCache;
    #[derive(Debug, PartialEq)]
    struct Node {
        key: u64,
        name: [u8; 24],
        next: Option<std::num::NonZeroUsize>,
    }
    let world = World::new(1, 1, 16);
    let mut c = world.client(0, Quota::UNLIMITED, 8);
    let mut nodes = TypedCache::<Node>::create(&mut c, "node").unwrap();
    let mut objs = Vec::new();
    for k in 0..100 {
        let o = nodes
            .alloc(
                &mut c,
                Node {
                    key: k,
                    name: [k as u8; 24],
                    next: None,
                },
            )
            .unwrap();
        objs.push(o);
    }
    objs[7].key += 1000;
    for (k, o) in objs.into_iter().enumerate() {
        let v = nodes.free(&mut c, o).unwrap();
        let want = if k == 7 { 1007 } else { k as u64 };
        assert_eq!(v.key, want);
        assert_eq!(v.name, [k as u8; 24]);
    }
    nodes.destroy(&mut c).unwrap();
    world.validate();
}

#[test]
fn free_slabs_are_shrunk_before_out_of_memory_is_reported() {
    let world = World::new(1, 1, 8);
    let total = world.stats().total_frames;
    let mut a = world.client(0, Quota::UNLIMITED, 32);
    let mut cache = a.kmem_cache_create("filler", 1000, 8, 0, None).unwrap();
    let objs: Vec<usize> = (0..5000)
        .map_while(|_| a.kmem_cache_alloc(&mut cache).ok())
        .collect();
    assert!(objs.len() > 3000, "filled {} objects", objs.len());
    for o in objs {
        a.kmem_cache_free(&mut cache, o).unwrap();
    }
    a.kmem_cache_flush(&mut cache).unwrap();
    // The free path gave the empty slabs back (as Linux discards them beyond min_partial);
    // what client a's cache still holds is the server's per-core array of its objects ...
    let free_now = world.stats().free_frames;
    assert!(free_now > total / 2, "free frames {free_now} of {total}");
    // ... and client b gets a block bigger than half of memory (the server shrinks before it
    // reports out of memory).
    let mut b = world.client(0, Quota::UNLIMITED, 32);
    let want = (total / 2 + 1) * 4096;
    let big = b.kmalloc(want.next_power_of_two() / 2).unwrap();
    assert!(b.ksize(big).unwrap() * 2 > want);
    // When memory is really gone, the answer is OutOfMemory (and nothing breaks).
    let mut blocks = Vec::new();
    let f = loop {
        match b.kmalloc(1 << 20) {
            Ok(p) => blocks.push(p),
            Err(f) => break f,
        }
    };
    assert_eq!(f.error, Error::OutOfMemory);
    assert!(!blocks.is_empty() && blocks.len() < 8);
    world.validate();
    for p in blocks.into_iter().chain([big]) {
        b.kfree(p).unwrap();
    }
    b.detach().unwrap();
    a.kmem_cache_destroy(&mut cache).unwrap();
    a.detach().unwrap();
    world.validate();
}

#[test]
fn a_bad_pointer_never_enters_the_magazine() {
    let world = World::new(1, 1, 16);
    let mut c = world.client(0, Quota::UNLIMITED, 4);
    let mut cache = c.kmem_cache_create("careless", 128, 8, 0, None).unwrap();
    let objs: Vec<usize> = (0..8)
        .map(|_| c.kmem_cache_alloc(&mut cache).unwrap())
        .collect();
    // The stub knows no slab at 0x10, so the server checks that free (one message) and
    // refuses it; it never reaches the magazine or a later drain.
    let sent = c.messages();
    let f = c.kmem_cache_free(&mut cache, 0x10).unwrap_err();
    assert_eq!((f.error, f.detail[0]), (Error::NotAllocated, 0x10));
    assert_eq!(c.messages(), sent + 1);
    for &o in &objs {
        c.kmem_cache_free(&mut cache, o).unwrap();
    }
    assert_eq!(cache.magazine_len(), 8);
    c.kmem_cache_flush(&mut cache).unwrap();
    assert_eq!(c.stats().unwrap().live_objects, 0);
    c.kmem_cache_destroy(&mut cache).unwrap();
    world.validate();
}

#[test]
fn one_client_on_both_cores_frees_across_nodes() {
    use memserver_client::Config;
    let world = World::new(2, 1, 32);
    let initial = world.stats();
    let (badge, pages) = world.attach(Quota::UNLIMITED);
    let mut on0 = Client::connect(world.transport(0, badge, &pages), Config { batch: 16 }).unwrap();
    let mut on1 = Client::connect(world.transport(1, badge, &pages), Config { batch: 16 }).unwrap();
    let blocks: Vec<usize> = (0..500)
        .map(|i| on0.kmalloc(8 + i % 500).unwrap())
        .collect();
    for (i, &b) in blocks.iter().enumerate() {
        stamp(b, 8 + i % 500, i as u64);
    }
    world.validate();
    // Freed through the other node's core: remote frees go home in batches.
    for (i, b) in blocks.into_iter().enumerate() {
        assert!(intact(b, 8 + i % 500, i as u64));
        on1.kfree_sized(b, 8 + i % 500).unwrap();
    }
    on1.flush_kmalloc().unwrap();
    assert_eq!(
        on0.stats().unwrap().live_objects,
        on0.kmalloc_cached() as u64
    );
    world.validate();
    on0.flush_kmalloc().unwrap();
    on0.detach().unwrap();
    assert_eq!(on1.stats().unwrap_err().error, Error::UnknownClient);
    world.validate();
    assert_eq!(world.stats(), initial);
}
