//! Per-thread magazines: for each size class a small stack of objects this thread may hand
//! out or has freed, in front of the per-core arrays (as the client stub's magazines are on
//! target). `malloc` pops and `free` pushes with no lock and no atomic; an empty magazine
//! refills half its capacity (`classes::MAG_CAP`), a full one flushes half, each under one core
//! lock.
//!
//! A freed object is filed by the class the page map names (one lock-free read) and checked by
//! the core when its magazine flushes: a bad or repeated free is found then, and aborts as
//! glibc's checks do. The objects in a magazine stay allocated as far as the core can tell
//! (as objects in a client's magazine do). A thread's magazines go back to the cores when it
//! exits (a thread-specific key's destructor).
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::classes::{self, MAG_CAP, MAG_MAX};
use crate::heap::{die, Heap};

pub struct Mag {
    len: usize,
    objs: [usize; MAG_MAX],
}

pub struct Mags {
    mags: [Mag; classes::COUNT],
    /// The core whose partition this thread's slow paths use ([`NO_HOME`] until the first).
    home: u8,
    /// The exit destructor is registered for this thread.
    registered: bool,
    /// This thread is building the heap.
    building: bool,
}

thread_local! {
    static MAGS: UnsafeCell<Mags> = const {
        UnsafeCell::new(Mags {
            mags: [const { Mag { len: 0, objs: [0; MAG_MAX] } }; classes::COUNT],
            home: NO_HOME,
            registered: false,
            building: false,
        })
    };
}

static KEY: spin::Once<libc::pthread_key_t> = spin::Once::new();

const NO_HOME: u8 = u8::MAX;
/// Threads given a home core so far: homes are dealt round-robin.
static HOMES: AtomicUsize = AtomicUsize::new(0);

/// The calling thread's magazines. No reference to them outlives one call of this crate, and
/// the crate's entry points do not nest on one thread (the heap is built with `building` set, so
/// a recursive call goes to the metadata allocator without touching the magazines).
#[inline(always)]
fn mags() -> *mut Mags {
    MAGS.with(|m| m.get())
}

/// The calling thread's home core, below `cores`: dealt round-robin on the thread's first slow
/// path and kept for its life. A core's objects return to their home core's partition (a free
/// from another core goes through that core's inbox, which only its own slow path empties), so a
/// thread that followed its CPU from core to core would leave its frees parked in inboxes that
/// nobody empties while it runs elsewhere, and take fresh slabs instead.
pub fn home_core(cores: usize) -> u8 {
    // SAFETY: a plain read and write of this thread's field (see `mags`).
    let home = unsafe { &mut (*mags()).home };
    if *home == NO_HOME {
        *home = (HOMES.fetch_add(1, Ordering::Relaxed) % cores.max(1)) as u8;
    }
    *home
}

pub fn building() -> bool {
    // SAFETY: a plain read of this thread's flag (see `mags`).
    unsafe { (*mags()).building }
}

pub fn set_building(b: bool) {
    // SAFETY: as in `building`.
    unsafe { (*mags()).building = b };
}

pub fn create_key() {
    KEY.call_once(|| {
        let mut k: libc::pthread_key_t = 0;
        // SAFETY: `k` is a valid out-pointer; the destructor is a function of this library.
        if unsafe { libc::pthread_key_create(&mut k, Some(thread_exit)) } != 0 {
            die(b"memserver preload: pthread_key_create\n");
        }
        k
    });
}

/// A small object of class `c`, or 0 when the core is out of memory.
#[inline(always)]
pub fn pop(heap: &Heap, c: usize) -> usize {
    // SAFETY: see `mags`; `c < classes::COUNT` (a class index).
    let m = unsafe { &mut (*mags()).mags[c] };
    if m.len > 0 {
        m.len -= 1;
        return m.objs[m.len];
    }
    refill(heap, c)
}

#[cold]
#[inline(never)]
fn refill(heap: &Heap, c: usize) -> usize {
    register();
    // SAFETY: see `mags`.
    let m = unsafe { &mut (*mags()).mags[c] };
    let want = MAG_CAP[c] / 2 + 1;
    heap.with_core(|g, _| {
        let Ok(mut cache) = g.cache(heap.caches[c]) else {
            die(b"memserver preload: size class cache\n")
        };
        while m.len < want {
            match cache.alloc() {
                Ok(a) => {
                    m.objs[m.len] = a;
                    m.len += 1;
                }
                Err(_) => break,
            }
        }
    });
    if m.len == 0 {
        return 0;
    }
    m.len -= 1;
    m.objs[m.len]
}

/// Files a freed small object of class `c`.
#[inline(always)]
pub fn push(heap: &Heap, c: usize, p: usize) {
    // SAFETY: see `mags`; `c < classes::COUNT`.
    let m = unsafe { &mut (*mags()).mags[c] };
    if m.len < MAG_CAP[c] {
        m.objs[m.len] = p;
        m.len += 1;
        return;
    }
    flush(heap, c, m, p);
}

#[cold]
#[inline(never)]
fn flush(heap: &Heap, c: usize, m: &mut Mag, p: usize) {
    register();
    let half = MAG_CAP[c] / 2;
    heap.with_core(|g, _| give_back(g, heap, c, &m.objs[..half]));
    m.objs.copy_within(half..m.len, 0);
    m.len -= half;
    m.objs[m.len] = p;
    m.len += 1;
}

/// Frees `objs`, objects of class `c`, through core `g`; a bad or repeated one aborts.
fn give_back(g: &mut memserver_core::CoreGuard<'_>, heap: &Heap, c: usize, objs: &[usize]) {
    let Ok(mut cache) = g.cache(heap.caches[c]) else {
        die(b"memserver preload: size class cache\n")
    };
    for &a in objs {
        if cache.free(a).is_err() {
            die(b"memserver preload: free(): invalid pointer or double free\n");
        }
    }
}

/// Registers the thread-exit flush once per thread.
fn register() {
    // SAFETY: see `mags`.
    let ms = unsafe { &mut *mags() };
    if ms.registered {
        return;
    }
    ms.registered = true;
    if let Some(&k) = KEY.get() {
        // SAFETY: a key made by `create_key`; any non-null value makes the destructor run.
        unsafe {
            libc::pthread_setspecific(k, core::ptr::NonNull::<libc::c_void>::dangling().as_ptr())
        };
    }
}

/// Returns every object of the thread's magazines to the cores.
extern "C" fn thread_exit(_: *mut libc::c_void) {
    let Some(heap) = crate::heap::get() else {
        return;
    };
    // SAFETY: see `mags`; a key destructor runs on the exiting thread outside any entry point.
    let ms = unsafe { &mut *mags() };
    heap.with_core(|g, _| {
        for (c, m) in ms.mags.iter_mut().enumerate() {
            give_back(g, heap, c, &m.objs[..m.len]);
            m.len = 0;
        }
    });
    ms.registered = false;
}
