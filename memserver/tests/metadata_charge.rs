//! The metadata a client is charged covers what the heap really gives for it, for each kind of
//! request, and is not far above it: a counting global allocator measures the live heap bytes
//! each request adds (or frees), next to the charge the server reports for the client.
//!
//! One test function: the measurements need no other thread allocating meanwhile.
use memserver::platform::host::HostArena;
use memserver::platform::Platform;
use memserver::server::{AttachParams, Quota, Server, ServerConfig};
use memserver::topology::{Topology, MAX_CORES};
use memserver::Allocator;
use memserver_protocol::ops::*;
use memserver_protocol::{Error, Failure, MagazinePage, Message, Request, PROTOCOL_VERSION};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to `System` unchanged; only counts the bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> i64 {
    LIVE.load(Ordering::Relaxed) as i64
}

const CORES: usize = 2;

struct Client {
    badge: u64,
    _pages: Vec<Box<MagazinePage>>,
}

fn send(s: &Server, badge: u64, req: Request<'_>) -> Result<Vec<u64>, Failure> {
    let mut msg = Message::default();
    let (label, len) = req.encode(&mut msg.words);
    msg.label = label;
    msg.len = len;
    s.dispatch(0, badge, &mut msg);
    if msg.label != 0 {
        return Err(Failure::from_reply(msg.label, &msg.words[..msg.len]));
    }
    Ok(msg.words[..msg.len].to_vec())
}

fn attach(s: &Server, quota: Quota, slab_debug: &str) -> Result<Client, Failure> {
    let pages: Vec<Box<MagazinePage>> = (0..CORES).map(|_| Box::new(MagazinePage::new())).collect();
    let mut addrs = [0; MAX_CORES];
    for (a, p) in addrs.iter_mut().zip(&pages) {
        *a = &**p as *const MagazinePage as usize;
    }
    // SAFETY: the pages are boxed in the returned client, which outlives its attachment (the
    // test detaches every client before dropping it).
    let badge = unsafe {
        s.attach(&AttachParams {
            pages: addrs,
            offset: 0,
            quota,
            slab_debug,
        })
    }?;
    send(
        s,
        badge,
        Request::Hello(HelloReq {
            version: PROTOCOL_VERSION,
        }),
    )?;
    Ok(Client {
        badge,
        _pages: pages,
    })
}

fn create(s: &Server, c: &Client, name: &str, size: u64, flags: u64) -> Result<u64, Failure> {
    let req = CacheCreateReq {
        size,
        align: 8,
        flags,
        ctor: 0,
    };
    Ok(send(s, c.badge, Request::CacheCreate(req, name))?[0])
}

fn alloc(s: &Server, c: &Client, handle: u64) -> Result<u64, Failure> {
    Ok(send(s, c.badge, Request::Alloc(AllocReq { handle, flags: 0 }))?[0])
}

fn free(s: &Server, c: &Client, handle: u64, addr: u64) {
    send(s, c.badge, Request::Free(FreeReq { handle, addr })).unwrap();
}

fn charged(s: &Server, c: &Client) -> i64 {
    let stats = send(s, c.badge, Request::Stats(StatsReq {})).unwrap();
    assert_eq!(stats[4] as i64, s.metadata_used(c.badge).unwrap() as i64);
    stats[4] as i64
}

/// Runs `f` and checks that what the client was charged meanwhile covers the heap bytes it
/// added, and is at most twice that plus `slack` bytes (allocations the charge counts but the
/// heap did not make this time: the client table slot, vector capacity already there).
fn measure<T>(what: &str, s: &Server, c: &Client, slack: i64, f: impl FnOnce() -> T) -> T {
    let (heap0, meta0) = (live(), charged(s, c));
    let out = f();
    let (heap, meta) = (live() - heap0, charged(s, c) - meta0);
    println!("{what}: heap {heap} bytes, charged {meta} bytes");
    assert!(meta >= heap, "{what}: charged {meta} < heap {heap}");
    assert!(
        meta <= 2 * heap + slack,
        "{what}: charged {meta} far above heap {heap}"
    );
    out
}

#[test]
#[cfg_attr(
    miri,
    ignore = "fills a 4 MiB metadata budget slab by slab: hours under Miri"
)]
fn metadata_charges_cover_the_heap_and_refusals_change_nothing() {
    let arena = HostArena::new(64 << 20, 2).unwrap();
    let core = Allocator::new(Topology::uniform(CORES, 2).unwrap(), arena.memory()).unwrap();
    let budget = 4 << 20;
    let s = Server::new(
        core,
        ServerConfig {
            metadata_budget: budget,
            ..ServerConfig::default()
        },
    );
    // Warm the server's own tables (per-core scratch, registry) with a client that does
    // everything once, so the measured clients see only their own growth.
    let warm = attach(&s, Quota::UNLIMITED, "").unwrap();
    for (i, flags) in [0, cache_flags::STORE_USER | cache_flags::RED_ZONE]
        .into_iter()
        .enumerate()
    {
        let h = create(&s, &warm, &format!("warm{i}"), 64, flags).unwrap();
        let a = alloc(&s, &warm, h).unwrap();
        free(&s, &warm, h, a);
    }
    let k = send(
        &s,
        warm.badge,
        Request::Kmalloc(KmallocReq {
            size: 20_000,
            flags: 0,
        }),
    )
    .unwrap()[0];
    send(&s, warm.badge, Request::Kfree(KfreeReq { addr: k })).unwrap();

    // Attach: the record, the account, the kmalloc set of 13 caches.
    let heap0 = live();
    let c = attach(&s, Quota::UNLIMITED, "").unwrap();
    let pages = (CORES * std::mem::size_of::<MagazinePage>()) as i64;
    let (heap, meta) = (live() - heap0 - pages, charged(&s, &c));
    println!("attach: heap {heap} bytes, charged {meta} bytes");
    assert!(meta >= heap && meta <= 2 * heap, "attach: {meta} vs {heap}");

    // A cache, a debug cache with owner tracks, a merged alias.
    let plain = measure("cache create", &s, &c, 1024, || {
        create(&s, &c, "plain", 48, 0).unwrap()
    });
    let tracked = measure("STORE_USER cache create", &s, &c, 1024, || {
        create(
            &s,
            &c,
            "tracked",
            200,
            cache_flags::STORE_USER | cache_flags::RED_ZONE,
        )
        .unwrap()
    });
    // First objects: one new slab each (its record, free stack, states, tracks).
    let p = measure("alloc (new slab)", &s, &c, 512, || {
        alloc(&s, &c, plain).unwrap()
    });
    let t = measure("alloc (new STORE_USER slab)", &s, &c, 512, || {
        alloc(&s, &c, tracked).unwrap()
    });
    // Many slabs: the record tables grow.
    let mut many = Vec::with_capacity(300);
    measure("300 allocs of a STORE_USER cache", &s, &c, 4096, || {
        many.extend((0..300).map(|_| alloc(&s, &c, tracked).unwrap()))
    });
    let small = measure("kmalloc 100 (new slab)", &s, &c, 512, || {
        send(
            &s,
            c.badge,
            Request::Kmalloc(KmallocReq {
                size: 100,
                flags: 0,
            }),
        )
        .unwrap()[0]
    });
    let large = measure("kmalloc 20000 (large block)", &s, &c, 256, || {
        send(
            &s,
            c.badge,
            Request::Kmalloc(KmallocReq {
                size: 20_000,
                flags: 0,
            }),
        )
        .unwrap()[0]
    });
    // Everything back: the charge returns with the memory.
    for a in many.into_iter().chain([t]) {
        free(&s, &c, tracked, a);
    }
    free(&s, &c, plain, p);
    for a in [small, large] {
        send(&s, c.badge, Request::Kfree(KfreeReq { addr: a })).unwrap();
    }
    let before = charged(&s, &c);
    for h in [plain, tracked] {
        send(&s, c.badge, Request::CacheDestroy(DestroyReq { handle: h })).unwrap();
    }
    assert!(
        charged(&s, &c) < before,
        "destroying caches releases their charge"
    );
    let (free0, heap0) = (s.metadata_budget().1, live());
    s.detach(c.badge).unwrap();
    assert!(live() < heap0);
    assert!(
        s.metadata_budget().1 > free0,
        "detach returns the charge to the budget"
    );

    // A small metadata quota: a STORE_USER cache with many slabs is refused part way, with the
    // metadata limit named, and the refusal changes nothing.
    let quota = Quota {
        metadata: 1 << 20,
        ..Quota::UNLIMITED
    };
    let free_before = s.metadata_budget().1;
    let c = attach(&s, quota, "").unwrap();
    assert_eq!(
        s.metadata_budget().1,
        free_before - (1 << 20),
        "quota reserved"
    );
    let h = create(&s, &c, "hog", 64, cache_flags::STORE_USER).unwrap();
    let mut got = Vec::new();
    let refusal = loop {
        match alloc(&s, &c, h) {
            Ok(a) => got.push(a),
            Err(f) => break f,
        }
        assert!(got.len() < 100_000, "never refused");
    };
    assert_eq!(refusal.error, Error::QuotaExceeded);
    assert_eq!(refusal.detail[0], 2, "the metadata limit: {refusal:?}");
    assert_eq!(refusal.detail[1], 1 << 20);
    let (heap0, meta0) = (live(), charged(&s, &c));
    let stats0 = s.allocator().stats();
    assert_eq!(alloc(&s, &c, h).unwrap_err(), refusal);
    assert_eq!((live(), charged(&s, &c)), (heap0, meta0));
    assert_eq!(s.allocator().stats(), stats0);
    // Caches too: refused once the quota is spent.
    let mut n = 0;
    let refusal = loop {
        match create(&s, &c, &format!("c{n}"), 64, cache_flags::STORE_USER) {
            Ok(_) => n += 1,
            Err(f) => break f,
        }
    };
    assert_eq!(
        (refusal.error, refusal.detail[0]),
        (Error::QuotaExceeded, 2)
    );
    s.validate().unwrap();
    s.detach(c.badge).unwrap();
    assert_eq!(
        s.metadata_budget().1,
        free_before,
        "the quota went back to the budget"
    );

    // The budget bounds everyone: a quota that does not fit in it is refused at attach, and
    // an unlimited client is bounded by what is left of it.
    let too_big = Quota {
        metadata: budget + 1,
        ..Quota::UNLIMITED
    };
    let f = attach(&s, too_big, "").err().unwrap();
    assert_eq!((f.error, f.detail[0]), (Error::QuotaExceeded, 3));
    let u = attach(&s, Quota::UNLIMITED, "").unwrap();
    let h = create(&s, &u, "hog", 64, cache_flags::STORE_USER).unwrap();
    let f = loop {
        if let Err(f) = alloc(&s, &u, h) {
            break f;
        }
    };
    assert_eq!((f.error, f.detail[0]), (Error::QuotaExceeded, 3), "{f:?}");
    assert!(s.metadata_budget().1 < 16 << 10, "the budget is spent");
    s.validate().unwrap();
    s.detach(u.badge).unwrap();
    s.detach(warm.badge).unwrap();
    assert_eq!(s.metadata_budget(), (budget, budget));
}
