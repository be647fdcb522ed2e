//! The page-release hook: every block an owner gives back (slabs released by shrink, shrink_all,
//! destroy and purge; large blocks by kfree and purge) is announced exactly once, with its owner
//! and order, while the buddy layer still counts it allocated (so no one can be handed it before
//! the platform has unmapped it from its owner).
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};

use memserver_core::buddy::PAGE_SIZE;
use memserver_core::platform::host::HostArena;
use memserver_core::platform::Platform;
use memserver_core::topology::{CoreId, Topology};
use memserver_core::{Allocator, CacheFlags, CacheId, CacheParams, Ctor, OwnerId, PageRelease};

const MIB: usize = 1 << 20;

/// One announcement: owner, block address, order, and whether the buddy layer still held the
/// block as allocated (with that order) at the call.
type Call = (OwnerId, usize, u8, bool);

#[derive(Default)]
struct Recorder {
    alloc: OnceLock<&'static Allocator>,
    calls: Mutex<Vec<Call>>,
}

impl PageRelease for Recorder {
    fn released(&self, owner: OwnerId, addr: usize, order: u8) {
        let held = self
            .alloc
            .get()
            .is_some_and(|a| a.buddy().allocated_order(addr) == Some(order));
        self.calls.lock().unwrap().push((owner, addr, order, held));
    }
}

impl Recorder {
    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[cfg(miri)]
extern "Rust" {
    /// Miri's hook: memory reachable from `ptr` is a root, not a leak, at the end of the run.
    fn miri_static_root(ptr: *const u8);
}

/// `b`, kept for the rest of the test process (leaked on purpose; under Miri marked as a root,
/// so its leak check does not report it).
fn forever<T>(b: Box<T>) -> &'static T {
    let r: &'static T = Box::leak(b);
    #[cfg(miri)]
    // SAFETY: `r` points to a live allocation; Miri only records it as a root.
    unsafe {
        miri_static_root((r as *const T).cast())
    };
    r
}

/// An allocator (2 nodes, 1 core each, 16 MiB) with a recording hook; both live for the test
/// process (the hook must be `'static`).
fn setup() -> (&'static Allocator, &'static Recorder) {
    // Smaller under Miri, where every page of the arena costs time to set up and validate.
    const ARENA: usize = if cfg!(miri) { 2 * MIB } else { 16 * MIB };
    let arena: &'static HostArena = forever(Box::new(HostArena::new(ARENA, 2).unwrap()));
    let rec: &'static Recorder = forever(Box::default());
    let topo = Topology::uniform(2, 1).unwrap();
    let a = Allocator::with_release(topo, arena.memory(), Some(rec)).unwrap();
    let a: &'static Allocator = forever(Box::new(a));
    rec.alloc.set(a).ok().unwrap();
    (a, rec)
}

fn cache(a: &Allocator, name: &str, size: usize, owner: u32) -> CacheId {
    a.cache_create(CacheParams {
        name,
        size,
        align: 8,
        flags: CacheFlags::empty(),
        ctor: Ctor::None,
        owner: OwnerId(owner),
    })
    .unwrap()
}

/// Allocates `n` objects of `id` on core `core` and returns them.
fn fill(a: &Allocator, id: CacheId, core: u8, n: usize) -> Vec<usize> {
    let mut g = a.core(CoreId(core)).unwrap();
    (0..n).map(|_| g.alloc(id).unwrap()).collect()
}

fn free_all(a: &Allocator, id: CacheId, core: u8, objs: &[usize]) {
    let mut g = a.core(CoreId(core)).unwrap();
    for &o in objs {
        g.free(id, o).unwrap();
    }
}

/// The slab (base address) of each object of a cache whose slabs are `order`.
fn slabs_of(objs: &[usize], order: u8) -> BTreeSet<usize> {
    let bytes = PAGE_SIZE << order;
    objs.iter().map(|&o| o & !(bytes - 1)).collect()
}

/// Every call announced a block still allocated in the buddy layer, and no block twice.
fn assert_well_formed(calls: &[Call]) {
    assert!(
        calls.iter().all(|c| c.3),
        "a block was announced after its free: {calls:x?}"
    );
    let addrs: BTreeSet<usize> = calls.iter().map(|c| c.1).collect();
    assert_eq!(
        addrs.len(),
        calls.len(),
        "a block announced twice: {calls:x?}"
    );
}

fn frames(calls: &[Call]) -> usize {
    calls.iter().map(|c| 1usize << c.2).sum()
}

#[test]
fn cache_shrink_announces_each_released_slab_with_its_owner() {
    let (a, rec) = setup();
    let id = cache(a, "shrunk", 256, 7);
    let order = a.cache_info(id).unwrap().layout.order;
    let objs = fill(a, id, 0, 200);
    let slabs = slabs_of(&objs, order);
    assert!(rec.take().is_empty(), "allocation announced a release");
    free_all(a, id, 0, &objs);
    assert!(rec.take().is_empty(), "a plain free announced a release");
    let released = a.cache_shrink(id).unwrap();
    let calls = rec.take();
    assert!(released > 0);
    assert_well_formed(&calls);
    assert_eq!(frames(&calls), released);
    for &(owner, addr, o, _) in &calls {
        assert_eq!(owner, OwnerId(7));
        assert_eq!(o, order);
        assert!(slabs.contains(&addr), "{addr:#x} was no slab of the cache");
    }
    a.validate().unwrap();
}

#[test]
fn shrink_all_announces_every_owners_slabs_with_the_right_owner() {
    let (a, rec) = setup();
    let ida = cache(a, "owner_a", 64, 1);
    let idb = cache(a, "owner_b", 512, 2);
    let (oa, ob) = (
        a.cache_info(ida).unwrap().layout.order,
        a.cache_info(idb).unwrap().layout.order,
    );
    let objs_a = fill(a, ida, 0, 500);
    let objs_b = fill(a, idb, 1, 100);
    let mut owner_of: BTreeMap<usize, (OwnerId, u8)> = BTreeMap::new();
    owner_of.extend(
        slabs_of(&objs_a, oa)
            .into_iter()
            .map(|s| (s, (OwnerId(1), oa))),
    );
    owner_of.extend(
        slabs_of(&objs_b, ob)
            .into_iter()
            .map(|s| (s, (OwnerId(2), ob))),
    );
    free_all(a, ida, 0, &objs_a);
    free_all(a, idb, 1, &objs_b);
    let before = a.stats().free_frames;
    let released = a.shrink_all();
    let calls = rec.take();
    assert_well_formed(&calls);
    // shrink_all keeps no free slab: every slab of both caches went back, each announced once.
    assert_eq!(calls.len(), owner_of.len());
    assert_eq!(frames(&calls), released);
    assert_eq!(a.stats().free_frames, before + released);
    for &(owner, addr, order, _) in &calls {
        assert_eq!(owner_of.get(&addr), Some(&(owner, order)), "{addr:#x}");
    }
    a.validate().unwrap();
}

#[test]
fn destroy_announces_all_slabs_of_the_cache_and_nothing_else() {
    let (a, rec) = setup();
    let keep = cache(a, "kept", 128, 5);
    let doomed = cache(a, "doomed", 1000, 5);
    let order = a.cache_info(doomed).unwrap().layout.order;
    let kept = fill(a, keep, 0, 100);
    let objs = fill(a, doomed, 1, 60);
    let slabs = slabs_of(&objs, order);
    free_all(a, doomed, 1, &objs);
    a.cache_destroy(doomed).unwrap();
    let calls = rec.take();
    assert_well_formed(&calls);
    let got: BTreeSet<usize> = calls.iter().map(|c| c.1).collect();
    assert_eq!(got, slabs);
    assert!(calls.iter().all(|c| c.0 == OwnerId(5) && c.2 == order));
    free_all(a, keep, 0, &kept);
    assert!(rec.take().is_empty());
    a.validate().unwrap();
}

#[test]
fn kfree_of_a_large_block_announces_it_before_the_buddy_layer_gets_it() {
    let (a, rec) = setup();
    let set = a.kmalloc_set_create(OwnerId(9)).unwrap();
    let mut g = a.core(CoreId(1)).unwrap();
    let big = g.kmalloc(&set, 100_000).unwrap();
    let small = g.kmalloc(&set, 100).unwrap();
    g.kfree(&set, small).unwrap();
    assert!(
        rec.take().is_empty(),
        "a class object's kfree announced a release"
    );
    g.kfree(&set, big).unwrap();
    drop(g);
    let calls = rec.take();
    assert_well_formed(&calls);
    assert_eq!(calls.len(), 1);
    let (owner, addr, order, _) = calls[0];
    assert_eq!((owner, addr), (OwnerId(9), big));
    assert_eq!(PAGE_SIZE << order, 128 << 10);
    a.validate().unwrap();
}

#[test]
fn purge_announces_every_slab_and_large_block_of_that_owner_only() {
    let (a, rec) = setup();
    let victim = cache(a, "victim", 96, 4);
    let vobjs = fill(a, victim, 0, 50);
    let rogue = cache(a, "rogue", 200, 3);
    let order = a.cache_info(rogue).unwrap().layout.order;
    let objs = fill(a, rogue, 1, 300);
    let set = a.kmalloc_set_create(OwnerId(3)).unwrap();
    let (big, small) = {
        let mut g = a.core(CoreId(0)).unwrap();
        (
            g.kmalloc(&set, 3 * 4096).unwrap(),
            g.kmalloc(&set, 700).unwrap(),
        )
    };
    let report = a.purge_owner(OwnerId(3));
    let calls = rec.take();
    assert_well_formed(&calls);
    assert!(calls.iter().all(|c| c.0 == OwnerId(3)), "{calls:x?}");
    assert_eq!(frames(&calls), report.slab_frames + report.large_frames);
    assert_eq!(report.large_blocks, 1);
    assert!(calls.contains(&(OwnerId(3), big, 2, true)));
    let got: BTreeSet<usize> = calls.iter().map(|c| c.1).collect();
    assert!(slabs_of(&objs, order).is_subset(&got));
    // The slab of the live kmalloc object went back too.
    assert!(calls
        .iter()
        .any(|&(_, b, o, _)| b <= small && small < b + (PAGE_SIZE << o)));
    // The other owner's slabs were not announced, and its objects are still usable.
    let vslabs = slabs_of(&vobjs, a.cache_info(victim).unwrap().layout.order);
    assert!(got.is_disjoint(&vslabs));
    free_all(a, victim, 0, &vobjs);
    a.validate().unwrap();
}

#[test]
fn without_a_hook_nothing_changes() {
    let arena = HostArena::new(if cfg!(miri) { MIB } else { 4 * MIB }, 1).unwrap();
    let a = Allocator::new(Topology::uniform(1, 1).unwrap(), arena.memory()).unwrap();
    let id = cache(&a, "plain", 64, 1);
    let objs = fill(&a, id, 0, 100);
    free_all(&a, id, 0, &objs);
    assert!(a.shrink_all() > 0);
    assert_eq!(a.stats().free_frames, a.stats().total_frames);
    a.validate().unwrap();
}
