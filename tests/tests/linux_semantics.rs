//! The kernel slab API as a Linux user expects it, through the client stub over the protocol:
//! per-client `slab_debug` options given at attach, and kmalloc red zones at the requested size.
use memserver::server::Quota;
use memserver_protocol::Error;
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
