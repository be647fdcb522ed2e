//! The fast paths of one core: resolve a handle (hot table), pop from or push to the core's
//! array, free inside the hot slab with a plain store. Everything else is a call into `slow`,
//! `remote` or the cold paths of this file. No lock beyond the guard's, no atomic
//! read-modify-write.
use super::*;

impl<'a> CoreGuard<'a> {
    pub fn core(&self) -> CoreId {
        self.core
    }

    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Call site recorded by `STORE_USER` for the following operations (e.g. the client's
    /// return address); 0 by default.
    pub fn set_call_site(&mut self, site: u64) {
        self.state.call_site = site;
    }

    /// Slabs of `Ctor::Remote` caches created since this guard was taken (or last cleared).
    pub fn new_slabs(&self) -> &[NewSlab] {
        &self.state.new_slabs
    }

    pub fn clear_new_slabs(&mut self) {
        self.state.new_slabs.clear();
    }

    /// One object of cache `id`.
    #[inline(always)]
    pub fn alloc(&mut self, id: CacheId) -> Result<usize, AllocError> {
        let me = self.core.0;
        if let Some(cc) = self.state.hot(id) {
            if let Some(a) = pop_fast(cc, me) {
                return Ok(a);
            }
        }
        self.alloc_miss(id)
    }

    /// `alloc` when `id` is not the hot handle, or the array had nothing to pop.
    #[cold]
    #[inline(never)]
    pub(super) fn alloc_miss(&mut self, id: CacheId) -> Result<usize, AllocError> {
        let Some(real) = self.state.resolve_hot(id) else {
            return Err(AllocError::BadCache(id));
        };
        self.alloc_real(real)
    }

    /// One object of the real cache `real` (resolved from a live handle).
    #[inline(always)]
    pub(super) fn alloc_real(&mut self, real: usize) -> Result<usize, AllocError> {
        let me = self.core.0;
        if let Some(cc) = self.state.cache_mut(real) {
            if let Some(a) = pop_fast(cc, me) {
                return Ok(a);
            }
        }
        self.alloc_slow(real)
    }

    /// The cache `id` names, resolved once for a run of operations on this core, as a Linux
    /// caller holds a `struct kmem_cache *`: its `alloc` and `free` skip the handle lookup.
    pub fn cache(&mut self, id: CacheId) -> Result<CacheRef<'_, 'a>, CacheError> {
        let real = self.state.resolve(id).ok_or(CacheError::BadCache(id))?;
        let cache = self.state.cache_ptr(real).ok_or(CacheError::BadCache(id))?;
        Ok(CacheRef { cache, guard: self })
    }

    /// One zeroed object of cache `id`.
    pub fn zalloc(&mut self, id: CacheId) -> Result<usize, AllocError> {
        let addr = self.alloc(id)?;
        let real = self.state.resolve(id).expect("just allocated");
        let usable = self.cache_at(real).layout.usable as usize;
        crate::slab::object_mem::fill(addr, usable, 0);
        Ok(addr)
    }

    /// Fills `out` with objects; returns how many (all of `out`, unless memory ran out after at
    /// least one). Fails only when not even one object could be allocated.
    pub fn alloc_batch(&mut self, id: CacheId, out: &mut [usize]) -> Result<usize, AllocError> {
        let mut c = self.cache(id).map_err(|_| AllocError::BadCache(id))?;
        for (i, slot) in out.iter_mut().enumerate() {
            match c.alloc() {
                Ok(a) => *slot = a,
                Err(e) if i == 0 => return Err(e),
                Err(_) => return Ok(i),
            }
        }
        Ok(out.len())
    }

    /// Frees `addr`, an object of cache `id`. Every free is validated; on error nothing changed.
    #[inline(always)]
    pub fn free(&mut self, id: CacheId, addr: usize) -> Result<(), FreeError> {
        let me = self.core.0;
        match self.state.hot(id) {
            Some(cc) => {
                let real = cc.real as usize;
                let step = free_in_hot_slab(cc, me, addr);
                self.finish_free(real, addr, step)
            }
            None => self.free_miss(id, addr),
        }
    }

    /// `free` when `id` is not the hot handle.
    #[cold]
    #[inline(never)]
    pub(super) fn free_miss(&mut self, id: CacheId, addr: usize) -> Result<(), FreeError> {
        let Some(real) = self.state.resolve_hot(id) else {
            return Err(FreeError::BadCache(id));
        };
        self.free_real(real, addr)
    }

    /// Frees every address of `addrs` as an object of cache `id`, or none of them. A refusal
    /// names the first refused address in batch order (a duplicate is a double free at its
    /// second occurrence) with `freed: 0`; only a race with another core freeing one of the same
    /// objects between the check and the free can leave `freed > 0`.
    pub fn free_batch(&mut self, id: CacheId, addrs: &[usize]) -> Result<(), BatchFreeError> {
        let refuse = |error| BatchFreeError { freed: 0, error };
        let real = self
            .state
            .resolve(id)
            .ok_or(refuse(FreeError::BadCache(id)))?;
        for &a in addrs {
            self.check_in_batch(real, a).map_err(refuse)?;
        }
        if let Some(a) = first_repeat(addrs) {
            return Err(refuse(FreeError::DoubleFree {
                addr: a,
                last_free: None,
            }));
        }
        let mut c = self
            .cache(id)
            .map_err(|_| refuse(FreeError::BadCache(id)))?;
        for (i, &a) in addrs.iter().enumerate() {
            c.free(a)
                .map_err(|error| BatchFreeError { freed: i, error })?;
        }
        Ok(())
    }

    /// The checks of [`free`](Self::free) without freeing: `Ok` if `addr` is an object of `id`
    /// that is currently allocated (and, in a debug cache, with intact red zones). Changes
    /// nothing except the cache's violation counter when a debug check fails.
    pub fn check_free(&self, id: CacheId, addr: usize) -> Result<(), FreeError> {
        let Some(real) = self.state.resolve(id) else {
            return Err(FreeError::BadCache(id));
        };
        self.check_real(real, addr)
    }

    /// `check_free` for the live real cache `real`: the hot slab first, the page map otherwise.
    #[inline(always)]
    pub(super) fn check_real(&self, real: usize, addr: usize) -> Result<(), FreeError> {
        let cc = self.cache_at(real);
        match cc.hot_state(addr) {
            Some((st, _)) if !cc.checked && state::is_live(st.observe(Ordering::Acquire)) => Ok(()),
            _ => self.check_located(cc, real, addr),
        }
    }

    /// `check_real` for one address of a batch to free: the slab of an object found outside
    /// the hot slab becomes hot (in a cache without debug checks), so that the batch's next
    /// objects of that slab are checked, and then freed, with no page map read. Only the hot
    /// slab changes, and it is a hint: any live slab of the cache may be hot.
    #[inline(always)]
    fn check_in_batch(&mut self, real: usize, addr: usize) -> Result<(), FreeError> {
        let cc = self.cache_at(real);
        match cc.hot_state(addr) {
            Some((st, _)) if !cc.checked && state::is_live(st.observe(Ordering::Acquire)) => Ok(()),
            _ if cc.checked => self.check_located(cc, real, addr),
            _ => self.check_and_heat(real, addr),
        }
    }

    #[cold]
    #[inline(never)]
    fn check_and_heat(&mut self, real: usize, addr: usize) -> Result<(), FreeError> {
        let (me, node, map) = (self.core.0, self.node, &self.alloc.map);
        if let Some(cc) = self.state.cache_mut(real) {
            let (entry, states) = map.lookup_states(addr);
            if let Ok(at) = locate_entry(map, entry, states, real as u32, &cc.layout, addr) {
                if state::is_live(at.state.observe(Ordering::Acquire)) {
                    cc.hot_slab = Some(HotSlab::of(&at, node, me));
                    return Ok(());
                }
            }
        }
        // Refused: the precise error.
        self.check_located(self.cache_at(real), real, addr)
    }

    #[cold]
    #[inline(never)]
    pub(super) fn check_located(
        &self,
        cc: &CoreCache,
        real: usize,
        addr: usize,
    ) -> Result<(), FreeError> {
        let cache = &cc.cache;
        let l = &cache.layout;
        let (st, _home) = locate(&self.alloc.map, real as u32, l, addr)?;
        let s = st.observe(Ordering::Acquire);
        if !state::is_live(s) {
            return Err(not_allocated(addr, s, self.tracks(cache, addr).free));
        }
        if cc.checked {
            if let Some(v) = self.check_live(cache, addr) {
                let v = self.report(cache, addr, v, crate::slab::CheckedOp::Free);
                return Err(FreeError::Corrupted(v));
            }
        }
        Ok(())
    }

    pub(super) fn cache_at(&self, real: usize) -> &CoreCache {
        self.state.cache(real).expect("live real cache")
    }

    /// Frees `addr` as an object of the real cache `real`: inside the hot slab with no page map
    /// read, else through `free_full`.
    #[inline(always)]
    pub(super) fn free_real(&mut self, real: usize, addr: usize) -> Result<(), FreeError> {
        let me = self.core.0;
        let step = match self.state.cache_mut(real) {
            Some(cc) => free_in_hot_slab(cc, me, addr),
            None => HotFree::Outside,
        };
        self.finish_free(real, addr, step)
    }

    /// Completes a free after `free_in_hot_slab`.
    #[inline(always)]
    pub(super) fn finish_free(
        &mut self,
        real: usize,
        addr: usize,
        step: HotFree,
    ) -> Result<(), FreeError> {
        match step {
            HotFree::Done => Ok(()),
            HotFree::Overflow(obj) => {
                self.free_slow(real, obj, self.node);
                Ok(())
            }
            HotFree::Other(st, home) => self.free_hot_other(real, addr, st, home),
            HotFree::Outside => self.free_full(real, addr),
        }
    }
}

/// One cache of a held core, from [`CoreGuard::cache`].
pub struct CacheRef<'g, 'a> {
    guard: &'g mut CoreGuard<'a>,
    /// This core's view of the cache, from `CoreState::cache_ptr`. Valid while `guard` is
    /// borrowed: a core's caches are added and removed only by maintenance, which takes every
    /// core lock, and the guard holds this core's. A reference made from it lives only until the
    /// next call into the guard (which makes its own references from the same pointer).
    cache: NonNull<CoreCache>,
}

impl fmt::Debug for CacheRef<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheRef")
            .field("core", &self.guard.core)
            .finish_non_exhaustive()
    }
}

impl CacheRef<'_, '_> {
    /// One object (as [`CoreGuard::alloc`]).
    #[inline(always)]
    pub fn alloc(&mut self) -> Result<usize, AllocError> {
        let me = self.guard.core.0;
        // SAFETY: see the field's invariant; `&mut self` borrows the guard exclusively.
        let cc = unsafe { self.cache.as_mut() };
        match pop_fast(cc, me) {
            Some(a) => Ok(a),
            None => {
                let real = cc.real as usize;
                self.guard.alloc_slow(real)
            }
        }
    }

    /// Frees `addr`, an object of this cache (as [`CoreGuard::free`]).
    #[inline(always)]
    pub fn free(&mut self, addr: usize) -> Result<(), FreeError> {
        let me = self.guard.core.0;
        // SAFETY: as in `alloc`.
        let cc = unsafe { self.cache.as_mut() };
        let real = cc.real as usize;
        let step = free_in_hot_slab(cc, me, addr);
        self.guard.finish_free(real, addr, step)
    }
}

/// What a free found in the hot slab (see `free_in_hot_slab`).
pub(super) enum HotFree {
    /// Freed into the array.
    Done,
    /// Taken back, but the array is full.
    Overflow(Obj),
    /// At a slot start of the hot slab (of that node), but not allocated by this core or not
    /// of this core's node.
    Other(StateRef, NodeId),
    /// Not a slot start of the hot slab (or no hot slab).
    Outside,
}

/// The fast free: an object at a slot start of the hot slab, of this core's node, that this
/// core allocated is taken back with a plain store (see `state`) and pushed on the array.
#[inline(always)]
pub(super) fn free_in_hot_slab(cc: &mut CoreCache, me: u8, addr: usize) -> HotFree {
    let Some((st, h)) = cc.hot_state(addr) else {
        return HotFree::Outside;
    };
    if st.observe(Ordering::Relaxed) != h.mine {
        return HotFree::Other(st, h.home);
    }
    take_back_local(cc, me, addr, st)
}

/// The fast free of an object of a slab of `cc` on this core's node, `in_slab` bytes from the
/// slab's start: at a slot start, allocated by this core. Anything else is `Outside`, for the full
/// path to sort out (and name the error).
///
/// # Safety
/// `states` is the state bytes pointer the caller read from the page map together with an entry
/// naming a slab of `cc`'s real cache that starts `in_slab` bytes before `addr`, and the caller
/// holds a core lock (so the slab stays published, see `page_map`).
#[inline(always)]
pub(super) unsafe fn free_in_slab(
    cc: &mut CoreCache,
    me: u8,
    in_slab: usize,
    states: *mut AtomicU8,
    addr: usize,
) -> HotFree {
    debug_assert!(!cc.checked);
    let off = in_slab.wrapping_sub(cc.layout.obj_offset as usize);
    if off >= cc.layout.span as usize {
        return HotFree::Outside;
    }
    let Some(idx) = cc.layout.index_of(off) else {
        return HotFree::Outside;
    };
    // SAFETY: `states` is the slab's published state bytes (the contract above) and `idx` is
    // below its objects, since `off` is below the span that covers them.
    let st = unsafe { StateRef::from_base(states, idx) };
    if st.observe(Ordering::Relaxed) != state::allocated(me) {
        return HotFree::Outside;
    }
    take_back_local(cc, me, addr, st)
}

/// Takes back an object of this core's node that this core allocated (its state was just read
/// as such) with a plain store (see `state`), and pushes it on the array.
#[inline(always)]
fn take_back_local(cc: &mut CoreCache, me: u8, addr: usize, st: StateRef) -> HotFree {
    st.get()
        .store(state::cached(me, state::EVER), Ordering::Relaxed);
    let obj = Obj { addr, state: st };
    if cc.array.push(obj) {
        HotFree::Done
    } else {
        HotFree::Overflow(obj)
    }
}

/// The fast pop: an object of a cache without debug checks, marked allocated by `me` without a
/// look at its state (an array holds only objects its core holds, see `state`).
#[inline(always)]
pub(super) fn pop_fast(cc: &mut CoreCache, me: u8) -> Option<usize> {
    if cc.checked {
        return None;
    }
    pop_unchecked(cc, me)
}

/// `pop_fast` for a cache the caller knows has no debug checks.
#[inline(always)]
pub(super) fn pop_unchecked(cc: &mut CoreCache, me: u8) -> Option<usize> {
    debug_assert!(!cc.checked);
    let o = cc.array.pop()?;
    let s = o.state.get();
    debug_assert!(state::is_cached_by(s.load(Ordering::Relaxed), me));
    o.state.mark().store(0, Ordering::Relaxed);
    s.store(state::allocated(me), Ordering::Release);
    Some(o.addr)
}

/// The first address of `addrs` that repeats an earlier one, at its second occurrence.
pub(super) fn first_repeat(addrs: &[usize]) -> Option<usize> {
    let pairwise = || {
        addrs
            .iter()
            .enumerate()
            .find(|&(i, a)| addrs[..i].contains(a))
            .map(|(_, &a)| a)
    };
    if addrs.len() <= 8 {
        return pairwise();
    }
    // Batches often come in address order (a fresh slab's objects, freed as handed out).
    if addrs.windows(2).all(|w| w[0] < w[1]) || addrs.windows(2).all(|w| w[0] > w[1]) {
        return None;
    }
    // A sorted copy tells whether any address repeats; only then is the first one looked for.
    // (Up to 64 addresses on the stack, not zeroed first.)
    let mut on_stack = heapless::Vec::<usize, 64>::new();
    let mut on_heap = Vec::new();
    let sorted = match on_stack.extend_from_slice(addrs) {
        Ok(()) => &mut on_stack[..],
        Err(_) => {
            on_heap.extend_from_slice(addrs);
            &mut on_heap[..]
        }
    };
    sorted.sort_unstable();
    if sorted.windows(2).all(|w| w[0] != w[1]) {
        None
    } else {
        pairwise()
    }
}

#[cfg(test)]
mod tests {
    use super::first_repeat;

    /// The reference: the first address equal to an earlier one.
    fn naive(a: &[usize]) -> Option<usize> {
        (0..a.len()).find(|&i| a[..i].contains(&a[i])).map(|i| a[i])
    }

    #[test]
    fn first_repeat_agrees_with_the_naive_search() {
        // Lengths around both thresholds (the pairwise search up to 8 addresses, the copy on
        // the stack up to 64; a repeat adds one); under Miri (slow at the quadratic naive
        // search) one length for each of the three searches, in shuffled order only.
        const LENGTHS: &[usize] = if cfg!(miri) {
            &[0, 8, 20, 64]
        } else {
            &[0, 1, 2, 8, 9, 20, 64, 65, 100]
        };
        for &n in LENGTHS {
            let up: Vec<usize> = (0..n).map(|i| 0x1000 + 64 * i).collect();
            let down: Vec<usize> = up.iter().rev().copied().collect();
            // A fixed shuffle: multiply the index by an odd number modulo a power of two.
            let m = n.next_power_of_two().max(1);
            let shuffled: Vec<usize> = (0..m)
                .map(|i| (i * 37 + 11) % m)
                .filter(|&i| i < n)
                .map(|i| up[i])
                .collect();
            let bases = if cfg!(miri) {
                vec![&shuffled]
            } else {
                vec![&up, &down, &shuffled]
            };
            for base in bases {
                assert_eq!(first_repeat(base), None, "n {n}");
                // Under Miri the repeat goes in the middle only.
                let places = if cfg!(miri) {
                    vec![n / 2]
                } else {
                    vec![0, n / 2, n.saturating_sub(1)]
                };
                for at in places {
                    for from in [0, n / 3] {
                        if n == 0 {
                            continue;
                        }
                        let mut b = base.clone();
                        b.insert(at.min(b.len()), base[from]);
                        assert_eq!(first_repeat(&b), naive(&b), "n {n} at {at} from {from}");
                    }
                }
            }
        }
    }
}
