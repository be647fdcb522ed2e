//! The `GlobalAlloc` adapter as this binary's `#[global_allocator]`: `Vec`, `Box`, `String` and
//! `HashMap` work on a client thread goes through the server (kmalloc magazines over the
//! in-process transport). The server itself lives in this process and needs its own heap, so a
//! small router sends allocations of threads marked as client threads to the adapter and all
//! others to the system allocator; frees go by address (arena pointers belong to the server).

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
use memserver::server::Quota;
use memserver_client::host::{HostTransport, Mode};
use memserver_client::GlobalClient;
use memserver_tests::World;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

static CLIENT: GlobalClient<HostTransport> = GlobalClient::new();
static ARENA_START: AtomicUsize = AtomicUsize::new(0);
static ARENA_END: AtomicUsize = AtomicUsize::new(0);
static THROUGH_SERVER: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static CLIENT_THREAD: Cell<bool> = const { Cell::new(false) };
}

struct Router;

fn in_arena(p: *mut u8) -> bool {
    let a = p as usize;
    a >= ARENA_START.load(Ordering::Relaxed) && a < ARENA_END.load(Ordering::Relaxed)
}

fn client_thread() -> bool {
    CLIENT_THREAD.try_with(|c| c.get()).unwrap_or(false)
}

// SAFETY: every block comes from exactly one of two allocators and goes back to the one it came
// from: arena addresses are only ever produced by the adapter, all others by `System`.
unsafe impl GlobalAlloc for Router {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if client_thread() {
            THROUGH_SERVER.fetch_add(1, Ordering::Relaxed);
            // SAFETY: the caller's contract (`layout` has a non-zero size) is passed on.
            unsafe { CLIENT.alloc(layout) }
        } else {
            // SAFETY: as above.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if client_thread() {
            THROUGH_SERVER.fetch_add(1, Ordering::Relaxed);
            // SAFETY: the caller's contract (`layout` has a non-zero size) is passed on.
            unsafe { CLIENT.alloc_zeroed(layout) }
        } else {
            // SAFETY: as above.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_arena(ptr) {
            // SAFETY: `ptr` came from this allocator with `layout` (the caller's contract), and
            // only the adapter hands out arena addresses.
            unsafe { CLIENT.dealloc(ptr, layout) }
        } else {
            // SAFETY: as above; every other address came from `System`.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}

#[global_allocator]
static GLOBAL: Router = Router;

fn workload() {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..10_000 {
        v.push(i * i);
    }
    assert!(
        in_arena(v.as_ptr() as *mut u8),
        "Vec storage comes from the server"
    );
    assert_eq!(v.iter().sum::<u64>(), (0..10_000u64).map(|i| i * i).sum());
    let boxes: Vec<Box<[u8; 100]>> = (0..500).map(|i| Box::new([i as u8; 100])).collect();
    for (i, b) in boxes.iter().enumerate() {
        assert!(in_arena(&**b as *const _ as *mut u8));
        assert!(b.iter().all(|&x| x == i as u8));
    }
    let mut s = String::new();
    for i in 0..2_000 {
        s.push_str(&i.to_string());
        s.push(',');
    }
    assert!(s.starts_with("0,1,2,3,") && s.ends_with("1998,1999,"));
    let mut m: HashMap<String, Vec<u32>> = HashMap::new();
    for i in 0..3_000u32 {
        m.entry(format!("key-{}", i % 700)).or_default().push(i);
    }
    assert_eq!(m.len(), 700);
    assert_eq!(m["key-5"], vec![5, 705, 1405, 2105, 2805]);
    let aligned = Box::new(Aligned([7; 64]));
    assert_eq!(&*aligned as *const Aligned as usize % 256, 0);
    assert!(aligned.0.iter().all(|&x| x == 7));
    let zeroed = vec![0u32; 50_000];
    assert!(zeroed.iter().all(|&x| x == 0));
}

#[repr(align(256))]
struct Aligned([u8; 64]);

#[test]
fn std_collections_allocate_through_the_server() {
    // Threaded: the router tells the server's heap from the client's by thread, so the server's
    // dispatch must run on a server thread.
    let world = World::with_mode(Mode::Threaded, 1, 2, 64);
    let (start, end) = world.arena_range();
    ARENA_START.store(start, Ordering::Relaxed);
    ARENA_END.store(end, Ordering::Relaxed);
    CLIENT.install(world.client(1, Quota::UNLIMITED, 32));
    CLIENT_THREAD.with(|c| c.set(true));
    workload();
    CLIENT_THREAD.with(|c| c.set(false));
    assert!(THROUGH_SERVER.load(Ordering::Relaxed) > 1000);
    let mut client = CLIENT.take().expect("installed");
    client.flush_kmalloc().unwrap();
    let stats = client.stats().unwrap();
    assert_eq!(stats.live_objects, 0, "every block came back: {stats:?}");
    let messages = client.messages();
    assert!(messages > 10, "{messages} messages");
    client.detach().unwrap();
    world.validate();
}
