//! The rest of Linux's slab API on one core, over the paths of `guard`, `slow` and `kmalloc`:
//! allocation on a chosen memory node (`kmem_cache_alloc_node`, `kmalloc_node`, falling back in
//! distance order unless the caller forbids it, as `__GFP_THISNODE` does), bulk allocation and
//! free with Linux's all-or-nothing result, `krealloc`, `kmalloc_array`/`kcalloc` with an
//! overflow check, and `kmem_cache_size`.
use super::*;
use crate::kmalloc::ZERO_SIZE_PTR;
use crate::slab::object_mem;

/// Where an allocation bound to a node may come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodePolicy {
    /// That node first, then the others in distance order (Linux's default).
    Prefer,
    /// That node only (`__GFP_THISNODE`): `OutOfMemory` if it has nothing.
    Only,
}

impl CoreGuard<'_> {
    /// `kmem_cache_alloc_node`: one object of cache `id` from a slab on `node` (see
    /// [`NodePolicy`]). From this core's node, with fallback, it is a plain `alloc`.
    pub fn alloc_node(
        &mut self,
        id: CacheId,
        node: NodeId,
        policy: NodePolicy,
    ) -> Result<usize, AllocError> {
        if node.0 as usize >= self.alloc.topology.nodes() {
            return Err(AllocError::BadNode);
        }
        if node == self.node && policy == NodePolicy::Prefer {
            return self.alloc(id);
        }
        let real = self.state.resolve(id).ok_or(AllocError::BadCache(id))?;
        let env = self.alloc.env();
        let me = self.core.0;
        let only = [node];
        let nodes = match policy {
            NodePolicy::Only => &only[..],
            NodePolicy::Prefer => env.topology.fallback_order(node),
        };
        // As in `alloc_slow`: each damaged object found is quarantined, so the loop ends.
        loop {
            let (cc, new_slabs, scratch) = self
                .state
                .cache_parts(real)
                .ok_or(AllocError::BadCache(id))?;
            scratch.clear();
            cc.cache
                .refill_from(env, nodes, 1, 1, scratch, new_slabs, me)?;
            let o = scratch.pop().ok_or(AllocError::OutOfMemory)?;
            if !cc.checked {
                o.state.get().store(state::allocated(me), Ordering::Release);
                return Ok(o.addr);
            }
            if let Some(addr) = self.finish_checked_alloc(real, o) {
                return Ok(addr);
            }
        }
    }

    /// `alloc_node`, the object zeroed (its usable size).
    pub fn zalloc_node(
        &mut self,
        id: CacheId,
        node: NodeId,
        policy: NodePolicy,
    ) -> Result<usize, AllocError> {
        let addr = self.alloc_node(id, node, policy)?;
        let real = self.state.resolve(id).ok_or(AllocError::BadCache(id))?;
        let usable = self.cache_at(real).layout.usable as usize;
        object_mem::fill(addr, usable, 0);
        Ok(addr)
    }

    /// `kzalloc_node`: `kmalloc_node`, zeroed as `kzalloc` zeroes.
    pub fn kzalloc_node(
        &mut self,
        set: &KmallocSet,
        size: usize,
        node: NodeId,
        policy: NodePolicy,
    ) -> Result<usize, KmallocError> {
        let addr = self.kmalloc_node(set, size, node, policy)?;
        if addr == ZERO_SIZE_PTR {
            return Ok(addr);
        }
        let usable = self
            .usable_size(set, addr)
            .map_err(KmallocError::BadPointer)?;
        let len = self.requested_size(addr).unwrap_or(usable);
        object_mem::fill(addr, len, 0);
        Ok(addr)
    }

    /// `kmem_cache_alloc_bulk`: fills all of `out` with objects of `id`, or allocates none
    /// (`OutOfMemory`, every object taken so far given back).
    pub fn alloc_bulk(&mut self, id: CacheId, out: &mut [usize]) -> Result<(), AllocError> {
        if out.is_empty() {
            return Ok(());
        }
        let got = self.alloc_batch(id, out)?;
        if got < out.len() {
            let back = self.free_batch(id, &out[..got]);
            debug_assert!(back.is_ok(), "objects just allocated: {back:?}");
            return Err(AllocError::OutOfMemory);
        }
        Ok(())
    }

    /// `kmem_cache_free_bulk`: frees every address of `addrs` or none (every address is checked
    /// before the first is freed; see [`free_batch`](Self::free_batch)).
    pub fn free_bulk(&mut self, id: CacheId, addrs: &[usize]) -> Result<(), BatchFreeError> {
        self.free_batch(id, addrs)
    }

    /// `kmalloc_node`: as `kmalloc`, from `node` (see [`NodePolicy`]); a large block comes from
    /// that node's buddy zone. Size 0 is [`ZERO_SIZE_PTR`] whatever the node, as in Linux.
    pub fn kmalloc_node(
        &mut self,
        set: &KmallocSet,
        size: usize,
        node: NodeId,
        policy: NodePolicy,
    ) -> Result<usize, KmallocError> {
        if size == 0 {
            return Ok(ZERO_SIZE_PTR);
        }
        if node.0 as usize >= self.alloc.topology.nodes() {
            return Err(KmallocError::BadNode);
        }
        if node == self.node && policy == NodePolicy::Prefer {
            return self.kmalloc(set, size);
        }
        match class_of(size) {
            Some(c) => {
                let id = set.caches[c];
                let addr = self.alloc_node(id, node, policy).map_err(|e| match e {
                    AllocError::BadCache(_) => KmallocError::BadSet,
                    AllocError::OutOfMemory => KmallocError::OutOfMemory,
                    AllocError::BadNode => KmallocError::BadNode,
                    AllocError::Metadata(m) => KmallocError::Metadata(m),
                })?;
                if let Some(cc) = self.checked_class_of(addr) {
                    let cache = cc.cache.clone();
                    self.set_requested(&cache, addr, size);
                }
                Ok(addr)
            }
            None => self.kmalloc_large_on(set, size, node, policy),
        }
    }

    /// `kmalloc_array(n, size)`: `n * size` bytes, zeroed if `zero` (`kcalloc`); an overflowing
    /// product is refused.
    pub fn kmalloc_array(
        &mut self,
        set: &KmallocSet,
        n: usize,
        size: usize,
        zero: bool,
    ) -> Result<usize, KmallocError> {
        let bytes = n
            .checked_mul(size)
            .ok_or(KmallocError::Overflow { n, size })?;
        if zero {
            self.kzalloc(set, bytes)
        } else {
            self.kmalloc(set, bytes)
        }
    }

    /// `kcalloc(n, size)`: `kmalloc_array` zeroed.
    pub fn kcalloc(
        &mut self,
        set: &KmallocSet,
        n: usize,
        size: usize,
    ) -> Result<usize, KmallocError> {
        self.kmalloc_array(set, n, size, true)
    }

    /// `krealloc(addr, new_size)`. Address 0 (or [`ZERO_SIZE_PTR`]) is a `kmalloc`; size 0
    /// frees the block and returns [`ZERO_SIZE_PTR`], as Linux. A size
    /// that fits the block's usable size keeps the block: in a red-zoned class the requested
    /// size becomes `new_size`, the bytes it grows over are zeroed (they held red zone) and the
    /// bytes beyond it become red zone. Otherwise a new block is allocated, the old contents
    /// copied, and the old block freed. `zero` (`__GFP_ZERO`) zeroes what the block grows by.
    /// Refused (bad pointer, damaged red zone of the old block, no memory): nothing changed.
    pub fn krealloc(
        &mut self,
        set: &KmallocSet,
        addr: usize,
        new_size: usize,
        zero: bool,
    ) -> Result<usize, KmallocError> {
        if addr == 0 || addr == ZERO_SIZE_PTR {
            return if zero {
                self.kzalloc(set, new_size)
            } else {
                self.kmalloc(set, new_size)
            };
        }
        // Every check of the free comes first (red zones included), so that a refused krealloc
        // has allocated nothing.
        let usable = self.check_kfree(set, addr).map_err(|e| match e {
            FreeError::Corrupted(v) => KmallocError::Corrupted(v),
            e => KmallocError::BadPointer(e),
        })?;
        if new_size == 0 {
            self.kfree(set, addr).map_err(KmallocError::BadPointer)?;
            return Ok(ZERO_SIZE_PTR);
        }
        let old = self.requested_size(addr).unwrap_or(usable);
        if new_size <= usable {
            if let Some(cc) = self.checked_class_of(addr) {
                let cache = cc.cache.clone();
                if let Some(v) = self.check_live(&cache, addr) {
                    let v = self.report(&cache, addr, v, crate::slab::CheckedOp::Free);
                    return Err(KmallocError::Corrupted(v));
                }
                if new_size > old {
                    object_mem::fill(addr + old, new_size - old, 0);
                }
                self.set_requested(&cache, addr, new_size);
            }
            return Ok(addr);
        }
        let new = if zero {
            self.kzalloc(set, new_size)?
        } else {
            self.kmalloc(set, new_size)?
        };
        object_mem::copy(addr, new, old);
        if let Err(e) = self.kfree(set, addr) {
            let undo = self.kfree(set, new);
            debug_assert!(undo.is_ok(), "block just allocated: {undo:?}");
            return Err(KmallocError::BadPointer(e));
        }
        Ok(new)
    }
}

impl Allocator {
    /// `kmem_cache_size`: the object size the cache `id` was created with.
    pub fn kmem_cache_size(&self, id: CacheId) -> Result<usize, CacheError> {
        self.cache_info(id).map(|i| i.layout.object_size as usize)
    }
}
