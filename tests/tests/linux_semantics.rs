//! The kernel slab API as a Linux user expects it, through the client stub over the protocol:
//! per-client `slab_debug` options given at attach, and kmalloc red zones at the requested size.
use memserver::server::Quota;
use memserver_protocol::ops::ZERO_SIZE_PTR;
use memserver_protocol::{Error, Failure, Label};
use memserver_tests::World;

fn poke(addr: usize, byte: u8) {
    // SAFETY: `addr` lies inside a kmalloc object (or its red zone) the test's client holds, in
    // the live arena.
    unsafe { std::ptr::write_volatile(addr as *mut u8, byte) }
}

#[test]
fn slab_debug_at_attach_red_zones_kmalloc_at_the_requested_size() {
    let world = World::new(1, 1, 16);
    let mut c = world.client_with_debug(0, Quota::UNLIMITED, 32, "Z,kmalloc-32");
    // Through the magazine-free path of a checked class: kmalloc(18), a write to byte 18.
    let p = c.kmalloc(18).unwrap();
    poke(p + 18, 0xab);
    let f = c.kfree_sized(p, 18).unwrap_err();
    assert_eq!(f.error, Error::RedZone);
    assert_eq!(f.detail, [p as u64, 18, 0xab]);
    // A write inside the request is fine; other classes are not checked.
    let q = c.kmalloc(20).unwrap();
    poke(q + 19, 1);
    c.kfree_sized(q, 20).unwrap();
    let big = c.kmalloc(50).unwrap();
    poke(big + 60, 1);
    c.kfree_sized(big, 50).unwrap();
    c.flush_kmalloc().unwrap();
    world.validate();
}

#[test]
fn slab_debug_applies_to_a_cache_the_client_creates_by_name() {
    let world = World::new(1, 1, 16);
    let mut c = world.client_with_debug(0, Quota::UNLIMITED, 32, "ZP,watched");
    let mut watched = c.kmem_cache_create("watched", 24, 8, 0, None).unwrap();
    let mut plain = c.kmem_cache_create("plain", 24, 8, 0, None).unwrap();
    let o = c.kmem_cache_alloc(&mut watched).unwrap();
    assert_eq!(
        watched.magazine_len(),
        0,
        "a debug cache bypasses the magazine"
    );
    poke(o + 24, 0);
    let f = c.kmem_cache_free(&mut watched, o).unwrap_err();
    assert_eq!(f.error, Error::RedZone);
    let p = c.kmem_cache_alloc(&mut plain).unwrap();
    assert!(
        plain.magazine_len() > 0,
        "the other cache keeps its magazine"
    );
    c.kmem_cache_free(&mut plain, p).unwrap();
}

#[test]
fn bad_slab_debug_text_refuses_the_attach() {
    let world = World::new(1, 1, 16);
    let mut addrs = [0usize; memserver::topology::MAX_CORES];
    let page = memserver_client::host::magazine_page();
    addrs[0] = std::sync::Arc::as_ptr(&page) as usize;
    let params = memserver::server::AttachParams {
        pages: addrs,
        offset: 0,
        quota: Quota::UNLIMITED,
        slab_debug: "FX",
    };
    // SAFETY: `page` is a live, page-aligned magazine page kept alive past the call; the attach
    // is refused, so the server keeps nothing.
    let f = unsafe { world.server.attach(&params) }.unwrap_err();
    assert_eq!((f.error, f.detail[0]), (Error::BadField, 1));
}

fn peek(addr: usize) -> u8 {
    // SAFETY: as for `poke`.
    unsafe { std::ptr::read_volatile(addr as *const u8) }
}

#[test]
fn node_bound_allocation_through_the_stub() {
    use memserver_client::alloc_flags;
    let world = World::new(2, 1, 16);
    let mut c = world.client(0, Quota::UNLIMITED, 32);
    let node_of = |a: usize| world.server.allocator().buddy().node_of(a).unwrap().0;
    let mut cache = c.kmem_cache_create("placed", 128, 8, 0, None).unwrap();
    let far = c
        .kmem_cache_alloc_node(&mut cache, alloc_flags::THISNODE, 1)
        .unwrap();
    assert_eq!(node_of(far), 1);
    let z = c
        .kmem_cache_alloc_node(&mut cache, alloc_flags::ZERO | alloc_flags::THISNODE, 0)
        .unwrap();
    assert_eq!(node_of(z), 0);
    assert!((0..128).all(|i| peek(z + i) == 0));
    let f = c.kmem_cache_alloc_node(&mut cache, 0, 7).unwrap_err();
    assert_eq!(f.error, Error::BadField);
    let k = c.kmalloc_node(3000, alloc_flags::THISNODE, 1).unwrap();
    assert_eq!(node_of(k), 1);
    c.kfree(k).unwrap();
    c.kmem_cache_free(&mut cache, far).unwrap();
    c.kmem_cache_free(&mut cache, z).unwrap();
    c.kmem_cache_flush(&mut cache).unwrap();
    world.validate();
}

#[test]
fn bulk_calls_through_the_stub_are_all_or_nothing() {
    let world = World::new(1, 1, 16);
    let mut c = world.client(0, Quota::UNLIMITED, 8);
    let mut cache = c.kmem_cache_create("bulk", 64, 8, 0, None).unwrap();
    assert_eq!(c.kmem_cache_size(&cache), 64);
    let mut objs = [0usize; 20];
    c.kmem_cache_alloc_bulk(&mut cache, &mut objs).unwrap();
    let mut sorted = objs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 20, "distinct objects");
    // One bad address refuses the whole free: every object stays allocated.
    let live = c.stats().unwrap().live_objects;
    let mut bad = objs;
    bad[7] += 8;
    assert_eq!(
        c.kmem_cache_free_bulk(&mut cache, &bad).unwrap_err().error,
        Error::InteriorPointer
    );
    assert_eq!(c.stats().unwrap().live_objects, live);
    c.kmem_cache_free_bulk(&mut cache, &objs).unwrap();
    assert_eq!(c.stats().unwrap().live_objects, live - 20);
    // Beyond the quota, nothing is handed out.
    let mut d = world.client(
        0,
        Quota {
            objects: 10,
            bytes: u64::MAX,
            metadata: u64::MAX,
        },
        4,
    );
    let mut small = d.kmem_cache_create("bulk", 64, 8, 0, None).unwrap();
    let mut many = [0usize; 12];
    assert_eq!(
        d.kmem_cache_alloc_bulk(&mut small, &mut many)
            .unwrap_err()
            .error,
        Error::QuotaExceeded
    );
    assert_eq!(many, [0; 12], "nothing handed out");
    world.validate();
}

#[test]
fn krealloc_and_kcalloc_through_the_stub() {
    let world = World::new(1, 1, 16);
    let mut c = world.client_with_debug(0, Quota::UNLIMITED, 32, "Z,kmalloc-64,kmalloc-128");
    let p = c.kmalloc(48).unwrap();
    for i in 0..48 {
        poke(p + i, 0xff);
    }
    assert_eq!(c.krealloc(p, 40, 0).unwrap(), p);
    assert!((40..64).all(|i| peek(p + i) == 0xcc));
    assert_eq!(c.krealloc(p, 56, 0).unwrap(), p);
    assert!((40..56).all(|i| peek(p + i) == 0));
    let q = c.krealloc(p, 100, 0).unwrap();
    assert_ne!(q, p);
    assert!((0..40).all(|i| peek(q + i) == 0xff));
    // The red zone follows the new request: a write at byte 100 is reported.
    poke(q + 100, 1);
    assert_eq!(c.kfree(q).unwrap_err().error, Error::RedZone);
    poke(q + 100, 0xcc);
    assert_eq!(c.krealloc(q, 0, 0).unwrap(), ZERO_SIZE_PTR as usize);
    assert_eq!(c.ksize(q).unwrap_err().error, Error::DoubleFree);
    assert_eq!(
        c.kmalloc_array(usize::MAX / 2, 4).unwrap_err().error,
        Error::SizeTooLarge
    );
    let z = c.kcalloc(10, 30).unwrap();
    assert!((0..300).all(|i| peek(z + i) == 0));
    c.kfree(z).unwrap();
    c.flush_kmalloc().unwrap();
    assert_eq!(c.stats().unwrap().live_objects, 0);
    world.validate();
}

#[test]
fn server_wide_slabinfo_prints_each_name_once_and_sums_the_counts() {
    let world = World::new(1, 1, 16);
    let mut clients: Vec<_> = (0..3)
        .map(|_| world.client(0, Quota::UNLIMITED, 4))
        .collect();
    let mut held = Vec::new();
    for c in clients.iter_mut() {
        held.push(c.kmalloc(20).unwrap());
    }
    let mut own = String::new();
    clients[0].slabinfo(false, &mut own).unwrap();
    let mut all = String::new();
    clients[0].slabinfo(true, &mut all).unwrap();
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .skip(2)
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    let all_names = names(&all);
    let mut unique = all_names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all_names.len(), "a name twice:\n{all}");
    assert_eq!(names(&own).iter().filter(|n| *n == "kmalloc-32").count(), 1);
    // The merged kmalloc-32 row counts the objects of all three clients' caches.
    let row = |text: &str| -> Vec<u64> {
        let line = text
            .lines()
            .find(|l| l.starts_with("kmalloc-32 "))
            .unwrap()
            .to_string();
        line.split_whitespace()
            .skip(1)
            .take(2)
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let (own_row, all_row) = (row(&own), row(&all));
    assert_eq!(
        all_row[1],
        3 * own_row[1],
        "num_objs summed over three clients"
    );
    // The same text as the core's server-wide /proc/slabinfo.
    let mut core_text = String::new();
    world
        .server
        .allocator()
        .slabinfo(None, &mut core_text)
        .unwrap();
    assert_eq!(core_text, all);
}

#[test]
fn the_stub_refuses_an_immediate_double_free_and_never_hands_the_object_out_twice() {
    let world = World::new(1, 1, 16);
    let mut c = world.client(0, Quota::UNLIMITED, 8);
    let mut cache = c.kmem_cache_create("twice", 32, 8, 0, None).unwrap();
    let a = c.kmem_cache_alloc(&mut cache).unwrap();
    c.kmem_cache_free(&mut cache, a).unwrap();
    let f = c.kmem_cache_free(&mut cache, a).unwrap_err();
    assert_eq!((f.error, f.detail[0]), (Error::DoubleFree, a as u64));
    let x = c.kmem_cache_alloc(&mut cache).unwrap();
    let y = c.kmem_cache_alloc(&mut cache).unwrap();
    assert_eq!(x, a);
    assert_ne!(y, a, "handed out once");
    // The same through a kmalloc class magazine.
    let k = c.kmalloc(24).unwrap();
    c.kfree_sized(k, 24).unwrap();
    assert_eq!(c.kfree_sized(k, 24).unwrap_err().error, Error::DoubleFree);
    let k1 = c.kmalloc(24).unwrap();
    let k2 = c.kmalloc(24).unwrap();
    assert_ne!(k1, k2);
    c.kmem_cache_free(&mut cache, x).unwrap();
    c.kmem_cache_free(&mut cache, y).unwrap();
    c.kfree_sized(k1, 24).unwrap();
    c.kfree_sized(k2, 24).unwrap();
    c.kmem_cache_flush(&mut cache).unwrap();
    c.flush_kmalloc().unwrap();
    world.validate();
}

/// `kmalloc(0)` is `ZERO_SIZE_PTR` as in Linux, through the stub (with no message) and over
/// the protocol: `kfree` of it does nothing, `ksize` of it is 0, `krealloc` of it allocates
/// anew, `krealloc` to 0 frees and answers it, `kmalloc_node(0)` gives it whatever the node.
/// Nothing is charged for it; a batch of zero-byte blocks is still refused.
#[test]
fn kmalloc_of_zero_bytes_is_the_zero_size_pointer_through_the_stub_and_the_wire() {
    let world = World::new(1, 1, 16);
    let mut c = world.client(0, Quota::UNLIMITED, 8);
    let z = ZERO_SIZE_PTR as usize;
    let sent = c.messages();
    assert_eq!(c.kmalloc(0), Ok(z));
    assert_eq!(c.kzalloc(0), Ok(z));
    assert_eq!(c.kcalloc(0, 8), Ok(z));
    assert_eq!(c.kfree(z), Ok(()));
    assert_eq!(c.kfree_sized(z, 0), Ok(()));
    assert_eq!(c.kfree(0), Ok(()), "kfree(NULL) does nothing");
    assert_eq!(c.kfree_sized(0, 8), Ok(()));
    assert_eq!(c.ksize(z), Ok(0));
    assert_eq!(c.messages(), sent, "the stub answers these itself");
    assert_eq!(c.kmalloc_node(0, 0, 7), Ok(z));
    assert_eq!(c.krealloc(z, 0, 0), Ok(z));
    assert_eq!(c.krealloc(0, 0, 0), Ok(z));
    // Over the wire, as raw messages.
    let (label, body) = c.raw_call(Label::Kmalloc.word(), &[0, 0]);
    assert_eq!((label, body), (0, &[ZERO_SIZE_PTR, 0][..]));
    let (label, body) = c.raw_call(Label::Ksize.word(), &[ZERO_SIZE_PTR]);
    assert_eq!((label, body), (0, &[0][..]));
    let (label, _) = c.raw_call(Label::Kfree.word(), &[ZERO_SIZE_PTR]);
    assert_eq!(label, 0);
    let (label, body) = c.raw_call(Label::KmallocRefill.word(), &[0, 0, 1, 0]);
    assert_eq!(
        Failure::from_reply(label, body).error,
        Error::SizeZero,
        "a batch of zero-byte blocks means nothing"
    );
    assert_eq!(c.stats().unwrap().live_objects, 0, "nothing charged");
    // krealloc of it allocates; krealloc to 0 frees.
    let p = c.krealloc(z, 40, 0).unwrap();
    assert_ne!(p, z);
    assert_eq!(c.ksize(p), Ok(64));
    assert_eq!(c.stats().unwrap().live_objects, 1);
    assert_eq!(c.krealloc(p, 0, 0), Ok(z));
    assert_eq!(c.ksize(p).unwrap_err().error, Error::DoubleFree);
    assert_eq!(c.stats().unwrap().live_objects, 0);
    world.validate();
}

/// The checked magazine: the stub itself refuses, with no message, a free of an address that is
/// not an object start and of an object the user does not hold (freed already, not only the
/// last one, and also after the magazine went back to the server); it never hands an address
/// out twice; a free it cannot tell (another cache's object) is checked by the server.
#[test]
fn the_checked_magazine_refuses_what_is_not_an_object_out_with_the_user() {
    let world = World::new(1, 1, 16);
    let mut c = world.client(0, Quota::UNLIMITED, 8);
    // 40-byte objects: a stride that is no power of two, and no kmalloc class to merge with.
    let mut cache = c.kmem_cache_create("checked", 40, 8, 0, None).unwrap();
    let mut other = c.kmem_cache_create("other", 200, 8, 0, None).unwrap();
    let objs: Vec<usize> = (0..6)
        .map(|_| c.kmem_cache_alloc(&mut cache).unwrap())
        .collect();
    let sent = c.messages();
    let f = c.kmem_cache_free(&mut cache, objs[0] + 8).unwrap_err();
    assert_eq!(
        (f.error, f.detail[0], f.detail[1]),
        (Error::InteriorPointer, objs[0] as u64 + 8, 8)
    );
    c.kmem_cache_free(&mut cache, objs[1]).unwrap();
    c.kmem_cache_free(&mut cache, objs[2]).unwrap();
    let f = c.kmem_cache_free(&mut cache, objs[1]).unwrap_err();
    assert_eq!((f.error, f.detail[0]), (Error::DoubleFree, objs[1] as u64));
    assert_eq!(c.messages(), sent, "refused by the stub alone");
    // The magazine holds objs[1] and objs[2] once each: the next allocations are distinct
    // from each other and from what the user still holds.
    let again: Vec<usize> = (0..8)
        .map(|_| c.kmem_cache_alloc(&mut cache).unwrap())
        .collect();
    let held = [objs[0], objs[3], objs[4], objs[5]];
    let mut all: Vec<usize> = again.iter().chain(&held).copied().collect();
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n, "no address handed out twice");
    assert!(again.contains(&objs[1]) && again.contains(&objs[2]));
    // A double free across a drain: the object went back to the server in between.
    for &a in &again {
        c.kmem_cache_free(&mut cache, a).unwrap();
    }
    c.kmem_cache_flush(&mut cache).unwrap();
    let live = c.stats().unwrap().live_objects;
    let sent = c.messages();
    let f = c.kmem_cache_free(&mut cache, again[3]).unwrap_err();
    assert_eq!((f.error, f.detail[0]), (Error::DoubleFree, again[3] as u64));
    assert_eq!(c.messages(), sent, "refused by the stub alone");
    // Another cache's object: the stub does not know its slab, the server refuses it.
    let o = c.kmem_cache_alloc(&mut other).unwrap();
    let f = c.kmem_cache_free(&mut cache, o).unwrap_err();
    assert_eq!(f.error, Error::WrongCache);
    assert_eq!(
        c.messages(),
        sent + 2,
        "the server checked it (and served the refill)"
    );
    assert_eq!(
        c.stats().unwrap().live_objects,
        live + 1 + 7,
        "nothing was freed"
    );
    // The bulk free is refused whole for an object the user does not hold.
    let mut pair = [0usize; 2];
    c.kmem_cache_alloc_bulk(&mut cache, &mut pair).unwrap();
    c.kmem_cache_free(&mut cache, pair[1]).unwrap();
    let f = c.kmem_cache_free_bulk(&mut cache, &pair).unwrap_err();
    assert_eq!((f.error, f.detail[0]), (Error::DoubleFree, pair[1] as u64));
    c.kmem_cache_free_bulk(&mut cache, &pair[..1]).unwrap();
    assert_eq!(
        c.kmem_cache_free(&mut cache, pair[0]).unwrap_err().error,
        Error::DoubleFree,
        "a bulk free counts as the free"
    );
    for a in held {
        c.kmem_cache_free(&mut cache, a).unwrap();
    }
    c.kmem_cache_free(&mut other, o).unwrap();
    c.kmem_cache_flush(&mut cache).unwrap();
    c.kmem_cache_flush(&mut other).unwrap();
    world.validate();
}

/// An object freed by a way the cache's stub does not see (`kfree`, which Linux allows for any
/// slab object) and handed out again by a refill is not taken for the user's: a second free of
/// it while it sits in the magazine is refused, so it is never handed out twice.
#[test]
fn an_object_freed_behind_the_stubs_back_comes_back_unmarked() {
    let world = World::new(1, 1, 16);
    let mut c = world.client(0, Quota::UNLIMITED, 8);
    let mut cache = c.kmem_cache_create("behind", 40, 8, 0, None).unwrap();
    let a = c.kmem_cache_alloc(&mut cache).unwrap();
    c.kfree(a).unwrap();
    // Empty the magazine, then refill: the server's array hands `a` out again, last in first.
    let held: Vec<usize> = (0..7)
        .map(|_| c.kmem_cache_alloc(&mut cache).unwrap())
        .collect();
    let b = c.kmem_cache_alloc(&mut cache).unwrap();
    assert!(!held.contains(&a));
    let again = b == a || {
        let f = c.kmem_cache_free(&mut cache, a).unwrap_err();
        assert_eq!((f.error, f.detail[0]), (Error::DoubleFree, a as u64));
        let next: Vec<usize> = (0..7)
            .map(|_| c.kmem_cache_alloc(&mut cache).unwrap())
            .collect();
        assert_eq!(
            next.iter().filter(|&&x| x == a).count(),
            1,
            "handed out once"
        );
        c.kmem_cache_free(&mut cache, a).unwrap();
        for x in next.into_iter().filter(|&x| x != a) {
            c.kmem_cache_free(&mut cache, x).unwrap();
        }
        true
    };
    assert!(again);
    for x in held.into_iter().chain([b]) {
        c.kmem_cache_free(&mut cache, x).unwrap();
    }
    c.kmem_cache_flush(&mut cache).unwrap();
    assert_eq!(c.stats().unwrap().live_objects, 0);
    world.validate();
}

/// Every report of the client's violation log from `cursor`, and the last head.
fn read_log(
    c: &mut memserver_client::Client<impl memserver_client::Transport>,
    mut cursor: u64,
) -> (Vec<memserver_client::ViolationRecord>, u64) {
    let mut all = Vec::new();
    let mut lost = 0;
    loop {
        let head = c.violations(cursor, |r| all.push(*r)).unwrap();
        lost += head.lost;
        if head.count == 0 {
            return (all, lost);
        }
        cursor = head.next;
    }
}

#[test]
fn write_after_free_is_logged_and_the_allocation_served_from_another_object() {
    use memserver_client::violations::{kind, op};
    let world = World::new(1, 1, 16);
    let mut c = world.client_with_debug(0, Quota::UNLIMITED, 32, "PU,kmalloc-64");
    let mut k = c
        .kmem_cache_create(
            "poisoned",
            64,
            8,
            memserver_client::cache_flags::POISON,
            None,
        )
        .unwrap();
    let a = c.kmem_cache_alloc(&mut k).unwrap();
    c.kmem_cache_free(&mut k, a).unwrap();
    poke(a + 5, 1);
    // No allocation fails, and none hands the damaged object out again.
    let held: Vec<usize> = (0..300)
        .map(|_| c.kmem_cache_alloc(&mut k).unwrap())
        .collect();
    assert!(!held.contains(&a));
    // A kmalloc class with poisoning and owner tracking, from slab_debug: the report names
    // the block's last allocation and free.
    let p = c.kmalloc(60).unwrap();
    c.kfree(p).unwrap();
    poke(p + 63, 0);
    let q = c.kmalloc(60).unwrap();
    assert_ne!(q, p);
    let (log, lost) = read_log(&mut c, 0);
    assert_eq!((log.len(), lost), (2, 0));
    let r = &log[0];
    assert_eq!(
        (
            r.seq,
            r.op(),
            r.kind(),
            r.object,
            r.offset(),
            r.expected(),
            r.found(),
            r.cache()
        ),
        (0, op::ALLOC, kind::POISON, a as u64, 5, 0x6b, 1, "poisoned")
    );
    let r = &log[1];
    assert_eq!(
        (
            r.op(),
            r.kind(),
            r.object,
            r.offset(),
            r.expected(),
            r.found(),
            r.cache()
        ),
        (op::ALLOC, kind::POISON, p as u64, 63, 0xa5, 0, "kmalloc-64")
    );
    assert!(r.alloc_core() == Some(0) && r.free_core() == Some(0));
    assert_eq!(c.stats().unwrap().violations, 2);
    // A cursor past the end is refused; at the end, nothing more.
    assert_eq!(c.violations(3, |_| {}).unwrap_err().error, Error::BadCursor);
    assert_eq!(c.violations(2, |_| {}).unwrap().count, 0);
    c.kfree(q).unwrap();
    for o in held {
        c.kmem_cache_free(&mut k, o).unwrap();
    }
    // The quarantined object is no live object: the cache goes.
    c.kmem_cache_destroy(&mut k).unwrap();
    c.flush_kmalloc().unwrap();
    world.validate();
}

#[test]
fn a_free_of_a_damaged_object_is_refused_and_logged_with_more_reports_than_one_reply_holds() {
    use memserver_client::violations::{kind, op, RECORDS_PER_REPLY};
    let world = World::new(1, 1, 16);
    let mut c = world.client_with_debug(0, Quota::UNLIMITED, 32, "Z,kmalloc-32");
    let p = c.kmalloc(18).unwrap();
    poke(p + 18, 0xab);
    let n = RECORDS_PER_REPLY + 3;
    for _ in 0..n {
        assert_eq!(c.kfree_sized(p, 18).unwrap_err().error, Error::RedZone);
    }
    let (log, _) = read_log(&mut c, 0);
    assert_eq!(log.len(), n);
    assert!(log.iter().enumerate().all(|(i, r)| r.seq == i as u64
        && r.op() == op::FREE
        && r.kind() == kind::RED_ZONE_RIGHT
        && (r.object, r.offset(), r.found()) == (p as u64, 18, 0xab)
        && r.cache() == "kmalloc-32"));
    poke(p + 18, 0xcc);
    c.kfree_sized(p, 18).unwrap();
    c.flush_kmalloc().unwrap();
    world.validate();
}

#[test]
fn destroy_with_a_live_object_is_refused_and_the_object_listed_in_the_log() {
    use memserver_client::violations::{kind, op};
    let world = World::new(1, 1, 16);
    let mut c = world.client(0, Quota::UNLIMITED, 32);
    let mut k = c.kmem_cache_create("leaky", 48, 8, 0, None).unwrap();
    let a = c.kmem_cache_alloc(&mut k).unwrap();
    assert_eq!(
        c.kmem_cache_destroy(&mut k).unwrap_err().error,
        Error::CacheBusy
    );
    let (log, _) = read_log(&mut c, 0);
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].op(), log[0].kind(), log[0].object, log[0].cache()),
        (op::DESTROY, kind::LEAK, a as u64, "leaky")
    );
    c.kmem_cache_free(&mut k, a).unwrap();
    c.kmem_cache_destroy(&mut k).unwrap();
    world.validate();
}
