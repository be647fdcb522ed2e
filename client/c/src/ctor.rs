//! C constructors. The stub runs a cache's constructor as a Rust `fn(*mut u8)` over every object
//! of a fresh slab; a C constructor is a function pointer, which a plain `fn` cannot capture. So a
//! fixed set of trampolines, one per slot, each calls the C function stored in its slot. A slot is
//! claimed by the first cache created with a given function and shared by every later cache with
//! the same function; slots are never released (constructors are functions of the program, so
//! their number is bounded by its code, not by how many caches it creates).
use crate::error::MEMSERVER_E_TOO_MANY_CTORS;
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};
use memserver_client::Ctor;

/// A constructor: called once for every object of a new slab, before any of them is handed out.
pub type kmem_ctor_t = Option<unsafe extern "C" fn(obj: *mut c_void)>;

/// Distinct constructor functions a program may use.
pub const MEMSERVER_MAX_CTORS: usize = 16;

/// Slot `i` holds the address of a C constructor, or 0.
static SLOTS: [AtomicUsize; MEMSERVER_MAX_CTORS] =
    [const { AtomicUsize::new(0) }; MEMSERVER_MAX_CTORS];

fn call(slot: usize, obj: *mut u8) {
    let Some(f) = SLOTS.get(slot).map(|s| s.load(Ordering::Acquire)) else {
        return;
    };
    if f == 0 {
        return;
    }
    // SAFETY: a non-zero slot holds the address of an `unsafe extern "C" fn(*mut c_void)`
    // stored by `slot_for` (the only writer), never changed afterwards.
    let f: unsafe extern "C" fn(*mut c_void) = unsafe { core::mem::transmute(f) };
    // SAFETY: `kmem_cache_create`'s contract: the constructor accepts any object of its cache;
    // `obj` is one, of a fresh slab this client owns.
    unsafe { f(obj.cast()) }
}

macro_rules! trampolines {
    ($($i:literal),*) => {
        const TRAMPOLINES: [Ctor; MEMSERVER_MAX_CTORS] = [$(|obj| call($i, obj)),*];
    };
}
trampolines!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

/// The Rust constructor that calls `f`: its slot's trampoline (claiming a free slot the first time
/// `f` is seen). `Err(MEMSERVER_E_TOO_MANY_CTORS)` when every slot holds another function.
pub(crate) fn slot_for(f: unsafe extern "C" fn(*mut c_void)) -> Result<Ctor, c_int> {
    let addr = f as usize;
    for (slot, trampoline) in SLOTS.iter().zip(TRAMPOLINES) {
        match slot.compare_exchange(0, addr, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(trampoline),
            Err(held) if held == addr => return Ok(trampoline),
            Err(_) => {}
        }
    }
    Err(MEMSERVER_E_TOO_MANY_CTORS)
}
