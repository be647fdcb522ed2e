//! The slow paths of one core: refills from and flushes to the node lists (SLAB's
//! `cache_alloc_refill` and `cache_flusharray`), frees found through the page map, and every
//! operation of a cache with debug checks. Node locks are taken one at a time, under the core's.
use super::remote::receive_remote;
use super::*;
use crate::slab::CheckedOp;

impl CoreGuard<'_> {
    /// A free at a slot start of the hot slab (of node `home`) of an object this core does not
    /// hold as allocated (allocated on another core, or not allocated at all), or of another
    /// node's slab.
    #[inline(always)]
    pub(super) fn free_hot_other(
        &mut self,
        real: usize,
        addr: usize,
        st: StateRef,
        home: NodeId,
    ) -> Result<(), FreeError> {
        let s = st.observe(Ordering::Relaxed);
        self.free_other(real, addr, st, home, s)
    }

    /// `free_real` outside the hot slab (and every free of a checked cache).
    #[inline(never)]
    pub(super) fn free_full(&mut self, real: usize, addr: usize) -> Result<(), FreeError> {
        let (e, states) = self.alloc.map.lookup_states(addr);
        self.free_entry(real, addr, e, states, None)
    }

    /// Frees `addr` as an object of `real`, whose page map entry `e` was read; refused unless
    /// the cache belongs to `owner`, if given.
    #[inline(always)]
    pub(super) fn free_entry(
        &mut self,
        real: usize,
        addr: usize,
        e: Entry,
        states: *mut AtomicU8,
        owner: Option<OwnerId>,
    ) -> Result<(), FreeError> {
        let map = &self.alloc.map;
        let me = self.core.0;
        let node = self.node;
        let Some(cc) = self.state.cache_mut(real) else {
            return Err(FreeError::NotOurs { addr });
        };
        if owner.is_some_and(|o| o != cc.owner) {
            return Err(FreeError::ForeignOwner { addr });
        }
        if cc.checked {
            return self.free_checked(real, addr);
        }
        let at = locate_entry(map, e, states, real as u32, &cc.layout, addr)?;
        // kfree (`owner` given) spreads over many classes' slabs: only frees by handle make a
        // slab hot.
        if owner.is_none() {
            cc.hot_slab = Some(HotSlab::of(&at, node, me));
        }
        let st = at.state;
        let s = st.observe(Ordering::Relaxed);
        if s != state::allocated(me) {
            return self.free_other(real, addr, st, at.home, s);
        }
        // This core allocated it and holds it: a plain store takes it back (see `state`).
        st.get()
            .store(state::cached(me, state::EVER), Ordering::Relaxed);
        let obj = Obj { addr, state: st };
        if at.home == node && cc.array.push(obj) {
            return Ok(());
        }
        self.free_slow(real, obj, at.home);
        Ok(())
    }

    #[cold]
    #[inline(never)]
    pub(super) fn alloc_slow(&mut self, real: usize) -> Result<usize, AllocError> {
        // Each round that finds a damaged object quarantines it, so the loop ends (at the
        // latest when memory runs out).
        loop {
            if let Some(addr) = self.alloc_slow_once(real)? {
                return Ok(addr);
            }
        }
    }

    /// One object for `alloc_slow`; `None` if the object taken was damaged (quarantined).
    fn alloc_slow_once(&mut self, real: usize) -> Result<Option<usize>, AllocError> {
        let env = self.alloc.env();
        let me = self.core.0;
        let Some((cc, new_slabs, scratch)) = self.state.cache_parts(real) else {
            return Err(AllocError::OutOfMemory);
        };
        let o = loop {
            match cc.array.pop() {
                // Stale entries (see `state`) are dropped.
                Some(o) if state::is_cached_by(o.state.get().load(Ordering::Relaxed), me) => {
                    break o
                }
                Some(_) => continue,
                None if receive_remote(env, cc, scratch, me) > 0 => continue,
                // A cache that bypasses the arrays takes its one object through the scratch.
                None if cc.array.limit() == 0 => {
                    scratch.clear();
                    cc.cache
                        .refill(env, self.node, 1, 1, scratch, new_slabs, me)?;
                    match scratch.pop() {
                        Some(o) => break o,
                        None => return Err(AllocError::OutOfMemory),
                    }
                }
                None => {
                    let n = cc.array.batch();
                    let max = cc.array.limit();
                    cc.cache
                        .refill(env, self.node, n, max, cc.array.objs_mut(), new_slabs, me)?;
                }
            }
        };
        // A mark left by an exact overlap of two frees is cleared (see `state`).
        o.state.mark().store(0, Ordering::Relaxed);
        if !cc.checked {
            o.state.get().store(state::allocated(me), Ordering::Release);
            return Ok(Some(o.addr));
        }
        Ok(self.finish_checked_alloc(real, o))
    }

    /// Hands out `o`, just taken for this core from a slab or array of the checked cache
    /// `real`, after its debug checks; `None` if they found it damaged (it is then quarantined
    /// and the violation reported, see `quarantine`).
    #[cold]
    pub(super) fn finish_checked_alloc(&mut self, real: usize, o: Obj) -> Option<usize> {
        let me = self.core.0;
        let cache = self.cache_at(real).cache.clone();
        let l = &cache.layout;
        if let Some(v) = cache.checks.check_free(l, o.addr) {
            self.quarantine(&cache, o, v);
            return None;
        }
        cache.checks.mark_allocated(l, o.addr);
        o.state.get().store(state::allocated(me), Ordering::Release);
        self.record(&cache, o.addr, true);
        Some(o.addr)
    }

    #[cold]
    #[inline(never)]
    pub(super) fn free_checked(&mut self, real: usize, addr: usize) -> Result<(), FreeError> {
        let cc = self.cache_at(real);
        let cache = cc.cache.clone();
        let l = &cache.layout;
        let (st, home) = locate(&self.alloc.map, real as u32, l, addr)?;
        let s = st.observe(Ordering::Acquire);
        if !state::is_live(s) {
            let last = self.tracks(&cache, addr).free;
            return Err(not_allocated(addr, s, last));
        }
        if let Some(v) = self.check_live(&cache, addr) {
            let v = self.report(&cache, addr, v, CheckedOp::Free);
            return Err(FreeError::Corrupted(v));
        }
        let taken = self.take(addr, st, s, None)?;
        cache.checks.init_free(l, addr);
        self.record(&cache, addr, false);
        self.put_freed(real, Obj { addr, state: st }, home, taken);
        Ok(())
    }

    /// The array (or alien array) was full, or the cache bypasses arrays: flush a batch.
    #[cold]
    #[inline(never)]
    pub(super) fn free_slow(&mut self, real: usize, obj: Obj, home: NodeId) {
        let env = self.alloc.env();
        let node = self.node;
        let holder = Holder::Core(self.core.0);
        let (cc, _, scratch) = self.state.cache_parts(real).expect("live");
        if cc.cache.direct() {
            scratch.push(obj);
            cc.cache.flush(env, scratch, false, holder);
        } else if home != node {
            let alien = &mut cc.alien[home.0 as usize];
            if !alien.push(obj) {
                scratch.extend(alien.drain_all());
                cc.cache.flush(env, scratch, true, holder);
                let pushed = cc.alien[home.0 as usize].push(obj);
                debug_assert!(pushed);
            }
        } else {
            let batch = cc.array.batch();
            scratch.extend(cc.array.drain_oldest(batch));
            cc.cache.flush(env, scratch, true, holder);
            let pushed = cc.array.push(obj);
            debug_assert!(pushed);
        }
    }

    /// The `STORE_USER` records of the object at `addr`.
    pub(super) fn tracks(&self, cache: &Cache, addr: usize) -> TrackPair {
        if !cache.checks.store_user {
            return TrackPair::default();
        }
        let map = &self.alloc.map;
        let Entry::Slab { node, head, .. } = map.lookup(addr) else {
            return TrackPair::default();
        };
        let nc = cache.node(node).lock();
        let Some(rec) = nc.rec(map.rec_of(head)) else {
            return TrackPair::default();
        };
        let idx =
            (addr - rec.base - cache.layout.obj_offset as usize) / cache.layout.stride as usize;
        rec.track(idx).unwrap_or_default()
    }

    /// The debug checks of an allocated object of a checked cache: its red zones, and for a
    /// red-zoned kmalloc class the bytes from its requested size to the class size.
    pub(super) fn check_live(&self, cache: &Cache, addr: usize) -> Option<crate::slab::Violation> {
        let l = &cache.layout;
        cache.checks.check_allocated(l, addr).or_else(|| {
            let req = self.requested(cache, addr)?;
            cache.checks.check_requested(l, addr, req)
        })
    }

    /// Runs `f` on the slab record of `addr` (an object of `cache`) and the object's index.
    fn with_rec<R>(
        &self,
        cache: &Cache,
        addr: usize,
        f: impl FnOnce(&mut SlabRec, usize) -> R,
    ) -> Option<R> {
        let map = &self.alloc.map;
        let Entry::Slab { node, head, .. } = map.lookup(addr) else {
            return None;
        };
        let mut nc = cache.node(node).lock();
        let rec = nc.rec_mut(map.rec_of(head))?;
        let idx =
            (addr - rec.base - cache.layout.obj_offset as usize) / cache.layout.stride as usize;
        Some(f(rec, idx))
    }

    /// The size the last kmalloc of the object at `addr` asked for, in a red-zoned kmalloc
    /// class; `None` in any other cache.
    pub(super) fn requested(&self, cache: &Cache, addr: usize) -> Option<usize> {
        if !cache.checks.orig_size {
            return None;
        }
        self.with_rec(cache, addr, |rec, idx| rec.requested(idx))
            .flatten()
            .map(|r| r as usize)
    }

    /// Records `size` as the requested size of the object at `addr` and red-zones the bytes
    /// from it to the class size (a red-zoned kmalloc class; otherwise nothing happens).
    pub(super) fn set_requested(&self, cache: &Cache, addr: usize, size: usize) {
        if !cache.checks.orig_size {
            return;
        }
        let size = size.min(cache.layout.object_size as usize);
        self.with_rec(cache, addr, |rec, idx| {
            if let Some(r) = rec.requested_mut(idx) {
                *r = size as u32;
            }
        });
        cache.checks.mark_requested(&cache.layout, addr, size);
    }

    /// Records an alloc (or free) of `addr` with `STORE_USER`.
    pub(super) fn record(&self, cache: &Cache, addr: usize, is_alloc: bool) {
        if !cache.checks.store_user {
            return;
        }
        let map = &self.alloc.map;
        let Entry::Slab { node, head, .. } = map.lookup(addr) else {
            return;
        };
        let t = Track {
            owner: cache.owner,
            core: self.core,
            call_site: self.state.call_site,
            seq: self.alloc.seq.fetch_add(1, Ordering::Relaxed),
        };
        let mut nc = cache.node(node).lock();
        let Some(rec) = nc.rec_mut(map.rec_of(head)) else {
            return;
        };
        let idx =
            (addr - rec.base - cache.layout.obj_offset as usize) / cache.layout.stride as usize;
        if let Some(p) = rec.track_mut(idx) {
            if is_alloc {
                p.alloc = Some(t);
            } else {
                p.free = Some(t);
            }
        }
    }
}
