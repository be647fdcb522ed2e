//! The process's heap: one memserver allocator over an arena of reserved address space, one
//! kmalloc set, a core per CPU (each thread's slow paths take its home core: `magazine::home_core`), and
//! the mapping-backed blocks above the largest buddy block.
//!
//! Built on first use by whichever thread allocates first; a call made while it is being built
//! (by the builder itself, e.g. from a libc function it calls) is served by the metadata
//! allocator and never freed. Every use of a core lock happens under the fork lock's read side,
//! so `fork` (which takes the write side) never copies a held core lock into the child.
use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use memserver_core::platform::MemRange;
use memserver_core::topology::{CoreId, NodeId, Topology, MAX_CORES};
use memserver_core::{
    Allocator, CacheFlags, CacheId, CacheParams, CoreGuard, Ctor, KmallocSet, OwnerId,
};

use crate::{classes, meta};

/// Default arena: address space reserved up front (pages are touched only when used).
const ARENA_DEFAULT: usize = 1 << 30;
/// Buddy blocks are aligned to this (the largest block): the arena is too.
const ARENA_ALIGN: usize = 4 << 20;
const PAGE: usize = 4096;
/// Where the mapping threshold starts (glibc's `M_MMAP_THRESHOLD` default).
const MAP_THRESHOLD_START: usize = 128 << 10;
/// The one owner of every cache of the process.
const OWNER: OwnerId = OwnerId(1);

pub struct Heap {
    pub alloc: Allocator,
    /// The kmalloc set, for blocks above the size classes (buddy blocks through kmalloc).
    pub set: KmallocSet,
    /// Each size class's cache.
    pub caches: [CacheId; classes::COUNT],
    /// Real cache index of class 0; the classes' real indexes are consecutive from it.
    pub first_real: u32,
    pub lo: usize,
    pub hi: usize,
    pub cores: usize,
    /// Blocks mapped on their own: address → mapped length.
    pub mapped: spin::Mutex<BTreeMap<usize, usize>>,
    /// Requests above this many bytes are mapped on their own (see the crate's comment).
    map_threshold: AtomicUsize,
}

static HEAP: spin::Once<Heap> = spin::Once::new();

/// See [`Heap::takes_buddy_block`]: the rounding rule alone.
fn fits_buddy_block(size: usize) -> bool {
    size <= MAP_THRESHOLD_START || size.next_power_of_two() - size <= size / 4
}
/// 0: not built; 1: being built; 2: built.
static STATE: AtomicU8 = AtomicU8::new(0);
static FORK: ForkLock = ForkLock(AtomicUsize::new(0));

/// Readers (every use of a core lock or the mapped-block table) and one writer (`fork`): a
/// count of readers, with `WRITER` set while a fork is under way.
struct ForkLock(AtomicUsize);

const WRITER: usize = 1 << (usize::BITS - 1);

struct ReadGuard;

impl ForkLock {
    fn read(&self) -> ReadGuard {
        loop {
            let v = self.0.load(Ordering::Relaxed);
            if v & WRITER == 0
                && self
                    .0
                    .compare_exchange_weak(v, v + 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return ReadGuard;
            }
            core::hint::spin_loop();
        }
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        FORK.0.fetch_sub(1, Ordering::Release);
    }
}

/// The heap, building it on first use; `None` while it is being built (the caller then uses
/// the metadata allocator).
#[inline(always)]
pub fn get() -> Option<&'static Heap> {
    if STATE.load(Ordering::Acquire) == 2 {
        // SAFETY-free: `Once` is complete when STATE is 2.
        return HEAP.get();
    }
    build()
}

#[cold]
#[inline(never)]
fn build() -> Option<&'static Heap> {
    if STATE
        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // Being built: by this thread (a recursive call) or another one, which we wait for
        // unless it is us (a builder never waits on itself: `BUILDING` says which).
        if crate::magazine::building() {
            return None;
        }
        while STATE.load(Ordering::Acquire) != 2 {
            core::hint::spin_loop();
        }
        return HEAP.get();
    }
    crate::magazine::set_building(true);
    let heap = HEAP.call_once(make);
    crate::magazine::set_building(false);
    // SAFETY: fork handlers are plain functions of this library, which stays loaded.
    unsafe {
        libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child));
    }
    crate::magazine::create_key();
    STATE.store(2, Ordering::Release);
    Some(heap)
}

fn make() -> Heap {
    let arena = env_size(c"MEMSERVER_PRELOAD_ARENA").unwrap_or(ARENA_DEFAULT);
    let arena = arena.next_multiple_of(ARENA_ALIGN).max(ARENA_ALIGN);
    // SAFETY: an anonymous reservation of address space (no swap reserved); only the
    // allocator below uses it.
    let raw = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            arena + ARENA_ALIGN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        die(b"memserver preload: cannot reserve the arena\n");
    }
    let lo = (raw as usize).next_multiple_of(ARENA_ALIGN);
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let cores = (cpus.max(1) as usize).min(MAX_CORES);
    let topo =
        Topology::uniform(1, cores).unwrap_or_else(|_| die(b"memserver preload: topology\n"));
    let mem = [MemRange {
        node: NodeId(0),
        base: lo,
        len: arena,
    }];
    let alloc =
        Allocator::new(topo, &mem).unwrap_or_else(|_| die(b"memserver preload: allocator\n"));
    let set = alloc
        .kmalloc_set_create(OWNER)
        .unwrap_or_else(|_| die(b"memserver preload: kmalloc set\n"));
    let mut caches = [CacheId {
        index: 0,
        generation: 0,
    }; classes::COUNT];
    let mut reals = [0u32; classes::COUNT];
    for (c, (id, real)) in caches.iter_mut().zip(reals.iter_mut()).enumerate() {
        let size = classes::SIZES[c];
        let mut name = [0; 16];
        let params = CacheParams {
            name: classes::name(c, &mut name),
            size,
            // Power-of-two classes are aligned to their size (up to a page), so that
            // `memalign` can take them.
            align: if size.is_power_of_two() {
                size.min(PAGE)
            } else {
                16
            },
            flags: CacheFlags::NO_MERGE,
            ctor: Ctor::None,
            owner: OWNER,
        };
        *id = alloc
            .cache_create(params)
            .unwrap_or_else(|_| die(b"memserver preload: size class cache\n"));
        *real = alloc
            .cache_real(*id)
            .unwrap_or_else(|| die(b"memserver preload: size class cache\n"));
    }
    if reals.windows(2).any(|w| w[1] != w[0] + 1) {
        die(b"memserver preload: size class caches not consecutive\n");
    }
    Heap {
        alloc,
        set,
        caches,
        first_real: reals[0],
        lo,
        hi: lo + arena,
        cores,
        mapped: spin::Mutex::new(BTreeMap::new()),
        map_threshold: AtomicUsize::new(MAP_THRESHOLD_START),
    }
}

/// A size in bytes from the environment (a decimal number, optionally ending in K, M or G).
fn env_size(name: &core::ffi::CStr) -> Option<usize> {
    // SAFETY: getenv reads the environment and allocates nothing.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: getenv returns a NUL-terminated string.
    let s = unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes();
    let (digits, unit) = match s.last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 10),
        b'M' | b'm' => (&s[..s.len() - 1], 20),
        b'G' | b'g' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let mut n: usize = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add((d - b'0') as usize)?;
    }
    n.checked_mul(1 << unit)
}

impl Heap {
    /// Whether `p` lies in the arena.
    #[inline(always)]
    pub fn owns(&self, p: usize) -> bool {
        p.wrapping_sub(self.lo) < self.hi - self.lo
    }

    /// The size class of a small object of the arena, by one lock-free page map read.
    #[inline(always)]
    pub fn class_of_obj(&self, p: usize) -> Option<usize> {
        let real = self.alloc.slab_cache_of(p)?;
        let k = real.wrapping_sub(self.first_real) as usize;
        (k < classes::COUNT).then_some(k)
    }

    /// Runs `f` on the calling thread's home core, under the fork lock's read side.
    pub fn with_core<R>(&self, f: impl FnOnce(&mut CoreGuard<'_>, &KmallocSet) -> R) -> R {
        let _fork = FORK.read();
        let core = crate::magazine::home_core(self.cores);
        let mut g = self
            .alloc
            .core(CoreId(core))
            .unwrap_or_else(|_| die(b"memserver preload: core\n"));
        f(&mut g, &self.set)
    }

    /// A block of `len` bytes aligned to `align` mapped on its own (zeroed), recorded for
    /// `free`.
    pub fn map_block(&self, len: usize, align: usize) -> *mut u8 {
        let len = len.max(1).next_multiple_of(4096);
        let p = meta::map(len, align);
        if !p.is_null() {
            let _fork = FORK.read();
            self.mapped.lock().insert(p as usize, len);
        }
        p
    }

    /// Requests above this many bytes are mapped on their own.
    #[inline]
    pub fn map_threshold(&self) -> usize {
        self.map_threshold.load(Ordering::Relaxed)
    }

    /// Whether a request of `size` bytes above the classes takes a buddy block: up to the
    /// mapping threshold, and above where it starts only if the block (a power of two) wastes at
    /// most a quarter of the request, so a buffer of a power of two plus a header (`2 MiB + 8`)
    /// is mapped to its pages instead of taking twice its size from the arena.
    #[inline]
    pub fn takes_buddy_block(&self, size: usize) -> bool {
        size <= self.map_threshold() && fits_buddy_block(size)
    }

    /// The length of the block mapped on its own at `p`, if it is one.
    pub fn mapped_len(&self, p: usize) -> Option<usize> {
        let _fork = FORK.read();
        self.mapped.lock().get(&p).copied()
    }

    /// Unmaps the block mapped on its own at `p`; false if `p` is not one.
    pub fn unmap_block(&self, p: usize) -> bool {
        let len = {
            let _fork = FORK.read();
            self.mapped.lock().remove(&p)
        };
        match len {
            Some(len) => {
                // SAFETY: mapped by `map_block` with this length and now forgotten.
                unsafe { meta::unmap(p as *mut u8, len) };
                if len <= memserver_core::kmalloc::KMALLOC_MAX_SIZE {
                    self.map_threshold.fetch_max(len, Ordering::Relaxed);
                }
                true
            }
            None => false,
        }
    }
}

/// Waits until no thread uses a core lock, and keeps them out until the fork is done.
extern "C" fn fork_prepare() {
    while FORK
        .0
        .compare_exchange_weak(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
}

extern "C" fn fork_parent() {
    FORK.0.store(0, Ordering::Release);
}

/// The child has only the forking thread, which held no core lock: every lock is free.
extern "C" fn fork_child() {
    FORK.0.store(0, Ordering::Release);
}

/// Writes `msg` to standard error and aborts (as glibc's malloc does on a corrupted heap).
pub fn die(msg: &[u8]) -> ! {
    // SAFETY: writes a valid buffer; abort never returns.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::abort()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_above_the_starting_threshold_take_the_arena_only_when_they_fill_it() {
        // Up to where the threshold starts, every size takes a buddy block (as glibc's heap).
        assert!(fits_buddy_block(MAP_THRESHOLD_START));
        assert!(fits_buddy_block(64 * 1024 + 8));
        // Above, a power of two plus a header would waste half its block: mapped.
        assert!(!fits_buddy_block((2 << 20) + 8));
        assert!(!fits_buddy_block((256 << 10) + 8));
        // A block it nearly fills, or fills, stays in the arena.
        assert!(fits_buddy_block(2 << 20));
        assert!(fits_buddy_block((4 << 20) - (512 << 10)));
        assert!(!fits_buddy_block(3 << 20));
    }
}
