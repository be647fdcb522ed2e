//! The top-level [`Allocator`]: buddy layer, page map, per-core state and the registry of caches;
//! and the [`CoreGuard`] through which one core allocates and frees.
//!
//! Hot path: `Allocator::core(c)` takes core `c`'s spin lock once for a batch of work; the
//! guard's `alloc`/`free` then resolve the handle in the core's own table and pop or push the
//! core's array, with no further lock and no atomic read-modify-write (a free of an object
//! allocated on another core takes it with one compare-exchange; see `slab::page_map::state`).
//! Refill, flush, alien flush, cross-core frees and debug checks are separate cold functions.
//!
//! Maintenance (create, destroy, shrink, purge, slabinfo, validate, statistics) takes the
//! registry lock, then, where it must see or change every core, all core locks in ascending
//! order, then node locks; see the `slab` module for the full lock order. A thread holding a
//! `CoreGuard` must not call maintenance, nor take a second guard.
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::buddy::Buddy;
use crate::kmalloc::{
    class_of, large_order, KmallocSet, LargeBlocks, LargeRec, KMALLOC_MAX_SIZE, KMALLOC_NAMES,
    KMALLOC_SIZES,
};
use crate::platform::MemRange;
use crate::release::PageRelease;
use crate::slab::array::Obj;
use crate::slab::cache::{locate, locate_entry, Cache, Env};
use crate::slab::debug::{Track, TrackPair};
use crate::slab::merge;
use crate::slab::node::Holder;
use crate::slab::node::{List, SlabRec};
use crate::slab::page_map::{state, Entry, PageMap, StateRef, MAX_REAL_CACHES};
use crate::slab::percore::{CoreCache, CoreState, Handle, HotSlab, NO_CACHE};
use crate::slab::{
    AllocError, BatchFreeError, CacheError, CacheFlags, CacheId, CacheParams, CoreError,
    CreateError, DestroyError, FreeError, InitError, Invariant, KmallocError, Layout, NewSlab,
    OwnerId, Padded, Tunables, MAX_NAME,
};
use crate::slabinfo::{SlabinfoRow, HEADER};
use crate::topology::{CoreId, NodeId, Topology};

/// Most cache handles alive at once.
pub const MAX_HANDLES: usize = 1 << 20;

#[derive(Debug)]
struct RealEntry {
    cache: Arc<Cache>,
    /// Handles naming this cache (its own plus aliases).
    refs: u32,
    /// Creation sequence number (slabinfo lists newest first, as Linux does).
    created: u64,
}

#[derive(Debug, Default)]
struct Registry {
    handles: Vec<Handle>,
    free_handles: Vec<u32>,
    reals: Vec<Option<RealEntry>>,
    free_reals: Vec<u32>,
    created: u64,
}

impl Registry {
    fn resolve(&self, id: CacheId) -> Option<u32> {
        let h = self.handles.get(id.index as usize)?;
        (h.generation == id.generation && h.real != NO_CACHE).then_some(h.real)
    }

    fn real(&self, real: u32) -> &RealEntry {
        self.reals[real as usize].as_ref().expect("live real cache")
    }

    fn new_handle(&mut self, real: u32) -> Result<CacheId, CreateError> {
        let index = match self.free_handles.pop() {
            Some(i) => i,
            None if self.handles.len() < MAX_HANDLES => {
                self.handles.push(Handle {
                    generation: 0,
                    real: NO_CACHE,
                });
                (self.handles.len() - 1) as u32
            }
            None => return Err(CreateError::TooManyCaches),
        };
        let h = &mut self.handles[index as usize];
        h.generation = h.generation.wrapping_add(1).max(1);
        h.real = real;
        Ok(CacheId {
            index,
            generation: h.generation,
        })
    }

    fn drop_handle(&mut self, index: u32) -> Handle {
        let h = &mut self.handles[index as usize];
        h.real = NO_CACHE;
        self.free_handles.push(index);
        *h
    }

    fn live_reals(&self) -> impl Iterator<Item = (u32, &RealEntry)> {
        self.reals
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (i as u32, r)))
    }
}

/// Description of a cache, for callers (e.g. the server telling a client its object size).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheInfo {
    pub name: String,
    pub owner: OwnerId,
    pub flags: CacheFlags,
    pub layout: Layout,
    pub tunables: Tunables,
    /// The handle names an alias of a cache created earlier (merged).
    pub is_alias: bool,
    /// Handles naming the same real cache, this one included.
    pub refs: u32,
}

/// What `purge_owner` returned to the buddy layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub caches: usize,
    pub handles: usize,
    pub slab_frames: usize,
    pub large_blocks: usize,
    pub large_frames: usize,
    /// Objects that were still allocated.
    pub live_objects: usize,
}

/// Whole-allocator accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub total_frames: usize,
    pub free_frames: usize,
    pub slab_frames: usize,
    pub large_frames: usize,
    pub real_caches: usize,
    pub handles: usize,
    /// Objects handed out and not freed (objects in arrays are not counted).
    pub objects_in_use: usize,
    /// Bytes of objects handed out (objects × object size) plus large blocks.
    pub bytes_in_use: usize,
}

/// One owner's accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnerStats {
    pub caches: usize,
    pub slab_frames: usize,
    pub large_blocks: usize,
    pub large_frames: usize,
    pub objects_in_use: usize,
}

/// The allocator core: buddy zones, slab caches per core and node, kmalloc.
///
/// ```
/// use memserver::platform::{host::HostArena, Platform};
/// use memserver::topology::{CoreId, Topology};
/// use memserver::{Allocator, CacheFlags, CacheParams, Ctor, OwnerId};
///
/// let arena = HostArena::new(16 << 20, 2).unwrap();
/// let alloc = Allocator::new(Topology::uniform(2, 1).unwrap(), arena.memory()).unwrap();
/// let cache = alloc
///     .cache_create(CacheParams {
///         name: "demo",
///         size: 40,
///         align: 8,
///         flags: CacheFlags::HWCACHE_ALIGN,
///         ctor: Ctor::None,
///         owner: OwnerId(1),
///     })
///     .unwrap();
/// let kmalloc = alloc.kmalloc_set_create(OwnerId(1)).unwrap();
/// {
///     let mut core = alloc.core(CoreId(0)).unwrap();
///     let obj = core.alloc(cache).unwrap();
///     let buf = core.kmalloc(&kmalloc, 100).unwrap();
///     assert_eq!(core.ksize(&kmalloc, buf), Ok(128));
///     core.free(cache, obj).unwrap();
///     core.kfree(&kmalloc, buf).unwrap();
/// }
/// let mut text = String::new();
/// alloc.slabinfo(Some(OwnerId(1)), &mut text).unwrap();
/// assert!(text.starts_with("slabinfo - version: 2.1\n"));
/// alloc.validate().unwrap();
/// alloc.purge_owner(OwnerId(1));
/// ```
pub struct Allocator {
    topology: Topology,
    buddy: Buddy,
    map: PageMap,
    cores: Box<[Padded<spin::Mutex<CoreState>>]>,
    registry: spin::Mutex<Registry>,
    large: spin::Mutex<LargeBlocks>,
    seq: AtomicU64,
    /// Told about every block an owner gives back, before the buddy layer gets it.
    release: Option<&'static dyn PageRelease>,
}

impl fmt::Debug for Allocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Allocator")
            .field("cores", &self.topology.cores())
            .field("nodes", &self.topology.nodes())
            .field("total_frames", &self.buddy.total_frames())
            .finish_non_exhaustive()
    }
}

impl Allocator {
    /// An allocator over `memory` (ranges tagged with nodes of `topology`). The memory must stay
    /// mapped and untouched by anyone but the allocator's users while the allocator lives.
    pub fn new(topology: Topology, memory: &[MemRange]) -> Result<Allocator, InitError> {
        Self::with_release(topology, memory, None)
    }

    /// `new`, with `release` told about every block an owner gives back (a slab of its caches,
    /// a large kmalloc block) before the buddy layer can hand it to anyone else.
    pub fn with_release(
        topology: Topology,
        memory: &[MemRange],
        release: Option<&'static dyn PageRelease>,
    ) -> Result<Allocator, InitError> {
        let buddy = Buddy::new(&topology, memory).map_err(InitError::Buddy)?;
        let map = PageMap::new(memory)?;
        let cores = (0..topology.cores())
            .map(|_| Padded(spin::Mutex::new(CoreState::default())))
            .collect();
        Ok(Allocator {
            topology,
            buddy,
            map,
            cores,
            registry: spin::Mutex::new(Registry::default()),
            large: spin::Mutex::new(LargeBlocks::default()),
            seq: AtomicU64::new(1),
            release,
        })
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn buddy(&self) -> &Buddy {
        &self.buddy
    }

    fn env(&self) -> Env<'_> {
        Env {
            buddy: &self.buddy,
            map: &self.map,
            topology: &self.topology,
        }
    }

    /// Takes core `core`'s lock for a batch of operations.
    pub fn core(&self, core: CoreId) -> Result<CoreGuard<'_>, CoreError> {
        let node = self
            .topology
            .node_of(core)
            .ok_or(CoreError::NoSuchCore(core))?;
        let mut state = self.cores[core.0 as usize].lock();
        state.new_slabs.clear();
        state.call_site = 0;
        Ok(CoreGuard {
            alloc: self,
            state,
            core,
            node,
        })
    }

    fn lock_cores(&self) -> Vec<spin::MutexGuard<'_, CoreState>> {
        self.cores.iter().map(|c| c.lock()).collect()
    }

    /// Creates a cache, or an alias of a compatible cache of the same owner (SLUB merging).
    pub fn cache_create(&self, p: CacheParams<'_>) -> Result<CacheId, CreateError> {
        self.create(p, true)
    }

    fn create(&self, p: CacheParams<'_>, may_alias: bool) -> Result<CacheId, CreateError> {
        check_name(p.name)?;
        let unknown = p.flags.bits() & !CacheFlags::all().bits();
        if unknown != 0 {
            return Err(CreateError::UnknownFlags { bits: unknown });
        }
        let layout = Layout::compute(p.size, p.align, p.flags, self.topology.cores())?;
        let mut reg = self.registry.lock();
        let mut cores = self.lock_cores();
        if may_alias && merge::mergeable(p.flags, !p.ctor.is_none()) {
            let target = reg
                .live_reals()
                .filter(|(_, r)| {
                    r.cache.owner == p.owner
                        && merge::compatible(
                            &p,
                            &layout,
                            r.cache.flags,
                            !r.cache.ctor.is_none(),
                            &r.cache.layout,
                        )
                })
                .min_by_key(|(_, r)| r.created)
                .map(|(i, _)| i);
            if let Some(real) = target {
                let id = reg.new_handle(real)?;
                reg.reals[real as usize].as_mut().expect("live").refs += 1;
                for c in cores.iter_mut() {
                    c.set_handle(id.index, reg.handles[id.index as usize]);
                }
                return Ok(id);
            }
        }
        let real = match reg.free_reals.last() {
            Some(&r) => r,
            None if reg.reals.len() < MAX_REAL_CACHES => reg.reals.len() as u32,
            None => return Err(CreateError::TooManyCaches),
        };
        let id = reg.new_handle(real)?;
        if reg.free_reals.last() == Some(&real) {
            reg.free_reals.pop();
        } else {
            reg.reals.push(None);
        }
        let cache = Arc::new(Cache::new(
            real,
            id,
            String::from(p.name),
            p.owner,
            p.flags,
            p.ctor,
            layout,
            &self.topology,
        ));
        reg.created += 1;
        let created = reg.created;
        reg.reals[real as usize] = Some(RealEntry {
            cache: cache.clone(),
            refs: 1,
            created,
        });
        for c in cores.iter_mut() {
            c.set_cache(
                real,
                Some(CoreCache::new(
                    cache.clone(),
                    self.topology.nodes(),
                    self.topology.cores(),
                )),
            );
            c.set_handle(id.index, reg.handles[id.index as usize]);
        }
        Ok(id)
    }

    /// Description of the cache `id` names.
    pub fn cache_info(&self, id: CacheId) -> Result<CacheInfo, CacheError> {
        let reg = self.registry.lock();
        let real = reg.resolve(id).ok_or(CacheError::BadCache(id))?;
        let r = reg.real(real);
        Ok(CacheInfo {
            name: r.cache.name.clone(),
            owner: r.cache.owner,
            flags: r.cache.flags,
            layout: r.cache.layout,
            tunables: r.cache.tunables,
            is_alias: r.cache.own_id != id,
            refs: r.refs,
        })
    }

    /// Destroys a cache handle. The last handle of a cache destroys the cache, refusing with
    /// `Busy` while objects are allocated (the cache then stays usable); an alias handle only
    /// drops its reference.
    pub fn cache_destroy(&self, id: CacheId) -> Result<(), DestroyError> {
        let mut reg = self.registry.lock();
        let real = reg.resolve(id).ok_or(DestroyError::BadCache(id))?;
        let mut cores = self.lock_cores();
        if reg.real(real).refs > 1 {
            reg.reals[real as usize].as_mut().expect("live").refs -= 1;
            let h = reg.drop_handle(id.index);
            for c in cores.iter_mut() {
                c.set_handle(id.index, h);
            }
            return Ok(());
        }
        let cache = reg.real(real).cache.clone();
        let live = self.live_objects(&cache);
        if live > 0 {
            return Err(DestroyError::Busy { live });
        }
        self.drain(&cache, &mut cores);
        self.release_cache(&cache, &mut cores);
        let h = reg.drop_handle(id.index);
        for c in cores.iter_mut() {
            c.set_handle(id.index, h);
        }
        reg.reals[real as usize] = None;
        reg.free_reals.push(real);
        Ok(())
    }

    /// Returns the cache's objects from every array to the slabs, then free slabs beyond
    /// `min_partial` per node to the buddy layer. Returns the frames released.
    pub fn cache_shrink(&self, id: CacheId) -> Result<usize, CacheError> {
        let reg = self.registry.lock();
        let real = reg.resolve(id).ok_or(CacheError::BadCache(id))?;
        let cache = reg.real(real).cache.clone();
        let mut cores = self.lock_cores();
        self.drain(&cache, &mut cores);
        Ok(self.release_free(&cache, cache.min_partial, &mut cores))
    }

    /// Drains every cache and returns every free slab to the buddy layer (what to do before
    /// reporting out of memory). Returns the frames released.
    pub fn shrink_all(&self) -> usize {
        let reg = self.registry.lock();
        let mut cores = self.lock_cores();
        let mut frames = 0;
        for (_, r) in reg.live_reals() {
            self.drain(&r.cache, &mut cores);
            frames += self.release_free(&r.cache, 0, &mut cores);
        }
        frames
    }

    /// Returns everything `owner` holds to the buddy layer, live objects included: all its
    /// caches and handles (they become stale) and its large kmalloc blocks.
    pub fn purge_owner(&self, owner: OwnerId) -> PurgeReport {
        let mut reg = self.registry.lock();
        let mut cores = self.lock_cores();
        let mut report = PurgeReport::default();
        let reals: Vec<u32> = reg
            .live_reals()
            .filter(|(_, r)| r.cache.owner == owner)
            .map(|(i, _)| i)
            .collect();
        for &real in &reals {
            let cache = reg.real(real).cache.clone();
            report.live_objects += self.live_objects(&cache);
            report.slab_frames += self.release_cache(&cache, &mut cores);
            reg.reals[real as usize] = None;
            reg.free_reals.push(real);
            report.caches += 1;
        }
        for index in 0..reg.handles.len() as u32 {
            let h = reg.handles[index as usize];
            if h.real != NO_CACHE && reals.contains(&h.real) {
                let h = reg.drop_handle(index);
                for c in cores.iter_mut() {
                    c.set_handle(index, h);
                }
                report.handles += 1;
            }
        }
        let mut large = self.large.lock();
        let blocks: Vec<(usize, LargeRec)> = large
            .blocks
            .iter()
            .filter(|(_, b)| b.owner == owner)
            .map(|(&a, &b)| (a, b))
            .collect();
        for (addr, b) in blocks {
            large.blocks.remove(&addr);
            self.free_large_block(owner, addr, b.order);
            report.large_blocks += 1;
            report.large_frames += 1 << b.order;
        }
        report
    }

    /// The 13 kmalloc caches of `owner` (8 … 8K bytes).
    pub fn kmalloc_set_create(&self, owner: OwnerId) -> Result<KmallocSet, CreateError> {
        let mut caches = [CacheId {
            index: 0,
            generation: 0,
        }; 13];
        for (i, c) in caches.iter_mut().enumerate() {
            // kmalloc caches are always real caches (others may merge into them).
            let made = self.create(
                CacheParams {
                    name: KMALLOC_NAMES[i],
                    size: KMALLOC_SIZES[i],
                    align: 8,
                    flags: CacheFlags::empty(),
                    ctor: crate::slab::Ctor::None,
                    owner,
                },
                false,
            );
            match made {
                Ok(id) => *c = id,
                Err(e) => {
                    for made in &caches[..i] {
                        let _ = self.cache_destroy(*made);
                    }
                    return Err(e);
                }
            }
        }
        Ok(KmallocSet { owner, caches })
    }

    /// Writes `/proc/slabinfo` (version 2.1): all real caches, or only `filter`'s, newest first.
    pub fn slabinfo(&self, filter: Option<OwnerId>, out: &mut impl fmt::Write) -> fmt::Result {
        out.write_str(HEADER)?;
        for row in self.slabinfo_rows(filter) {
            row.write(out)?;
        }
        Ok(())
    }

    /// The numbers of `slabinfo`, one row per real cache, newest first.
    pub fn slabinfo_rows(&self, filter: Option<OwnerId>) -> Vec<SlabinfoRow> {
        let reg = self.registry.lock();
        let mut reals: Vec<&RealEntry> = reg
            .live_reals()
            .map(|(_, r)| r)
            .filter(|r| filter.is_none_or(|o| r.cache.owner == o))
            .collect();
        reals.sort_by_key(|r| core::cmp::Reverse(r.created));
        reals
            .into_iter()
            .map(|r| {
                let c = &r.cache;
                let l = &c.layout;
                let mut row = SlabinfoRow {
                    name: c.name.clone(),
                    objsize: l.stride,
                    objperslab: l.objects,
                    pagesperslab: 1 << l.order,
                    limit: c.tunables.limit,
                    batchcount: c.tunables.batchcount,
                    sharedfactor: c.tunables.sharedfactor,
                    ..SlabinfoRow::default()
                };
                for n in c.nodes.iter() {
                    let nc = n.lock();
                    let slabs = nc.slabs();
                    row.num_slabs += slabs;
                    row.active_slabs += slabs - nc.slabs_on(List::Free);
                    row.num_objs += slabs * l.objects as usize;
                    row.active_objs += slabs * l.objects as usize - nc.free_in_slabs();
                    row.sharedavail += nc.shared.len();
                }
                row
            })
            .collect()
    }

    /// Objects of `cache` handed out and not freed (counted from the state bytes).
    fn live_objects(&self, cache: &Cache) -> usize {
        cache.nodes.iter().map(|n| n.lock().allocated()).sum()
    }

    /// Moves every cached object of `cache` (core arrays, alien arrays, shared arrays) back to
    /// its slab.
    fn drain(&self, cache: &Cache, cores: &mut [spin::MutexGuard<'_, CoreState>]) {
        let env = self.env();
        let mut objs: Vec<Obj> = Vec::new();
        let mut transit: Vec<Obj> = Vec::new();
        for (core, c) in cores.iter_mut().enumerate() {
            if let Some(cc) = c.cache_mut(cache.real as usize) {
                objs.extend(cc.array.drain_all());
                for a in cc.alien.iter_mut() {
                    objs.extend(a.drain_all());
                }
                for a in cc.outbox.iter_mut() {
                    transit.extend(a.drain_all());
                }
            }
            transit.append(&mut cache.inbox[core].lock());
            cache.flush(env, &mut objs, false, Holder::Core(core as u8));
        }
        // Objects on their way back: each still marked goes to its slab as its core's.
        for o in transit {
            let s = o.state.get().load(Ordering::Acquire);
            if state::kind(s) == state::ALLOCATED && s & state::REMOTE != 0 {
                let core = s & state::CORE;
                o.state
                    .get()
                    .store(state::cached(core, state::EVER), Ordering::Relaxed);
                objs.push(o);
                cache.flush(env, &mut objs, false, Holder::Core(core));
            }
        }
        for n in cache.nodes.iter() {
            let mut nc = n.lock();
            let shared = core::mem::take(&mut nc.shared);
            nc.give_back(shared.into_iter(), env.map, false, Holder::Shared);
        }
    }

    /// Releases free slabs beyond `keep` per node (and forgets the cache's hot slabs). All core
    /// locks must be held: `cores` are their guards.
    fn release_free(
        &self,
        cache: &Cache,
        keep: usize,
        cores: &mut [spin::MutexGuard<'_, CoreState>],
    ) -> usize {
        for c in cores.iter_mut() {
            if let Some(cc) = c.cache_mut(cache.real as usize) {
                cc.hot_slab = None;
            }
        }
        let mut frames = 0;
        for n in cache.nodes.iter() {
            let recs = n.lock().release_free(keep);
            self.announce(cache, &recs);
            frames += cache.release(self.env(), recs);
        }
        frames
    }

    /// Forgets `cache` on every core and releases all its slabs. All core locks must be held.
    fn release_cache(&self, cache: &Cache, cores: &mut [spin::MutexGuard<'_, CoreState>]) -> usize {
        for c in cores.iter_mut() {
            c.set_cache(cache.real, None);
        }
        let mut frames = 0;
        for n in cache.nodes.iter() {
            let recs = n.lock().release_all();
            self.announce(cache, &recs);
            frames += cache.release(self.env(), recs);
        }
        frames
    }

    /// Tells the release hook about slabs of `cache` about to go back to the buddy layer.
    fn announce(&self, cache: &Cache, recs: &[SlabRec]) {
        if let Some(hook) = self.release {
            for rec in recs {
                hook.released(cache.owner, rec.base, cache.layout.order);
            }
        }
    }

    /// Returns `owner`'s large block to the buddy layer (the release hook first).
    fn free_large_block(&self, owner: OwnerId, addr: usize, order: u8) {
        if let Some(hook) = self.release {
            hook.released(owner, addr, order);
        }
        if let Some(head) = self.map.frame_of(addr) {
            self.map.clear(head, 1 << order);
        }
        let r = self.buddy.free(addr, order);
        debug_assert!(r.is_ok(), "large block {addr:#x}: {r:?}");
    }

    /// Whole-allocator accounting (takes every lock in turn).
    pub fn stats(&self) -> Stats {
        let reg = self.registry.lock();
        // A consistent snapshot: no core moves objects meanwhile.
        let _cores = self.lock_cores();
        let mut s = Stats {
            total_frames: self.buddy.total_frames(),
            free_frames: self.buddy.free_frames(),
            real_caches: reg.live_reals().count(),
            handles: reg.handles.iter().filter(|h| h.real != NO_CACHE).count(),
            ..Stats::default()
        };
        for (_, r) in reg.live_reals() {
            let live = self.live_objects(&r.cache);
            s.objects_in_use += live;
            s.bytes_in_use += live * r.cache.layout.object_size as usize;
            s.slab_frames += slab_frames(&r.cache);
        }
        let large = self.large.lock();
        s.large_frames = large.frames();
        s.bytes_in_use += s.large_frames * crate::buddy::PAGE_SIZE;
        s
    }

    /// One owner's accounting.
    pub fn owner_stats(&self, owner: OwnerId) -> OwnerStats {
        let reg = self.registry.lock();
        let _cores = self.lock_cores();
        let mut s = OwnerStats::default();
        for (_, r) in reg.live_reals().filter(|(_, r)| r.cache.owner == owner) {
            s.caches += 1;
            s.objects_in_use += self.live_objects(&r.cache);
            s.slab_frames += slab_frames(&r.cache);
        }
        let large = self.large.lock();
        s.large_blocks = large.blocks.values().filter(|b| b.owner == owner).count();
        s.large_frames = large.frames_of(owner);
        s
    }

    /// Debug violations counted in the cache `id` names (found on alloc, free or `check`).
    pub fn violations(&self, id: CacheId) -> Result<u64, CacheError> {
        let reg = self.registry.lock();
        let real = reg.resolve(id).ok_or(CacheError::BadCache(id))?;
        Ok(reg.real(real).cache.violations.load(Ordering::Relaxed))
    }

    /// Checks every debug invariant held in object memory of cache `id` (red zones of all
    /// objects, poison of free objects, slab padding). Returns the violations found (they are
    /// not repaired, and are counted).
    pub fn check_cache(&self, id: CacheId) -> Result<Vec<crate::slab::Violation>, CacheError> {
        let reg = self.registry.lock();
        let real = reg.resolve(id).ok_or(CacheError::BadCache(id))?;
        let cache = reg.real(real).cache.clone();
        let _cores = self.lock_cores();
        let l = &cache.layout;
        let mut found = Vec::new();
        for n in cache.nodes.iter() {
            let nc = n.lock();
            for (_, rec) in nc.recs() {
                if let Some(v) = cache.checks.check_padding(l, rec.base) {
                    found.push(v);
                }
                for i in 0..rec.objects() {
                    let obj = rec.base + l.obj_offset as usize + i * l.stride as usize;
                    let s = rec.states.get(i).load(Ordering::Acquire);
                    let v = if state::is_live(s) {
                        cache.checks.check_allocated(l, obj)
                    } else {
                        cache.checks.check_free(l, obj)
                    };
                    if let Some(mut v) = v {
                        v.last = rec.tracks.get(i).copied().unwrap_or_default();
                        found.push(v);
                    }
                }
            }
        }
        cache
            .violations
            .fetch_add(found.len() as u64, Ordering::Relaxed);
        Ok(found)
    }

    /// Checks every internal invariant: buddy zones, slab lists, free stacks, per-object states,
    /// arrays, page map, handle tables and frame accounting.
    pub fn validate(&self) -> Result<(), Invariant> {
        let reg = self.registry.lock();
        let cores = self.lock_cores();
        self.buddy.validate().map_err(Invariant::Buddy)?;
        for (ci, c) in cores.iter().enumerate() {
            for (i, h) in reg.handles.iter().enumerate() {
                let mine = c.handles.get(i).copied().unwrap_or(Handle {
                    generation: 0,
                    real: NO_CACHE,
                });
                let same =
                    mine.real == h.real && (h.real == NO_CACHE || mine.generation == h.generation);
                if !same {
                    return Err(Invariant::HandleTable {
                        core: ci as u8,
                        index: i as u32,
                    });
                }
            }
            for real in 0..c.cache_slots().max(reg.reals.len()) {
                let cc = c.cache(real);
                let live = reg.reals.get(real).is_some_and(Option::is_some);
                if cc.is_some() != live {
                    return Err(Invariant::HandleTable {
                        core: ci as u8,
                        index: real as u32,
                    });
                }
                if let Some(h) = cc.and_then(|cc| cc.hot_slab) {
                    let home = self.topology.node_of(CoreId(ci as u8));
                    let ok = match self.map.lookup(h.first) {
                        Entry::Slab { cache, node, head } => {
                            cache == real as u32
                                && Some(node) == home
                                && h.first
                                    == self.map.frame_addr(head)
                                        + cc.map_or(0, |cc| cc.layout.obj_offset as usize)
                                && h.states == self.map.state(head, 0)
                        }
                        _ => false,
                    };
                    if !ok {
                        return Err(Invariant::HotSlab {
                            core: ci as u8,
                            cache: real as u32,
                        });
                    }
                }
            }
        }
        let mut slab_frames = 0;
        for (real, r) in reg.live_reals() {
            slab_frames += self.validate_cache(real, &r.cache, &cores)?;
        }
        let large = self.large.lock();
        for (&addr, b) in &large.blocks {
            let head = self
                .map
                .frame_of(addr)
                .ok_or(Invariant::PageMap { frame: 0 })?;
            for f in head..head + (1u32 << b.order) {
                if !matches!(self.map.entry_at(f), Entry::Large { head: h, .. } if h == head) {
                    return Err(Invariant::PageMap { frame: f as usize });
                }
            }
        }
        let free = self.buddy.free_frames();
        let total = self.buddy.total_frames();
        let large_frames = large.frames();
        if free + slab_frames + large_frames != total {
            return Err(Invariant::FrameAccounting {
                free,
                slab: slab_frames,
                large: large_frames,
                total,
            });
        }
        Ok(())
    }

    fn validate_cache(
        &self,
        real: u32,
        cache: &Cache,
        cores: &[spin::MutexGuard<'_, CoreState>],
    ) -> Result<usize, Invariant> {
        let l = &cache.layout;
        let objects = l.objects as usize;
        // Objects validly held by some array, as (head frame, index). Stale entries (state names
        // another holder, left by a double free racing on two cores) are allowed.
        let mut held: Vec<(u32, usize)> = Vec::new();
        let mut note = |o: &Obj, holder: Holder| -> Result<(), Invariant> {
            let stray = Invariant::StrayObject {
                cache: real,
                addr: o.addr,
            };
            let (st, _) = locate(&self.map, real, l, o.addr).map_err(|_| stray)?;
            if st != o.state {
                return Err(stray);
            }
            let s = st.get().load(Ordering::Acquire);
            if !holder.holds(s) {
                if holder == Holder::Shared {
                    return Err(Invariant::ObjectState {
                        cache: real,
                        addr: o.addr,
                    });
                }
                return Ok(());
            }
            let Entry::Slab { head, .. } = self.map.lookup(o.addr) else {
                return Err(stray);
            };
            let first = self.map.frame_addr(head) + l.obj_offset as usize;
            held.push((head, (o.addr - first) / l.stride as usize));
            Ok(())
        };
        // Objects on their way back to their allocating core (entries whose mark is gone are
        // allowed: a double free racing on two cores leaves them).
        let mut transit: Vec<usize> = Vec::new();
        for (core, c) in cores.iter().enumerate() {
            if let Some(cc) = c.cache(real as usize) {
                for o in cc
                    .array
                    .objs()
                    .iter()
                    .chain(cc.alien.iter().flat_map(|a| a.objs()))
                {
                    note(o, Holder::Core(core as u8))?;
                }
                transit.extend(cc.outbox.iter().flat_map(|a| a.objs()).map(|o| o.addr));
            }
            transit.extend(cache.inbox[core].lock().iter().map(|o| o.addr));
        }
        transit.sort_unstable();
        let mut frames = 0;
        let mut nodes = Vec::with_capacity(cache.nodes.len());
        for (n, node) in cache.nodes.iter().enumerate() {
            let nc = node.lock();
            nc.validate(real, n as u8, objects)?;
            for o in &nc.shared {
                note(o, Holder::Shared)?;
            }
            nodes.push(nc);
        }
        held.sort_unstable();
        held.dedup();
        for (n, nc) in nodes.iter().enumerate() {
            for (i, rec) in nc.recs() {
                let head = rec.head;
                frames += 1usize << l.order;
                for f in head..head + (1u32 << l.order) {
                    let want = Entry::Slab {
                        cache: real,
                        node: NodeId(n as u8),
                        head,
                    };
                    if self.map.entry_at(f) != want {
                        return Err(Invariant::PageMap { frame: f as usize });
                    }
                }
                if self.map.rec_of(head) != i
                    || self.map.states_base(head) != rec.states.as_ptr()
                    || self.map.frame_addr(head) != rec.base
                {
                    return Err(Invariant::PageMap {
                        frame: head as usize,
                    });
                }
                // Every cached or shared object is in an array that holds it (none is lost).
                let lo = held.partition_point(|&(h, _)| h < head);
                let hi = held.partition_point(|&(h, _)| h <= head);
                let mut in_arrays = alloc::vec![false; objects];
                for &(_, idx) in &held[lo..hi] {
                    in_arrays[idx] = true;
                }
                for (idx, st) in rec.states.iter().enumerate() {
                    let s = st.load(Ordering::Acquire);
                    let k = state::kind(s);
                    let addr = rec.base + l.obj_offset as usize + idx * l.stride as usize;
                    let lost = (k == state::CACHED || k == state::SHARED) && !in_arrays[idx]
                        || s & state::REMOTE != 0
                            && (k != state::ALLOCATED || transit.binary_search(&addr).is_err());
                    let bad_core = k != state::SLAB && (s & state::CORE) as usize >= cores.len();
                    if lost || bad_core {
                        return Err(Invariant::ObjectState { cache: real, addr });
                    }
                }
                if rec.free.len()
                    + (hi - lo)
                    + rec
                        .states
                        .iter()
                        .filter(|s| state::kind(s.load(Ordering::Acquire)) == state::ALLOCATED)
                        .count()
                    != objects
                {
                    return Err(Invariant::SlabCount {
                        cache: real,
                        slab: rec.base,
                    });
                }
            }
        }
        Ok(frames)
    }
}

fn slab_frames(cache: &Cache) -> usize {
    cache.nodes.iter().map(|n| n.lock().slabs()).sum::<usize>() << cache.layout.order
}

fn check_name(name: &str) -> Result<(), CreateError> {
    if name.is_empty() {
        return Err(CreateError::EmptyName);
    }
    if name.len() > MAX_NAME {
        return Err(CreateError::NameTooLong {
            len: name.len(),
            max: MAX_NAME,
        });
    }
    if let Some(at) = name.bytes().position(|b| !b.is_ascii_graphic()) {
        return Err(CreateError::BadNameByte { at });
    }
    Ok(())
}

/// One core's access to the allocator, holding that core's lock (see the module docs).
pub struct CoreGuard<'a> {
    alloc: &'a Allocator,
    state: spin::MutexGuard<'a, CoreState>,
    core: CoreId,
    node: NodeId,
}

impl fmt::Debug for CoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoreGuard")
            .field("core", &self.core)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

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
    fn alloc_miss(&mut self, id: CacheId) -> Result<usize, AllocError> {
        let Some(real) = self.state.resolve_hot(id) else {
            return Err(AllocError::BadCache(id));
        };
        self.alloc_real(real)
    }

    /// One object of the real cache `real` (resolved from a live handle).
    #[inline(always)]
    fn alloc_real(&mut self, real: usize) -> Result<usize, AllocError> {
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
        let cc = self.state.cache_mut(real).ok_or(CacheError::BadCache(id))?;
        Ok(CacheRef {
            cache: NonNull::from(cc),
            guard: self,
        })
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
    fn free_miss(&mut self, id: CacheId, addr: usize) -> Result<(), FreeError> {
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
            self.check_real(real, a).map_err(refuse)?;
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
    fn check_real(&self, real: usize, addr: usize) -> Result<(), FreeError> {
        let cc = self.cache_at(real);
        match cc.hot_state(addr) {
            Some(st) if !cc.checked && state::is_live(st.get().load(Ordering::Acquire)) => Ok(()),
            _ => self.check_located(cc, real, addr),
        }
    }

    #[cold]
    #[inline(never)]
    fn check_located(&self, cc: &CoreCache, real: usize, addr: usize) -> Result<(), FreeError> {
        let cache = &cc.cache;
        let l = &cache.layout;
        let (st, _home) = locate(&self.alloc.map, real as u32, l, addr)?;
        let s = st.get().load(Ordering::Acquire);
        if !state::is_live(s) {
            return Err(not_allocated(addr, s, self.tracks(cache, addr).free));
        }
        if cc.checked {
            if let Some(mut v) = cache.checks.check_allocated(l, addr) {
                cache.violations.fetch_add(1, Ordering::Relaxed);
                v.last = self.tracks(cache, addr);
                return Err(FreeError::Corrupted(v));
            }
        }
        Ok(())
    }

    fn cache_at(&self, real: usize) -> &CoreCache {
        self.state.cache(real).expect("live real cache")
    }

    /// Frees `addr` as an object of the real cache `real`: inside the hot slab with no page map
    /// read, else through `free_full`.
    #[inline(always)]
    fn free_real(&mut self, real: usize, addr: usize) -> Result<(), FreeError> {
        let me = self.core.0;
        let step = match self.state.cache_mut(real) {
            Some(cc) => free_in_hot_slab(cc, me, addr),
            None => HotFree::Outside,
        };
        self.finish_free(real, addr, step)
    }

    /// Completes a free after `free_in_hot_slab`.
    #[inline(always)]
    fn finish_free(&mut self, real: usize, addr: usize, step: HotFree) -> Result<(), FreeError> {
        match step {
            HotFree::Done => Ok(()),
            HotFree::Overflow(obj) => {
                self.free_slow(real, obj, self.node);
                Ok(())
            }
            HotFree::Other(st) => self.free_hot_other(real, addr, st),
            HotFree::Outside => self.free_full(real, addr),
        }
    }

    /// A free at a slot start of the hot slab of an object this core does not hold as
    /// allocated (allocated on another core, or not allocated at all).
    #[cold]
    #[inline(never)]
    fn free_hot_other(&mut self, real: usize, addr: usize, st: StateRef) -> Result<(), FreeError> {
        let s = st.get().load(Ordering::Relaxed);
        self.free_other(real, addr, st, self.node, s)
    }

    /// `free_real` outside the hot slab (and every free of a checked cache).
    #[inline(never)]
    fn free_full(&mut self, real: usize, addr: usize) -> Result<(), FreeError> {
        let (e, states) = self.alloc.map.lookup_states(addr);
        self.free_entry(real, addr, e, states, None)
    }

    /// Frees `addr` as an object of `real`, whose page map entry `e` was read; refused unless
    /// the cache belongs to `owner`, if given.
    #[inline(always)]
    fn free_entry(
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
        if at.home == node {
            cc.hot_slab = Some(HotSlab {
                first: at.first,
                states: at.states,
            });
        }
        let st = at.state;
        let s = st.get().load(Ordering::Relaxed);
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

    /// A free of an object this core did not allocate (or not allocated at all).
    #[cold]
    #[inline(never)]
    fn free_other(
        &mut self,
        real: usize,
        addr: usize,
        st: StateRef,
        home: NodeId,
        s: u8,
    ) -> Result<(), FreeError> {
        let taken = self.take(addr, st, s, None)?;
        self.put_freed(real, Obj { addr, state: st }, home, taken);
        Ok(())
    }

    /// Takes an allocated object (state `s` as last read) from its allocating core: a plain
    /// store if that is this core, else the `REMOTE` mark (see `state`).
    #[inline(always)]
    fn take(
        &self,
        addr: usize,
        st: StateRef,
        s: u8,
        last_free: Option<Track>,
    ) -> Result<Taken, FreeError> {
        let me = self.core.0;
        let mut s = s;
        loop {
            if !state::is_live(s) {
                return Err(not_allocated(addr, s, last_free));
            }
            let owner = s & state::CORE;
            if owner == me {
                st.get()
                    .store(state::cached(me, state::EVER), Ordering::Relaxed);
                return Ok(Taken::Mine);
            }
            match st.get().compare_exchange(
                s,
                s | state::REMOTE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(Taken::ForCore(owner)),
                Err(now) => s = now,
            }
        }
    }

    /// Puts an object `take` returned where it goes: this core's array (or the slow path), or
    /// the outbox towards its allocating core, handed over to that core's inbox when full.
    #[inline(always)]
    fn put_freed(&mut self, real: usize, obj: Obj, home: NodeId, taken: Taken) {
        let node = self.node;
        let Some(cc) = self.state.cache_mut(real) else {
            debug_assert!(false, "cache {real} vanished under its guard");
            return;
        };
        match taken {
            Taken::Mine if home == node && cc.array.push(obj) => {}
            Taken::Mine => self.free_slow(real, obj, home),
            Taken::ForCore(c) => {
                let Some(out) = cc.outbox.get_mut(c as usize) else {
                    debug_assert!(false, "core {c} has no outbox");
                    return;
                };
                if !out.push(obj) {
                    let mut inbox = cc.cache.inbox[c as usize].lock();
                    inbox.extend_from_slice(out.objs());
                    inbox.push(obj);
                    drop(inbox);
                    out.clear();
                }
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn alloc_slow(&mut self, real: usize) -> Result<usize, AllocError> {
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
        if !cc.checked {
            o.state.get().store(state::allocated(me), Ordering::Release);
            return Ok(o.addr);
        }
        let cache = cc.cache.clone();
        let l = &cache.layout;
        if let Some(mut v) = cache.checks.check_free(l, o.addr) {
            cache.violations.fetch_add(1, Ordering::Relaxed);
            cache.checks.init_free(l, o.addr);
            v.last = self.tracks(&cache, o.addr);
            self.put_back(real, o);
            return Err(AllocError::Corrupted(v));
        }
        cache.checks.mark_allocated(l, o.addr);
        o.state.get().store(state::allocated(me), Ordering::Release);
        self.record(&cache, o.addr, true);
        Ok(o.addr)
    }

    /// Returns an object just popped for a checked alloc that failed its checks.
    fn put_back(&mut self, real: usize, o: Obj) {
        let env = self.alloc.env();
        let me = self.core.0;
        let (cc, _, scratch) = self.state.cache_parts(real).expect("live");
        if !cc.array.push(o) {
            scratch.push(o);
            cc.cache.flush(env, scratch, false, Holder::Core(me));
        }
    }

    #[cold]
    #[inline(never)]
    fn free_checked(&mut self, real: usize, addr: usize) -> Result<(), FreeError> {
        let cc = self.cache_at(real);
        let cache = cc.cache.clone();
        let l = &cache.layout;
        let (st, home) = locate(&self.alloc.map, real as u32, l, addr)?;
        let s = st.get().load(Ordering::Acquire);
        if !state::is_live(s) {
            let last = self.tracks(&cache, addr).free;
            return Err(not_allocated(addr, s, last));
        }
        if let Some(mut v) = cache.checks.check_allocated(l, addr) {
            cache.violations.fetch_add(1, Ordering::Relaxed);
            v.last = self.tracks(&cache, addr);
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
    fn free_slow(&mut self, real: usize, obj: Obj, home: NodeId) {
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
    fn tracks(&self, cache: &Cache, addr: usize) -> TrackPair {
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
        rec.tracks.get(idx).copied().unwrap_or_default()
    }

    /// Records an alloc (or free) of `addr` with `STORE_USER`.
    fn record(&self, cache: &Cache, addr: usize, is_alloc: bool) {
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
        if let Some(p) = rec.tracks.get_mut(idx) {
            if is_alloc {
                p.alloc = Some(t);
            } else {
                p.free = Some(t);
            }
        }
    }

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
    fn kmalloc_miss(&mut self, id: CacheId) -> Result<usize, KmallocError> {
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
    fn kmalloc_large(&mut self, set: &KmallocSet, size: usize) -> Result<usize, KmallocError> {
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
    fn kfree_large(&mut self, set: &KmallocSet, addr: usize) -> Result<(), FreeError> {
        let mut large = self.alloc.large.lock();
        let (start, b) = self.large_block(&large, set, addr)?;
        large.blocks.remove(&start);
        self.alloc.free_large_block(b.owner, start, b.order);
        Ok(())
    }

    fn large_block(
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

/// One cache of a held core, from [`CoreGuard::cache`].
pub struct CacheRef<'g, 'a> {
    guard: &'g mut CoreGuard<'a>,
    /// This core's view of the cache. Valid while `guard` is borrowed: a core's caches are added
    /// and removed (and their table moved) only by maintenance, which takes every core lock, and
    /// the guard holds this core's.
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

/// Takes core `me`'s inbox of `cc`'s cache (objects it allocated that other cores freed): those
/// still marked on their way back become `me`'s, into its array while there is room (as a refill
/// from another node may put them there too) and to their node otherwise; entries whose mark is
/// gone are dropped (see `state`). Returns how many went into the array.
#[cold]
#[inline(never)]
fn receive_remote(env: Env<'_>, cc: &mut CoreCache, scratch: &mut Vec<Obj>, me: u8) -> usize {
    scratch.clear();
    core::mem::swap(&mut *cc.cache.inbox[me as usize].lock(), scratch);
    let mut kept = 0;
    let mut rest = 0;
    for i in 0..scratch.len() {
        let o = scratch[i];
        let st = o.state.get();
        if st.load(Ordering::Acquire) != state::allocated(me) | state::REMOTE {
            continue;
        }
        st.store(state::cached(me, state::EVER), Ordering::Relaxed);
        if cc.array.push(o) {
            kept += 1;
        } else {
            scratch[rest] = o;
            rest += 1;
        }
    }
    scratch.truncate(rest);
    cc.cache.flush(env, scratch, true, Holder::Core(me));
    kept
}

/// Whom a freed object went to (see `CoreGuard::take`).
#[derive(Clone, Copy, Debug)]
enum Taken {
    /// This core allocated it and now caches it.
    Mine,
    /// Another core allocated it; it is marked on its way back there.
    ForCore(u8),
}

/// What a free found in the hot slab (see `free_in_hot_slab`).
enum HotFree {
    /// Freed into the array.
    Done,
    /// Taken back, but the array is full.
    Overflow(Obj),
    /// At a slot start of the hot slab, but not allocated by this core.
    Other(StateRef),
    /// Not a slot start of the hot slab (or no hot slab).
    Outside,
}

/// The fast free: an object at a slot start of the hot slab that this core allocated is taken
/// back with a plain store (see `state`) and pushed on the array.
#[inline(always)]
fn free_in_hot_slab(cc: &mut CoreCache, me: u8, addr: usize) -> HotFree {
    let Some(st) = cc.hot_state(addr) else {
        return HotFree::Outside;
    };
    if st.get().load(Ordering::Relaxed) != state::allocated(me) {
        return HotFree::Other(st);
    }
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
fn pop_fast(cc: &mut CoreCache, me: u8) -> Option<usize> {
    if cc.checked {
        return None;
    }
    let o = cc.array.pop()?;
    let s = o.state.get();
    debug_assert!(state::is_cached_by(s.load(Ordering::Relaxed), me));
    s.store(state::allocated(me), Ordering::Release);
    Some(o.addr)
}

/// The first address of `addrs` that repeats an earlier one, at its second occurrence.
fn first_repeat(addrs: &[usize]) -> Option<usize> {
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
    // A sorted copy tells whether any address repeats; only then is the first one looked for.
    let mut on_stack = [0usize; 64];
    let mut on_heap = Vec::new();
    let sorted = match on_stack.get_mut(..addrs.len()) {
        Some(s) => {
            s.copy_from_slice(addrs);
            s
        }
        None => {
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

fn not_allocated(addr: usize, s: u8, last_free: Option<Track>) -> FreeError {
    if state::ever(s) == 0 {
        FreeError::NeverAllocated { addr }
    } else {
        FreeError::DoubleFree { addr, last_free }
    }
}
