//! kmalloc, kfree and ksize on one core: a size class's cache through the hot table, or a large
//! block straight from the buddy layer (recorded in the large-block table, under its lock).
use super::guard::{free_in_slab, pop_fast, pop_unchecked};
use super::*;
use crate::kmalloc::ZERO_SIZE_PTR;

impl CoreGuard<'_> {
    /// `size` bytes from `set`'s size classes, or a buddy block above 8 KiB; for `size == 0`,
    /// [`ZERO_SIZE_PTR`], as Linux.
    #[inline(always)]
    pub fn kmalloc(&mut self, set: &KmallocSet, size: usize) -> Result<usize, KmallocError> {
        let me = self.core.0;
        match class_of(size) {
            Some(c) if size != 0 => {
                if let Some(cc) = self.state.hot(set.caches[c]) {
                    if let Some(a) = pop_fast(cc, me) {
                        return Ok(a);
                    }
                }
                self.kmalloc_miss(set.caches[c], size)
            }
            Some(_) => Ok(ZERO_SIZE_PTR),
            None => self.kmalloc_large(set, size),
        }
    }

    /// `kmalloc` of `size` bytes from a class whose handle is not hot, or whose array had
    /// nothing to pop (every kmalloc of a checked class). A red-zoned class records `size`.
    #[cold]
    #[inline(never)]
    pub(super) fn kmalloc_miss(&mut self, id: CacheId, size: usize) -> Result<usize, KmallocError> {
        let addr = self.alloc_miss(id).map_err(|e| match e {
            AllocError::BadCache(_) => KmallocError::BadSet,
            AllocError::OutOfMemory => KmallocError::OutOfMemory,
            AllocError::BadNode => KmallocError::BadNode,
            AllocError::Metadata(m) => KmallocError::Metadata(m),
        })?;
        if let Some(real) = self.state.resolve(id) {
            let cc = self.cache_at(real);
            if cc.checked {
                let cache = cc.cache.clone();
                self.set_requested(&cache, addr, size);
            }
        }
        Ok(addr)
    }

    /// Like `kmalloc`, zeroed: the usable size, or in a red-zoned class the requested size (the
    /// rest is red zone).
    pub fn kzalloc(&mut self, set: &KmallocSet, size: usize) -> Result<usize, KmallocError> {
        let addr = self.kmalloc(set, size)?;
        if addr == ZERO_SIZE_PTR {
            return Ok(addr);
        }
        let usable = self.usable_size(set, addr).expect("just allocated");
        let len = self.requested_size(addr).unwrap_or(usable);
        crate::slab::object_mem::fill(addr, len, 0);
        Ok(addr)
    }

    #[cold]
    pub(super) fn kmalloc_large(
        &mut self,
        set: &KmallocSet,
        size: usize,
    ) -> Result<usize, KmallocError> {
        self.kmalloc_large_on(set, size, self.node, super::api::NodePolicy::Prefer)
    }

    /// A large block from `node`'s zone (or, with `Prefer`, the nearest zone that has one).
    pub(super) fn kmalloc_large_on(
        &mut self,
        set: &KmallocSet,
        size: usize,
        node: NodeId,
        policy: super::api::NodePolicy,
    ) -> Result<usize, KmallocError> {
        if size > KMALLOC_MAX_SIZE {
            return Err(KmallocError::TooLarge {
                size,
                max: KMALLOC_MAX_SIZE,
            });
        }
        let Some(real) = self.state.resolve(set.caches[0]) else {
            return Err(KmallocError::BadSet);
        };
        let order = large_order(size);
        let account = self.set_account(real);
        let record = meta::large_block_bytes();
        meta::charge(account.as_deref(), record).map_err(KmallocError::Metadata)?;
        let refuse = |e| {
            meta::release(account.as_deref(), record);
            e
        };
        let mut large = self.alloc.large.lock();
        let block = match policy {
            super::api::NodePolicy::Prefer => self.alloc.buddy.alloc(order, node),
            super::api::NodePolicy::Only => self.alloc.buddy.alloc_on(order, node),
        }
        .map_err(|_| refuse(KmallocError::OutOfMemory))?;
        let Some(head) = self.alloc.map.frame_of(block.addr) else {
            let _ = self.alloc.buddy.free(block.addr, block.order);
            return Err(refuse(KmallocError::OutOfMemory));
        };
        large.blocks.insert(
            block.addr,
            LargeRec {
                owner: set.owner,
                order,
            },
        );
        self.alloc.map.publish_large(head, 1 << order, block.node);
        Ok(block.addr)
    }

    /// Frees a kmalloc'd address (any object or large block of `set`'s owner); a free of
    /// [`ZERO_SIZE_PTR`] does nothing.
    #[inline(always)]
    pub fn kfree(&mut self, set: &KmallocSet, addr: usize) -> Result<(), FreeError> {
        let (e, states) = self.alloc.map.lookup_states(addr);
        match e {
            Entry::Slab { cache, .. } => {
                self.free_entry(cache as usize, addr, e, states, Some(set.owner))
            }
            Entry::Large { .. } => self.kfree_large(set, addr),
            Entry::None if addr == ZERO_SIZE_PTR => Ok(()),
            Entry::None if addr == 0 => Err(FreeError::Null),
            Entry::None => Err(FreeError::NotOurs { addr }),
        }
    }

    #[cold]
    pub(super) fn kfree_large(&mut self, set: &KmallocSet, addr: usize) -> Result<(), FreeError> {
        let mut large = self.alloc.large.lock();
        let (start, b) = self.large_block(&large, set, addr)?;
        large.blocks.remove(&start);
        let account = self
            .state
            .resolve(set.caches[0])
            .and_then(|r| self.set_account(r));
        self.alloc
            .free_large_block(b.owner, start, b.order, account.as_deref());
        Ok(())
    }

    /// The metadata account of the set whose first class is the real cache `real` (read
    /// through this core's tables: no registry lock under a core lock).
    fn set_account(&self, real: usize) -> Option<Arc<meta::MetaAccount>> {
        self.state.cache(real)?.cache.account.clone()
    }

    pub(super) fn large_block(
        &self,
        large: &LargeBlocks,
        set: &KmallocSet,
        addr: usize,
    ) -> Result<(usize, LargeRec), FreeError> {
        let Entry::Large { head, .. } = self.alloc.map.lookup(addr) else {
            return Err(FreeError::NotOurs { addr });
        };
        let start = self.alloc.map.frame_addr(head);
        let b = *large
            .blocks
            .get(&start)
            .ok_or(FreeError::NotOurs { addr })?;
        if b.owner != set.owner {
            return Err(FreeError::ForeignOwner { addr });
        }
        if addr != start {
            return Err(FreeError::Interior {
                addr,
                object: start,
            });
        }
        Ok((start, b))
    }

    /// The checks of [`kfree`](Self::kfree) without freeing, as [`check_free`](Self::check_free)
    /// is to `free`: the usable size if `addr` is an allocated object (with intact red zones, in
    /// a cache with debug checks) or large block of `set`'s owner. Changes nothing except a
    /// cache's violation counter when a debug check fails. Unlike [`usable_size`](Self::usable_size),
    /// a batch that passes it for every address can be freed whole.
    pub fn check_kfree(&self, set: &KmallocSet, addr: usize) -> Result<usize, FreeError> {
        match self.alloc.map.lookup(addr) {
            Entry::Slab { cache, .. } => {
                let real = cache as usize;
                let Some(cc) = self.state.cache(real) else {
                    return Err(FreeError::NotOurs { addr });
                };
                if cc.owner != set.owner {
                    return Err(FreeError::ForeignOwner { addr });
                }
                self.check_located(cc, real, addr)?;
                Ok(cc.layout.usable as usize)
            }
            _ => self.usable_size(set, addr),
        }
    }

    /// Linux's `ksize`: the usable size of the allocated object (or large block) at `addr` of
    /// `set`'s owner (0 for [`ZERO_SIZE_PTR`]). The caller may use all of it, so in a red-zoned class the object's
    /// requested size becomes the class size (Linux's `skip_orig_size_check`).
    pub fn ksize(&self, set: &KmallocSet, addr: usize) -> Result<usize, FreeError> {
        let usable = self.usable_size(set, addr)?;
        if let Some(cc) = self.checked_class_of(addr) {
            let cache = cc.cache.clone();
            self.set_requested(&cache, addr, usable);
        }
        Ok(usable)
    }

    /// The cache of the slab object at `addr` if it takes the checked path.
    pub(super) fn checked_class_of(&self, addr: usize) -> Option<&CoreCache> {
        match self.alloc.map.lookup(addr) {
            Entry::Slab { cache, .. } => self.state.cache(cache as usize).filter(|cc| cc.checked),
            _ => None,
        }
    }

    /// The size the last kmalloc (or krealloc) of the object at `addr` asked for, if it is an
    /// object of a red-zoned kmalloc class; `None` otherwise.
    pub fn requested_size(&self, addr: usize) -> Option<usize> {
        let cc = self.checked_class_of(addr)?;
        self.requested(&cc.cache, addr)
    }

    /// The usable size of `ksize` without its effect on the red zone (what a check before a
    /// free needs).
    pub fn usable_size(&self, set: &KmallocSet, addr: usize) -> Result<usize, FreeError> {
        match self.alloc.map.lookup(addr) {
            Entry::Slab { cache, .. } => {
                let Some(cc) = self.state.cache(cache as usize) else {
                    return Err(FreeError::NotOurs { addr });
                };
                if cc.cache.owner != set.owner {
                    return Err(FreeError::ForeignOwner { addr });
                }
                let (st, _) = locate(&self.alloc.map, cache, &cc.layout, addr)?;
                let s = st.observe(Ordering::Acquire);
                if !state::is_live(s) {
                    return Err(not_allocated(addr, s, None));
                }
                Ok(cc.layout.usable as usize)
            }
            Entry::Large { .. } => {
                let large = self.alloc.large.lock();
                let (_, b) = self.large_block(&large, set, addr)?;
                Ok(crate::buddy::PAGE_SIZE << b.order)
            }
            Entry::None if addr == ZERO_SIZE_PTR => Ok(0),
            Entry::None if addr == 0 => Err(FreeError::Null),
            Entry::None => Err(FreeError::NotOurs { addr }),
        }
    }
}

/// A kmalloc set resolved on one core for a run of operations, from
/// [`CoreGuard::kmalloc_set`]: as a [`CacheRef`] is to one cache, for all 13 classes. Its
/// `kmalloc` pops from the class's array with no handle lookup, and its `kfree` tells from the
/// page map's word alone, by one subtraction, whether the address is in a slab of one of the
/// classes on this core's node, and which, with no cache lookup and no owner check (the set's
/// caches are its owner's). Its classes have no debug checks (`kmalloc_set` refuses a set whose
/// classes do).
pub struct KmallocRef<'g, 'a> {
    guard: &'g mut CoreGuard<'a>,
    set: KmallocSet,
    /// This core's view of each class's cache, from `CoreState::cache_ptr`; valid while `guard`
    /// is borrowed (as `CacheRef::cache`).
    classes: [NonNull<CoreCache>; 13],
    /// The page map key of class 0's slabs on this core's node when the 13 classes' real caches
    /// are consecutive (so class `k`'s key is `key0 + k`), else `NO_SLAB_KEY`, which no frame
    /// has (then every `kfree` takes the guard's `kfree`).
    key0: u32,
    /// The guard's core.
    me: u8,
}

impl fmt::Debug for KmallocRef<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmallocRef")
            .field("core", &self.guard.core)
            .field("owner", &self.set.owner)
            .finish_non_exhaustive()
    }
}

impl<'a> CoreGuard<'a> {
    /// `set` resolved once for a run of operations on this core (see [`KmallocRef`]).
    pub fn kmalloc_set(&mut self, set: &KmallocSet) -> Result<KmallocRef<'_, 'a>, KmallocError> {
        let mut classes = [NonNull::dangling(); 13];
        let mut reals = [0u32; 13];
        for (k, &id) in set.caches.iter().enumerate() {
            let real = self.state.resolve(id).ok_or(KmallocError::BadSet)?;
            let cc = self.state.cache(real).ok_or(KmallocError::BadSet)?;
            // A real set's classes are its owner's, without debug checks (only a hand-made
            // `KmallocSet` can differ; the guard's own kmalloc serves that one).
            if cc.owner != set.owner || cc.checked {
                return Err(KmallocError::BadSet);
            }
            reals[k] = real as u32;
            classes[k] = self.state.cache_ptr(real).ok_or(KmallocError::BadSet)?;
        }
        let consecutive = reals.windows(2).all(|w| w[1] == w[0].wrapping_add(1));
        Ok(KmallocRef {
            key0: if consecutive {
                slab_key(reals[0], self.node)
            } else {
                NO_SLAB_KEY
            },
            me: self.core.0,
            guard: self,
            set: *set,
            classes,
        })
    }
}

impl KmallocRef<'_, '_> {
    /// As [`CoreGuard::kmalloc`].
    #[inline(always)]
    pub fn kmalloc(&mut self, size: usize) -> Result<usize, KmallocError> {
        match class_of(size) {
            Some(c) if size != 0 => {
                // SAFETY: see the field's invariant; `&mut self` borrows the guard exclusively.
                let cc = unsafe { self.classes[c].as_mut() };
                match pop_unchecked(cc, self.me) {
                    Some(a) => Ok(a),
                    None => self.guard.kmalloc_miss(self.set.caches[c], size),
                }
            }
            _ => self.guard.kmalloc(&self.set, size),
        }
    }

    /// As [`CoreGuard::kfree`].
    #[inline(always)]
    pub fn kfree(&mut self, addr: usize) -> Result<(), FreeError> {
        let g = &mut *self.guard;
        let (key, in_slab, states) = g.alloc.map.lookup_keyed(addr);
        // Class `k`'s slabs on this node have key `key0 + k` (real caches below
        // `MAX_REAL_CACHES` keep the sum inside the cache field), and only they.
        let k = key.wrapping_sub(self.key0) as usize;
        if let Some(class) = self.classes.get_mut(k) {
            // SAFETY: as in `kmalloc`.
            let cc = unsafe { class.as_mut() };
            // SAFETY: `states` was read with the entry of a slab of class `k`'s cache, which
            // starts `in_slab` bytes before `addr`; the guard holds the core lock.
            let step = unsafe { free_in_slab(cc, self.me, in_slab, states, addr) };
            let real = cc.real as usize;
            return g.finish_free(real, addr, step);
        }
        g.kfree(&self.set, addr)
    }
}

impl Allocator {
    /// The real cache index of cache `id` (registry lock), as [`Allocator::slab_cache_of`]
    /// reads it from the page map; `None` if the handle is gone.
    pub fn cache_real(&self, id: CacheId) -> Option<u32> {
        self.registry.lock().resolve(id)
    }

    /// The real cache indexes of `set`'s 13 classes, in class order (registry lock; for callers
    /// that map a slab's cache to its class without a lock afterwards, see
    /// [`Allocator::slab_cache_of`]). `None` if a handle of the set is gone.
    pub fn kmalloc_reals(&self, set: &KmallocSet) -> Option<[u32; 13]> {
        let reg = self.registry.lock();
        let mut out = [0u32; 13];
        for (o, &id) in out.iter_mut().zip(set.caches.iter()) {
            *o = reg.resolve(id)?;
        }
        Some(out)
    }

    /// The real cache whose slab holds `addr`, read from the page map with one atomic load and
    /// no lock; `None` for a large block or memory that is not a slab. A hint, not a check: for
    /// an object the caller holds allocated, its slab cannot go away, so the answer is exact;
    /// for anything else it may be stale, and a free through a core checks the address anyway.
    /// (What a per-thread cache in front of the cores uses to file a freed object by class.)
    #[inline(always)]
    pub fn slab_cache_of(&self, addr: usize) -> Option<u32> {
        match self.map.lookup(addr) {
            Entry::Slab { cache, .. } => Some(cache),
            _ => None,
        }
    }
}
