//! kmalloc, kfree and ksize on one core: a size class's cache through the hot table, or a large
//! block straight from the buddy layer (recorded in the large-block table, under its lock).
use super::guard::pop_fast;
use super::*;

impl CoreGuard<'_> {
    /// `size` bytes from `set`'s size classes, or a buddy block above 8 KiB.
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
                self.kmalloc_miss(set.caches[c])
            }
            Some(_) => Err(KmallocError::ZeroSize),
            None => self.kmalloc_large(set, size),
        }
    }

    /// `kmalloc` of a class whose handle is not hot, or whose array had nothing to pop.
    #[cold]
    #[inline(never)]
    pub(super) fn kmalloc_miss(&mut self, id: CacheId) -> Result<usize, KmallocError> {
        self.alloc_miss(id).map_err(|e| match e {
            AllocError::BadCache(_) => KmallocError::BadSet,
            AllocError::OutOfMemory => KmallocError::OutOfMemory,
            AllocError::Corrupted(v) => KmallocError::Corrupted(v),
        })
    }

    /// Like `kmalloc`, zeroing the usable size.
    pub fn kzalloc(&mut self, set: &KmallocSet, size: usize) -> Result<usize, KmallocError> {
        let addr = self.kmalloc(set, size)?;
        let usable = self.ksize(set, addr).expect("just allocated");
        crate::slab::object_mem::fill(addr, usable, 0);
        Ok(addr)
    }

    #[cold]
    pub(super) fn kmalloc_large(
        &mut self,
        set: &KmallocSet,
        size: usize,
    ) -> Result<usize, KmallocError> {
        if size > KMALLOC_MAX_SIZE {
            return Err(KmallocError::TooLarge {
                size,
                max: KMALLOC_MAX_SIZE,
            });
        }
        if self.state.resolve(set.caches[0]).is_none() {
            return Err(KmallocError::BadSet);
        }
        let order = large_order(size);
        let mut large = self.alloc.large.lock();
        let block = self
            .alloc
            .buddy
            .alloc(order, self.node)
            .map_err(|_| KmallocError::OutOfMemory)?;
        let head = self
            .alloc
            .map
            .frame_of(block.addr)
            .expect("buddy block in map");
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

    /// Frees a kmalloc'd address (any object or large block of `set`'s owner).
    #[inline(always)]
    pub fn kfree(&mut self, set: &KmallocSet, addr: usize) -> Result<(), FreeError> {
        let (e, states) = self.alloc.map.lookup_states(addr);
        match e {
            Entry::Slab { cache, .. } => {
                self.free_entry(cache as usize, addr, e, states, Some(set.owner))
            }
            Entry::Large { .. } => self.kfree_large(set, addr),
            Entry::None if addr == 0 => Err(FreeError::Null),
            Entry::None => Err(FreeError::NotOurs { addr }),
        }
    }

    #[cold]
    pub(super) fn kfree_large(&mut self, set: &KmallocSet, addr: usize) -> Result<(), FreeError> {
        let mut large = self.alloc.large.lock();
        let (start, b) = self.large_block(&large, set, addr)?;
        large.blocks.remove(&start);
        self.alloc.free_large_block(b.owner, start, b.order);
        Ok(())
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

    /// Usable size of the allocated object (or large block) at `addr` of `set`'s owner.
    pub fn ksize(&self, set: &KmallocSet, addr: usize) -> Result<usize, FreeError> {
        match self.alloc.map.lookup(addr) {
            Entry::Slab { cache, .. } => {
                let Some(cc) = self.state.cache(cache as usize) else {
                    return Err(FreeError::NotOurs { addr });
                };
                if cc.cache.owner != set.owner {
                    return Err(FreeError::ForeignOwner { addr });
                }
                let (st, _) = locate(&self.alloc.map, cache, &cc.layout, addr)?;
                let s = st.get().load(Ordering::Acquire);
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
            Entry::None if addr == 0 => Err(FreeError::Null),
            Entry::None => Err(FreeError::NotOurs { addr }),
        }
    }
}
