//! One message in, one reply out: find the client by badge, decode the request from its untrusted
//! words, route it to its operation, and encode the reply (label 0 and the body, or the error code
//! and its detail words). Nothing here panics on input.
//!
//! Routing is derived from the protocol's table of operations
//! ([`memserver_protocol::for_each_operation`]): the `hot` group (objects, batches, kmalloc) is
//! matched inline and decoded straight from the words into its fixed body; the `cold` and
//! `session` groups take the out-of-line `handle_other`. Each label reaches the server method
//! its entry names. The checks run in one order for every operation: the core, the badge, the
//! body (label, length, fields), the greeting (not for `session`), then the operation's own.
use super::clients::{ClientGuard, ClientRecord};
use super::page::PageRef;
use super::Server;
use crate::allocator::{CoreGuard, Reclaim};
use crate::topology::CoreId;
use memserver_protocol::error::DETAIL_WORDS;
use memserver_protocol::operations::{decode_body, decode_named};
use memserver_protocol::ops::{Body, DetachReq, Empty, HelloReply, HelloReq};
use memserver_protocol::varlen::MAX_NAME_LEN;
use memserver_protocol::{Error, Failure, Message, MSG_MAX_WORDS, PROTOCOL_VERSION};

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

    /// The serving core, if the topology has it.
    #[inline(always)]
    fn core_id(&self, core: usize) -> Result<CoreId, Failure> {
        match u8::try_from(core) {
            Ok(c) if (c as usize) < self.alloc.topology().cores() => Ok(CoreId(c)),
            _ => Err(Failure::new(Error::Internal)),
        }
    }

    /// The handshake: the client's version must be ours.
    pub(super) fn greet(
        &self,
        core: CoreId,
        mut client: ClientGuard<'_>,
        r: HelloReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        let rec = client.record()?;
        if r.version != PROTOCOL_VERSION {
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
            kmalloc_checked: rec.kmalloc_checked,
        };
        Ok(reply.encode(out))
    }

    /// The client leaves (greeted or not): everything it owns returns to the server.
    pub(super) fn leave(
        &self,
        _core: CoreId,
        mut client: ClientGuard<'_>,
        _r: DetachReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        client.record()?;
        let owner = client.remove()?.owner;
        self.alloc.purge_owner(owner);
        Ok(Empty {}.encode(out))
    }

    pub(super) fn guard(&self, core: CoreId) -> Result<CoreGuard<'_>, Failure> {
        self.alloc
            .core(core)
            .map_err(|_| Failure::new(Error::Internal))
    }

    /// Runs `op` under the core's guard, then `then` on its result with the guard still held; if
    /// `op` ran out of memory, reclaims memory for a block of `order()` (no guard held; see the
    /// core's `reclaim`, which bounds what one client's refusals cost the others) and runs it
    /// once more. A refusal of `op` is mapped by `fail`. The guard stays in place (no move on
    /// the hot path).
    #[inline(always)]
    pub(super) fn under_guard<T, E, R>(
        &self,
        core: CoreId,
        oom: impl Fn(&E) -> bool,
        fail: impl Fn(&E) -> Failure,
        order: impl FnOnce() -> u8,
        mut op: impl FnMut(&mut CoreGuard<'_>) -> Result<T, E>,
        then: impl FnOnce(&mut CoreGuard<'_>, T) -> Result<R, Failure>,
    ) -> Result<R, Failure> {
        let mut g = self.guard(core)?;
        match op(&mut g) {
            Ok(v) => then(&mut g, v),
            Err(e) if oom(&e) => {
                drop(g);
                let order = order();
                if self.alloc.reclaim(order) == Reclaim::Deferred {
                    return Err(fail(&e));
                }
                g = self.guard(core)?;
                let retried = op(&mut g);
                let ok = retried.is_ok();
                let result = match retried {
                    Ok(v) => then(&mut g, v),
                    Err(e) => Err(fail(&e)),
                };
                drop(g);
                self.alloc.reclaim_outcome(order, ok);
                result
            }
            Err(e) => Err(fail(&e)),
        }
    }
}

/// A cache name copied out of the request, so that the reply can overwrite the message.
struct NameBuf {
    len: usize,
    bytes: [u8; MAX_NAME_LEN],
}

impl NameBuf {
    fn new(name: &str) -> Self {
        let len = name.len().min(MAX_NAME_LEN);
        let mut bytes = [0; MAX_NAME_LEN];
        bytes[..len].copy_from_slice(&name.as_bytes()[..len]);
        NameBuf { len, bytes }
    }

    fn as_str(&self) -> Result<&str, Failure> {
        core::str::from_utf8(&self.bytes[..self.len]).map_err(|_| Failure::new(Error::BadName))
    }
}

/// The server's reading of the table of operations: `handle` (hot, inline) and `handle_other`.
macro_rules! dispatch_operations {
    (
        hot { $(
            $(#[$hdoc:meta])*
            $hname:ident = $hnum:literal {
                handler: $hhandler:ident,
                request: $hreq:ty,
                reply: $hreply:ty,
                fits: $hfits:ident,
                check: $hcheck:tt,
                errors: [$($herr:ident),* $(,)?],
            }
        )* }
        cold { $(
            $(#[$cdoc:meta])*
            $cname:ident = $cnum:literal {
                handler: $chandler:ident,
                request: $creq:ty,
                reply: $creply:ty,
                fits: $cfits:ident,
                $(tail: $ctail:ident,)?
                check: $ccheck:tt,
                errors: [$($cerr:ident),* $(,)?],
            }
        )* }
        session { $(
            $(#[$sdoc:meta])*
            $sname:ident = $snum:literal {
                handler: $shandler:ident,
                request: $sreq:ty,
                reply: $sreply:ty,
                fits: $sfits:ident,
                check: $scheck:tt,
                errors: [$($serr:ident),* $(,)?],
            }
        )* }
    ) => {
        impl Server {
            /// The hot operations, inline; everything else in `handle_other`.
            #[inline(always)]
            fn handle(&self, core: usize, badge: u64, msg: &mut Message) -> Result<usize, Failure> {
                let core = self.core_id(core)?;
                let mut client = self.clients.lock(badge)?;
                let words = &msg.words[..msg.len.min(MSG_MAX_WORDS)];
                match msg.label {
                    $($hnum => {
                        let r = decode_body::<$hreq>(words)?;
                        self.$hhandler(&mut greeted(core, &mut client)?, r, &mut msg.words)
                    })*
                    _ => self.handle_other(core, client, msg),
                }
            }

            /// The cold and session operations (and unknown labels).
            #[inline(never)]
            fn handle_other(
                &self,
                core: CoreId,
                mut client: ClientGuard<'_>,
                msg: &mut Message,
            ) -> Result<usize, Failure> {
                let words = &msg.words[..msg.len.min(MSG_MAX_WORDS)];
                match msg.label {
                    $($cnum => dispatch_operations!(
                        @cold self, core, client, words, msg, $chandler, $creq $(, $ctail)?
                    ),)*
                    $($snum => {
                        let r = decode_body::<$sreq>(words)?;
                        self.$shandler(core, client, r, &mut msg.words)
                    })*
                    _ => Err(Failure::new(Error::UnknownLabel)),
                }
            }
        }
    };
    (@cold $s:ident, $core:ident, $client:ident, $words:ident, $msg:ident, $h:ident, $req:ty) => {{
        let r = decode_body::<$req>($words)?;
        $s.$h(&mut greeted($core, &mut $client)?, r, &mut $msg.words)
    }};
    (@cold $s:ident, $core:ident, $client:ident, $words:ident, $msg:ident, $h:ident, $req:ty, name) => {{
        let (r, name) = decode_named::<$req>($words)?;
        let name = NameBuf::new(name);
        $s.$h(&mut greeted($core, &mut $client)?, r, name.as_str()?, &mut $msg.words)
    }};
}

memserver_protocol::for_each_operation!(dispatch_operations);
