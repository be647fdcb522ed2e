//! One message in, one reply out: find the client by badge, decode the request from its untrusted
//! words, route it to its operation, and encode the reply (label 0 and the body, or the error code
//! and its detail words). Nothing here panics on input.
//!
//! Fast path: the hot labels (objects, batches, kmalloc) are decoded straight from the words into
//! their fixed bodies, with the same checks in the same order as [`Request::decode`]; the other
//! labels (handshake, cache lifecycle, slabinfo with its variable data) take `handle_other`.
use super::clients::{ClientGuard, ClientRecord};
use super::page::PageRef;
use super::Server;
use crate::allocator::CoreGuard;
use crate::topology::CoreId;
use memserver_protocol::error::DETAIL_WORDS;
use memserver_protocol::ops::{Body, Empty, HelloReply, Op};
use memserver_protocol::varlen::MAX_NAME_LEN;
use memserver_protocol::{
    Error, Failure, Label, Message, Request, MSG_MAX_WORDS, PROTOCOL_VERSION,
};

/// What an operation sees: the serving core and the locked client.
pub struct Ctx<'a> {
    pub core: CoreId,
    pub rec: &'a mut ClientRecord,
}

impl Ctx<'_> {
    /// The client's magazine page on this core.
    pub fn page(&self) -> Result<PageRef, Failure> {
        match self.rec.pages.get(self.core.0 as usize) {
            Some(Some(p)) => Ok(*p),
            _ => Err(Failure::with(Error::BadSlot, [0, self.core.0 as u64, 0])),
        }
    }
}

/// Label words of the hot requests (one object, a batch, the kmalloc family), decoded straight
/// into their bodies; every other label goes through [`Request::decode`].
const ALLOC: u64 = Label::Alloc.word();
const FREE: u64 = Label::Free.word();
const REFILL: u64 = Label::Refill.word();
const DRAIN: u64 = Label::Drain.word();
const KMALLOC: u64 = Label::Kmalloc.word();
const KFREE: u64 = Label::Kfree.word();
const KMALLOC_REFILL: u64 = Label::KmallocRefill.word();
const KFREE_DRAIN: u64 = Label::KfreeDrain.word();

/// Decodes a hot request body exactly as [`Request::decode`] does (length, then stateless checks).
#[inline(always)]
fn body<T: Op>(words: &[u64]) -> Result<T, Failure> {
    let value = T::decode(words)?;
    value.check()?;
    Ok(value)
}

/// The operation context of a greeted client.
#[inline(always)]
fn greeted<'a>(core: CoreId, client: &'a mut ClientGuard<'_>) -> Result<Ctx<'a>, Failure> {
    let rec = client.record()?;
    if !rec.greeted {
        return Err(Failure::new(Error::NotGreeted));
    }
    Ok(Ctx { core, rec })
}

impl Server {
    /// Serves one message on `core` from the client with `badge`; `msg` becomes the reply.
    pub fn dispatch(&self, core: usize, badge: u64, msg: &mut Message) {
        match self.handle(core, badge, msg) {
            Ok(len) => {
                msg.label = 0;
                msg.len = len;
            }
            Err(f) => {
                msg.label = f.error.code();
                msg.words[..DETAIL_WORDS].copy_from_slice(&f.detail);
                msg.len = DETAIL_WORDS;
            }
        }
    }

    /// The checks in order: the core, the badge, the body (label, length, fields), the greeting,
    /// then the operation's own.
    #[inline(always)]
    fn handle(&self, core: usize, badge: u64, msg: &mut Message) -> Result<usize, Failure> {
        let core = self.core_id(core)?;
        let mut client = self.clients.lock(badge)?;
        let words = &msg.words[..msg.len.min(MSG_MAX_WORDS)];
        match msg.label {
            ALLOC => {
                let r = body(words)?;
                self.alloc_one(&mut greeted(core, &mut client)?, r, &mut msg.words)
            }
            FREE => {
                let r = body(words)?;
                self.free_one(&mut greeted(core, &mut client)?, r, &mut msg.words)
            }
            REFILL => {
                let r = body(words)?;
                self.refill(&mut greeted(core, &mut client)?, r, &mut msg.words)
            }
            DRAIN => {
                let r = body(words)?;
                self.drain(&mut greeted(core, &mut client)?, r, &mut msg.words)
            }
            KMALLOC => {
                let r = body(words)?;
                self.kmalloc(&mut greeted(core, &mut client)?, r, &mut msg.words)
            }
            KFREE => {
                let r = body(words)?;
                self.kfree(&mut greeted(core, &mut client)?, r, &mut msg.words)
            }
            KMALLOC_REFILL => {
                let r = body(words)?;
                self.kmalloc_refill(&mut greeted(core, &mut client)?, r, &mut msg.words)
            }
            KFREE_DRAIN => {
                let r = body(words)?;
                self.kfree_drain(&mut greeted(core, &mut client)?, r, &mut msg.words)
            }
            _ => self.handle_other(core, client, msg),
        }
    }

    /// The serving core, if the topology has it.
    #[inline(always)]
    fn core_id(&self, core: usize) -> Result<CoreId, Failure> {
        match u8::try_from(core) {
            Ok(c) if (c as usize) < self.alloc.topology().cores() => Ok(CoreId(c)),
            _ => Err(Failure::new(Error::Internal)),
        }
    }

    /// Every request that is not hot: decoded whole (with its variable data) by the protocol crate.
    #[inline(never)]
    fn handle_other(
        &self,
        core: CoreId,
        mut client: ClientGuard<'_>,
        msg: &mut Message,
    ) -> Result<usize, Failure> {
        let len = msg.len.min(MSG_MAX_WORDS);
        let (req, name) = Request::decode(msg.label, &msg.words[..len])?.split_name();
        let mut name_buf = [0u8; MAX_NAME_LEN];
        let name_len = name.map_or(0, |n| n.len().min(MAX_NAME_LEN));
        if let Some(n) = name {
            name_buf[..name_len].copy_from_slice(&n.as_bytes()[..name_len]);
        }
        let rec = client.record()?;
        let out = &mut msg.words;
        if let Request::Detach(_) = req {
            let owner = client.remove()?.owner;
            self.alloc.purge_owner(owner);
            return Ok(Empty {}.encode(out));
        }
        if let Request::Hello(h) = req {
            if h.version != PROTOCOL_VERSION {
                return Err(Failure::with(
                    Error::VersionMismatch,
                    [PROTOCOL_VERSION, 0, 0],
                ));
            }
            rec.greeted = true;
            let reply = HelloReply {
                version: PROTOCOL_VERSION,
                core: core.0 as u64,
                max_batch: self.config.max_batch as u64,
            };
            return Ok(reply.encode(out));
        }
        if !rec.greeted {
            return Err(Failure::new(Error::NotGreeted));
        }
        let mut c = Ctx { core, rec };
        match req {
            Request::Stats(_) => self.stats(&mut c, out),
            Request::CacheCreate(r, _) => {
                let name = core::str::from_utf8(&name_buf[..name_len])
                    .map_err(|_| Failure::new(Error::BadName))?;
                self.cache_create(&mut c, r, name, out)
            }
            Request::CacheDestroy(r) => self.cache_destroy(&mut c, r, out),
            Request::CacheShrink(r) => self.cache_shrink(&mut c, r, out),
            Request::Alloc(r) => self.alloc_one(&mut c, r, out),
            Request::Free(r) => self.free_one(&mut c, r, out),
            Request::Refill(r) => self.refill(&mut c, r, out),
            Request::Drain(r) => self.drain(&mut c, r, out),
            Request::Kmalloc(r) => self.kmalloc(&mut c, r, out),
            Request::Kfree(r) => self.kfree(&mut c, r, out),
            Request::Ksize(r) => self.ksize(&mut c, r, out),
            Request::KmallocRefill(r) => self.kmalloc_refill(&mut c, r, out),
            Request::KfreeDrain(r) => self.kfree_drain(&mut c, r, out),
            Request::Slabinfo(r) => self.slabinfo(&mut c, r, out),
            Request::Hello(_) | Request::Detach(_) => Err(Failure::new(Error::Internal)),
        }
    }

    pub(super) fn guard(&self, core: CoreId) -> Result<CoreGuard<'_>, Failure> {
        self.alloc
            .core(core)
            .map_err(|_| Failure::new(Error::Internal))
    }

    /// Runs `op` under the core's guard, then `then` on its result with the guard still held; if
    /// `op` ran out of memory, shrinks every cache (no guard held) and runs it once more. A
    /// refusal of `op` is mapped by `fail`. The guard stays in place (no move on the hot path).
    #[inline(always)]
    pub(super) fn under_guard<T, E, R>(
        &self,
        core: CoreId,
        oom: impl Fn(&E) -> bool,
        fail: impl Fn(&E) -> Failure,
        mut op: impl FnMut(&mut CoreGuard<'_>) -> Result<T, E>,
        then: impl FnOnce(&mut CoreGuard<'_>, T) -> Result<R, Failure>,
    ) -> Result<R, Failure> {
        let mut g = self.guard(core)?;
        let mut retried = false;
        loop {
            match op(&mut g) {
                Ok(v) => return then(&mut g, v),
                Err(e) if !retried && oom(&e) => {
                    drop(g);
                    self.alloc.shrink_all();
                    g = self.guard(core)?;
                    retried = true;
                }
                Err(e) => return Err(fail(&e)),
            }
        }
    }
}
