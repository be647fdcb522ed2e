//! Per-thread magazines: for each kmalloc class a small stack of objects this thread may hand
//! out or has freed, in front of the per-core arrays (as the client stub's magazines are on
//! target). `malloc` pops and `free` pushes with no lock and no atomic; an empty magazine
//! refills half its capacity, a full one flushes half, each under one core lock.
//!
//! A freed object is filed by the class the page map names (one lock-free read) and checked by
//! the core when its magazine flushes: a bad or repeated free is found then, and aborts as
//! glibc's checks do. The objects in a magazine stay allocated as far as the core can tell
//! (as objects in a client's magazine do). A thread's magazines go back to the cores when it
//! exits (a thread-specific key's destructor).
use core::cell::UnsafeCell;

use memserver_core::kmalloc::KMALLOC_SIZES;

use crate::heap::{die, Heap};

/// Objects per class magazine.
const CAP: usize = 32;
const HALF: usize = CAP / 2;

pub struct Mag {
    len: usize,
    objs: [usize; CAP],
}

pub struct Mags {
    mags: [Mag; 13],
    /// The exit destructor is registered for this thread.
    registered: bool,
    /// This thread is building the heap.
    building: bool,
}

thread_local! {
    static MAGS: UnsafeCell<Mags> = const {
        UnsafeCell::new(Mags {
            mags: [const { Mag { len: 0, objs: [0; CAP] } }; 13],
            registered: false,
            building: false,
        })
    };
}

static KEY: spin::Once<libc::pthread_key_t> = spin::Once::new();

/// The calling thread's magazines. No reference to them outlives one call of this crate, and
/// the crate's entry points do not nest on one thread (the heap is built with `building` set, so
/// a recursive call goes to the metadata allocator without touching the magazines).
#[inline(always)]
fn mags() -> *mut Mags {
    MAGS.with(|m| m.get())
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
    // SAFETY: see `mags`; `c < 13` (a class index).
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
    let size = KMALLOC_SIZES[c];
    heap.with_core(|g, set| {
        let Ok(mut k) = g.kmalloc_set(set) else {
            die(b"memserver preload: kmalloc set\n")
        };
        while m.len < HALF + 1 {
            match k.kmalloc(size) {
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
    // SAFETY: see `mags`; `c < 13`.
    let m = unsafe { &mut (*mags()).mags[c] };
    if m.len < CAP {
        m.objs[m.len] = p;
        m.len += 1;
        return;
    }
    flush(heap, m, p);
}

#[cold]
#[inline(never)]
fn flush(heap: &Heap, m: &mut Mag, p: usize) {
    register();
    heap.with_core(|g, set| {
        let Ok(mut k) = g.kmalloc_set(set) else {
            die(b"memserver preload: kmalloc set\n")
        };
        for &a in &m.objs[..HALF] {
            if k.kfree(a).is_err() {
                die(b"memserver preload: free(): invalid pointer or double free\n");
            }
        }
    });
    m.objs.copy_within(HALF.., 0);
    m.len = CAP - HALF;
    m.objs[m.len] = p;
    m.len += 1;
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
    heap.with_core(|g, set| {
        let Ok(mut k) = g.kmalloc_set(set) else {
            return;
        };
        for m in ms.mags.iter_mut() {
            for &a in &m.objs[..m.len] {
                if k.kfree(a).is_err() {
                    die(b"memserver preload: free(): invalid pointer or double free\n");
                }
            }
            m.len = 0;
        }
    });
    ms.registered = false;
}
