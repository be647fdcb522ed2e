//! Objects of a client's caches: one at a time (Alloc, Free) and in batches through the magazine
//! page (Refill, Drain). Quota is checked before anything is taken; every address read from the
//! page is translated, checked for duplicates and checked by the core before any is freed.
use super::dispatch::Ctx;
use super::errors::{self, Window};
use super::page::PageRef;
use super::Server;
use crate::allocator::CoreGuard;
use crate::kmalloc::KmallocSet;
use crate::slab::{AllocError, CacheId};
use memserver_protocol::ops::*;
use memserver_protocol::{Error, Failure, FreshSlab, FRESH_MAX, MAX_BATCH};

/// Writes the fresh slabs of the guard's operations into the page; returns how many.
pub(super) fn report_fresh(
    g: &CoreGuard<'_>,
    page: Option<PageRef>,
    w: Window,
) -> Result<u64, Failure> {
    let slabs = g.new_slabs();
    if slabs.is_empty() {
        return Ok(0);
    }
    let page = page.ok_or(Failure::new(Error::Internal))?;
    if slabs.len() > FRESH_MAX {
        return Err(Failure::with(Error::Internal, [slabs.len() as u64, 0, 0]));
    }
    for (i, s) in slabs.iter().enumerate() {
        let rec = FreshSlab {
            first: w.to_client(s.first),
            objects: s.objects as u64,
        };
        page.page().write_fresh(i, rec);
    }
    Ok(slabs.len() as u64)
}

/// Hands freshly allocated `addrs` of `id` over: fresh-slab records into the page and, for a
/// batch, the (client) addresses into `slot`. Returns the number of fresh records. If that cannot
/// be done, the objects go back to the cache (the request changes nothing) and the error is
/// returned.
pub(super) fn deliver(
    g: &mut CoreGuard<'_>,
    id: CacheId,
    addrs: &[usize],
    page: Option<PageRef>,
    slot: Option<u64>,
    w: Window,
) -> Result<u64, Failure> {
    let result = report_fresh(g, page, w).and_then(|fresh| {
        if let Some(slot) = slot {
            let mut words = [0u64; MAX_BATCH];
            for (o, &a) in words.iter_mut().zip(addrs) {
                *o = w.to_client(a);
            }
            page.and_then(|p| p.page().write_slot(slot as usize, &words[..addrs.len()]))
                .ok_or(Failure::new(Error::Internal))?;
        }
        Ok(fresh)
    });
    if result.is_err() {
        let _ = g.free_batch(id, addrs);
    }
    result
}

/// Reads `count` addresses from `slot`, translates them to server addresses and refuses
/// duplicates. The page is client memory: every value is just a number to check.
pub(super) fn read_batch(
    page: PageRef,
    slot: u64,
    count: u64,
    w: Window,
    out: &mut [usize; MAX_BATCH],
) -> Result<usize, Failure> {
    let n = count as usize;
    let mut raw = [0u64; MAX_BATCH];
    page.page()
        .read_slot(slot as usize, &mut raw[..n])
        .ok_or(Failure::with(Error::BadSlot, [slot, 0, 0]))?;
    for (o, &a) in out.iter_mut().zip(&raw[..n]) {
        if a == 0 {
            return Err(Failure::new(Error::NullPointer));
        }
        *o = w
            .to_server(a)
            .ok_or(Failure::with(Error::NotAllocated, [a, 0, 0]))?;
    }
    let mut sorted = *out;
    sorted[..n].sort_unstable();
    if let Some(d) = sorted[..n].windows(2).find(|p| p[0] == p[1]) {
        return Err(Failure::with(
            Error::DuplicateAddress,
            [w.to_client(d[0]), 0, 0],
        ));
    }
    Ok(n)
}

/// Checks that `addr` is an allocated object (or large block) of the client; returns its usable
/// size. Says `ForeignPointer` for another client's object.
pub(super) fn check_owned(
    g: &CoreGuard<'_>,
    set: &KmallocSet,
    addr: usize,
    w: Window,
) -> Result<usize, Failure> {
    g.ksize(set, addr).map_err(|e| errors::free(&e, w))
}

fn is_oom(e: &AllocError) -> bool {
    matches!(e, AllocError::OutOfMemory)
}

/// Allocates up to `n` objects of `id` into `out` (zeroed if asked). Stops early when memory runs
/// out after the first object, or when another object could create more fresh slabs than the page
/// can report (`fresh_bound` slabs per object at most).
pub(super) fn alloc_many<'s>(
    server: &'s Server,
    c: &Ctx<'_>,
    id: CacheId,
    zero: bool,
    fresh_bound: Option<usize>,
    out: &mut [usize],
) -> Result<(CoreGuard<'s>, usize), Failure> {
    let w = c.rec.window;
    let one = |g: &mut CoreGuard<'_>| if zero { g.zalloc(id) } else { g.alloc(id) };
    let (mut g, first) = server.with_retry(c.core, is_oom, one)?;
    out[0] = first.map_err(|e| errors::alloc(&e, w))?;
    let mut n = 1;
    while n < out.len() {
        if let Some(bound) = fresh_bound {
            if g.new_slabs().len() + bound > FRESH_MAX {
                break;
            }
        }
        match one(&mut g) {
            Ok(a) => out[n] = a,
            Err(_) => break,
        }
        n += 1;
    }
    Ok((g, n))
}

impl Server {
    /// Most fresh slabs one allocation of this cache can create (its refill batch).
    fn fresh_bound(&self, id: CacheId) -> Result<usize, Failure> {
        let info = self
            .alloc
            .cache_info(id)
            .map_err(|_| Failure::new(Error::StaleHandle))?;
        Ok(info.tunables.batchcount.max(1) as usize)
    }

    pub(super) fn alloc_one(
        &self,
        c: &mut Ctx<'_>,
        r: AllocReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        let e = c.rec.handles.get(r.handle)?;
        c.rec.usage.check(&c.rec.quota, 1, e.usable as u64)?;
        let page = if e.remote_ctor { Some(c.page()?) } else { None };
        let w = c.rec.window;
        let mut addr = [0usize; 1];
        let zero = r.flags & alloc_flags::ZERO != 0;
        let (mut g, _) = alloc_many(self, c, e.id, zero, None, &mut addr)?;
        let fresh = deliver(&mut g, e.id, &addr, page, None, w)?;
        drop(g);
        c.rec.usage.charge(1, e.usable as u64);
        Ok(AllocReply {
            addr: w.to_client(addr[0]),
            fresh,
        }
        .encode(out))
    }

    pub(super) fn free_one(
        &self,
        c: &mut Ctx<'_>,
        r: FreeReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        let e = c.rec.handles.get(r.handle)?;
        let w = c.rec.window;
        let addr = w
            .to_server(r.addr)
            .ok_or(Failure::with(Error::NotAllocated, [r.addr, 0, 0]))?;
        let mut g = self.guard(c.core)?;
        check_owned(&g, &c.rec.kmalloc, addr, w)?;
        g.free(e.id, addr).map_err(|e| errors::free(&e, w))?;
        drop(g);
        c.rec.usage.release(1, e.usable as u64);
        Ok(Empty {}.encode(out))
    }

    /// Refuses a batch count above the server's limit.
    pub(super) fn check_batch(&self, count: u64) -> Result<(), Failure> {
        if count as usize > self.config.max_batch {
            return Err(Failure::with(
                Error::BadBatch,
                [count, self.config.max_batch as u64, 0],
            ));
        }
        Ok(())
    }

    pub(super) fn refill(
        &self,
        c: &mut Ctx<'_>,
        r: RefillReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        self.check_batch(r.count)?;
        let e = c.rec.handles.get(r.handle)?;
        let n = r.count as usize;
        c.rec
            .usage
            .check(&c.rec.quota, n as u64, (n * e.usable) as u64)?;
        let page = c.page()?;
        let w = c.rec.window;
        let bound = if e.remote_ctor {
            Some(self.fresh_bound(e.id)?)
        } else {
            None
        };
        let zero = r.flags & alloc_flags::ZERO != 0;
        let mut addrs = [0usize; MAX_BATCH];
        let (mut g, got) = alloc_many(self, c, e.id, zero, bound, &mut addrs[..n])?;
        let fresh = deliver(&mut g, e.id, &addrs[..got], Some(page), Some(r.slot), w)?;
        drop(g);
        c.rec.usage.charge(got as u64, (got * e.usable) as u64);
        Ok(RefillReply {
            count: got as u64,
            fresh,
        }
        .encode(out))
    }

    pub(super) fn drain(
        &self,
        c: &mut Ctx<'_>,
        r: DrainReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        self.check_batch(r.count)?;
        let e = c.rec.handles.get(r.handle)?;
        let w = c.rec.window;
        let mut addrs = [0usize; MAX_BATCH];
        let n = read_batch(c.page()?, r.slot, r.count, w, &mut addrs)?;
        let mut g = self.guard(c.core)?;
        for &a in &addrs[..n] {
            check_owned(&g, &c.rec.kmalloc, a, w)?;
        }
        let result = g.free_batch(e.id, &addrs[..n]);
        drop(g);
        match result {
            Ok(()) => {
                c.rec.usage.release(n as u64, (n * e.usable) as u64);
                Ok(CountReply { count: n as u64 }.encode(out))
            }
            Err(b) => {
                c.rec
                    .usage
                    .release(b.freed as u64, (b.freed * e.usable) as u64);
                let mut f = errors::free(&b.error, w);
                f.detail[2] = b.freed as u64;
                Err(f)
            }
        }
    }
}
