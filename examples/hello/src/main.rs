//! hello: a memserver client task in Rust, to copy and change. It connects to its server core,
//! makes the stub its global allocator (so `Vec`, `Box` and `String` live in server memory),
//! creates a cache with a constructor and allocates through it, uses kmalloc, prints its
//! `/proc/slabinfo`, gives everything back and checks that the server agrees, then prints its
//! closing line and exits with status 0 (1 if anything failed).
//!
//! The root task starts one thread per core the system description lists, each with the start
//! arguments `[core, a0, a1, a2]`; this example lists one core.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering};
use memserver_client::{cache_flags, Client, Config, Failure, GlobalClient};
use memserver_client_sel4::{abi, Console, Sel4Transport};
use sel4::Word;

sel4_runtime::declare_child_task!(main);

/// Every heap allocation of this task goes to the memory server.
#[global_allocator]
static GLOBAL: GlobalClient<Sel4Transport> = GlobalClient::new();

/// An object of our own cache.
#[repr(C)]
struct Point {
    x: u64,
    y: u64,
    tag: u64,
}

const TAG: u64 = 0x0070_6f69_6e74; // "point"
const POINTS: usize = 100;

static CONSTRUCTED: AtomicUsize = AtomicUsize::new(0);

/// The core this task runs on: its server endpoint carries the console and the exit.
static CORE: AtomicUsize = AtomicUsize::new(0);

/// Prints a line through the root task's console (works on debug and release kernels alike).
macro_rules! say {
    ($($arg:tt)*) => {{
        let mut console = Console::new(CORE.load(Ordering::Relaxed));
        let _ = writeln!(console, $($arg)*);
    }};
}

/// Runs once for every object of a new slab, before any of them is handed out.
fn construct(obj: *mut u8) {
    // SAFETY: the stub calls constructors with objects of this cache: `Point`-sized, aligned to 8,
    // ours alone.
    unsafe {
        obj.cast::<Point>().write(Point {
            x: 0,
            y: 0,
            tag: TAG,
        })
    };
    CONSTRUCTED.fetch_add(1, Ordering::Relaxed);
}

fn main(args: [Word; 4]) {
    let core = args[abi::arg::CORE] as usize;
    CORE.store(core, Ordering::Relaxed);
    // SAFETY: the root task maps this client's magazine page for `core`, and this thread is the
    // task's thread on `core` (its spawn contract).
    let transport = unsafe { Sel4Transport::from_abi(core) };
    match Client::connect(transport, Config::default()) {
        Ok(client) => GLOBAL.install(client),
        Err(f) => finish(Err(f)),
    }
    say!("hello: connected to the memory server (core {core})");
    let result = caches()
        .and_then(|()| collections())
        .and_then(|()| check_empty());
    finish(result)
}

/// A cache with a constructor, and kmalloc, through the stub's kernel-shaped calls. The client
/// is borrowed from the global allocator, so nothing in here may allocate on the heap.
fn caches() -> Result<(), Failure> {
    let r = GLOBAL.with(|c| {
        let mut cache = c.kmem_cache_create(
            "hello_points",
            core::mem::size_of::<Point>(),
            core::mem::align_of::<Point>(),
            cache_flags::HWCACHE_ALIGN,
            Some(construct),
        )?;
        let mut points = [0usize; POINTS];
        let mut sum = 0;
        for (i, slot) in points.iter_mut().enumerate() {
            let p = c.kmem_cache_alloc(&mut cache)? as *mut Point;
            // SAFETY: a live, constructed object of this cache, ours alone.
            let point = unsafe { &mut *p };
            if point.tag != TAG {
                say!("hello: object {p:p} was not constructed");
                return Err(Failure::new(memserver_client::Error::Internal));
            }
            point.x = i as u64;
            sum += point.x;
            *slot = p as usize;
        }
        say!(
            "hello: {POINTS} points from cache hello_points (object size {}), {} constructor runs, sum of x {sum}",
            cache.object_size(),
            CONSTRUCTED.load(Ordering::Relaxed)
        );
        let mut text = Text::default();
        c.slabinfo(false, &mut text)?;
        let mut console = Console::new(CORE.load(Ordering::Relaxed));
        let _ = console.write_str(text.as_str());
        drop(console);
        for p in points {
            c.kmem_cache_free(&mut cache, p)?;
        }
        let pages = c.kmem_cache_shrink(&mut cache)?;
        c.kmem_cache_destroy(&mut cache)?;
        say!("hello: freed every point, shrink gave back {pages} pages, cache destroyed");

        let block = c.kmalloc(100)?;
        let usable = c.ksize(block)?;
        c.kfree(block)?;
        say!("hello: kmalloc(100) at {block:#x}: {usable} usable bytes; freed");
        Ok(())
    });
    r.unwrap_or(Err(Failure::new(memserver_client::Error::Internal)))
}

/// `Vec`, `Box` and `String` through the `GlobalAlloc` adapter.
fn collections() -> Result<(), Failure> {
    let squares: Vec<u64> = (0..1000u64).map(|i| i * i).collect();
    let boxed = Box::new([0x42u8; 512]);
    let mut s = String::new();
    for word in ["memory", "from", "the", "server"] {
        let _ = write!(s, "{word} ");
    }
    say!(
        "hello: Vec of {} squares at {:#x} (sum {}), Box of {} bytes at {:#x}, String \"{}\"",
        squares.len(),
        squares.as_ptr() as usize,
        squares.iter().sum::<u64>(),
        boxed.len(),
        &*boxed as *const _ as usize,
        s.trim_end()
    );
    Ok(())
}

/// Everything went back: after returning the kmalloc magazines, the server counts no live object
/// of ours.
fn check_empty() -> Result<(), Failure> {
    let stats = GLOBAL.with(|c| c.flush_kmalloc().and_then(|()| c.stats()));
    let stats = stats.unwrap_or(Err(Failure::new(memserver_client::Error::Internal)))?;
    say!(
        "hello: the server counts {} live objects ({} bytes) of ours",
        stats.live_objects,
        stats.live_bytes
    );
    if stats.live_objects != 0 {
        return Err(Failure::with(
            memserver_client::Error::CacheBusy,
            [stats.live_objects, 0, 0],
        ));
    }
    Ok(())
}

/// Prints the closing line (or the failure) and ends the task with its status.
fn finish(result: Result<(), Failure>) -> ! {
    let status = match result {
        Ok(()) => {
            say!("hello: done");
            0
        }
        Err(f) => {
            say!("hello: failed: {f}");
            1
        }
    };
    memserver_client_sel4::exit(CORE.load(Ordering::Relaxed), status)
}

/// A fixed buffer for slabinfo text (no heap while the client is borrowed).
struct Text {
    buf: [u8; 4096],
    len: usize,
}

impl Default for Text {
    fn default() -> Self {
        Text {
            buf: [0; 4096],
            len: 0,
        }
    }
}

impl Text {
    fn as_str(&self) -> &str {
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
}

impl Write for Text {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let to = self
            .buf
            .get_mut(self.len..self.len + s.len())
            .ok_or(core::fmt::Error)?;
        to.copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}
