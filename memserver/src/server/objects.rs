//! Objects of a client's caches: one at a time (Alloc, Free) and in batches through the magazine
//! page (Refill, Drain). Quota is checked before anything is taken; every address read from the
//! page is read once, translated, and checked by the core (its cache, slot start, allocated, no
//! duplicate) before any is freed. The hot paths do each check once, in the core; the precise
//! error of a refused request is worked out on a separate cold path.
use super::dispatch::Ctx;
use super::errors::{self, Window};
use super::page::PageRef;
use super::scratch::Scratch;
use super::Server;
use crate::allocator::{CoreGuard, Reclaim};
use crate::kmalloc::KmallocSet;
use crate::slab::{AllocError, CacheId, FreeError};
use crate::topology::CoreId;
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

/// Hands freshly allocated objects of `id` (their client addresses, `words`) over: fresh-slab
/// records into the page and, for a batch, the addresses into `slot`. Returns the number of fresh
/// records. If that cannot be done, the objects go back to the cache (the request changes nothing)
/// and the error is returned.
#[inline]
pub(super) fn deliver(
    g: &mut CoreGuard<'_>,
    id: CacheId,
    words: &[u64],
    page: Option<PageRef>,
    slot: Option<u64>,
    w: Window,
) -> Result<u64, Failure> {
    let fresh = if g.new_slabs().is_empty() {
        Ok(0)
    } else {
        report_fresh(g, page, w)
    };
    let result = fresh.and_then(|fresh| match slot {
        Some(slot) => match page.and_then(|p| p.page().write_slot(slot as usize, words)) {
            Some(()) => Ok(fresh),
            None => Err(Failure::new(Error::Internal)),
        },
        None => Ok(fresh),
    });
    if result.is_err() {
        give_back(g, id, words, w);
    }
    result
}

/// Frees objects this request allocated (client addresses `words`) after it failed.
#[cold]
fn give_back(g: &mut CoreGuard<'_>, id: CacheId, words: &[u64], w: Window) {
    let mut addrs = [0usize; MAX_BATCH];
    for (a, &c) in addrs.iter_mut().zip(words) {
        *a = w.to_server(c).unwrap_or(0);
    }
    let _ = g.free_batch(id, &addrs[..words.len()]);
}

/// Reads `count` raw words from `slot` of the page (client memory: just numbers to check).
#[inline]
pub(super) fn read_raw(
    page: PageRef,
    slot: u64,
    count: u64,
    raw: &mut [u64; MAX_BATCH],
) -> Result<usize, Failure> {
    let n = count as usize;
    match raw
        .get_mut(..n)
        .and_then(|r| page.page().read_slot(slot as usize, r))
    {
        Some(()) => Ok(n),
        None => Err(Failure::with(Error::BadSlot, [slot, 0, 0])),
    }
}

/// Translates raw addresses to server addresses, refusing null, untranslatable and duplicate
/// addresses (in that order, the first offending address named).
pub(super) fn translate_checked(
    raw: &[u64],
    w: Window,
    out: &mut [usize; MAX_BATCH],
) -> Result<(), Failure> {
    for (o, &a) in out.iter_mut().zip(raw) {
        if a == 0 {
            return Err(Failure::new(Error::NullPointer));
        }
        *o = w
            .to_server(a)
            .ok_or(Failure::with(Error::NotAllocated, [a, 0, 0]))?;
    }
    let n = raw.len();
    let mut sorted = *out;
    sorted[..n].sort_unstable();
    if let Some(d) = sorted[..n].windows(2).find(|p| p[0] == p[1]) {
        return Err(Failure::with(
            Error::DuplicateAddress,
            [w.to_client(d[0]), 0, 0],
        ));
    }
    Ok(())
}

/// Checks that `addr` is an allocated object (or large block) of the client; returns its usable
/// size. Says `ForeignPointer` for another client's object.
pub(super) fn check_owned(
    g: &CoreGuard<'_>,
    set: &KmallocSet,
    addr: usize,
    w: Window,
) -> Result<usize, Failure> {
    g.usable_size(set, addr).map_err(|e| errors::free(&e, w))
}

fn is_oom(e: &AllocError) -> bool {
    matches!(e, AllocError::OutOfMemory)
}

/// Allocates up to `out.len()` (at least one) objects of `id`, zeroed if asked, and hands them
/// over as a batch: their client addresses into `slot` of `page`, fresh-slab records after them
/// (see [`deliver`]). Stops early when memory runs out after the first object, or when another
/// object could create more fresh slabs than the page can report (`fresh_bound` slabs per object
/// at most). A plain batch is the core's `alloc_batch`. Returns (objects, fresh records).
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn alloc_many(
    server: &Server,
    core: CoreId,
    id: CacheId,
    zero: bool,
    fresh_bound: Option<usize>,
    w: Window,
    want: usize,
    page: PageRef,
    slot: u64,
    scratch: &mut Scratch,
) -> Result<(usize, u64), Failure> {
    let Scratch { words, addrs } = scratch;
    let addrs = &mut addrs[..want.min(MAX_BATCH)];
    let batch = |g: &mut CoreGuard<'_>, addrs: &mut [usize]| {
        if !zero && fresh_bound.is_none() {
            g.alloc_batch(id, addrs)
        } else {
            alloc_each(g, id, zero, fresh_bound, addrs)
        }
    };
    // As `Server::under_guard`, written out: the batch and its hand-over share `addrs`.
    let mut g = server.guard(core)?;
    let mut got = batch(&mut g, addrs);
    if matches!(got, Err(AllocError::OutOfMemory)) {
        drop(g);
        let order = server.alloc.slab_order(id);
        if server.alloc.reclaim(order) == Reclaim::Retry {
            g = server.guard(core)?;
            got = batch(&mut g, addrs);
            server.alloc.reclaim_outcome(order, got.is_ok());
        } else {
            g = server.guard(core)?;
        }
    }
    let got = got.map_err(|e| errors::alloc(&e))?;
    for (o, &a) in words.iter_mut().zip(&addrs[..got]) {
        *o = w.to_client(a);
    }
    let fresh = deliver(&mut g, id, &words[..got], Some(page), Some(slot), w)?;
    Ok((got, fresh))
}

/// `alloc_batch` one object at a time, zeroing each, and stopping before an object that could
/// create more fresh slabs than the page can report.
fn alloc_each(
    g: &mut CoreGuard<'_>,
    id: CacheId,
    zero: bool,
    fresh_bound: Option<usize>,
    out: &mut [usize],
) -> Result<usize, AllocError> {
    for (i, o) in out.iter_mut().enumerate() {
        if let Some(bound) = fresh_bound {
            if i > 0 && g.new_slabs().len() + bound > FRESH_MAX {
                return Ok(i);
            }
        }
        match if zero { g.zalloc(id) } else { g.alloc(id) } {
            Ok(a) => *o = a,
            Err(e) if i == 0 => return Err(e),
            Err(_) => return Ok(i),
        }
    }
    Ok(out.len())
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
        let zero = r.flags & alloc_flags::ZERO != 0;
        let fail = |err: &AllocError| errors::alloc(err);
        let op = |g: &mut CoreGuard<'_>| if zero { g.zalloc(e.id) } else { g.alloc(e.id) };
        let order = || self.alloc.slab_order(e.id);
        let (addr, fresh) = self.under_guard(c.core, is_oom, fail, order, op, |g, addr| {
            let addr = w.to_client(addr);
            Ok((addr, deliver(g, e.id, &[addr], page, None, w)?))
        })?;
        c.rec.usage.charge(1, e.usable as u64);
        Ok(AllocReply { addr, fresh }.encode(out))
    }

    /// One free; the core's free checks the address against the client's own cache, so only a
    /// refused free looks further (ownership first, as the error to report).
    pub(super) fn free_one(
        &self,
        c: &mut Ctx<'_>,
        r: FreeReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        let e = c.rec.handles.get(r.handle)?;
        let w = c.rec.window;
        let Some(addr) = w.to_server(r.addr) else {
            return Err(Failure::with(Error::NotAllocated, [r.addr, 0, 0]));
        };
        let mut g = self.guard(c.core)?;
        if let Err(err) = g.free(e.id, addr) {
            check_owned(&g, &c.rec.kmalloc, addr, w)?;
            return Err(errors::free(&err, w));
        }
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
        let scratch = &mut c.rec.scratch;
        let (got, fresh) =
            alloc_many(self, c.core, e.id, zero, bound, w, n, page, r.slot, scratch)?;
        c.rec.usage.charge(got as u64, (got * e.usable) as u64);
        Ok(RefillReply {
            count: got as u64,
            fresh,
        }
        .encode(out))
    }

    /// A batch back from the page: the addresses are read once, translated (one subtraction
    /// each) and handed to the core's `free_batch`, which checks every one (cache, slot start,
    /// allocated, no duplicate) before freeing any. Only a refused batch looks further, to name
    /// the precise error.
    pub(super) fn drain(
        &self,
        c: &mut Ctx<'_>,
        r: DrainReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        self.check_batch(r.count)?;
        let e = c.rec.handles.get(r.handle)?;
        let w = c.rec.window;
        let page = c.page()?;
        let Scratch { words, addrs } = &mut *c.rec.scratch;
        let n = read_raw(page, r.slot, r.count, words)?;
        let raw = &words[..n];
        let set = &c.rec.kmalloc;
        if !w.to_server_all(raw, addrs) {
            return Err(self.drain_refusal(c.core, set, w, raw, None));
        }
        let mut g = self.guard(c.core)?;
        let result = g.free_batch(e.id, &addrs[..n]);
        drop(g);
        match result {
            Ok(()) => {
                c.rec.usage.release(n as u64, (n * e.usable) as u64);
                Ok(CountReply { count: n as u64 }.encode(out))
            }
            Err(b) if b.freed == 0 => Err(self.drain_refusal(c.core, set, w, raw, Some(b.error))),
            Err(b) => {
                c.rec
                    .usage
                    .release(b.freed as u64, (b.freed * e.usable) as u64);
                Err(errors::stopped_part_way(b.freed))
            }
        }
    }

    /// The error of a drain refused whole, checked in the order the protocol names them: null,
    /// untranslatable and duplicate addresses, then each address's ownership, then the core's
    /// refusal `core_error`.
    #[cold]
    #[inline(never)]
    fn drain_refusal(
        &self,
        core: CoreId,
        set: &KmallocSet,
        w: Window,
        raw: &[u64],
        core_error: Option<FreeError>,
    ) -> Failure {
        let mut addrs = [0usize; MAX_BATCH];
        if let Err(f) = translate_checked(raw, w, &mut addrs) {
            return f;
        }
        let g = match self.guard(core) {
            Ok(g) => g,
            Err(f) => return f,
        };
        for &a in &addrs[..raw.len()] {
            if let Err(f) = check_owned(&g, set, a, w) {
                return f;
            }
        }
        match core_error {
            Some(e) => errors::free(&e, w),
            None => Failure::new(Error::Internal),
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use crate::server::test_world::*;
    use memserver_protocol::ops::*;
    use memserver_protocol::{Error, Failure, Request};

    /// A refused drain names the error the protocol's order gives (null and duplicates before
    /// ownership, ownership before the core's own refusal), whatever the position of the bad
    /// address, and frees nothing; a good drain frees everything.
    #[test]
    fn drain_refusals_are_precise_and_change_nothing() {
        let world = World::new();
        let s = &world.server;
        let (me, other) = (client(s, "mine"), client(s, "theirs"));
        let (a, b, foreign) = (
            alloc_obj(s, &me),
            alloc_obj(s, &other),
            alloc_obj(s, &other),
        );
        let mine2 = alloc_obj(s, &me);
        assert!(a > OFFSET as u64, "replies carry client addresses");
        let cases: [(&[u64], Failure); 6] = [
            (&[a, 0], Failure::new(Error::NullPointer)),
            (
                &[a, foreign, a],
                Failure::with(Error::DuplicateAddress, [a, 0, 0]),
            ),
            (
                &[a, foreign],
                Failure::with(Error::ForeignPointer, [foreign, 0, 0]),
            ),
            (
                &[mine2, a + 8],
                Failure::with(Error::InteriorPointer, [a + 8, 8, 0]),
            ),
            (&[a, 0x40], Failure::with(Error::NotAllocated, [0x40, 0, 0])),
            (&[b], Failure::with(Error::ForeignPointer, [b, 0, 0])),
        ];
        for (batch, want) in cases {
            assert_eq!(drain(s, &me, batch), Err(want), "{batch:x?}");
            assert_eq!(live(s, &me), 2, "nothing freed by {batch:x?}");
            s.validate().unwrap();
        }
        assert_eq!(drain(s, &me, &[mine2, a]), Ok([2, 0, 0, 0, 0]));
        assert_eq!(live(s, &me), 0);
        assert_eq!(
            drain(s, &me, &[a]),
            Err(Failure::with(Error::DoubleFree, [a, 0, 0]))
        );
        let free = |c: &Client, addr| {
            let req = FreeReq {
                handle: c.handle,
                addr,
            };
            send(s, c.badge, Request::Free(req))
        };
        assert_eq!(
            free(&me, foreign),
            Err(Failure::with(Error::ForeignPointer, [foreign, 0, 0]))
        );
        assert_eq!(free(&other, foreign).map(|_| ()), Ok(()));
        assert_eq!(live(s, &other), 1);
        s.validate().unwrap();
    }

    /// A refill hands out client addresses through the page; draining them back frees them all.
    #[test]
    fn refill_then_drain_round_trip_with_a_window() {
        let world = World::new();
        let s = &world.server;
        let c = client(s, "batch");
        for zero in [0, alloc_flags::ZERO] {
            let req = RefillReq {
                handle: c.handle,
                slot: 2,
                count: 40,
                flags: zero,
            };
            assert_eq!(send(s, c.badge, Request::Refill(req)).unwrap()[0], 40);
            let mut got = [0u64; 40];
            c.page.read_slot(2, &mut got).unwrap();
            let mut sorted = got;
            sorted.sort_unstable();
            assert!(sorted.windows(2).all(|p| p[0] != p[1]), "distinct objects");
            assert!(got.iter().all(|&a| a > OFFSET as u64));
            assert_eq!(live(s, &c), 40);
            assert_eq!(drain(s, &c, &got), Ok([40, 0, 0, 0, 0]));
            assert_eq!(live(s, &c), 0);
            s.validate().unwrap();
        }
    }
}
