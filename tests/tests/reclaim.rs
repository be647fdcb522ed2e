//! Reclaim before out of memory: a genuine shortage is still met by taking back cached free
//! memory and retrying, while a request that reclaim cannot help is deferred (refused at once) for
//! a bounded number of attempts, for its order and larger ones only. What the bound buys other
//! clients (their throughput during a storm of refusals) is measured by the `refusal_storm`
//! benchmark, not here.
use memserver::allocator::Reclaim;
use memserver::platform::host::HostArena;
use memserver::platform::Platform;
use memserver::server::Quota;
use memserver::topology::{CoreId, NodeId, Topology};
use memserver::{Allocator, CacheFlags, CacheParams, Ctor, OwnerId};
use memserver_protocol::Error;
use memserver_tests::raw;

/// Takes every free frame of the buddy layer (order by order, largest first); returns them.
fn hog_everything(a: &Allocator) -> Vec<(usize, u8)> {
    let mut held = Vec::new();
    for order in (0..=memserver::buddy::MAX_ORDER).rev() {
        while let Ok(b) = a.buddy().alloc(order, NodeId(0)) {
            held.push((b.addr, order));
        }
    }
    assert_eq!(a.buddy().free_frames(), 0);
    held
}

fn params(name: &str, size: usize) -> CacheParams<'_> {
    CacheParams {
        name,
        size,
        align: 8,
        flags: CacheFlags::empty(),
        ctor: Ctor::None,
        owner: OwnerId(1),
    }
}

/// Free objects cached in another core's array are found: reclaim drains them, their slab goes
/// back to the buddy layer, and the retried allocation of another cache succeeds.
#[test]
fn a_genuine_shortage_is_met_by_reclaim_and_retry() {
    let arena = HostArena::new(8 << 20, 1).unwrap();
    let a = Allocator::new(Topology::uniform(1, 2).unwrap(), arena.memory()).unwrap();
    let x = a.cache_create(params("x", 64)).unwrap();
    let y = a.cache_create(params("y", 200)).unwrap();
    {
        // One slab's worth of x allocated and freed on core 1: the objects stay in its array.
        let mut g = a.core(CoreId(1)).unwrap();
        let objs: Vec<usize> = (0..48).map(|_| g.alloc(x).unwrap()).collect();
        for o in objs {
            g.free(x, o).unwrap();
        }
    }
    let held = hog_everything(&a);
    let order = a.slab_order(y);
    assert!(a.core(CoreId(0)).unwrap().alloc(y).is_err(), "no memory");
    assert_eq!(a.reclaim(order), Reclaim::Retry);
    let got = a.core(CoreId(0)).unwrap().alloc(y);
    assert!(got.is_ok(), "the retry finds the reclaimed slab: {got:?}");
    a.reclaim_outcome(order, true);
    a.core(CoreId(0)).unwrap().free(y, got.unwrap()).unwrap();
    for (addr, order) in held {
        a.buddy().free(addr, order).unwrap();
    }
    a.validate().unwrap();
}

/// After failed retries, reclaims for that order and larger ones are deferred for 1, 3, 7, …,
/// 63 attempts; smaller orders are not; a success ends the deferral; memory back in the buddy
/// layer is found at once.
#[test]
fn failed_reclaims_are_deferred_for_a_bounded_number_of_attempts() {
    let arena = HostArena::new(8 << 20, 1).unwrap();
    let a = Allocator::new(Topology::uniform(1, 2).unwrap(), arena.memory()).unwrap();
    let held = hog_everything(&a);
    let big = memserver::buddy::MAX_ORDER;
    let mut deferred_runs = Vec::new();
    assert_eq!(a.reclaim(big), Reclaim::Retry, "nothing failed yet");
    a.reclaim_outcome(big, false);
    for _ in 0..8 {
        // Refused at once n times, then one reclaim (whose retry fails again).
        let mut n = 0;
        while a.reclaim(big) == Reclaim::Deferred {
            n += 1;
        }
        a.reclaim_outcome(big, false);
        deferred_runs.push(n);
    }
    assert_eq!(deferred_runs, [1, 3, 7, 15, 31, 63, 63, 63]);
    assert_eq!(a.reclaim(big), Reclaim::Deferred);
    assert_eq!(
        a.reclaim(0),
        Reclaim::Retry,
        "a smaller order has not failed"
    );
    // A block back in the buddy layer is found without waiting out the deferral.
    let (addr, order) = held[0];
    a.buddy().free(addr, order).unwrap();
    assert_eq!(a.reclaim(order), Reclaim::Retry);
    a.reclaim_outcome(order, true);
    assert_eq!(
        a.reclaim(big),
        Reclaim::Retry,
        "a success ends the deferral"
    );
    for &(addr, order) in &held[1..] {
        a.buddy().free(addr, order).unwrap();
    }
    a.validate().unwrap();
}

/// Through the server: a storm of refused 4 MiB requests defers their reclaims, yet another
/// client's allocation that needs reclaimed memory still succeeds, and the storming client's
/// request succeeds once a 4 MiB block is back.
#[test]
fn a_storm_of_large_refusals_does_not_starve_a_genuine_shortage() {
    let w = raw::world(1, 16);
    let s = &w.server;
    let (stormer, other) = (
        raw::client(s, "", Quota::UNLIMITED),
        raw::client(s, "", Quota::UNLIMITED),
    );
    let objs: Vec<u64> = (0..60)
        .map(|_| raw::alloc(s, 0, &other, other.a).unwrap())
        .collect();
    let a = s.allocator();
    let held = hog_everything(a);
    for _ in 0..200 {
        let e = raw::kmalloc(s, 0, &stormer, 4 << 20).unwrap_err();
        assert_eq!(e.error, Error::OutOfMemory);
    }
    assert_eq!(a.reclaim(memserver::buddy::MAX_ORDER), Reclaim::Deferred);
    // Only now does memory become reclaimable: the other client's objects, freed, sit in its
    // core's array, and their slab is empty.
    raw::drain(s, 0, &other, other.a, &objs).unwrap();
    assert_eq!(a.buddy().free_frames(), 0);
    let got = raw::alloc(s, 0, &stormer, stormer.b);
    assert!(got.is_ok(), "a slab from reclaimed memory: {got:?}");
    // A 4 MiB block back in the buddy layer serves the next 4 MiB request.
    let big = held
        .iter()
        .position(|&(_, o)| o == memserver::buddy::MAX_ORDER)
        .expect("the arena held a 4 MiB block");
    let (addr, order) = held[big];
    a.buddy().free(addr, order).unwrap();
    let block = raw::kmalloc(s, 0, &stormer, 4 << 20).expect("served");
    raw::kfree_drain(s, 0, &stormer, &[block]).unwrap();
    raw::drain(s, 0, &stormer, stormer.b, &[got.unwrap()]).unwrap();
    for (i, &(addr, order)) in held.iter().enumerate() {
        if i != big {
            a.buddy().free(addr, order).unwrap();
        }
    }
    assert_eq!(s.validate(), Ok(()));
}
