//! Report and continue, as Linux does with debug checks on: a violation a check finds is counted
//! in the cache, recorded (with the object's last owners under `STORE_USER`) in its owner's
//! [`ViolationLog`], and then
//!
//! - on alloc: the damaged free object is quarantined (state `quarantined`: held by no array or
//!   slab, never handed out, counted in `Cache::quarantined`) and the allocation is served from
//!   another object;
//! - on free: the free is refused (the caller made the mistake) and nothing else changes.
//!
//! A quarantined object is repaired (its free-state bytes written again) and returned to its
//! slab by every reclaim that drains the cache (`kmem_cache_shrink`, `shrink_all`), or released
//! with its slab when the cache is destroyed or its owner purged.
//!
//! Logs are given by [`Allocator::set_violation_log`] (the server does it when a client
//! attaches, so no report allocates); a violation of an owner without a log is counted and not
//! recorded.
use super::*;
use crate::slab::{CheckedOp, Violation, ViolationLog};

impl Allocator {
    /// Gives `owner`'s violation reports to `log` from now on (replacing any log it had). Its
    /// entry in the allocator's table is allocated fallibly; the log itself is the caller's
    /// (the server charges both to the client's metadata at attach).
    pub fn set_violation_log(
        &self,
        owner: OwnerId,
        log: Arc<ViolationLog>,
    ) -> Result<(), crate::meta::MetaError> {
        let mut logs = self.logs.lock();
        logs.retain(|(o, _)| *o != owner);
        let bytes = core::mem::size_of::<(OwnerId, Arc<ViolationLog>)>();
        logs.try_reserve(1)
            .map_err(|e| crate::meta::heap_error(e, bytes))?;
        logs.push((owner, log));
        Ok(())
    }

    /// Forgets `owner`'s log (its holders keep their reference).
    pub(super) fn drop_violation_log(&self, owner: OwnerId) {
        self.logs.lock().retain(|(o, _)| *o != owner);
    }

    /// Objects of cache `id` in quarantine.
    pub fn quarantined(&self, id: CacheId) -> Result<u64, CacheError> {
        let reg = self.registry.lock();
        let real = reg.resolve(id).ok_or(CacheError::BadCache(id))?;
        Ok(reg.real(real).cache.quarantined.load(Ordering::Relaxed))
    }

    /// Repairs every quarantined object of `cache` and returns it to its slab's free stack;
    /// returns how many. Called with every core lock held.
    pub(super) fn release_quarantine(&self, cache: &Cache) -> usize {
        if cache.quarantined.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let l = &cache.layout;
        let mut n = 0;
        for node in cache.nodes.iter() {
            n += node
                .lock()
                .release_quarantined(l, |obj| cache.checks.init_free(l, obj));
        }
        cache.quarantined.fetch_sub(n as u64, Ordering::Relaxed);
        n
    }

    /// Reports every object of `cache` still allocated, as Linux lists the objects remaining
    /// when a cache is destroyed. Called with every core lock held.
    pub(super) fn report_leaks(&self, cache: &Cache) {
        let logs = self.logs.lock();
        let log = logs.iter().find(|(o, _)| *o == cache.owner).map(|(_, l)| l);
        let l = &cache.layout;
        for node in cache.nodes.iter() {
            let nc = node.lock();
            for (_, rec) in nc.recs() {
                for (i, s) in rec.states.observed().enumerate() {
                    if !state::is_live(s) {
                        continue;
                    }
                    cache.violations.fetch_add(1, Ordering::Relaxed);
                    let v = Violation {
                        kind: crate::slab::ViolationKind::Leak,
                        object: rec.base + l.obj_offset as usize + i * l.stride as usize,
                        offset: 0,
                        expected: 0,
                        found: 0,
                        last: rec.track(i).unwrap_or_default(),
                    };
                    if let Some(log) = log {
                        log.push(CheckedOp::Destroy, &cache.name, v);
                    }
                }
            }
        }
    }
}

impl CoreGuard<'_> {
    /// Counts and records `v`, found by `op` in the object at `addr` of `cache`; returns it
    /// with the object's last owners filled in.
    #[cold]
    pub(super) fn report(
        &self,
        cache: &Cache,
        addr: usize,
        mut v: Violation,
        op: CheckedOp,
    ) -> Violation {
        cache.violations.fetch_add(1, Ordering::Relaxed);
        v.last = self.tracks(cache, addr);
        let logs = self.alloc.logs.lock();
        if let Some((_, log)) = logs.iter().find(|(o, _)| *o == cache.owner) {
            log.push(op, &cache.name, v);
        }
        v
    }

    /// Takes `o`, a free object an allocation popped and found damaged (`v`), out of use.
    #[cold]
    pub(super) fn quarantine(&self, cache: &Cache, o: Obj, v: Violation) {
        self.report(cache, o.addr, v, CheckedOp::Alloc);
        let s = o.state.get().load(Ordering::Relaxed);
        o.state
            .get()
            .store(state::quarantined(state::ever(s)), Ordering::Release);
        cache.quarantined.fetch_add(1, Ordering::Relaxed);
    }
}
