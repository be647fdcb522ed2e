//! The kmalloc family over the wire: one block (Kmalloc, Kfree, Ksize) and batches of one size
//! class through the magazine page (KmallocRefill, KfreeDrain). Usage counts each block's usable
//! size (class size, or whole pages for large blocks). A kmalloc of 0 bytes is answered with
//! `ZERO_SIZE_PTR` (a client address as it stands, never translated), which Kfree and Ksize
//! take as Linux does.
use super::dispatch::Ctx;
use super::errors;
use super::objects::{alloc_many, check_owned, read_raw, translate_checked};
use super::scratch::Scratch;
use super::Server;
use crate::allocator::CoreGuard;
use crate::buddy::PAGE_SIZE;
use crate::kmalloc::{class_of, large_order, KMALLOC_MAX_CACHE_SIZE, KMALLOC_MAX_SIZE};
use crate::slab::KmallocError;
use memserver_protocol::ops::*;
use memserver_protocol::{Error, Failure, MAX_BATCH};

// One fact, two crates (the core does not know the protocol): they must agree.
const _: () = assert!(crate::kmalloc::ZERO_SIZE_PTR as u64 == ZERO_SIZE_PTR);

/// The reply to a kmalloc of 0 bytes: [`ZERO_SIZE_PTR`], no block, nothing charged.
pub(super) fn zero_size_reply(out: &mut [u64]) -> usize {
    KmallocReply {
        addr: ZERO_SIZE_PTR,
        usable: 0,
    }
    .encode(out)
}

impl Server {
    pub(super) fn kmalloc(
        &self,
        c: &mut Ctx<'_>,
        r: KmallocReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        if r.size == 0 {
            return Ok(zero_size_reply(out));
        }
        let size = usize::try_from(r.size)
            .ok()
            .filter(|&s| s <= KMALLOC_MAX_SIZE)
            .ok_or(Failure::with(
                Error::SizeTooLarge,
                [r.size, KMALLOC_MAX_SIZE as u64, 0],
            ))?;
        let usable = match class_of(size) {
            Some(class) => c.rec.kmalloc_usable[class],
            None => PAGE_SIZE << large_order(size),
        };
        c.rec.usage.check(&c.rec.quota, 1, usable as u64)?;
        let w = c.rec.window;
        let set = c.rec.kmalloc;
        let zero = r.flags & alloc_flags::ZERO != 0;
        let oom = |e: &KmallocError| matches!(e, KmallocError::OutOfMemory);
        let fail = |e: &KmallocError| errors::kmalloc(e, w);
        let op = |g: &mut CoreGuard<'_>| {
            if zero {
                g.kzalloc(&set, size)
            } else {
                g.kmalloc(&set, size)
            }
        };
        let order = || self.alloc.kmalloc_order(&set, size);
        let addr = self.under_guard(c.core, oom, fail, order, op, |_, a| Ok(a))?;
        c.rec.usage.charge(1, usable as u64);
        Ok(KmallocReply {
            addr: w.to_client(addr),
            usable: usable as u64,
        }
        .encode(out))
    }

    pub(super) fn kfree(
        &self,
        c: &mut Ctx<'_>,
        r: KfreeReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        if r.addr == ZERO_SIZE_PTR {
            return Ok(Empty {}.encode(out));
        }
        let w = c.rec.window;
        let addr = w
            .to_server(r.addr)
            .ok_or(Failure::with(Error::NotAllocated, [r.addr, 0, 0]))?;
        let mut g = self.guard(c.core)?;
        let usable = check_owned(&g, &c.rec.kmalloc, addr, w)?;
        g.kfree(&c.rec.kmalloc, addr)
            .map_err(|e| errors::free(&e, w))?;
        drop(g);
        c.rec.usage.release(1, usable as u64);
        Ok(Empty {}.encode(out))
    }

    pub(super) fn ksize(
        &self,
        c: &mut Ctx<'_>,
        r: KsizeReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        if r.addr == ZERO_SIZE_PTR {
            return Ok(KsizeReply { usable: 0 }.encode(out));
        }
        let w = c.rec.window;
        let addr = w
            .to_server(r.addr)
            .ok_or(Failure::with(Error::NotAllocated, [r.addr, 0, 0]))?;
        let g = self.guard(c.core)?;
        let usable = check_owned(&g, &c.rec.kmalloc, addr, w)?;
        Ok(KsizeReply {
            usable: usable as u64,
        }
        .encode(out))
    }

    pub(super) fn kmalloc_refill(
        &self,
        c: &mut Ctx<'_>,
        r: KmallocRefillReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        self.check_batch(r.count)?;
        let class = usize::try_from(r.size)
            .ok()
            .and_then(class_of)
            .ok_or(Failure::with(
                Error::SizeTooLarge,
                [r.size, KMALLOC_MAX_CACHE_SIZE as u64, 0],
            ))?;
        let usable = c.rec.kmalloc_usable[class];
        let n = r.count as usize;
        c.rec
            .usage
            .check(&c.rec.quota, n as u64, (n * usable) as u64)?;
        let page = c.page()?;
        let w = c.rec.window;
        let id = c.rec.kmalloc.caches[class];
        let zero = r.flags & alloc_flags::ZERO != 0;
        let scratch = &mut c.rec.scratch;
        let (got, _) = alloc_many(self, c.core, id, zero, None, w, n, page, r.slot, scratch)?;
        c.rec.usage.charge(got as u64, (got * usable) as u64);
        Ok(KmallocRefillReply {
            count: got as u64,
            usable: usable as u64,
        }
        .encode(out))
    }

    /// A batch of kmalloc blocks back. The common batch (one size class, as a class magazine
    /// drains) is freed whole by the core's `free_batch` on that class's cache; any other batch,
    /// and any refused one (nothing freed), takes `kfree_drain_each`, which names the precise
    /// error or frees a mixed batch block by block.
    pub(super) fn kfree_drain(
        &self,
        c: &mut Ctx<'_>,
        r: KfreeDrainReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        self.check_batch(r.count)?;
        let w = c.rec.window;
        let page = c.page()?;
        let Scratch { words, addrs } = &mut *c.rec.scratch;
        let n = read_raw(page, r.slot, r.count, words)?;
        if w.to_server_all(&words[..n], addrs) {
            let set = c.rec.kmalloc;
            let mut g = self.guard(c.core)?;
            let class = g
                .usable_size(&set, addrs[0])
                .ok()
                .and_then(|u| class_of(u).filter(|&k| c.rec.kmalloc_usable[k] == u));
            if let Some(k) = class {
                let usable = c.rec.kmalloc_usable[k];
                match g.free_batch(set.caches[k], &addrs[..n]) {
                    Ok(()) => {
                        drop(g);
                        c.rec.usage.release(n as u64, (n * usable) as u64);
                        return Ok(CountReply { count: n as u64 }.encode(out));
                    }
                    Err(b) if b.freed > 0 => {
                        drop(g);
                        c.rec
                            .usage
                            .release(b.freed as u64, (b.freed * usable) as u64);
                        return Err(errors::stopped_part_way(b.freed));
                    }
                    Err(_) => {}
                }
            }
        }
        let mut raw = [0u64; MAX_BATCH];
        raw[..n].copy_from_slice(&words[..n]);
        self.kfree_drain_each(c, &raw[..n], out)
    }

    /// Checks every address of the batch in protocol order (null, translation, duplicates, then
    /// each block's ownership, state and red zones: everything `kfree` checks) before freeing
    /// any, then frees block by block.
    #[cold]
    #[inline(never)]
    fn kfree_drain_each(
        &self,
        c: &mut Ctx<'_>,
        raw: &[u64],
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        let w = c.rec.window;
        let n = raw.len();
        let mut addrs = [0usize; MAX_BATCH];
        translate_checked(raw, w, &mut addrs)?;
        let set = c.rec.kmalloc;
        let mut g = self.guard(c.core)?;
        let mut sizes = [0usize; MAX_BATCH];
        for (s, &a) in sizes.iter_mut().zip(&addrs[..n]) {
            *s = g.check_kfree(&set, a).map_err(|e| errors::free(&e, w))?;
        }
        for (i, &a) in addrs[..n].iter().enumerate() {
            if g.kfree(&set, a).is_err() {
                drop(g);
                let freed: usize = sizes[..i].iter().sum();
                c.rec.usage.release(i as u64, freed as u64);
                return Err(errors::stopped_part_way(i));
            }
        }
        let bytes: usize = sizes[..n].iter().sum();
        drop(g);
        c.rec.usage.release(n as u64, bytes as u64);
        Ok(CountReply { count: n as u64 }.encode(out))
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use crate::server::test_world::*;
    use memserver_protocol::{Error, Failure};

    /// One-class batches (the fast path), mixed batches (block by block) and refused batches
    /// (named precisely, nothing freed) of kmalloc blocks, with usage counted in bytes.
    #[test]
    fn kfree_drain_fast_mixed_and_refused() {
        let world = World::new();
        let s = &world.server;
        let (me, other) = (client(s, "me"), client(s, "other"));
        let small: Vec<u64> = (0..8).map(|_| kmalloc(s, &me, 64)).collect();
        let (big, large) = (kmalloc(s, &me, 1000), kmalloc(s, &me, 20_000));
        let foreign = kmalloc(s, &other, 64);
        let bytes = |c: &Client| s.usage(c.badge).unwrap().bytes;
        assert_eq!(live(s, &me), 10);
        let before = bytes(&me);
        let refused: [(&[u64], Failure); 4] = [
            (
                &[small[0], foreign],
                Failure::with(Error::ForeignPointer, [foreign, 0, 0]),
            ),
            (
                &[small[0], small[1], small[0]],
                Failure::with(Error::DuplicateAddress, [small[0], 0, 0]),
            ),
            (&[small[0], 0], Failure::new(Error::NullPointer)),
            (
                &[small[2], small[3] + 8],
                Failure::with(Error::InteriorPointer, [small[3] + 8, 8, 0]),
            ),
        ];
        for (batch, want) in refused {
            assert_eq!(kfree_drain(s, &me, batch), Err(want), "{batch:x?}");
            assert_eq!((live(s, &me), bytes(&me)), (10, before), "nothing freed");
        }
        assert_eq!(kfree_drain(s, &me, &small[..6]), Ok([6, 0, 0, 0, 0]));
        assert_eq!(bytes(&me), before - 6 * 64);
        assert_eq!(
            kfree_drain(s, &me, &[small[6], big, large, small[7]]),
            Ok([4, 0, 0, 0, 0])
        );
        assert_eq!((live(s, &me), bytes(&me)), (0, 0));
        assert_eq!(
            kfree_drain(s, &me, &[small[0]]),
            Err(Failure::with(Error::DoubleFree, [small[0], 0, 0]))
        );
        s.validate().unwrap();
    }
}
