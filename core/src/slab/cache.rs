//! A real cache: its immutable description (name, owner, flags, constructor, layout, tunables)
//! and its per-node state, plus the slow paths that move objects between the per-core arrays
//! and the nodes: refill (shared array → partial → free → new slab, local node first, then the
//! others in distance order), flush (to the shared array, else to the slabs), growth from the
//! buddy layer, and release of slabs back to it.
//!
//! Locking: each node's `NodeCache` is behind its own `spin::Mutex`; these functions take one
//! node lock at a time (growth calls into the buddy layer with it held). `release` must only be
//! called with all core locks held (see the `slab` module docs).
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use super::array::Obj;
use super::debug::Checks;
use super::error::{AllocError, FreeError};
use super::layout::{Layout, Tunables};
use super::node::{Holder, List, NodeCache, SlabRec};
use super::object_mem;
use super::page_map::{Entry, PageMap, StateRef};
use super::params::{CacheFlags, CacheId, Ctor, OwnerId};
use super::random::FreelistRng;
use super::{NewSlab, Padded};
use crate::buddy::Buddy;
use crate::meta::{self, MetaAccount, MetaError};
use crate::topology::{NodeId, Topology};
use alloc::sync::Arc;

/// What the slow paths need from the allocator.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    pub buddy: &'a Buddy,
    pub map: &'a PageMap,
    pub topology: &'a Topology,
    /// Raised when a cache holds more empty slabs than Linux keeps (see `Cache::trim_wanted`).
    pub trim_pending: &'a AtomicBool,
}

#[derive(Debug)]
pub struct Cache {
    /// Index among real caches (the page map's cache field).
    pub real: u32,
    /// The handle it was created under (reported in `NewSlab`).
    pub own_id: CacheId,
    pub name: String,
    pub owner: OwnerId,
    pub flags: CacheFlags,
    pub ctor: Ctor,
    pub layout: Layout,
    pub tunables: Tunables,
    pub min_partial: usize,
    pub checks: Checks,
    pub nodes: Box<[Padded<spin::Mutex<NodeCache>>]>,
    /// Per core: objects it allocated that other cores freed, handed over in batches (see
    /// `page_map::state`). A leaf lock: nothing else is taken while it is held.
    pub inbox: Box<[Padded<spin::Mutex<Vec<Obj>>>]>,
    /// Debug violations found in this cache's objects.
    pub violations: AtomicU64,
    /// Objects in quarantine (state `quarantined`): found damaged by an allocation.
    pub quarantined: AtomicU64,
    /// A flush left a node with more empty slabs than `min_partial` allows; the allocator's
    /// `trim` returns them to the buddy layer once no core lock is held.
    pub trim_wanted: AtomicBool,
    /// Charged for this cache's metadata: its record ([`meta::cache_bytes`], charged by its
    /// creator), its slabs and its nodes' record tables; released as each goes (the record and
    /// the tables when the cache is dropped).
    pub account: Option<Arc<MetaAccount>>,
    pub record_bytes: u64,
}

impl Drop for Cache {
    fn drop(&mut self) {
        let tables: usize = self.nodes.iter().map(|n| n.lock().table_bytes()).sum();
        meta::release(self.account.as_deref(), self.record_bytes + tables as u64);
    }
}

impl Cache {
    /// A cache with no slabs yet; its vectors are allocated fallibly. `record_bytes` (already
    /// charged to `account` by the caller) is released when the cache is dropped.
    #[allow(clippy::too_many_arguments)]
    pub fn try_new(
        real: u32,
        own_id: CacheId,
        name: &str,
        owner: OwnerId,
        flags: CacheFlags,
        ctor: Ctor,
        layout: Layout,
        topology: &Topology,
        account: Option<Arc<MetaAccount>>,
        record_bytes: u64,
    ) -> Result<Cache, MetaError> {
        // Built first so that a refusal below releases the charge (through `Drop`).
        let mut cache = Cache {
            real,
            own_id,
            name: String::new(),
            owner,
            checks: Checks::new(flags, !ctor.is_none()),
            flags,
            ctor,
            min_partial: super::layout::min_partial(layout.stride as usize),
            layout,
            tunables: Self::tunables(&layout, topology),
            nodes: Box::new([]),
            inbox: Box::new([]),
            violations: AtomicU64::new(0),
            quarantined: AtomicU64::new(0),
            trim_wanted: AtomicBool::new(false),
            account,
            record_bytes,
        };
        let mut s = String::new();
        s.try_reserve_exact(name.len())
            .map_err(|e| meta::heap_error(e, name.len()))?;
        s.push_str(name);
        cache.name = s;
        let mut nodes = meta::try_vec(topology.nodes())?;
        for n in 0..topology.nodes() {
            let rng = flags
                .contains(CacheFlags::RANDOM_FREELIST)
                .then(|| FreelistRng::new((real as u64) << 8 | n as u64 | 0x9e37_79b9 << 32));
            nodes.push(Padded(spin::Mutex::new(NodeCache::try_new(
                cache.tunables.shared_limit(),
                rng,
                cache.account.clone(),
            )?)));
        }
        cache.nodes = nodes.into_boxed_slice();
        let mut inbox = meta::try_vec(topology.cores())?;
        inbox.extend((0..topology.cores()).map(|_| Padded(spin::Mutex::new(Vec::new()))));
        cache.inbox = inbox.into_boxed_slice();
        Ok(cache)
    }

    /// The tunables of a cache with `layout` (SLAB's `enable_cpucache`).
    pub fn tunables(layout: &Layout, topology: &Topology) -> Tunables {
        Tunables::for_stride(layout.stride as usize, topology.cores())
    }

    /// Whether alloc and free take the checked path.
    pub fn checked(&self) -> bool {
        self.flags.intersects(CacheFlags::DEBUG)
    }

    /// Bypasses the per-core arrays (`CONSISTENCY_CHECKS`).
    pub fn direct(&self) -> bool {
        self.flags.contains(CacheFlags::CONSISTENCY_CHECKS)
    }

    pub fn node(&self, n: NodeId) -> &spin::Mutex<NodeCache> {
        &self.nodes[n.0 as usize]
    }

    /// Fills `out` with up to `want` objects (at most `max`, see `NodeCache::take`), from `local` first and then the other nodes in
    /// distance order; a node whose shared array and lists are empty grows by one slab (as
    /// SLAB's `cache_alloc_refill`).
    #[allow(clippy::too_many_arguments)]
    pub fn refill(
        &self,
        env: Env<'_>,
        local: NodeId,
        want: usize,
        max: usize,
        out: &mut Vec<Obj>,
        new_slabs: &mut Vec<NewSlab>,
        core: u8,
    ) -> Result<(), AllocError> {
        let nodes = env.topology.fallback_order(local);
        self.refill_from(env, nodes, want, max, out, new_slabs, core)
    }

    /// [`refill`](Self::refill) from `nodes`, in that order.
    #[allow(clippy::too_many_arguments)]
    pub fn refill_from(
        &self,
        env: Env<'_>,
        nodes: &[NodeId],
        want: usize,
        max: usize,
        out: &mut Vec<Obj>,
        new_slabs: &mut Vec<NewSlab>,
        core: u8,
    ) -> Result<(), AllocError> {
        let start = out.len();
        for &node in nodes {
            let mut nc = self.node(node).lock();
            if nc.take(want, max, &self.layout, env.map, out, core) == 0
                && self
                    .grow(&mut nc, node, env, new_slabs)
                    .map_err(AllocError::Metadata)?
            {
                nc.take(want, max, &self.layout, env.map, out, core);
            }
            if out.len() > start {
                // Popped from the end: hand out in the order taken (address order in a new slab).
                out[start..].reverse();
                return Ok(());
            }
        }
        Err(AllocError::OutOfMemory)
    }

    /// Adds one new slab from `node`'s buddy zone; false when the zone has no block. Its
    /// metadata is charged to the cache's account first: a refusal changes nothing.
    fn grow(
        &self,
        nc: &mut NodeCache,
        node: NodeId,
        env: Env<'_>,
        new_slabs: &mut Vec<NewSlab>,
    ) -> Result<bool, MetaError> {
        let l = &self.layout;
        let account = self.account.as_deref();
        let slab = self.slab_bytes();
        let table = nc.slot_growth() as u64;
        meta::charge(account, slab + table)?;
        if table > 0 {
            if let Err(e) = nc.grow_slots() {
                meta::release(account, slab + table);
                return Err(e);
            }
        }
        let Ok(block) = env.buddy.alloc_on(l.order, node) else {
            meta::release(account, slab);
            return Ok(false);
        };
        let Some(head) = env.map.frame_of(block.addr) else {
            debug_assert!(false, "buddy block outside the page map");
            let _ = env.buddy.free(block.addr, block.order);
            meta::release(account, slab);
            return Ok(false);
        };
        let rng = if self.flags.contains(CacheFlags::RANDOM_FREELIST) {
            nc.rng.as_mut()
        } else {
            None
        };
        let rec = match SlabRec::try_new(
            block.addr,
            head,
            l.objects as usize,
            self.checks.store_user,
            self.checks.orig_size.then_some(l.object_size),
            rng,
        ) {
            Ok(rec) => rec,
            Err(e) => {
                let _ = env.buddy.free(block.addr, block.order);
                meta::release(account, slab);
                return Err(e);
            }
        };
        self.checks.init_padding(l, block.addr);
        let first = block.addr + l.obj_offset as usize;
        for i in 0..l.objects as usize {
            let obj = first + i * l.stride as usize;
            self.checks.init_free(l, obj);
            if let Ctor::Local(f) = self.ctor {
                object_mem::construct(f, obj);
            }
        }
        let i = nc.add_slab(rec);
        let states = &nc.rec(i).expect("just added").states;
        env.map
            .publish_slab(head, 1 << l.order, self.real, node, states, i);
        if let Ctor::Remote = self.ctor {
            new_slabs.push(NewSlab {
                cache: self.own_id,
                first,
                objects: l.objects,
                stride: l.stride,
                object_size: l.object_size,
            });
        }
        Ok(true)
    }

    /// Metadata bytes of one slab of this cache.
    pub fn slab_bytes(&self) -> u64 {
        meta::slab_bytes(&self.layout, self.checks.store_user, self.checks.orig_size)
    }

    /// Returns objects held by `holder` to their home nodes (shared array first when
    /// `use_shared`, else their slabs), one node lock at a time, dropping stale entries. `objs`
    /// is left empty.
    pub fn flush(&self, env: Env<'_>, objs: &mut Vec<Obj>, use_shared: bool, holder: Holder) {
        while let Some(first) = objs.first() {
            let node = node_of(env.map, first.addr);
            let mut nc = self.node(node).lock();
            nc.give_back_of_node(node, objs, env.map, use_shared, holder);
            if nc.slabs_on(List::Free) > self.keep_empty(&nc) {
                self.trim_wanted.store(true, Ordering::Relaxed);
                env.trim_pending.store(true, Ordering::Release);
            }
        }
    }

    /// Empty slabs a node keeps, as Linux discards an empty slab on free once the node holds
    /// `min_partial` partial slabs: `min_partial` less the node's partial slabs.
    pub fn keep_empty(&self, nc: &NodeCache) -> usize {
        self.min_partial.saturating_sub(nc.slabs_on(List::Partial))
    }

    /// Gives released slabs' frames back to the buddy layer. Call only with all core locks held.
    pub fn release(&self, env: Env<'_>, recs: Vec<SlabRec>) -> usize {
        let frames = 1usize << self.layout.order;
        let n = recs.len();
        meta::release(self.account.as_deref(), n as u64 * self.slab_bytes());
        for rec in recs {
            env.map.clear(rec.head, frames);
            let r = env.buddy.free(rec.base, self.layout.order);
            debug_assert!(r.is_ok(), "slab {:#x} not freeable: {r:?}", rec.base);
        }
        n * frames
    }
}

fn node_of(map: &PageMap, addr: usize) -> NodeId {
    match map.lookup(addr) {
        Entry::Slab { node, .. } => node,
        _ => {
            debug_assert!(false, "cached object {addr:#x} has no slab");
            NodeId(0)
        }
    }
}

/// Where a checked object is: its state byte, home node, and its slab (first object's address
/// and state byte).
#[derive(Clone, Copy, Debug)]
pub struct Located {
    pub state: StateRef,
    pub home: NodeId,
    pub first: usize,
    pub states: StateRef,
}

/// Checks that `addr` is the start of an object of real cache `real` laid out as `l`, and finds
/// its state byte and home node. O(1), reads no object memory.
#[inline(always)]
pub fn locate(
    map: &PageMap,
    real: u32,
    l: &Layout,
    addr: usize,
) -> Result<(StateRef, NodeId), FreeError> {
    let (entry, states) = map.lookup_states(addr);
    locate_entry(map, entry, states, real, l, addr).map(|at| (at.state, at.home))
}

/// `locate` with the page map entry of `addr` and its state bytes pointer already read
/// (`PageMap::lookup_states`).
#[inline(always)]
pub fn locate_entry(
    map: &PageMap,
    entry: Entry,
    states: *mut AtomicU8,
    real: u32,
    l: &Layout,
    addr: usize,
) -> Result<Located, FreeError> {
    let (cache, node, head) = match entry {
        Entry::Slab { cache, node, head } => (cache, node, head),
        Entry::Large { .. } => return Err(FreeError::WrongCache { addr }),
        Entry::None if addr == 0 => return Err(FreeError::Null),
        Entry::None => return Err(FreeError::NotOurs { addr }),
    };
    if cache != real {
        return Err(FreeError::WrongCache { addr });
    }
    let first = map.frame_addr(head) + l.obj_offset as usize;
    let off = addr.wrapping_sub(first);
    match (off < l.span as usize).then(|| l.index_of(off)).flatten() {
        Some(idx) => {
            // SAFETY: the entry read with `states` names a slab of this cache, so `states` is its
            // published state bytes pointer, and `idx` is below its objects (`span` covers them);
            // the caller holds a core lock (the `PageMap` module invariant).
            let states = unsafe { StateRef::from_base(states, 0) };
            Ok(Located {
                // SAFETY: as above.
                state: unsafe { states.nth(idx) },
                home: node,
                first,
                states,
            })
        }
        _ => Err(interior(l, first, addr)),
    }
}

/// The error for `addr`, inside the slab whose first object is at `first` but not at an object's
/// start: the object it points into (or the nearest one).
#[cold]
fn interior(l: &Layout, first: usize, addr: usize) -> FreeError {
    let object = if addr < first {
        first
    } else if addr - first >= l.span as usize {
        first + (l.span - l.stride) as usize
    } else {
        first + (addr - first) / l.stride as usize * l.stride as usize
    };
    FreeError::Interior { addr, object }
}
