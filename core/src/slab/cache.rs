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
use crate::topology::{NodeId, Topology};

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
    /// A flush left a node with more empty slabs than `min_partial` allows; the allocator's
    /// `trim` returns them to the buddy layer once no core lock is held.
    pub trim_wanted: AtomicBool,
}

impl Cache {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        real: u32,
        own_id: CacheId,
        name: String,
        owner: OwnerId,
        flags: CacheFlags,
        ctor: Ctor,
        layout: Layout,
        topology: &Topology,
    ) -> Cache {
        let tunables = Tunables::for_stride(layout.stride as usize, topology.cores());
        let nodes = (0..topology.nodes())
            .map(|n| {
                let rng = flags
                    .contains(CacheFlags::RANDOM_FREELIST)
                    .then(|| FreelistRng::new((real as u64) << 8 | n as u64 | 0x9e37_79b9 << 32));
                Padded(spin::Mutex::new(NodeCache::new(
                    tunables.shared_limit(),
                    rng,
                )))
            })
            .collect();
        Cache {
            real,
            own_id,
            name,
            owner,
            checks: Checks::new(flags, !ctor.is_none()),
            flags,
            ctor,
            min_partial: super::layout::min_partial(layout.stride as usize),
            layout,
            tunables,
            nodes,
            inbox: (0..topology.cores())
                .map(|_| Padded(spin::Mutex::new(Vec::new())))
                .collect(),
            violations: AtomicU64::new(0),
            trim_wanted: AtomicBool::new(false),
        }
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
                && self.grow(&mut nc, node, env, new_slabs)
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

    /// Adds one new slab from `node`'s buddy zone; false when the zone has no block.
    fn grow(
        &self,
        nc: &mut NodeCache,
        node: NodeId,
        env: Env<'_>,
        new_slabs: &mut Vec<NewSlab>,
    ) -> bool {
        let l = &self.layout;
        let Ok(block) = env.buddy.alloc_on(l.order, node) else {
            return false;
        };
        let Some(head) = env.map.frame_of(block.addr) else {
            debug_assert!(false, "buddy block outside the page map");
            let _ = env.buddy.free(block.addr, block.order);
            return false;
        };
        let rng = if self.flags.contains(CacheFlags::RANDOM_FREELIST) {
            nc.rng.as_mut()
        } else {
            None
        };
        let rec = SlabRec::new(
            block.addr,
            head,
            l.objects as usize,
            self.checks.store_user,
            self.checks.orig_size.then_some(l.object_size),
            rng,
        );
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
        true
    }

    /// Returns objects held by `holder` to their home nodes (shared array first when
    /// `use_shared`, else their slabs), one node lock at a time, dropping stale entries. `objs`
    /// is left empty.
    pub fn flush(&self, env: Env<'_>, objs: &mut Vec<Obj>, use_shared: bool, holder: Holder) {
        while let Some(first) = objs.first() {
            let node = node_of(env.map, first.addr);
            let mut nc = self.node(node).lock();
            let mut i = 0;
            while i < objs.len() {
                if node_of(env.map, objs[i].addr) == node {
                    let o = objs.swap_remove(i);
                    nc.give_back(core::iter::once(o), env.map, use_shared, holder);
                } else {
                    i += 1;
                }
            }
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
