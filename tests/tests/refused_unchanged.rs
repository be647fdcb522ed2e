//! A refused request changes nothing. One bad element is swept through every position of every
//! operation that takes addresses (the batch frees Drain and KfreeDrain at several batch sizes,
//! and the one-address operations Free, Kfree, Krealloc and Ksize), with every kind of bad
//! element a client can send; around each refusal the server's whole state
//! ([`memserver::server::snapshot::ServerSnapshot`]: buddy free lists, handles, every array, slab
//! record, object state byte, track and slab memory, usage, slabinfo, `validate()`) is compared.
//! Requests refused for other reasons (quota, slots, handles, node, sizes, a busy cache) are
//! checked the same way. Runs with plain caches and with every debug check on (`slab_debug=FZPU`),
//! on a server of two nodes whose clients see their objects through a window offset; the good
//! elements include objects allocated on the other core.
//!
//! A refusal for lack of memory is not in the sweep: before it the server reclaims free memory
//! from every cache (arrays drained, empty slabs returned), which rearranges free memory by
//! design; `out_of_memory_refusals_keep_every_object` checks what it must keep.
use memserver::server::snapshot::ServerSnapshot;
use memserver::server::{Quota, Server};
use memserver::CacheId;
use memserver_protocol::ops::*;
use memserver_protocol::{Error, Failure, Request};
use memserver_tests::raw::{self, send, RawClient as Client, RawWorld as World, OFFSET};

/// Batch sizes swept, and the cores that send: fewer under Miri, where each case costs seconds.
const BATCH_SIZES: &[usize] = if cfg!(miri) {
    &[1, 3]
} else {
    &[1, 2, 3, 5, 8]
};
const CORES: &[usize] = if cfg!(miri) { &[1] } else { &[0, 1] };
const ARENA_MIB: usize = if cfg!(miri) { 8 } else { 32 };

fn world(mib: usize) -> World {
    raw::world(2, mib)
}

fn client(s: &Server, debug: &str, quota: Quota) -> Client {
    raw::client(s, debug, quota)
}

fn alloc(s: &Server, core: usize, c: &Client, handle: u64) -> u64 {
    raw::alloc(s, core, c, handle).unwrap()
}

fn kmalloc(s: &Server, core: usize, c: &Client, size: u64) -> u64 {
    raw::kmalloc(s, core, c, size).unwrap()
}

use raw::{drain, kfree_drain};

/// The first field of the snapshots that differs, for a readable failure.
fn difference(a: &ServerSnapshot, b: &ServerSnapshot) -> String {
    if a.core.buddy != b.core.buddy {
        return "buddy free lists".into();
    }
    if a.core.handles != b.core.handles {
        return "core handles".into();
    }
    if a.core.large != b.core.large {
        return "large blocks".into();
    }
    if a.core.caches.len() != b.core.caches.len() {
        return "number of caches".into();
    }
    for (x, y) in a.core.caches.iter().zip(&b.core.caches) {
        if x != y {
            let part = if x.cores != y.cores {
                "core arrays"
            } else if x.inboxes != y.inboxes {
                "inboxes"
            } else {
                let mut part = "node lists";
                for (n, m) in x.nodes.iter().zip(&y.nodes) {
                    for (s, t) in n.slabs.iter().zip(&m.slabs) {
                        if s.states != t.states {
                            part = "object states";
                        } else if s.free != t.free {
                            part = "slab free stack";
                        } else if s.memory != t.memory {
                            part = "slab memory (red zones, poison)";
                        } else if s.tracks != t.tracks {
                            part = "STORE_USER tracks";
                        }
                    }
                }
                part
            };
            return format!("cache {} of {:?}: {part}", x.name, x.owner);
        }
    }
    if a.clients != b.clients {
        return "client records (usage, handles)".into();
    }
    if a.slabinfo != b.slabinfo {
        return "slabinfo".into();
    }
    "validate()".into()
}

/// Sends `req` and asserts it is refused with `want` (when given) and that the whole server state
/// is unchanged.
fn refused(w: &World, what: &str, want: Option<Error>, req: impl FnOnce() -> Result<(), Failure>) {
    let s = &w.server;
    let before = s.snapshot();
    assert_eq!(before.validate, Ok(()), "{what}: invalid before");
    let got = req();
    let after = s.snapshot();
    match (got, want) {
        (Ok(()), _) => panic!("{what}: accepted"),
        (Err(f), Some(e)) => assert_eq!(f.error, e, "{what}: {f:?}"),
        (Err(f), None) => assert_ne!(f.error, Error::Internal, "{what}: {f:?}"),
    }
    assert!(
        before == after,
        "{what}: refused, but changed {}",
        difference(&before, &after)
    );
}

/// The kinds of bad element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bad {
    Null,
    /// Below the client's window: no server address.
    OutOfWindow,
    /// The highest address: no server address either.
    Top,
    /// Another client's live object of the same kind.
    Foreign,
    /// A slot start of the client's own slab that was never handed out.
    NeverAllocated,
    /// Inside a live object.
    Interior,
    /// A good element of the same batch, a second time.
    Duplicate,
    /// An object the client already gave back.
    AlreadyFreed,
    /// A live object of another cache of the client's (Drain only: kfree takes an object of
    /// any of the client's caches, as Linux's does).
    WrongCache,
    /// The client's live large kmalloc block (not a slab object) or a page inside one.
    Large,
    /// A live object whose right red zone the client overwrote (debug caches only).
    RedZone,
}

/// What the sweep needs: good live objects of one kind, and one bad element of each kind.
struct Material {
    good: Vec<u64>,
    bad: Vec<(Bad, u64, Error)>,
    /// Server address of a red-zone byte damaged for `Bad::RedZone`, and its byte.
    damaged: Option<(usize, u8)>,
}

/// The core's cache behind the client's `handle`.
fn cache_id(s: &Server, c: &Client, handle: u64) -> CacheId {
    let rec = s.client_snapshot(c.badge).unwrap();
    let index = (handle as u32 - 1) as usize;
    match rec.handles.get(index) {
        Some(&(g, Some((id, _)))) if g == (handle >> 32) as u32 => id,
        _ => panic!("no handle {handle:#x}"),
    }
}

/// A slot start of cache `id` that was never handed out to the client, as a client address.
fn never_allocated(s: &Server, id: CacheId) -> u64 {
    let info = s.allocator().cache_info(id).unwrap();
    let l = info.layout;
    let snap = s.allocator().snapshot();
    for cache in snap
        .caches
        .iter()
        .filter(|c| c.name == info.name && c.owner == info.owner)
    {
        for n in &cache.nodes {
            for sl in &n.slabs {
                for (i, &(st, mark)) in sl.states.iter().enumerate() {
                    // Never handed out: no EVER bit, not allocated (on the slab's free stack,
                    // or taken into a core's array by a refill).
                    if st & 0x80 == 0 && st & 0x30 != 0x30 && mark == 0 {
                        let addr = sl.base + l.obj_offset as usize + i * l.stride as usize;
                        return addr as u64 + OFFSET;
                    }
                }
            }
        }
    }
    panic!("no never-allocated slot in {}", info.name)
}

/// Overwrites the byte right after the object at client address `obj` of cache `id` (its right
/// red zone); returns the server address and the old byte.
fn damage_red_zone(s: &Server, id: CacheId, obj: u64) -> (usize, u8) {
    let l = s.allocator().cache_info(id).unwrap().layout;
    let at = (obj - OFFSET) as usize + l.object_size as usize;
    // SAFETY: `at` is the first byte after a live object of the client's, inside its slab (the
    // cache has red zones), memory the server handed to this test's client.
    unsafe {
        let old = std::ptr::read_volatile(at as *const u8);
        std::ptr::write_volatile(at as *mut u8, old ^ 0x5a);
        (at, old)
    }
}

fn restore(damaged: Option<(usize, u8)>) {
    if let Some((at, old)) = damaged {
        // SAFETY: as in `damage_red_zone`; the byte is put back as it was.
        unsafe { std::ptr::write_volatile(at as *mut u8, old) }
    }
}

/// Good objects of cache `a` (some allocated on core 1) and bad elements for a Drain of `a`.
fn drain_material(s: &Server, me: &Client, other: &Client, debug: bool) -> Material {
    let good: Vec<u64> = (0..8).map(|i| alloc(s, i % 2, me, me.a)).collect();
    let id = cache_id(s, me, me.a);
    let freed = alloc(s, 0, me, me.a);
    drain(s, 0, me, me.a, &[freed]).unwrap();
    let large = kmalloc(s, 0, me, 64 << 10);
    let mut bad = vec![
        (Bad::Null, 0, Error::NullPointer),
        (Bad::OutOfWindow, 0x40, Error::NotAllocated),
        (Bad::Top, u64::MAX, Error::NotAllocated),
        (
            Bad::Foreign,
            alloc(s, 0, other, other.a),
            Error::ForeignPointer,
        ),
        (
            Bad::NeverAllocated,
            never_allocated(s, id),
            Error::NotAllocated,
        ),
        (Bad::Interior, good[1] + 8, Error::InteriorPointer),
        (Bad::Duplicate, good[0], Error::DuplicateAddress),
        (Bad::AlreadyFreed, freed, Error::DoubleFree),
        (Bad::WrongCache, alloc(s, 0, me, me.b), Error::WrongCache),
        (Bad::Large, large, Error::WrongCache),
    ];
    let mut damaged = None;
    if debug {
        let victim = alloc(s, 1, me, me.a);
        damaged = Some(damage_red_zone(s, id, victim));
        bad.push((Bad::RedZone, victim, Error::RedZone));
    }
    Material { good, bad, damaged }
}

/// Good kmalloc blocks of one class (some on core 1), and bad elements for a KfreeDrain.
fn kfree_material(s: &Server, me: &Client, other: &Client, debug: bool) -> Material {
    let good: Vec<u64> = (0..8).map(|i| kmalloc(s, i % 2, me, 64)).collect();
    let kid = kmalloc_id(s, me, "kmalloc-64");
    let freed = kmalloc(s, 0, me, 64);
    kfree_drain(s, 0, me, &[freed]).unwrap();
    let large = kmalloc(s, 0, me, 64 << 10);
    let mut bad = vec![
        (Bad::Null, 0, Error::NullPointer),
        (Bad::OutOfWindow, 0x40, Error::NotAllocated),
        (Bad::Top, u64::MAX, Error::NotAllocated),
        (
            Bad::Foreign,
            kmalloc(s, 0, other, 64),
            Error::ForeignPointer,
        ),
        (
            Bad::NeverAllocated,
            never_allocated(s, kid),
            Error::NotAllocated,
        ),
        (Bad::Interior, good[1] + 8, Error::InteriorPointer),
        (Bad::Duplicate, good[0], Error::DuplicateAddress),
        (Bad::AlreadyFreed, freed, Error::DoubleFree),
        (Bad::Large, large + 4096, Error::InteriorPointer),
    ];
    let mut damaged = None;
    if debug {
        let victim = kmalloc(s, 1, me, 64);
        damaged = Some(damage_red_zone(s, kid, victim));
        bad.push((Bad::RedZone, victim, Error::RedZone));
    }
    Material { good, bad, damaged }
}

/// The cache id of the client's kmalloc class `name`.
fn kmalloc_id(s: &Server, c: &Client, name: &str) -> CacheId {
    let class = memserver::kmalloc::KMALLOC_NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap();
    s.client_snapshot(c.badge).unwrap().kmalloc[class]
}

/// Batches of `n` elements: the good elements with `bad` at position `p` (a duplicate repeats
/// the batch's first good element).
fn batches(m: &Material, bad: (Bad, u64, Error)) -> Vec<(usize, usize, Vec<u64>)> {
    let mut out = Vec::new();
    for &n in BATCH_SIZES {
        if bad.0 == Bad::Duplicate && n < 2 {
            continue;
        }
        for p in 0..n {
            let mut batch: Vec<u64> = m.good[..n - 1].to_vec();
            let elem = if bad.0 == Bad::Duplicate {
                if batch.is_empty() {
                    continue;
                }
                batch[if p == 0 { 0 } else { p - 1 }.min(batch.len() - 1)]
            } else {
                bad.1
            };
            batch.insert(p, elem);
            out.push((n, p, batch));
        }
    }
    out
}

fn sweep(debug: bool) {
    let w = world(ARENA_MIB);
    let s = &w.server;
    let options = if debug { "FZPU" } else { "" };
    let me = client(s, options, Quota::UNLIMITED);
    let other = client(s, options, Quota::UNLIMITED);
    let mut cases = 0;

    let m = drain_material(s, &me, &other, debug);
    for &bad in &m.bad {
        for (n, p, batch) in batches(&m, bad) {
            for &core in CORES {
                let what = format!("Drain {:?} n={n} at {p} on core {core}", bad.0);
                refused(&w, &what, Some(bad.2), || drain(s, core, &me, me.a, &batch));
                cases += 1;
            }
        }
        if bad.0 != Bad::Duplicate {
            let what = format!("Free {:?}", bad.0);
            refused(&w, &what, Some(bad.2), || {
                let req = FreeReq {
                    handle: me.a,
                    addr: bad.1,
                };
                send(s, 1, me.badge, Request::Free(req)).map(|_| ())
            });
        }
    }
    restore(m.damaged);
    drain(s, 0, &me, me.a, &m.good).expect("the good objects drain");

    let m = kfree_material(s, &me, &other, debug);
    for &bad in &m.bad {
        for (n, p, batch) in batches(&m, bad) {
            for &core in CORES {
                let what = format!("KfreeDrain {:?} n={n} at {p} on core {core}", bad.0);
                refused(&w, &what, Some(bad.2), || kfree_drain(s, core, &me, &batch));
                cases += 1;
            }
            // A mixed batch (two size classes and a large block) takes the block-by-block path.
            let mut mixed = batch.clone();
            mixed.push(kmalloc(s, 0, &me, 1000));
            mixed.push(kmalloc(s, 1, &me, 20_000));
            let extra = mixed[mixed.len() - 2..].to_vec();
            let what = format!("mixed KfreeDrain {:?} n={n} at {p}", bad.0);
            refused(&w, &what, Some(bad.2), || kfree_drain(s, 0, &me, &mixed));
            kfree_drain(s, 0, &me, &extra).unwrap();
            cases += 1;
        }
        if bad.0 == Bad::Duplicate {
            continue;
        }
        let one = |req: Request<'static>| send(s, 1, me.badge, req).map(|_| ());
        // Ksize of a damaged block is not a free: it reports the size and checks nothing more.
        for (label, req) in [
            ("Kfree", Request::Kfree(KfreeReq { addr: bad.1 })),
            (
                "Krealloc",
                Request::Krealloc(KreallocReq {
                    addr: bad.1,
                    size: 300,
                    flags: 0,
                }),
            ),
            ("Ksize", Request::Ksize(KsizeReq { addr: bad.1 })),
        ] {
            if label == "Ksize" && bad.0 == Bad::RedZone {
                continue;
            }
            let want = match (label, bad.0) {
                // Krealloc with a null address is a plain kmalloc.
                ("Krealloc", Bad::Null) => continue,
                _ => bad.2,
            };
            let what = format!("{label} {:?}", bad.0);
            refused(&w, &what, Some(want), || one(req));
        }
    }
    restore(m.damaged);
    kfree_drain(s, 0, &me, &m.good).expect("the good blocks drain");
    assert!(cfg!(miri) || cases > 500, "{cases} cases");
    assert_eq!(s.validate(), Ok(()));
}

#[test]
fn every_refused_free_changes_nothing() {
    sweep(false);
}

#[test]
fn every_refused_free_of_checked_caches_changes_nothing() {
    sweep(true);
}

/// Requests refused for reasons other than their addresses: quota, magazine slot, batch size,
/// handle, node, size, a busy cache, a bad cache definition.
#[test]
fn other_refusals_change_nothing() {
    let w = world(32);
    let s = &w.server;
    let quota = Quota {
        bytes: 4096,
        objects: 16,
        metadata: u64::MAX,
    };
    let me = client(s, "", quota);
    let live: Vec<u64> = (0..4).map(|i| alloc(s, i % 2, &me, me.a)).collect();
    let big = kmalloc(s, 0, &me, 1024);
    let stale = {
        let req = CacheCreateReq {
            size: 64,
            align: 8,
            flags: 0,
            ctor: 0,
        };
        let h = send(s, 0, me.badge, Request::CacheCreate(req, "gone")).unwrap()[0];
        send(
            s,
            0,
            me.badge,
            Request::CacheDestroy(DestroyReq { handle: h }),
        )
        .unwrap();
        h
    };
    let go = |req: Request<'_>| send(s, 1, me.badge, req).map(|_| ());
    let refill = |handle, slot, count| RefillReq {
        handle,
        slot,
        count,
        flags: 0,
    };
    let cases: Vec<(&str, Error, Request<'static>)> = vec![
        (
            "refill over the object quota",
            Error::QuotaExceeded,
            Request::Refill(refill(me.a, 0, 13)),
        ),
        (
            "refill over the byte quota",
            Error::QuotaExceeded,
            Request::Refill(refill(me.b, 0, 12)),
        ),
        (
            "refill of a bad slot",
            Error::BadSlot,
            Request::Refill(refill(me.a, 99, 2)),
        ),
        (
            "refill of zero objects",
            Error::BadBatch,
            Request::Refill(refill(me.a, 0, 0)),
        ),
        (
            "refill with a stale handle",
            Error::StaleHandle,
            Request::Refill(refill(stale, 0, 2)),
        ),
        (
            "kmalloc refill over quota",
            Error::QuotaExceeded,
            Request::KmallocRefill(KmallocRefillReq {
                size: 512,
                slot: 0,
                count: 8,
                flags: 0,
            }),
        ),
        (
            "kmalloc refill of a large size",
            Error::SizeTooLarge,
            Request::KmallocRefill(KmallocRefillReq {
                size: 20_000,
                slot: 0,
                count: 2,
                flags: 0,
            }),
        ),
        (
            "kmalloc over quota",
            Error::QuotaExceeded,
            Request::Kmalloc(KmallocReq {
                size: 8192,
                flags: 0,
            }),
        ),
        (
            "krealloc growing over quota",
            Error::QuotaExceeded,
            Request::Krealloc(KreallocReq {
                addr: big,
                size: 8192,
                flags: 0,
            }),
        ),
        (
            "alloc with a stale handle",
            Error::StaleHandle,
            Request::Alloc(AllocReq {
                handle: stale,
                flags: 0,
            }),
        ),
        (
            "alloc on a node that does not exist",
            Error::BadField,
            Request::AllocNode(AllocNodeReq {
                handle: me.a,
                node: 7,
                flags: 0,
            }),
        ),
        (
            "kmalloc on a node that does not exist",
            Error::BadField,
            Request::KmallocNode(KmallocNodeReq {
                size: 64,
                node: 7,
                flags: 0,
            }),
        ),
        (
            "drain of a bad slot",
            Error::BadSlot,
            Request::Drain(DrainReq {
                handle: me.a,
                slot: 99,
                count: 1,
            }),
        ),
        (
            "drain of too many",
            Error::BadBatch,
            Request::Drain(DrainReq {
                handle: me.a,
                slot: 0,
                count: 1000,
            }),
        ),
        (
            "drain with a stale handle",
            Error::StaleHandle,
            Request::Drain(DrainReq {
                handle: stale,
                slot: 0,
                count: 1,
            }),
        ),
        (
            "destroy of a busy cache",
            Error::CacheBusy,
            Request::CacheDestroy(DestroyReq { handle: me.a }),
        ),
        (
            "create with a bad alignment",
            Error::BadAlign,
            Request::CacheCreate(
                CacheCreateReq {
                    size: 64,
                    align: 3,
                    flags: 0,
                    ctor: 0,
                },
                "x",
            ),
        ),
    ];
    for (what, want, req) in cases {
        refused(&w, what, Some(want), || go(req));
    }
    // The live objects are intact and go back.
    drain(s, 0, &me, me.a, &live).unwrap();
    kfree_drain(s, 0, &me, &[big]).unwrap();
    assert_eq!(s.validate(), Ok(()));
}

/// A refusal for lack of memory reclaims free memory first, so free memory may be rearranged;
/// every live object, the usage and the accounting stay as they were.
#[test]
fn out_of_memory_refusals_keep_every_object() {
    let w = world(8);
    let s = &w.server;
    let me = client(s, "", Quota::UNLIMITED);
    let live: Vec<u64> = (0..40).map(|i| alloc(s, i % 2, &me, me.a)).collect();
    let usage = s.usage(me.badge).unwrap();
    let states = |snap: &ServerSnapshot| -> Vec<(usize, u8)> {
        let mut v = Vec::new();
        for c in &snap.core.caches {
            for n in &c.nodes {
                for sl in &n.slabs {
                    for (i, &(st, _)) in sl.states.iter().enumerate() {
                        if st & 0x30 == 0x30 {
                            v.push((sl.base + i, st));
                        }
                    }
                }
            }
        }
        v
    };
    let before = s.snapshot();
    let req = KmallocReq {
        size: 4 << 20,
        flags: 0,
    };
    for core in [0, 1] {
        let r = send(s, core, me.badge, Request::Kmalloc(req));
        assert_eq!(r.unwrap_err().error, Error::OutOfMemory);
    }
    let after = s.snapshot();
    assert_eq!(states(&before), states(&after), "live objects unchanged");
    let records = |snap: &ServerSnapshot| -> Vec<_> {
        snap.clients
            .iter()
            .map(|c| (c.owner, c.usage, c.handles.clone()))
            .collect()
    };
    assert_eq!(
        records(&before),
        records(&after),
        "usage and handles unchanged"
    );
    assert_eq!(before.core.large, after.core.large);
    assert_eq!(s.usage(me.badge).unwrap(), usage);
    assert_eq!(after.validate, Ok(()));
    drain(s, 0, &me, me.a, &live).unwrap();
}
