//! Consistency checks over everything the allocator holds: `check_cache` (debug bytes in object
//! memory) and `validate` (lists, free stacks, states, arrays, objects in transit, page map,
//! handle tables, frame accounting). Both take every lock, as maintenance does.
use super::*;

impl Allocator {
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
                    let s = rec.states.observe(i);
                    // A quarantined object was reported when it was found damaged.
                    if state::is_quarantined(s) {
                        continue;
                    }
                    let v = if state::is_live(s) {
                        cache.checks.check_allocated(l, obj).or_else(|| {
                            let req = rec.requested(i)? as usize;
                            cache.checks.check_requested(l, obj, req)
                        })
                    } else {
                        cache.checks.check_free(l, obj)
                    };
                    if let Some(mut v) = v {
                        v.last = rec.track(i).unwrap_or_default();
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
                    let ok = match self.map.lookup(h.first) {
                        Entry::Slab { cache, node, head } => {
                            let mine = match self.topology.node_of(CoreId(ci as u8)) {
                                Some(n) if n == h.home => state::allocated(ci as u8),
                                _ => state::NEVER,
                            };
                            cache == real as u32
                                && node == h.home
                                && h.mine == mine
                                && h.first
                                    == self.map.frame_addr(head)
                                        + cc.map_or(0, |cc| cc.layout.obj_offset as usize)
                                && h.states.as_ptr() == self.map.states_base(head)
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
            // A quarantined object is in no array, not even as a stale entry.
            if !holder.holds(s) {
                if holder == Holder::Shared || state::is_quarantined(s) {
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
        let found = nodes
            .iter()
            .flat_map(|nc| nc.recs())
            .map(|(_, rec)| {
                rec.states
                    .observed()
                    .filter(|&s| state::is_quarantined(s))
                    .count() as u64
            })
            .sum::<u64>();
        let counted = cache.quarantined.load(Ordering::Relaxed);
        if found != counted {
            return Err(Invariant::Quarantine {
                cache: real,
                counted,
                found,
            });
        }
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
                for (idx, s) in rec.states.observed().enumerate() {
                    let k = state::kind(s);
                    let addr = rec.base + l.obj_offset as usize + idx * l.stride as usize;
                    // A mark means something only on an allocated object (see `state`).
                    let lost = (k == state::CACHED || k == state::SHARED) && !in_arrays[idx]
                        || k == state::ALLOCATED
                            && s & state::REMOTE != 0
                            && transit.binary_search(&addr).is_err();
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
