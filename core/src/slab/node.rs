//! One cache's state on one memory node (SLAB's `kmem_cache_node`): the slab records on the
//! partial, full and free lists, and the node's shared array. Behind the cache's per-node
//! `spin::Mutex`; every method here runs under it.
//!
//! A slab record owns the slab's out-of-line metadata: its free index stack (the top is the next
//! object handed out), its per-object state bytes (published in the page map) and, in a debug
//! slab, one slot per object with its owner records (`STORE_USER`) and its requested size
//! (red-zoned kmalloc classes), in one allocation. Invariants (checked by `validate`): a record is on exactly
//! one list, the one its free count says (all free: Free, none: Full, else Partial); free indexes
//! are distinct and in range; `free_in_slabs` is the sum of the free stacks.
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::array::Obj;
use super::debug::TrackPair;
use super::error::Invariant;
use super::layout::Layout;
use super::page_map::{state, Entry, PageMap, StateRef, StateTable};
use super::random::FreelistRng;
use crate::meta::{try_vec, MetaAccount, MetaError};
use crate::topology::NodeId;
use alloc::sync::Arc;

const NIL: u32 = u32::MAX;

/// Record slots after the tables holding `cap` grow (by half, at least to 4): amortised O(1)
/// growth with less room left unused than doubling leaves.
fn slot_capacity(cap: usize) -> usize {
    (cap + cap / 2).max(4)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    Partial = 0,
    Full = 1,
    Free = 2,
}

#[derive(Debug)]
pub struct SlabRec {
    /// First byte of the slab.
    pub base: usize,
    /// Head frame in the page map.
    pub head: u32,
    pub free: Vec<u16>,
    pub states: StateTable,
    /// Per object, when the slab keeps tracks or requested sizes ([`Keeps`]); empty otherwise.
    debug: Box<[DebugSlot]>,
    keeps: Keeps,
    list: List,
    prev: u32,
    next: u32,
}

/// One object's debug record in a debug slab.
#[derive(Clone, Copy, Debug, Default)]
struct DebugSlot {
    track: TrackPair,
    requested: u32,
}

/// Bytes of one object's debug slot (for the metadata charge).
pub(crate) const DEBUG_SLOT_BYTES: usize = core::mem::size_of::<DebugSlot>();

/// Which fields of its debug slots a slab keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Keeps {
    /// `STORE_USER`: the last alloc and free of each object.
    tracks: bool,
    /// A red-zoned kmalloc class: the size each object's last kmalloc asked for.
    requested: bool,
}

impl SlabRec {
    /// A new slab at `base` with all `objects` free, handed out in index order (or shuffled);
    /// its vectors are allocated fallibly ([`crate::meta::slab_bytes`] is their size).
    pub fn try_new(
        base: usize,
        head: u32,
        objects: usize,
        store_user: bool,
        requested: Option<u32>,
        rng: Option<&mut FreelistRng>,
    ) -> Result<SlabRec, MetaError> {
        let mut free: Vec<u16> = try_vec(objects)?;
        free.extend((0..objects as u16).rev());
        if let Some(r) = rng {
            r.shuffle(&mut free);
        }
        let states = StateTable::try_new(objects)?;
        let keeps = Keeps {
            tracks: store_user,
            requested: requested.is_some(),
        };
        let mut debug = Vec::new();
        if keeps != Keeps::default() {
            debug = try_vec(objects)?;
            let slot = DebugSlot {
                track: TrackPair::default(),
                requested: requested.unwrap_or(0),
            };
            debug.resize(objects, slot);
        }
        Ok(SlabRec {
            base,
            head,
            free,
            states,
            // Exactly as long as its capacity: no reallocation.
            debug: debug.into_boxed_slice(),
            keeps,
            list: List::Free,
            prev: NIL,
            next: NIL,
        })
    }

    pub fn objects(&self) -> usize {
        self.states.len()
    }

    /// Object `i`'s last alloc and free, if the slab keeps them (`STORE_USER`).
    pub fn track(&self, i: usize) -> Option<TrackPair> {
        self.keeps
            .tracks
            .then(|| self.debug.get(i))?
            .map(|d| d.track)
    }

    pub fn track_mut(&mut self, i: usize) -> Option<&mut TrackPair> {
        self.keeps
            .tracks
            .then(|| self.debug.get_mut(i))?
            .map(|d| &mut d.track)
    }

    /// The size object `i`'s last kmalloc asked for, if the slab keeps it (a red-zoned kmalloc
    /// class).
    pub fn requested(&self, i: usize) -> Option<u32> {
        self.keeps
            .requested
            .then(|| self.debug.get(i))?
            .map(|d| d.requested)
    }

    pub fn requested_mut(&mut self, i: usize) -> Option<&mut u32> {
        self.keeps
            .requested
            .then(|| self.debug.get_mut(i))?
            .map(|d| &mut d.requested)
    }

    fn wanted_list(&self) -> List {
        if self.free.is_empty() {
            List::Full
        } else if self.free.len() == self.objects() {
            List::Free
        } else {
            List::Partial
        }
    }
}

/// Who holds an array's objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A core's array or alien array.
    Core(u8),
    /// A node's shared array.
    Shared,
}

impl Holder {
    /// Whether an object in state `s` is validly held by this holder.
    pub fn holds(self, s: u8) -> bool {
        match self {
            Holder::Core(c) => state::is_cached_by(s, c),
            Holder::Shared => state::kind(s) == state::SHARED,
        }
    }
}

/// A give-back in progress: whose objects, whether the shared array takes them, the slab whose
/// list is not settled yet (`NIL`: none) and the stale objects dropped.
struct GiveBack {
    holder: Holder,
    use_shared: bool,
    slab: u32,
    stale: usize,
}

impl GiveBack {
    fn new(holder: Holder, use_shared: bool) -> Self {
        GiveBack {
            holder,
            use_shared,
            slab: NIL,
            stale: 0,
        }
    }
}

#[derive(Debug)]
pub struct NodeCache {
    recs: Vec<Option<SlabRec>>,
    vacant: Vec<u32>,
    heads: [u32; 3],
    lens: [usize; 3],
    pub shared: Vec<Obj>,
    pub shared_limit: usize,
    free_in_slabs: usize,
    pub rng: Option<FreelistRng>,
    /// Charged for the growth of the shared array and the record tables.
    account: Option<Arc<MetaAccount>>,
}

impl NodeCache {
    /// An empty node. Its record tables and shared array grow as needed, charged to
    /// `account` (the cache's owner's) and allocated fallibly.
    pub fn try_new(
        shared_limit: usize,
        rng: Option<FreelistRng>,
        account: Option<Arc<MetaAccount>>,
    ) -> Result<NodeCache, MetaError> {
        Ok(NodeCache {
            recs: Vec::new(),
            vacant: Vec::new(),
            heads: [NIL; 3],
            lens: [0; 3],
            shared: Vec::new(),
            shared_limit,
            free_in_slabs: 0,
            rng,
            account,
        })
    }

    /// Bytes the record tables must grow by before one more slab can be added (0: room left).
    pub fn slot_growth(&self) -> usize {
        if !self.vacant.is_empty() || self.recs.len() < self.recs.capacity() {
            return 0;
        }
        let cap = self.recs.capacity();
        crate::meta::slot_table_bytes(slot_capacity(cap)) - crate::meta::slot_table_bytes(cap)
    }

    /// Grows the record tables by what [`slot_growth`](Self::slot_growth) says (fallibly): the
    /// vacant list keeps room for every record slot, so releasing a slab never allocates.
    pub fn grow_slots(&mut self) -> Result<(), MetaError> {
        let cap = slot_capacity(self.recs.capacity());
        let bytes = crate::meta::slot_table_bytes(cap);
        self.recs
            .try_reserve_exact(cap - self.recs.len())
            .map_err(|e| crate::meta::heap_error(e, bytes))?;
        self.vacant
            .try_reserve_exact(cap - self.vacant.len())
            .map_err(|e| crate::meta::heap_error(e, bytes))?;
        Ok(())
    }

    /// Heap bytes of the record tables and the shared array now (charged as they grew).
    pub fn table_bytes(&self) -> usize {
        crate::meta::slot_table_bytes(self.recs.capacity().max(self.vacant.capacity()))
            + self.shared.capacity() * core::mem::size_of::<Obj>()
    }

    pub fn slabs_on(&self, list: List) -> usize {
        self.lens[list as usize]
    }

    pub fn slabs(&self) -> usize {
        self.lens.iter().sum()
    }

    pub fn free_in_slabs(&self) -> usize {
        self.free_in_slabs
    }

    /// Adds a new (all free) slab; returns its record index.
    pub fn add_slab(&mut self, rec: SlabRec) -> u32 {
        debug_assert_eq!(rec.free.len(), rec.objects());
        self.free_in_slabs += rec.free.len();
        let i = match self.vacant.pop() {
            Some(i) => {
                self.recs[i as usize] = Some(rec);
                i
            }
            None => {
                self.recs.push(Some(rec));
                (self.recs.len() - 1) as u32
            }
        };
        self.link(i, List::Free);
        i
    }

    pub fn rec(&self, i: u32) -> Option<&SlabRec> {
        self.recs.get(i as usize)?.as_ref()
    }

    pub fn rec_mut(&mut self, i: u32) -> Option<&mut SlabRec> {
        self.recs.get_mut(i as usize)?.as_mut()
    }

    pub fn recs(&self) -> impl Iterator<Item = (u32, &SlabRec)> {
        self.recs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (i as u32, r)))
    }

    /// Moves free objects into `out` for core `core`'s array until it holds `want`: shared array
    /// first, then partial slabs, then free slabs. A slab is taken whole rather than leaving a
    /// tail of at most a quarter of it (whose state bytes would share lines with ours on another
    /// core), as long as `out` stays within `max`. Returns how many it moved.
    pub fn take(
        &mut self,
        want: usize,
        max: usize,
        l: &Layout,
        map: &PageMap,
        out: &mut Vec<Obj>,
        core: u8,
    ) -> usize {
        let start = out.len();
        while out.len() < want {
            let Some(o) = self.shared.pop() else { break };
            let s = o.state.get().load(Ordering::Relaxed);
            debug_assert_eq!(state::kind(s), state::SHARED);
            if state::kind(s) == state::SHARED {
                o.state
                    .get()
                    .store(state::cached(core, state::ever(s)), Ordering::Relaxed);
                out.push(o);
            }
        }
        for list in [List::Partial, List::Free] {
            while out.len() < want {
                let i = self.heads[list as usize];
                if i == NIL {
                    break;
                }
                let rec = self.recs[i as usize]
                    .as_mut()
                    .expect("listed record exists");
                let mut n = (want - out.len()).min(rec.free.len());
                let rest = rec.free.len() - n;
                if rest > 0 && rest <= rec.objects() / 4 && out.len() + rec.free.len() <= max {
                    n = rec.free.len();
                }
                let states = map.states_base(rec.head).cast_mut();
                for _ in 0..n {
                    let idx = rec.free.pop().expect("counted") as usize;
                    debug_assert!(idx < rec.objects());
                    // SAFETY: the record's slab is published at its head while it is listed (so
                    // `states` is its state bytes), `idx` came from its free stack (so it is
                    // below its objects), and the object's holders keep the state only while
                    // the slab lives (the `PageMap` invariant).
                    let state = unsafe { StateRef::from_base(states, idx) };
                    let s = state.get().load(Ordering::Relaxed);
                    state
                        .get()
                        .store(state::cached(core, state::ever(s)), Ordering::Relaxed);
                    out.push(Obj {
                        addr: rec.base + l.obj_offset as usize + idx * l.stride as usize,
                        state,
                    });
                }
                self.free_in_slabs -= n;
                self.relist(i);
            }
        }
        out.len() - start
    }

    /// Returns objects held by `holder`: into the shared array while it has room (when
    /// `use_shared`), the rest to their slabs. Stale entries (whose state names another holder,
    /// see `page_map::state`) are dropped. Returns how many were stale.
    pub fn give_back(
        &mut self,
        objs: impl Iterator<Item = Obj>,
        map: &PageMap,
        use_shared: bool,
        holder: Holder,
    ) -> usize {
        let mut back = GiveBack::new(holder, use_shared);
        for o in objs {
            match map.lookup(o.addr) {
                Entry::Slab { head, .. } => self.give_back_one(&mut back, o, map, head),
                _ => debug_assert!(false, "object {:#x} has no slab", o.addr),
            }
        }
        self.finish(back)
    }

    /// [`give_back`](Self::give_back) of the objects of `objs` whose slab is on this node,
    /// `node`, in one pass that reads each object's page-map entry once; the others stay in
    /// `objs`, in their order. Returns how many were stale.
    pub fn give_back_of_node(
        &mut self,
        node: NodeId,
        objs: &mut Vec<Obj>,
        map: &PageMap,
        use_shared: bool,
        holder: Holder,
    ) -> usize {
        let mut back = GiveBack::new(holder, use_shared);
        let mut kept = 0;
        for i in 0..objs.len() {
            let o = objs[i];
            match map.lookup(o.addr) {
                Entry::Slab { node: n, head, .. } if n == node => {
                    self.give_back_one(&mut back, o, map, head)
                }
                Entry::Slab { .. } => {
                    objs[kept] = o;
                    kept += 1;
                }
                _ => debug_assert!(false, "cached object {:#x} has no slab", o.addr),
            }
        }
        objs.truncate(kept);
        self.finish(back)
    }

    /// One object of a give-back, of the slab whose head frame is `head`.
    #[inline(always)]
    fn give_back_one(&mut self, back: &mut GiveBack, o: Obj, map: &PageMap, head: u32) {
        let s = o.state.get().load(Ordering::Relaxed);
        if !back.holder.holds(s) {
            back.stale += 1;
            return;
        }
        if back.use_shared && self.shared.len() < self.shared_limit && self.shared_room() {
            o.state
                .get()
                .store(state::SHARED | state::ever(s), Ordering::Relaxed);
            self.shared.push(o);
            return;
        }
        let i = map.rec_of(head);
        let Some(rec) = self.recs.get_mut(i as usize).and_then(Option::as_mut) else {
            debug_assert!(false, "slab record {i} missing");
            return;
        };
        let idx = o.state.index_in(rec.states.as_ptr());
        debug_assert!(idx < rec.objects() && !rec.free.contains(&(idx as u16)));
        o.state
            .get()
            .store(state::SLAB | state::ever(s), Ordering::Relaxed);
        rec.free.push(idx as u16);
        self.free_in_slabs += 1;
        // Objects freed together are mostly of one slab: its list is settled when the next
        // object is of another slab, or at the end.
        if back.slab != i {
            if back.slab != NIL {
                self.relist(back.slab);
            }
            back.slab = i;
        }
    }

    /// Ends a give-back: lists the last slab it touched; returns its stale count.
    fn finish(&mut self, back: GiveBack) -> usize {
        if back.slab != NIL {
            self.relist(back.slab);
        }
        back.stale
    }

    /// Whether the shared array can take one more object without allocating, growing it
    /// (doubling, at most to its limit) if its owner's account and the heap allow: the shared
    /// array is optional, an object it cannot take goes back to its slab.
    fn shared_room(&mut self) -> bool {
        let (len, cap) = (self.shared.len(), self.shared.capacity());
        if len < cap {
            return true;
        }
        let new = (cap * 2).max(16).min(self.shared_limit);
        let bytes = ((new - cap) * core::mem::size_of::<Obj>()) as u64;
        let account = self.account.as_deref();
        if crate::meta::charge(account, bytes).is_err() {
            return false;
        }
        if self.shared.try_reserve_exact(new - len).is_err() {
            crate::meta::release(account, bytes);
            return false;
        }
        true
    }

    /// Returns every object of the shared array to its slab (the array keeps its capacity,
    /// which stays charged until the cache goes).
    pub fn drain_shared(&mut self, map: &PageMap) {
        let mut shared = core::mem::take(&mut self.shared);
        self.give_back(shared.drain(..), map, false, Holder::Shared);
        self.shared = shared;
    }

    /// Returns one object (currently in state `s`, held by the caller) to its slab's free stack.
    /// Returns every quarantined object of this node's slabs to its slab's free stack, after
    /// `repair(addr)` has restored its free-state bytes; returns how many. The caller holds
    /// every core lock (no one else reads a quarantined object's state).
    pub fn release_quarantined(&mut self, l: &Layout, mut repair: impl FnMut(usize)) -> usize {
        let mut n = 0;
        for i in 0..self.recs.len() as u32 {
            let Some(rec) = self.recs[i as usize].as_mut() else {
                continue;
            };
            let before = n;
            for idx in 0..rec.objects() {
                let s = rec.states.observe(idx);
                if !state::is_quarantined(s) {
                    continue;
                }
                repair(rec.base + l.obj_offset as usize + idx * l.stride as usize);
                rec.states
                    .get(idx)
                    .store(state::SLAB | state::ever(s), Ordering::Relaxed);
                rec.free.push(idx as u16);
                n += 1;
            }
            if n > before {
                self.free_in_slabs += n - before;
                self.relist(i);
            }
        }
        n
    }

    /// Objects of this node's slabs in state `ALLOCATED`.
    /// Objects of this node's slabs handed out and not freed (objects on their way back to their
    /// allocating core are freed).
    pub fn allocated(&self) -> usize {
        self.recs()
            .map(|(_, r)| r.states.observed().filter(|&s| state::is_live(s)).count())
            .sum()
    }

    /// Unlinks and returns free slabs beyond the first `keep`.
    pub fn release_free(&mut self, keep: usize) -> Vec<SlabRec> {
        let mut out = Vec::new();
        while self.lens[List::Free as usize] > keep {
            let i = self.heads[List::Free as usize];
            out.push(self.remove(i));
        }
        out
    }

    /// Unlinks and returns every slab, whatever its state, and forgets the shared array.
    pub fn release_all(&mut self) -> Vec<SlabRec> {
        self.shared.clear();
        let idx: Vec<u32> = self.recs().map(|(i, _)| i).collect();
        idx.into_iter().map(|i| self.remove(i)).collect()
    }

    fn remove(&mut self, i: u32) -> SlabRec {
        self.unlink(i);
        let rec = self.recs[i as usize].take().expect("listed record exists");
        self.free_in_slabs -= rec.free.len();
        self.vacant.push(i);
        rec
    }

    fn relist(&mut self, i: u32) {
        let rec = self.recs[i as usize].as_ref().expect("record exists");
        let want = rec.wanted_list();
        if rec.list != want {
            self.unlink(i);
            self.link(i, want);
        }
    }

    fn link(&mut self, i: u32, list: List) {
        let head = self.heads[list as usize];
        {
            let rec = self.recs[i as usize].as_mut().expect("record exists");
            rec.list = list;
            rec.prev = NIL;
            rec.next = head;
        }
        if head != NIL {
            self.recs[head as usize].as_mut().expect("linked").prev = i;
        }
        self.heads[list as usize] = i;
        self.lens[list as usize] += 1;
    }

    fn unlink(&mut self, i: u32) {
        let (list, prev, next) = {
            let r = self.recs[i as usize].as_ref().expect("record exists");
            (r.list, r.prev, r.next)
        };
        if prev != NIL {
            self.recs[prev as usize].as_mut().expect("linked").next = next;
        } else {
            self.heads[list as usize] = next;
        }
        if next != NIL {
            self.recs[next as usize].as_mut().expect("linked").prev = prev;
        }
        self.lens[list as usize] -= 1;
    }

    /// Checks lists, counts and free stacks. `cache` names the cache in errors.
    pub fn validate(&self, cache: u32, node: u8, objects: usize) -> Result<(), Invariant> {
        let corrupt = Invariant::ListCorrupt { cache, node };
        let mut seen = 0;
        for list in [List::Partial, List::Full, List::Free] {
            let mut i = self.heads[list as usize];
            let mut prev = NIL;
            let mut n = 0;
            while i != NIL {
                let rec = self.rec(i).ok_or(corrupt)?;
                if rec.prev != prev || n > self.recs.len() {
                    return Err(corrupt);
                }
                if rec.list != list || rec.wanted_list() != list {
                    return Err(Invariant::WrongList {
                        cache,
                        slab: rec.base,
                    });
                }
                n += 1;
                prev = i;
                i = rec.next;
            }
            if n != self.lens[list as usize] {
                return Err(corrupt);
            }
            seen += n;
        }
        if seen != self.recs().count() {
            return Err(corrupt);
        }
        let mut free = 0;
        for (_, rec) in self.recs() {
            if rec.objects() != objects {
                return Err(Invariant::SlabCount {
                    cache,
                    slab: rec.base,
                });
            }
            let mut mark = alloc::vec![false; objects];
            for &f in &rec.free {
                let f = f as usize;
                if f >= objects || mark[f] {
                    return Err(Invariant::BadFreeIndex {
                        cache,
                        slab: rec.base,
                    });
                }
                mark[f] = true;
                if state::kind(rec.states.get(f).load(Ordering::Acquire)) != state::SLAB {
                    return Err(Invariant::ObjectState {
                        cache,
                        addr: rec.base,
                    });
                }
            }
            let in_slab = rec
                .states
                .iter()
                .filter(|s| state::kind(s.load(Ordering::Acquire)) == state::SLAB)
                .count();
            if in_slab != rec.free.len() {
                return Err(Invariant::SlabCount {
                    cache,
                    slab: rec.base,
                });
            }
            free += rec.free.len();
        }
        if free != self.free_in_slabs || self.shared.len() > self.shared_limit {
            return Err(corrupt);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buddy::PAGE_SIZE;
    use crate::platform::MemRange;
    use crate::slab::params::CacheFlags;
    use crate::topology::NodeId;

    const BASE: usize = 0x4000_0000;

    /// Two one-page slabs of 64-byte objects (no object memory is touched).
    fn two_slabs() -> (NodeCache, PageMap, Layout) {
        let l = Layout::compute(64, 8, CacheFlags::empty(), 1).unwrap();
        let map = PageMap::new(&[MemRange {
            node: NodeId(0),
            base: BASE,
            len: 4 * PAGE_SIZE,
        }])
        .unwrap();
        let mut nc = NodeCache::try_new(8, None, None).unwrap();
        for head in [0u32, 1] {
            let rec = SlabRec::try_new(map.frame_addr(head), head, 64, false, None, None).unwrap();
            let i = nc.add_slab(rec);
            map.publish_slab(head, 1, 3, NodeId(0), &nc.rec(i).unwrap().states, i);
        }
        (nc, map, l)
    }

    #[test]
    fn slabs_move_between_lists_as_objects_come_and_go() {
        let (mut nc, map, l) = two_slabs();
        assert_eq!(nc.slabs_on(List::Free), 2);
        let mut out = Vec::new();
        assert_eq!(nc.take(10, 10, &l, &map, &mut out, 1), 10);
        assert_eq!(
            (nc.slabs_on(List::Partial), nc.slabs_on(List::Free)),
            (1, 1)
        );
        assert_eq!(nc.take(200, 200, &l, &map, &mut out, 1), 118);
        assert_eq!(nc.slabs_on(List::Full), 2);
        assert!(out
            .iter()
            .all(|o| state::is_cached_by(o.state.get().load(Ordering::Relaxed), 1)));
        nc.validate(3, 0, 64).unwrap();
        // Core 2 does not hold these: its give-back drops them all as stale.
        assert_eq!(
            nc.give_back(out[..5].iter().copied(), &map, true, Holder::Core(2)),
            5
        );
        assert_eq!(nc.shared.len(), 0);
        // Core 1 does: 8 go to the shared array, the rest to their slabs.
        assert_eq!(nc.give_back(out.drain(..), &map, true, Holder::Core(1)), 0);
        assert_eq!(nc.shared.len(), 8);
        assert_eq!(nc.free_in_slabs(), 120);
        nc.validate(3, 0, 64).unwrap();
        nc.drain_shared(&map);
        assert_eq!(nc.slabs_on(List::Free), 2);
        assert_eq!(nc.release_free(1).len(), 1);
        assert_eq!(nc.slabs(), 1);
        nc.validate(3, 0, 64).unwrap();
    }

    #[test]
    fn a_small_tail_of_a_slab_is_not_left_for_another_core() {
        let (mut nc, map, l) = two_slabs();
        let mut out = Vec::new();
        assert_eq!(nc.take(60, 120, &l, &map, &mut out, 1), 64);
        assert_eq!(nc.slabs_on(List::Full), 1);
        let mut out = Vec::new();
        assert_eq!(nc.take(60, 60, &l, &map, &mut out, 2), 60, "max holds");
        nc.validate(3, 0, 64).unwrap();
    }

    #[test]
    fn validate_catches_a_corrupt_free_stack() {
        let (mut nc, _map, _l) = two_slabs();
        let rec = nc.rec_mut(0).unwrap();
        rec.free[0] = rec.free[1];
        assert!(matches!(
            nc.validate(3, 0, 64),
            Err(Invariant::BadFreeIndex { .. })
        ));
    }
}
