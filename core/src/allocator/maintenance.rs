//! Maintenance: creating, destroying, shrinking and purging caches, slabinfo and statistics.
//! Each takes the registry lock, then every core lock in ascending order where it must see or
//! change every core (see the `slab` module for the lock order).
use super::*;

impl Allocator {
    /// Creates a cache, or an alias of a compatible cache of the same owner (SLUB merging).
    pub fn cache_create(&self, p: CacheParams<'_>) -> Result<CacheId, CreateError> {
        self.create(p, true)
    }

    pub(super) fn create(
        &self,
        p: CacheParams<'_>,
        may_alias: bool,
    ) -> Result<CacheId, CreateError> {
        check_name(p.name)?;
        let unknown = p.flags.bits() & !CacheFlags::all().bits();
        if unknown != 0 {
            return Err(CreateError::UnknownFlags { bits: unknown });
        }
        let layout = Layout::compute(p.size, p.align, p.flags, self.topology.cores())?;
        let mut reg = self.registry.lock();
        let mut cores = self.lock_cores();
        let account = reg.account(p.owner);
        let charge = |bytes: u64| meta::charge(account.as_deref(), bytes);
        let handle = meta::handle_bytes(&self.topology);
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
                charge(handle).map_err(CreateError::Metadata)?;
                let reserved = reg
                    .reserve_handle()
                    .and_then(|index| cores.iter_mut().try_for_each(|c| c.reserve(index, real)));
                let id = match reserved.map_err(CreateError::Metadata) {
                    Ok(()) => reg.new_handle(real),
                    Err(e) => Err(e),
                }
                .inspect_err(|_| meta::release(account.as_deref(), handle))?;
                let entry = reg.reals[real as usize].as_mut().expect("live");
                entry.refs += 1;
                entry.alias_bytes += handle;
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
        // Charged first; from here on a refusal drops the cache, whose `Drop` releases it.
        let tunables = Cache::tunables(&layout, &self.topology);
        let direct = p.flags.contains(CacheFlags::CONSISTENCY_CHECKS);
        let record = meta::cache_bytes(p.name.len(), &tunables, direct, &self.topology) + handle;
        charge(record).map_err(CreateError::Metadata)?;
        let placeholder = CacheId {
            index: u32::MAX,
            generation: 0,
        };
        let mut cache = Cache::try_new(
            real,
            placeholder,
            p.name,
            p.owner,
            p.flags,
            p.ctor,
            layout,
            &self.topology,
            account,
            record,
        )
        .map_err(CreateError::Metadata)?;
        let index = reg.reserve_handle().map_err(CreateError::Metadata)?;
        reg.reserve_real().map_err(CreateError::Metadata)?;
        for c in cores.iter_mut() {
            c.reserve(index, real).map_err(CreateError::Metadata)?;
        }
        cache.own_id = CacheId {
            index,
            generation: reg
                .handles
                .get(index as usize)
                .map_or(0, |h| h.generation)
                .wrapping_add(1)
                .max(1),
        };
        let cache = Arc::new(cache);
        let mut boxes = meta::try_vec(cores.len()).map_err(CreateError::Metadata)?;
        for _ in 0..cores.len() {
            let cc = CoreCache::try_new(cache.clone(), self.topology.nodes(), cores.len())
                .and_then(CacheBox::try_new)
                .map_err(CreateError::Metadata)?;
            boxes.push(cc);
        }
        // Nothing below allocates or fails.
        let id = reg.new_handle(real)?;
        debug_assert_eq!(id, cache.own_id);
        if reg.free_reals.last() == Some(&real) {
            reg.free_reals.pop();
        } else {
            reg.reals.push(None);
        }
        reg.created += 1;
        let created = reg.created;
        reg.reals[real as usize] = Some(RealEntry {
            cache,
            refs: 1,
            created,
            alias_bytes: 0,
        });
        for (c, b) in cores.iter_mut().zip(boxes) {
            c.set_cache(real, Some(b));
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
            let entry = reg.reals[real as usize].as_mut().expect("live");
            entry.refs -= 1;
            let handle = meta::handle_bytes(&self.topology);
            entry.alias_bytes -= handle;
            meta::release(entry.cache.account.as_deref(), handle);
            let h = reg.drop_handle(id.index);
            for c in cores.iter_mut() {
                c.set_handle(id.index, h);
            }
            return Ok(());
        }
        let cache = reg.real(real).cache.clone();
        let live = self.live_objects(&cache);
        if live > 0 {
            self.report_leaks(&cache);
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

    /// `kmem_cache_shrink`: returns the cache's objects from every array to the slabs, then
    /// every empty slab to the buddy layer (as Linux's shrink discards them all). Returns the
    /// frames released.
    pub fn cache_shrink(&self, id: CacheId) -> Result<usize, CacheError> {
        let reg = self.registry.lock();
        let real = reg.resolve(id).ok_or(CacheError::BadCache(id))?;
        let cache = reg.real(real).cache.clone();
        let mut cores = self.lock_cores();
        self.drain(&cache, &mut cores);
        Ok(self.release_free(&cache, 0, &mut cores))
    }

    /// Returns to the buddy layer the empty slabs that free paths left beyond what Linux keeps
    /// (per node, `min_partial` less its partial slabs; see `Cache::keep_empty`). Runs when a
    /// [`CoreGuard`] is dropped after such a free; arrays are not drained. Returns the frames
    /// released.
    pub fn trim(&self) -> usize {
        if !self.trim_pending.swap(false, Ordering::Acquire) {
            return 0;
        }
        let reg = self.registry.lock();
        let mut cores = self.lock_cores();
        let mut frames = 0;
        for (_, r) in reg.live_reals() {
            let cache = &r.cache;
            if !cache.trim_wanted.swap(false, Ordering::Relaxed) {
                continue;
            }
            for c in cores.iter_mut() {
                if let Some(cc) = c.cache_mut(cache.real as usize) {
                    cc.hot_slab = None;
                }
            }
            for n in cache.nodes.iter() {
                let recs = {
                    let mut nc = n.lock();
                    let keep = cache.keep_empty(&nc);
                    nc.release_free(keep)
                };
                self.announce(cache, &recs);
                frames += cache.release(self.env(), recs);
            }
        }
        frames
    }

    /// Drains every cache and returns every free slab to the buddy layer, one cache at a time
    /// (see `reclaim`). Returns the frames released.
    pub fn shrink_all(&self) -> usize {
        self.shrink_until(None).0
    }

    /// Returns everything `owner` holds to the buddy layer, live objects included: all its
    /// caches and handles (they become stale) and its large kmalloc blocks.
    pub fn purge_owner(&self, owner: OwnerId) -> PurgeReport {
        self.drop_violation_log(owner);
        let mut reg = self.registry.lock();
        let mut cores = self.lock_cores();
        let mut report = PurgeReport::default();
        let account = reg.account(owner);
        reg.accounts.retain(|(o, _)| *o != owner);
        // Walked in place (a release path allocates nothing): first the handles to the
        // owner's caches, then the caches, then its large blocks.
        for index in 0..reg.handles.len() as u32 {
            let h = reg.handles[index as usize];
            let owned = h.real != NO_CACHE
                && reg
                    .reals
                    .get(h.real as usize)
                    .and_then(Option::as_ref)
                    .is_some_and(|r| r.cache.owner == owner);
            if owned {
                let h = reg.drop_handle(index);
                for c in cores.iter_mut() {
                    c.set_handle(index, h);
                }
                report.handles += 1;
            }
        }
        for real in 0..reg.reals.len() as u32 {
            let owned = reg.reals[real as usize]
                .as_ref()
                .is_some_and(|r| r.cache.owner == owner);
            if !owned {
                continue;
            }
            let cache = reg.real(real).cache.clone();
            meta::release(cache.account.as_deref(), reg.real(real).alias_bytes);
            report.live_objects += self.live_objects(&cache);
            report.slab_frames += self.release_cache(&cache, &mut cores);
            reg.reals[real as usize] = None;
            reg.free_reals.push(real);
            report.caches += 1;
        }
        let mut large = self.large.lock();
        large.blocks.retain(|&addr, b| {
            if b.owner != owner {
                return true;
            }
            self.free_large_block(owner, addr, b.order, account.as_deref());
            report.large_blocks += 1;
            report.large_frames += 1 << b.order;
            false
        });
        report
    }

    /// The block holding `addr` as the allocator's own records give it: the slab of a live
    /// cache or a large kmalloc block, with its owner; `None` for an address in no allocated
    /// block (free memory, or outside the zones). Takes the registry or large-block lock, so
    /// it must not be called with a core guard held.
    pub fn block_owner(&self, addr: usize) -> Option<BlockOwner> {
        match self.map.lookup(addr) {
            Entry::Slab { cache, head, .. } => {
                let reg = self.registry.lock();
                let c = &reg.reals.get(cache as usize)?.as_ref()?.cache;
                Some(BlockOwner {
                    head: self.map.frame_addr(head),
                    bytes: crate::buddy::PAGE_SIZE << c.layout.order,
                    owner: c.owner,
                })
            }
            Entry::Large { head, .. } => {
                let start = self.map.frame_addr(head);
                let large = self.large.lock();
                let b = large.blocks.get(&start)?;
                Some(BlockOwner {
                    head: start,
                    bytes: crate::buddy::PAGE_SIZE << b.order,
                    owner: b.owner,
                })
            }
            Entry::None => None,
        }
    }

    /// Charges the metadata made for `owner` from now on (its caches and handles, their slabs,
    /// its large kmalloc blocks) to `account`, until `purge_owner(owner)`. A cache, slab or
    /// block whose charge `account` refuses is not made (`Metadata` errors). Owners without an
    /// account are not charged.
    pub fn set_account(
        &self,
        owner: OwnerId,
        account: Arc<meta::MetaAccount>,
    ) -> Result<(), meta::MetaError> {
        let mut reg = self.registry.lock();
        reg.accounts.retain(|(o, _)| *o != owner);
        let bytes = core::mem::size_of::<(OwnerId, Arc<meta::MetaAccount>)>();
        reg.accounts
            .try_reserve(1)
            .map_err(|e| meta::heap_error(e, bytes))?;
        reg.accounts.push((owner, account));
        Ok(())
    }

    /// The 13 kmalloc caches of `owner` (8 … 8K bytes), without debug checks.
    pub fn kmalloc_set_create(&self, owner: OwnerId) -> Result<KmallocSet, CreateError> {
        self.kmalloc_set_create_with(owner, |_| CacheFlags::empty())
    }

    /// The 13 kmalloc caches of `owner`, each with the debug flags `debug` gives for its name
    /// (`kmalloc-8` … `kmalloc-8k`), as Linux's `slab_debug=` applies to kmalloc caches. With
    /// `RED_ZONE`, a class records each object's requested size and red-zones the bytes from it
    /// to the class size.
    pub fn kmalloc_set_create_with(
        &self,
        owner: OwnerId,
        debug: impl Fn(&str) -> CacheFlags,
    ) -> Result<KmallocSet, CreateError> {
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
                    flags: CacheFlags::KMALLOC | (debug(KMALLOC_NAMES[i]) & CacheFlags::DEBUG),
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

    /// Writes `/proc/slabinfo` (version 2.1): one owner's caches newest first (`filter`), or
    /// every cache with each name once, in name order (see [`slabinfo_view`](Self::slabinfo_view)).
    pub fn slabinfo(&self, filter: Option<OwnerId>, out: &mut impl fmt::Write) -> fmt::Result {
        out.write_str(HEADER)?;
        for row in self.slabinfo_view(filter) {
            row.write(out)?;
        }
        Ok(())
    }

    /// The rows of `slabinfo`: one owner's caches one row each, newest first (`filter`); or,
    /// server-wide, one row per name in name order, the rows of caches sharing a name (each
    /// client's `kmalloc-*`, equal names of several clients) merged as Linux shows merged
    /// caches: counts summed, the sizes and tunables of the newest.
    pub fn slabinfo_view(&self, filter: Option<OwnerId>) -> Vec<SlabinfoRow> {
        let mut rows = Vec::new();
        match filter {
            Some(owner) => {
                self.slabinfo_walk_owner(owner, 0, |_, row| {
                    rows.push(row);
                    true
                });
            }
            None => {
                self.slabinfo_walk_names("", |row| {
                    rows.push(row);
                    true
                });
            }
        }
        rows
    }

    /// Walks `owner`'s slabinfo rows newest first, calling `f` with each cache's creation serial
    /// (unique for the allocator's lifetime, never reused) and row until `f` returns false;
    /// starts after the newest (`before` 0) or with the newest cache created before serial
    /// `before`. So a walk resumed from the serial of the last row it took shows every cache
    /// that lived through the whole walk exactly once: a cache created meanwhile is newer than
    /// any serial of the walk, a cache destroyed meanwhile shifts nothing. Returns whether `f`
    /// stopped the walk, or `None` if `before` is a serial not issued yet.
    pub fn slabinfo_walk_owner(
        &self,
        owner: OwnerId,
        before: u64,
        mut f: impl FnMut(u64, SlabinfoRow) -> bool,
    ) -> Option<bool> {
        let reg = self.registry.lock();
        if before > reg.created {
            return None;
        }
        let mut reals: Vec<&RealEntry> = reg
            .live_reals()
            .map(|(_, r)| r)
            .filter(|r| r.cache.owner == owner && (before == 0 || r.created < before))
            .collect();
        reals.sort_by_key(|r| core::cmp::Reverse(r.created));
        Some(
            reals
                .into_iter()
                .any(|r| !f(r.created, slabinfo_row(&r.cache))),
        )
    }

    /// Walks the server-wide slabinfo rows, one per name (merged, see
    /// [`slabinfo_view`](Self::slabinfo_view)), in byte order of the names, from the first name
    /// after `after` ("" for the first of all), calling `f` until it returns false. A name
    /// depends on no other cache, so a walk resumed after the last name it took shows every name
    /// held by some cache through the whole walk exactly once, whatever is created or destroyed
    /// meanwhile (its counts are those of the moment it is shown). Returns whether `f` stopped
    /// the walk.
    pub fn slabinfo_walk_names(&self, after: &str, mut f: impl FnMut(SlabinfoRow) -> bool) -> bool {
        let reg = self.registry.lock();
        let mut reals: Vec<&RealEntry> = reg
            .live_reals()
            .map(|(_, r)| r)
            .filter(|r| r.cache.name.as_str() > after)
            .collect();
        reals.sort_by(|x, y| {
            x.cache
                .name
                .cmp(&y.cache.name)
                .then(y.created.cmp(&x.created))
        });
        let mut group = reals.as_slice();
        while let Some((newest, rest)) = group.split_first() {
            let same = rest
                .iter()
                .take_while(|r| r.cache.name == newest.cache.name)
                .count();
            let mut row = slabinfo_row(&newest.cache);
            for r in &rest[..same] {
                crate::slabinfo::absorb(&mut row, &slabinfo_row(&r.cache));
            }
            if !f(row) {
                return true;
            }
            group = &rest[same..];
        }
        false
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
        reals.into_iter().map(|r| slabinfo_row(&r.cache)).collect()
    }

    /// Objects of `cache` handed out and not freed (counted from the state bytes).
    pub(super) fn live_objects(&self, cache: &Cache) -> usize {
        cache.nodes.iter().map(|n| n.lock().allocated()).sum()
    }

    /// Moves every cached object of `cache` (core arrays, alien arrays, shared arrays) back to
    /// its slab, and every quarantined object, repaired (see `quarantine`).
    pub(super) fn drain(&self, cache: &Cache, cores: &mut [spin::MutexGuard<'_, CoreState>]) {
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
            let s = o.state.observe(Ordering::Acquire);
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
            n.lock().drain_shared(env.map);
        }
        self.release_quarantine(cache);
    }

    /// Releases free slabs beyond `keep` per node (and forgets the cache's hot slabs). All core
    /// locks must be held: `cores` are their guards.
    pub(super) fn release_free(
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
    pub(super) fn release_cache(
        &self,
        cache: &Cache,
        cores: &mut [spin::MutexGuard<'_, CoreState>],
    ) -> usize {
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
    pub(super) fn announce(&self, cache: &Cache, recs: &[SlabRec]) {
        if let Some(hook) = self.release {
            for rec in recs {
                hook.released(cache.owner, rec.base, cache.layout.order);
            }
        }
    }

    /// Returns `owner`'s large block to the buddy layer (the release hook first).
    /// Its record's metadata is released to `account`.
    pub(super) fn free_large_block(
        &self,
        owner: OwnerId,
        addr: usize,
        order: u8,
        account: Option<&meta::MetaAccount>,
    ) {
        meta::release(account, meta::large_block_bytes());
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
}

/// One cache's slabinfo row (its node locks in turn).
fn slabinfo_row(c: &Cache) -> SlabinfoRow {
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
}
