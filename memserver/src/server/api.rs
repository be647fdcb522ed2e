//! The calls of Linux's slab API beyond the hot set, each one register-only message:
//! `kmem_cache_alloc_node` (AllocNode), `kmalloc_node` (KmallocNode) and `krealloc` (Krealloc).
//! Quota is checked before anything is taken; usage follows the block's usable size.
use super::dispatch::Ctx;
use super::errors;
use super::objects::{check_owned, deliver};
use super::Server;
use crate::allocator::{CoreGuard, NodePolicy};
use crate::buddy::PAGE_SIZE;
use crate::kmalloc::{class_of, large_order, KMALLOC_MAX_SIZE};
use crate::slab::{AllocError, KmallocError};
use crate::topology::NodeId;
use memserver_protocol::ops::*;
use memserver_protocol::{Error, Failure};

fn node_and_policy(node: u64, flags: u64) -> Result<(NodeId, NodePolicy), Failure> {
    let node = u8::try_from(node).map_err(|_| Failure::with(Error::BadField, [node, 0, 0]))?;
    let policy = if flags & alloc_flags::THISNODE != 0 {
        NodePolicy::Only
    } else {
        NodePolicy::Prefer
    };
    Ok((NodeId(node), policy))
}

impl Server {
    /// The usable size a kmalloc of `size` bytes gets from this client's set.
    fn kmalloc_usable(c: &Ctx<'_>, size: u64) -> Result<usize, Failure> {
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s <= KMALLOC_MAX_SIZE)
            .ok_or(Failure::with(
                Error::SizeTooLarge,
                [size, KMALLOC_MAX_SIZE as u64, 0],
            ))?;
        Ok(match class_of(size) {
            Some(class) => c.rec.kmalloc_usable[class],
            None => PAGE_SIZE << large_order(size),
        })
    }

    pub(super) fn alloc_node(
        &self,
        c: &mut Ctx<'_>,
        r: AllocNodeReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        let (node, policy) = node_and_policy(r.node, r.flags)?;
        let e = c.rec.handles.get(r.handle)?;
        c.rec.usage.check(&c.rec.quota, 1, e.usable as u64)?;
        let page = if e.remote_ctor { Some(c.page()?) } else { None };
        let w = c.rec.window;
        let zero = r.flags & alloc_flags::ZERO != 0;
        let oom = |err: &AllocError| matches!(err, AllocError::OutOfMemory);
        let fail = |err: &AllocError| match err {
            AllocError::BadNode => Failure::with(Error::BadField, [r.node, 0, 0]),
            other => errors::alloc(other),
        };
        let op = |g: &mut CoreGuard<'_>| {
            if zero {
                g.zalloc_node(e.id, node, policy)
            } else {
                g.alloc_node(e.id, node, policy)
            }
        };
        let order = || self.alloc.slab_order(e.id);
        let (addr, fresh) = self.under_guard(c.core, oom, fail, order, op, |g, addr| {
            let addr = w.to_client(addr);
            Ok((addr, deliver(g, e.id, &[addr], page, None, w)?))
        })?;
        c.rec.usage.charge(1, e.usable as u64);
        Ok(AllocReply { addr, fresh }.encode(out))
    }

    pub(super) fn kmalloc_node(
        &self,
        c: &mut Ctx<'_>,
        r: KmallocNodeReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        if r.size == 0 {
            return Ok(super::kmalloc::zero_size_reply(out));
        }
        let (node, policy) = node_and_policy(r.node, r.flags)?;
        let usable = Self::kmalloc_usable(c, r.size)?;
        c.rec.usage.check(&c.rec.quota, 1, usable as u64)?;
        let size = r.size as usize;
        let w = c.rec.window;
        let set = c.rec.kmalloc;
        let zero = r.flags & alloc_flags::ZERO != 0;
        let oom = |e: &KmallocError| matches!(e, KmallocError::OutOfMemory);
        let fail = |e: &KmallocError| match e {
            KmallocError::BadNode => Failure::with(Error::BadField, [r.node, 0, 0]),
            other => errors::kmalloc(other, w),
        };
        let op = |g: &mut CoreGuard<'_>| {
            if zero {
                g.kzalloc_node(&set, size, node, policy)
            } else {
                g.kmalloc_node(&set, size, node, policy)
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

    /// `krealloc`: usage moves from the old block's usable size to the new one's. Address 0 or
    /// `ZERO_SIZE_PTR` allocates anew; size 0 frees and answers `ZERO_SIZE_PTR`.
    pub(super) fn krealloc(
        &self,
        c: &mut Ctx<'_>,
        r: KreallocReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        let w = c.rec.window;
        let set = c.rec.kmalloc;
        let addr = match r.addr {
            0 | ZERO_SIZE_PTR => 0,
            a => w
                .to_server(a)
                .ok_or(Failure::with(Error::NotAllocated, [a, 0, 0]))?,
        };
        let old = if addr == 0 {
            0
        } else {
            check_owned(&self.guard(c.core)?, &set, addr, w)?
        };
        let new = match r.size {
            0 => 0,
            s if (s as usize) <= old && addr != 0 => old,
            s => Self::kmalloc_usable(c, s)?,
        };
        let objects = (addr == 0 && new != 0) as u64;
        c.rec
            .usage
            .check(&c.rec.quota, objects, new.saturating_sub(old) as u64)?;
        let size = r.size as usize;
        let zero = r.flags & alloc_flags::ZERO != 0;
        let oom = |e: &KmallocError| matches!(e, KmallocError::OutOfMemory);
        let fail = |e: &KmallocError| errors::kmalloc(e, w);
        let op = |g: &mut CoreGuard<'_>| g.krealloc(&set, addr, size, zero);
        let order = || self.alloc.kmalloc_order(&set, size);
        let got = self.under_guard(c.core, oom, fail, order, op, |_, a| Ok(a))?;
        if old != 0 {
            c.rec.usage.release(1, old as u64);
        }
        if got == crate::kmalloc::ZERO_SIZE_PTR {
            return Ok(super::kmalloc::zero_size_reply(out));
        }
        c.rec.usage.charge(1, new as u64);
        Ok(KmallocReply {
            addr: w.to_client(got),
            usable: new as u64,
        }
        .encode(out))
    }
}
