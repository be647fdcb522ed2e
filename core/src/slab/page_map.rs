//! The per-frame side table (like Linux's `struct page` → slab): for every frame of the managed
//! span, which slab (real cache, node, head frame) or large kmalloc block owns it, and beside it
//! (same 16-byte slot, so one cache line) a pointer to that slab's per-object state bytes. This is
//! what makes every free checkable in O(1) from the address alone, with no read of object memory.
//!
//! Concurrency: entries and state pointers are atomics. A slab is published (per frame: state
//! pointer, then entry with `Release`) by the core that creates it, under that cache's node lock, before any
//! of its objects is handed out; readers load entries with `Acquire`. Entries of a slab are
//! cleared, and its state bytes dropped, only while all core locks are held (see `slab` module
//! docs), and every reader holds a core lock: a [`StateRef`] never outlives its slab.
use alloc::boxed::Box;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};

use super::error::InitError;
use crate::buddy::{PAGE_SHIFT, PAGE_SIZE};
use crate::platform::MemRange;
use crate::topology::NodeId;

/// Per-object state bytes: `[ever:1][_:1][kind:2][quarantine:1][core:3]`, each beside a mark byte. `kind`
/// says where the object is; for `CACHED` and `ALLOCATED`, `core` says which core holds it. `ever`
/// is set once the object has been handed out (it tells a double free from a free of a
/// never-allocated object). The mark byte holds `REMOTE` when an `ALLOCATED` object was freed on
/// another core and is on its way back to the allocating core, and 0 otherwise; it means nothing
/// for an object in any other state. [`StateRef::observe`] merges the two into one value, so
/// `is_live` and the rest of this module read it as the `remote` bit of the state.
///
/// Ownership rule: only the holder writes a state byte, with a plain store: the core named in a
/// `CACHED` state (under its core lock), a node-lock holder for `SLAB` and `SHARED`, the
/// allocating core for `ALLOCATED`. Every allocation clears the mark before it stores
/// `ALLOCATED`. A free on another core than the allocating one `c` writes only the mark, with a
/// plain store of `REMOTE` after reading the object live (`ALLOCATED(c)`, mark clear), and sends
/// the object to core `c` (through its outbox, then `c`'s inbox, one lock per batch), which alone
/// moves it on, and only if it still reads `ALLOCATED(c)` with the mark set. So a free, local or
/// remote, is exact against every free ordered before it (each reads the mark), and no free
/// performs an atomic read-modify-write. Two frees of one object that overlap exactly on two cores
/// may both be accepted (each read it live before the other's store); then the object ends up
/// either in `c`'s array (the entry in transit finds it no longer `ALLOCATED(c)`, or cleared by
/// the next allocation, and is dropped) or on its way to `c` (handed out again by `c` at most
/// once). So no array entry goes stale, an entry in transit moves an object at most once, and an
/// object is handed out, flushed or counted only by its one holder.
pub mod state {
    // The holding core must fit the 3-bit field.
    const _: () = assert!(crate::topology::MAX_CORES <= 8);

    pub const EVER: u8 = 0x80;
    /// The mark of an object on its way back to its allocating core (held in the mark byte,
    /// merged into the state by `StateRef::observe`).
    pub const REMOTE: u8 = 0x40;
    pub const KIND: u8 = 0x30;
    pub const CORE: u8 = 0x07;
    /// On its slab's free stack.
    pub const SLAB: u8 = 0x00;
    /// In a core's array or alien array.
    pub const CACHED: u8 = 0x10;
    /// In its node's shared array.
    pub const SHARED: u8 = 0x20;
    /// Handed out.
    pub const ALLOCATED: u8 = 0x30;
    /// State of every object of a new slab.
    pub const FRESH: u8 = SLAB;
    /// Set (with kind `ALLOCATED`, core 0) on an object an allocation found damaged: it is held
    /// by no one, never handed out, and counted as in use until a reclaim (drain) repairs it
    /// and returns it to its slab, or its slab is released with its cache.
    pub const QUARANTINE: u8 = 0x08;

    /// The state of a quarantined object (`ever` kept from its state before).
    #[inline(always)]
    pub const fn quarantined(ever: u8) -> u8 {
        ever | ALLOCATED | QUARANTINE
    }

    #[inline(always)]
    pub const fn is_quarantined(s: u8) -> bool {
        s & (KIND | QUARANTINE) == ALLOCATED | QUARANTINE
    }

    /// A value no object's observed state takes (an allocated object has `EVER`, a quarantined
    /// one core 0): compared with it, every state differs.
    pub const NEVER: u8 = ALLOCATED | QUARANTINE | CORE;

    #[inline(always)]
    pub const fn allocated(core: u8) -> u8 {
        EVER | ALLOCATED | core
    }

    #[inline(always)]
    pub const fn cached(core: u8, ever: u8) -> u8 {
        ever | CACHED | core
    }

    /// Whether `s` is an object cached by `core`.
    #[inline(always)]
    pub const fn is_cached_by(s: u8, core: u8) -> bool {
        s & (KIND | CORE) == CACHED | core
    }

    #[inline(always)]
    pub const fn kind(s: u8) -> u8 {
        s & KIND
    }

    /// Whether `s` is an object handed out and not freed (on no way back either, and not
    /// quarantined).
    #[inline(always)]
    pub const fn is_live(s: u8) -> bool {
        s & (REMOTE | QUARANTINE | KIND) == ALLOCATED
    }

    #[inline(always)]
    pub const fn ever(s: u8) -> u8 {
        s & EVER
    }
}

const KIND_SHIFT: u32 = 60;
const KIND_SLAB: u64 = 1;
const KIND_LARGE: u64 = 2;
const NODE_SHIFT: u32 = 56;
const CACHE_SHIFT: u32 = 32;
/// Real cache indexes must fit the entry's 24-bit field.
pub const MAX_REAL_CACHES: usize = 1 << 24;

/// No frame's [`PageMap::lookup_keyed`] key lies in `NO_SLAB_KEY..NO_SLAB_KEY + MAX_REAL_CACHES`
/// (its kind field is one no entry has): a base for a key range that matches nothing.
pub const NO_SLAB_KEY: u32 = 0xf000_0000;

/// The key [`PageMap::lookup_keyed`] gives for every frame of a slab of the real cache `cache`
/// on `node` (the upper half of its entry word). Keys of consecutive caches on one node are
/// consecutive numbers, so one subtraction and one comparison tell whether a frame belongs to a
/// slab of one of a run of consecutive caches, on that node.
#[inline(always)]
pub const fn slab_key(cache: u32, node: NodeId) -> u32 {
    ((KIND_SLAB << (KIND_SHIFT - 32)) as u32) | (node.0 as u32) << (NODE_SHIFT - 32) | cache
}

/// What owns a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    None,
    Slab { cache: u32, node: NodeId, head: u32 },
    Large { node: NodeId, head: u32 },
}

impl Entry {
    fn encode(self) -> u64 {
        match self {
            Entry::None => 0,
            Entry::Slab { cache, node, head } => {
                KIND_SLAB << KIND_SHIFT
                    | (node.0 as u64) << NODE_SHIFT
                    | (cache as u64) << CACHE_SHIFT
                    | head as u64
            }
            Entry::Large { node, head } => {
                KIND_LARGE << KIND_SHIFT | (node.0 as u64) << NODE_SHIFT | head as u64
            }
        }
    }

    #[inline(always)]
    fn decode(e: u64) -> Entry {
        let node = NodeId(((e >> NODE_SHIFT) & 0xf) as u8);
        let head = e as u32;
        match e >> KIND_SHIFT {
            KIND_SLAB => Entry::Slab {
                cache: ((e >> CACHE_SHIFT) & 0xff_ffff) as u32,
                node,
                head,
            },
            KIND_LARGE => Entry::Large { node, head },
            _ => Entry::None,
        }
    }
}

const LINE: usize = 64;
/// Objects per line: a state byte and a mark byte each.
const PER_LINE: usize = LINE / 2;

#[derive(Debug)]
#[repr(align(64))]
struct StateLine([AtomicU8; LINE]);

/// A slab's per-object state and mark bytes (object `i`'s state at byte `2 * i`, its mark at
/// `2 * i + 1`), in whole cache lines of their own, so that cores working on different slabs
/// never write the same line, and a free reads an object's state and mark from one line.
#[derive(Debug)]
pub struct StateTable {
    lines: Box<[StateLine]>,
    len: usize,
}

impl StateTable {
    /// `len` objects, all `FRESH`, no mark set.
    #[cfg(test)]
    pub fn new(len: usize) -> StateTable {
        Self::try_new(len).expect("heap exhausted")
    }

    /// `new`, or the heap's refusal.
    pub fn try_new(len: usize) -> Result<StateTable, crate::meta::MetaError> {
        let mut lines = crate::meta::try_vec(len.div_ceil(PER_LINE))?;
        lines.extend(
            (0..len.div_ceil(PER_LINE))
                .map(|_| StateLine([const { AtomicU8::new(state::FRESH) }; LINE])),
        );
        Ok(StateTable {
            lines: lines.into_boxed_slice(),
            len,
        })
    }

    /// Heap bytes of a table of `len` objects.
    pub fn bytes(len: usize) -> usize {
        len.div_ceil(PER_LINE) * core::mem::size_of::<StateLine>()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Object `i`'s state byte.
    pub fn get(&self, i: usize) -> &AtomicU8 {
        &self.lines[i / PER_LINE].0[2 * (i % PER_LINE)]
    }

    /// Object `i`'s mark byte.
    pub fn mark(&self, i: usize) -> &AtomicU8 {
        &self.lines[i / PER_LINE].0[2 * (i % PER_LINE) + 1]
    }

    /// Object `i`'s state with its mark merged in (see [`StateRef::observe`]).
    pub fn observe(&self, i: usize) -> u8 {
        self.get(i).load(Ordering::Acquire) | self.mark(i).load(Ordering::Relaxed)
    }

    /// The state bytes, in object order.
    pub fn iter(&self) -> impl Iterator<Item = &AtomicU8> {
        self.lines
            .iter()
            .flat_map(|l| l.0.iter().step_by(2))
            .take(self.len)
    }

    /// Every object's state with its mark merged in, in object order.
    pub fn observed(&self) -> impl Iterator<Item = u8> + '_ {
        (0..self.len).map(|i| self.observe(i))
    }

    /// The first state byte; object `i`'s is at `as_ptr() + 2 * i` (the lines are contiguous).
    pub fn as_ptr(&self) -> *const AtomicU8 {
        self.lines.as_ptr().cast()
    }
}

/// A pointer to one object's state byte, valid while its slab is published (module invariant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateRef(NonNull<AtomicU8>);

// SAFETY: a StateRef is a pointer into a heap allocation of atomics that outlives every holder
// (module invariant); atomics may be used from any thread.
unsafe impl Send for StateRef {}
// SAFETY: as above.
unsafe impl Sync for StateRef {}

impl StateRef {
    #[inline(always)]
    pub fn get(&self) -> &AtomicU8 {
        // SAFETY: the slab's state bytes stay allocated while any StateRef into them is held by a
        // core-lock or node-lock holder, which every holder is (module invariant).
        unsafe { self.0.as_ref() }
    }

    /// The state byte of object `idx` of the slab whose state bytes start at `base`.
    ///
    /// # Safety
    /// `base` is the state bytes pointer of a published slab (read from a page map slot holding a
    /// slab entry, so non-null) and `idx` is below that slab's objects; the result (and every
    /// copy) is used only while the slab stays published (the module invariant: by a core-lock
    /// or node-lock holder).
    #[inline(always)]
    pub unsafe fn from_base(base: *mut AtomicU8, idx: usize) -> StateRef {
        debug_assert!(!base.is_null());
        // SAFETY: `base` is non-null and object `idx`'s state byte (at `2 * idx`, see
        // `StateTable`) is in bounds of its allocation (the contract above), so the sum is too.
        StateRef(unsafe { NonNull::new_unchecked(base.add(2 * idx)) })
    }

    /// The state byte `idx` places after this one.
    ///
    /// # Safety
    /// This is object 0's state byte of a slab and `idx` is below that slab's objects (so the
    /// result lies in the same slab's state bytes).
    #[inline(always)]
    pub unsafe fn nth(self, idx: usize) -> StateRef {
        // SAFETY: in bounds of the slab's state bytes (the contract above), hence non-null.
        StateRef(unsafe { NonNull::new_unchecked(self.0.as_ptr().add(2 * idx)) })
    }

    /// The object's mark byte (see `state`), the byte after its state byte.
    #[inline(always)]
    pub fn mark(&self) -> &AtomicU8 {
        // SAFETY: every state byte is at an even offset of its table and followed by its
        // object's mark byte in the same allocation (`StateTable`), which stays allocated as
        // long as the state byte (see `get`); `wrapping_add` of 1 to a heap pointer is non-null.
        unsafe { &*self.0.as_ptr().wrapping_add(1) }
    }

    /// The object's state with its mark merged in: `remote` set when the mark is (see `state`).
    /// The state is read with `order`, then the mark.
    #[inline(always)]
    pub fn observe(&self, order: Ordering) -> u8 {
        self.get().load(order) | self.mark().load(Ordering::Relaxed)
    }

    /// The state byte's address (for comparisons).
    pub fn as_ptr(&self) -> *const AtomicU8 {
        self.0.as_ptr()
    }

    /// Index of this object in the state bytes starting at `base`.
    pub fn index_in(&self, base: *const AtomicU8) -> usize {
        (self.0.as_ptr() as usize - base as usize) / 2
    }
}

/// One frame's word of the side table and its slab's state bytes, side by side so that a free
/// reads both from one cache line.
#[derive(Debug)]
#[repr(C, align(16))]
struct Slot {
    entry: AtomicU64,
    /// The state bytes of the slab owning this frame (null when none).
    states: AtomicPtr<AtomicU8>,
}

/// `lookup_keyed`'s answer outside the map (out of line: the fast path's frames are inside).
#[cold]
#[inline(never)]
fn no_entry() -> (u32, usize, *mut AtomicU8) {
    (0, 0, ptr::null_mut())
}

/// The side table over `[lo, lo + frames * PAGE_SIZE)`.
#[derive(Debug)]
pub struct PageMap {
    lo: usize,
    slots: Box<[Slot]>,
    /// At each slab's head frame: its record index in its `NodeCache`.
    recs: Box<[AtomicU32]>,
}

impl PageMap {
    /// Covers the span of `ranges`; refuses a span more than 4x (plus 1 GiB) larger than the memory.
    pub fn new(ranges: &[MemRange]) -> Result<PageMap, InitError> {
        let lo = ranges.iter().map(|r| r.base).min().unwrap_or(0);
        let hi = ranges.iter().map(|r| r.base + r.len).max().unwrap_or(0);
        let span_frames = (hi - lo) / PAGE_SIZE;
        let frames: usize = ranges.iter().map(|r| r.len / PAGE_SIZE).sum();
        if span_frames > 4 * frames + (1 << 18) || span_frames > u32::MAX as usize {
            return Err(InitError::SparseMemory {
                span_frames,
                frames,
            });
        }
        // Zeroed allocations, not written element by element: where the heap hands out fresh
        // zero pages (a host process's mmap), a frame's entries cost memory only once used.
        let slots = Box::<[Slot]>::new_zeroed_slice(span_frames);
        let recs = Box::<[AtomicU32]>::new_zeroed_slice(span_frames);
        // SAFETY: all-zero bytes are a valid `Slot` (entry 0, the empty entry, and a null states
        // pointer) and a valid `AtomicU32` (0).
        let (slots, recs) = unsafe { (slots.assume_init(), recs.assume_init()) };
        Ok(PageMap { lo, slots, recs })
    }

    /// The frame number of `addr` in this map.
    #[inline(always)]
    pub fn frame_of(&self, addr: usize) -> Option<u32> {
        let f = addr.wrapping_sub(self.lo) >> PAGE_SHIFT;
        (f < self.slots.len()).then_some(f as u32)
    }

    #[inline(always)]
    pub fn frame_addr(&self, frame: u32) -> usize {
        self.lo + ((frame as usize) << PAGE_SHIFT)
    }

    #[inline(always)]
    pub fn lookup(&self, addr: usize) -> Entry {
        match self.slots.get(addr.wrapping_sub(self.lo) >> PAGE_SHIFT) {
            Some(s) => Entry::decode(s.entry.load(Ordering::Acquire)),
            None => Entry::None,
        }
    }

    /// `lookup`, plus the state bytes of the slab owning `addr`'s frame (object 0's state; null
    /// unless the entry is a slab), read from the same slot.
    #[inline(always)]
    pub fn lookup_states(&self, addr: usize) -> (Entry, *mut AtomicU8) {
        match self.slots.get(addr.wrapping_sub(self.lo) >> PAGE_SHIFT) {
            Some(s) => (
                Entry::decode(s.entry.load(Ordering::Acquire)),
                s.states.load(Ordering::Relaxed),
            ),
            None => (Entry::None, ptr::null_mut()),
        }
    }

    /// What a free needs of `addr`'s frame, from one slot: the key of its entry (for a slab
    /// frame, [`slab_key`] of its cache and node; for anything else a value no slab has, 0 when
    /// no entry), `addr`'s offset from the start of the slab or block the entry names (its head
    /// frame; meaningless when no entry), and the state bytes pointer (null unless a slab).
    #[inline(always)]
    pub fn lookup_keyed(&self, addr: usize) -> (u32, usize, *mut AtomicU8) {
        let rel = addr.wrapping_sub(self.lo);
        match self.slots.get(rel >> PAGE_SHIFT) {
            Some(s) => {
                let e = s.entry.load(Ordering::Acquire);
                let head = e as u32 as usize;
                (
                    (e >> 32) as u32,
                    rel.wrapping_sub(head << PAGE_SHIFT),
                    s.states.load(Ordering::Relaxed),
                )
            }
            None => no_entry(),
        }
    }

    pub fn entry_at(&self, frame: u32) -> Entry {
        self.slots.get(frame as usize).map_or(Entry::None, |s| {
            Entry::decode(s.entry.load(Ordering::Acquire))
        })
    }

    /// The state byte of object `idx` of the slab whose head frame is `head`.
    ///
    /// # Safety
    /// A slab is published at `head` (the caller read an `Entry::Slab` with this head, or holds
    /// the slab's node lock), `idx` is below its objects, and the result is used only while the
    /// slab stays published (see [`StateRef::from_base`]).
    #[cfg(test)]
    pub unsafe fn state(&self, head: u32, idx: usize) -> StateRef {
        let base = self.slots[head as usize].states.load(Ordering::Relaxed);
        // SAFETY: the caller's contract above.
        unsafe { StateRef::from_base(base, idx) }
    }

    /// The state bytes base of the slab at `head` (null when none).
    pub fn states_base(&self, head: u32) -> *const AtomicU8 {
        self.slots[head as usize].states.load(Ordering::Relaxed)
    }

    /// The record index of the slab at `head` (meaningful under its node lock).
    pub fn rec_of(&self, head: u32) -> u32 {
        self.recs[head as usize].load(Ordering::Relaxed)
    }

    /// Publishes a slab of `frames` frames at `head`. `states` must stay allocated until `clear`.
    pub fn publish_slab(
        &self,
        head: u32,
        frames: usize,
        cache: u32,
        node: NodeId,
        states: &StateTable,
        rec: u32,
    ) {
        self.recs[head as usize].store(rec, Ordering::Relaxed);
        let e = Entry::Slab { cache, node, head }.encode();
        let base = states.as_ptr() as *mut AtomicU8;
        for s in &self.slots[head as usize..head as usize + frames] {
            s.states.store(base, Ordering::Relaxed);
            s.entry.store(e, Ordering::Release);
        }
    }

    pub fn publish_large(&self, head: u32, frames: usize, node: NodeId) {
        let e = Entry::Large { node, head }.encode();
        for s in &self.slots[head as usize..head as usize + frames] {
            s.entry.store(e, Ordering::Release);
        }
    }

    /// Forgets the slab or large block of `frames` frames at `head`.
    pub fn clear(&self, head: u32, frames: usize) {
        for s in &self.slots[head as usize..head as usize + frames] {
            s.entry.store(0, Ordering::Release);
            s.states.store(ptr::null_mut(), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        for e in [
            Entry::None,
            Entry::Slab {
                cache: 0xab_cdef,
                node: NodeId(3),
                head: u32::MAX,
            },
            Entry::Large {
                node: NodeId(1),
                head: 7,
            },
        ] {
            assert_eq!(Entry::decode(e.encode()), e);
        }
    }

    #[test]
    fn slab_keys_are_the_upper_half_of_slab_entries_only() {
        let key = |e: Entry| (e.encode() >> 32) as u32;
        for (cache, node) in [(0, 0), (1, 0), (0xff_fffe, 3), (77, 15)] {
            let e = Entry::Slab {
                cache,
                node: NodeId(node),
                head: 9,
            };
            assert_eq!(key(e), slab_key(cache, NodeId(node)));
            assert_eq!(
                slab_key(cache + 1, NodeId(node)),
                slab_key(cache, NodeId(node)) + 1
            );
        }
        for other in [
            Entry::None,
            Entry::Large {
                node: NodeId(2),
                head: 9,
            },
        ] {
            let k = key(other);
            assert!(
                k.wrapping_sub(slab_key(0, NodeId(0))) >= (16 << 24),
                "{other:?}"
            );
            assert!(k.wrapping_sub(NO_SLAB_KEY) >= MAX_REAL_CACHES as u32);
        }
        let k = slab_key(MAX_REAL_CACHES as u32 - 1, NodeId(15));
        assert!(k.wrapping_sub(NO_SLAB_KEY) >= MAX_REAL_CACHES as u32);
    }

    #[test]
    fn lookup_outside_the_span_is_none() {
        let m = PageMap::new(&[MemRange {
            node: NodeId(0),
            base: 0x10_0000,
            len: 4 * PAGE_SIZE,
        }])
        .unwrap();
        let states = StateTable::new(4);
        m.publish_slab(1, 2, 5, NodeId(0), &states, 0);
        assert_eq!(m.lookup(0x10_0000), Entry::None);
        assert_eq!(
            m.lookup(0x10_0000 + 2 * PAGE_SIZE + 17),
            Entry::Slab {
                cache: 5,
                node: NodeId(0),
                head: 1
            }
        );
        assert_eq!(m.lookup(0x10_0000 - 1), Entry::None);
        assert_eq!(m.lookup(0x10_0000 + 4 * PAGE_SIZE), Entry::None);
        assert_eq!(m.lookup(0), Entry::None);
        // SAFETY: the slab at frame 1 is published with 4 objects; `states` outlives the use.
        unsafe { m.state(1, 3) }
            .get()
            .store(state::allocated(2), Ordering::Relaxed);
        assert_eq!(states.get(3).load(Ordering::Relaxed), state::allocated(2));
        assert_eq!(states.as_ptr() as usize % 64, 0);
        assert_eq!(StateTable::new(130).iter().count(), 130);
        let t = StateTable::new(70);
        for i in [0, 31, 32, 69] {
            t.mark(i).store(state::REMOTE, Ordering::Relaxed);
            t.get(i).store(state::allocated(1), Ordering::Relaxed);
            let base = t.as_ptr() as *mut AtomicU8;
            // SAFETY: `base` is the table's state bytes and `i` is below its 70 objects.
            let r = unsafe { StateRef::from_base(base, i) };
            assert_eq!(
                r.observe(Ordering::Relaxed),
                state::allocated(1) | state::REMOTE
            );
            assert!(!state::is_live(t.observe(i)));
            assert_eq!(r.index_in(base), i);
            // SAFETY: as above, for object 0 and then object `i`.
            assert_eq!(unsafe { StateRef::from_base(base, 0).nth(i) }, r);
        }
        assert_eq!(t.observed().filter(|&s| s != 0).count(), 4);
        let (key, off, base) = m.lookup_keyed(0x10_0000 + 2 * PAGE_SIZE + 17);
        assert_eq!((key, off), (slab_key(5, NodeId(0)), PAGE_SIZE + 17));
        assert_eq!(base as *const AtomicU8, states.as_ptr());
        assert_eq!(m.lookup_keyed(0x10_0000).0, 0);
        assert_eq!(m.lookup_keyed(0x10_0000 - 1).0, 0);
        m.clear(1, 2);
        assert_eq!(m.lookup(0x10_0000 + PAGE_SIZE), Entry::None);
    }
}
