//! [`KmemCache`] and the kernel-shaped `kmem_cache_*` calls. A cache keeps a private magazine of
//! objects it already holds; debug caches (and `batch == 0`) send one message per operation so the
//! server checks each one. Fresh slabs reported by the server are constructed before use.
//!
//! The magazine is checked: a free enters it only if the cache's [`SlabTable`] says the address
//! is an object start that this cache handed to its user and that was not freed since (no
//! object in the magazine is marked as out: a pop marks it, a free or a refill clears it); a free
//! the table refuses (an interior address, an object freed already) fails at once, and one it
//! cannot tell (a slab it does not know) goes to the server as one message. So the magazine only
//! ever holds objects of this cache that the user does not hold, and never hands one out twice.
use crate::client::{Client, SLOT};
use crate::ctor;
use crate::magazine::Magazine;
use crate::slab_table::{Lookup, SlabTable};
use crate::transport::Transport;
use memserver_protocol::ops::*;
use memserver_protocol::{Error, Failure, MagazinePage, Request, MAX_BATCH};

/// A constructor: runs once over every object of a new slab, in the client.
pub type Ctor = fn(*mut u8);

pub struct KmemCache {
    pub(crate) handle: u64,
    /// The size it was created with (`kmem_cache_size`).
    size: usize,
    stride: usize,
    object_size: usize,
    objects_per_slab: usize,
    flags: u64,
    ctor: Option<Ctor>,
    mag: Magazine,
    /// Objects the magazine may hold: twice the batch, 0 when the cache bypasses it.
    limit: usize,
    /// Which objects of which slabs are out with the user (off when the cache bypasses the
    /// magazine, or when the server gives no slab alignment).
    slabs: SlabTable,
}

impl KmemCache {
    /// Usable bytes of one object.
    pub fn object_size(&self) -> usize {
        self.object_size
    }

    pub fn objects_per_slab(&self) -> usize {
        self.objects_per_slab
    }

    /// Objects currently held in the private magazine.
    pub fn magazine_len(&self) -> usize {
        self.mag.len()
    }

    /// The wire handle (for tests that speak the protocol directly).
    pub fn handle(&self) -> u64 {
        self.handle
    }

    fn bypasses_magazine(&self, batch: usize) -> bool {
        bypasses(batch, self.flags)
    }
}

/// Whether a cache of `flags` sends one message per operation with this `batch`.
fn bypasses(batch: usize, flags: u64) -> bool {
    batch == 0 || flags & cache_flags::DEBUG != 0
}

impl<T: Transport> Client<T> {
    /// `kmem_cache_create(name, size, align, flags, ctor)`.
    pub fn kmem_cache_create(
        &mut self,
        name: &str,
        size: usize,
        align: usize,
        flags: u64,
        ctor: Option<Ctor>,
    ) -> Result<KmemCache, Failure> {
        let req = CacheCreateReq {
            size: size as u64,
            align: align as u64,
            flags,
            ctor: ctor.is_some() as u64,
        };
        memserver_protocol::varlen::check_name(name)?;
        self.call_request(&Request::CacheCreate(req, name))?;
        let r: CacheCreateReply = self.reply()?;
        let bypass = bypasses(self.batch, r.flags);
        Ok(KmemCache {
            handle: r.handle,
            size,
            stride: r.stride as usize,
            object_size: r.object_size as usize,
            objects_per_slab: r.objects_per_slab as usize,
            flags: r.flags,
            ctor,
            mag: Magazine::new(),
            limit: if bypass { 0 } else { 2 * self.batch },
            slabs: if bypass {
                SlabTable::off()
            } else {
                SlabTable::new(r.slab_bytes, r.first_offset, r.stride, r.objects_per_slab)
            },
        })
    }

    /// `kmem_cache_alloc(cache)`.
    #[inline(always)]
    pub fn kmem_cache_alloc(&mut self, cache: &mut KmemCache) -> Result<usize, Failure> {
        if let Some(addr) = cache.mag.pop() {
            cache.slabs.hand_out(addr);
            return Ok(addr);
        }
        self.cache_alloc_slow(cache, 0)
    }

    /// `kmem_cache_zalloc(cache)`: the object zeroed.
    pub fn kmem_cache_zalloc(&mut self, cache: &mut KmemCache) -> Result<usize, Failure> {
        if cache.bypasses_magazine(self.batch) {
            return self.cache_alloc_slow(cache, alloc_flags::ZERO);
        }
        let addr = self.kmem_cache_alloc(cache)?;
        // SAFETY: `addr` is an object of `cache` that the server handed to this client and that
        // no one else holds; it spans `object_size` bytes.
        unsafe { core::ptr::write_bytes(addr as *mut u8, 0, cache.object_size) };
        Ok(addr)
    }

    #[cold]
    fn cache_alloc_slow(&mut self, cache: &mut KmemCache, flags: u64) -> Result<usize, Failure> {
        if cache.bypasses_magazine(self.batch) {
            let r: AllocReply = self.call(AllocReq {
                handle: cache.handle,
                flags,
            })?;
            self.construct(cache, r.fresh);
            return Ok(r.addr as usize);
        }
        let r: RefillReply = self.call(RefillReq {
            handle: cache.handle,
            slot: SLOT,
            count: self.batch as u64,
            flags,
        })?;
        self.construct(cache, r.fresh);
        let n = (r.count as usize).min(MAX_BATCH);
        load(cache, self.transport.magazine(), n);
        pop_out(cache).ok_or(Failure::new(Error::Internal))
    }

    fn construct(&self, cache: &KmemCache, fresh: u64) {
        if let Some(f) = cache.ctor {
            ctor::run(self.transport.magazine(), fresh, cache.stride, f);
        }
    }

    /// `kmem_cache_size(cache)`: the object size the cache was created with.
    pub fn kmem_cache_size(&self, cache: &KmemCache) -> usize {
        cache.size
    }

    /// `kmem_cache_alloc_node(cache, flags, node)`: one object from a slab on memory node
    /// `node`, falling back to the nearest other node unless `flags` has
    /// [`alloc_flags::THISNODE`]; [`alloc_flags::ZERO`] zeroes it. One register-only message
    /// (the magazine's objects may come from any node).
    pub fn kmem_cache_alloc_node(
        &mut self,
        cache: &mut KmemCache,
        flags: u64,
        node: u32,
    ) -> Result<usize, Failure> {
        let r: AllocReply = self.call(AllocNodeReq {
            handle: cache.handle,
            node: node as u64,
            flags,
        })?;
        self.construct(cache, r.fresh);
        // The server's own hand-out: the object is the user's now, whatever the table thought.
        cache.slabs.hand_out(r.addr as usize);
        Ok(r.addr as usize)
    }

    /// `kmem_cache_alloc_bulk(cache, out)`: fills all of `out` (at most [`MAX_BATCH`]) or hands
    /// out nothing (then `OutOfMemory`; objects already fetched stay in the magazine). Served from
    /// the magazine first, the rest by one refill through the magazine page.
    pub fn kmem_cache_alloc_bulk(
        &mut self,
        cache: &mut KmemCache,
        out: &mut [usize],
    ) -> Result<(), Failure> {
        let n = out.len();
        if n > MAX_BATCH {
            return Err(Failure::with(
                Error::BadBatch,
                [n as u64, MAX_BATCH as u64, 0],
            ));
        }
        let mut i = 0;
        while i < n {
            if let Some(a) = pop_out(cache) {
                out[i] = a;
                i += 1;
                continue;
            }
            // The magazine is empty: one refill for the rest (room for all of it).
            let want = (n - i).max(self.batch).min(MAX_BATCH);
            let r = self.call(RefillReq {
                handle: cache.handle,
                slot: SLOT,
                count: want as u64,
                flags: 0,
            });
            let got = match r {
                Ok(r) => {
                    self.construct(cache, r.fresh);
                    let got = (r.count as usize).min(MAX_BATCH);
                    load(cache, self.transport.magazine(), got)
                }
                Err(_) => 0,
            };
            if got < n - i {
                let held: [u64; MAX_BATCH] =
                    core::array::from_fn(|k| out.get(k).map_or(0, |&a| a as u64));
                for &a in &out[..i] {
                    cache.slabs.forget(a);
                }
                cache.mag.extend(&held[..i]);
                return Err(r.err().unwrap_or(Failure::new(Error::OutOfMemory)));
            }
        }
        Ok(())
    }

    /// `kmem_cache_free_bulk(cache, addrs)`: frees every address (at most [`MAX_BATCH`]) or
    /// none. They go to the server in one drain, which checks all of them before it frees any.
    pub fn kmem_cache_free_bulk(
        &mut self,
        cache: &mut KmemCache,
        addrs: &[usize],
    ) -> Result<(), Failure> {
        let n = addrs.len();
        if n == 0 {
            return Ok(());
        }
        if n > MAX_BATCH {
            return Err(Failure::with(
                Error::BadBatch,
                [n as u64, MAX_BATCH as u64, 0],
            ));
        }
        // All or nothing: an address the table refuses fails the whole call before the server
        // sees any (an object in the magazine must not be freed behind its back).
        for &a in addrs {
            refusal(&cache.slabs, a)?;
        }
        let words: [u64; MAX_BATCH] =
            core::array::from_fn(|k| addrs.get(k).map_or(0, |&a| a as u64));
        self.transport
            .magazine()
            .write_slot(SLOT as usize, &words[..n])
            .ok_or(Failure::new(Error::Internal))?;
        self.call(DrainReq {
            handle: cache.handle,
            slot: SLOT,
            count: n as u64,
        })?;
        for &a in addrs {
            cache.slabs.forget(a);
        }
        Ok(())
    }

    /// `kmem_cache_free(cache, addr)`.
    #[inline(always)]
    pub fn kmem_cache_free(&mut self, cache: &mut KmemCache, addr: usize) -> Result<(), Failure> {
        if let Lookup::Object { entry, index } = cache.slabs.lookup(addr) {
            if cache.slabs.take_back(entry, index) {
                if cache.mag.put(addr, cache.limit) {
                    return Ok(());
                }
                return self.cache_free_full(cache, addr);
            }
        }
        self.cache_free_slow(cache, addr)
    }

    /// A free the slab table did not take: refused if the table can tell, else checked by the
    /// server (one message), or, for a cache the table does not check, into the magazine unless
    /// it is the object freed last.
    #[cold]
    fn cache_free_slow(&mut self, cache: &mut KmemCache, addr: usize) -> Result<(), Failure> {
        if addr == 0 {
            return Err(Failure::new(Error::NullPointer));
        }
        refusal(&cache.slabs, addr)?;
        if cache.bypasses_magazine(self.batch) || cache.slabs.is_on() {
            return self
                .call(FreeReq {
                    handle: cache.handle,
                    addr: addr as u64,
                })
                .map(|_| ());
        }
        if cache.mag.top() == Some(addr) {
            return Err(Failure::with(Error::DoubleFree, [addr as u64, 0, 0]));
        }
        if cache.mag.push(addr, cache.limit) {
            return Ok(());
        }
        self.cache_free_full(cache, addr)
    }

    /// A checked free into a full magazine: drains the oldest batch, then keeps `addr`.
    #[cold]
    fn cache_free_full(&mut self, cache: &mut KmemCache, addr: usize) -> Result<(), Failure> {
        let r = self.cache_drain(cache, self.batch);
        if !cache.mag.put(addr, cache.limit) {
            // Only after a refused drain: keep the freed object rather than lose it.
            cache.mag.extend(&[addr as u64]);
        }
        r
    }

    #[cold]
    fn cache_drain(&mut self, cache: &mut KmemCache, n: usize) -> Result<(), Failure> {
        let n = cache
            .mag
            .unload(self.transport.magazine(), SLOT as usize, n);
        if n == 0 {
            return Ok(());
        }
        let r = self.call(DrainReq {
            handle: cache.handle,
            slot: SLOT,
            count: n as u64,
        });
        if let Err(f) = &r {
            // The server does not write a drained slot: it still holds what was sent.
            let mut sent = [0u64; MAX_BATCH];
            self.transport
                .magazine()
                .read_slot(SLOT as usize, &mut sent[..n]);
            cache.mag.extend(crate::magazine::survivors(
                f,
                &sent[..n],
                &mut [0; MAX_BATCH],
            ));
        }
        r.map(|_| ())
    }

    /// Returns every object of the private magazine to the server.
    pub fn kmem_cache_flush(&mut self, cache: &mut KmemCache) -> Result<(), Failure> {
        while cache.mag.len() > 0 {
            self.cache_drain(cache, MAX_BATCH)?;
        }
        Ok(())
    }

    /// `kmem_cache_shrink(cache)`: flushes the magazine, then frees empty slabs beyond the cache's
    /// minimum; returns the pages freed.
    pub fn kmem_cache_shrink(&mut self, cache: &mut KmemCache) -> Result<u64, Failure> {
        self.kmem_cache_flush(cache)?;
        let r: ShrinkReply = self.call(ShrinkReq {
            handle: cache.handle,
        })?;
        Ok(r.pages_freed)
    }

    /// `kmem_cache_destroy(cache)`. With live objects it fails with `CacheBusy` (detail: their
    /// count) and the cache stays usable; after success the handle is stale (`StaleHandle`).
    pub fn kmem_cache_destroy(&mut self, cache: &mut KmemCache) -> Result<(), Failure> {
        self.kmem_cache_flush(cache)?;
        self.call(DestroyReq {
            handle: cache.handle,
        })
        .map(|_| ())
    }
}

/// The next object of the magazine, handed to the user.
fn pop_out(cache: &mut KmemCache) -> Option<usize> {
    let addr = cache.mag.pop()?;
    cache.slabs.hand_out(addr);
    Some(addr)
}

/// Puts the `n` objects a refill wrote into the page's slot on top of the magazine; returns how
/// many. They are free at the server, so none is the user's: their bits are cleared, keeping
/// the invariant that no object in the magazine is marked as out (a bit a free the stub did not
/// see left set, e.g. a `kfree` of the object, would otherwise let a second free in).
fn load(cache: &mut KmemCache, page: &MagazinePage, n: usize) -> usize {
    let got = cache.mag.load(page, SLOT as usize, n);
    for &a in cache.mag.newest(got) {
        cache.slabs.arrived(a as usize);
    }
    got
}

/// The stub's own refusal of a free of `addr`: an address in a known slab that is not an object
/// start (`InteriorPointer`, detail `[addr, offset]`), or an object of it that the user does not
/// hold (`DoubleFree`).
fn refusal(slabs: &SlabTable, addr: usize) -> Result<(), Failure> {
    match slabs.lookup(addr) {
        Lookup::NotObject { offset } => Err(Failure::with(
            Error::InteriorPointer,
            [addr as u64, offset, 0],
        )),
        Lookup::Object { .. } if !slabs.holds(addr) => {
            Err(Failure::with(Error::DoubleFree, [addr as u64, 0, 0]))
        }
        _ => Ok(()),
    }
}
