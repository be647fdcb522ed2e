//! Frees of objects another core allocated: marked `REMOTE` with a plain store to the object's
//! mark byte, collected in this core's outbox and handed to the allocating core's inbox a batch
//! at a time (one leaf lock per batch, the only atomic read-modify-write of the path); that core
//! takes them back when its array runs empty (see `page_map::state` for why only it may, and why
//! the mark keeps the double-free check exact).
use super::*;

impl CoreGuard<'_> {
    /// A free of an object this core did not allocate (or not allocated at all). Out of line
    /// (the local fast path stays small), but not cold: producer/consumer work lives here.
    #[inline(never)]
    pub(super) fn free_other(
        &mut self,
        real: usize,
        addr: usize,
        st: StateRef,
        home: NodeId,
        s: u8,
    ) -> Result<(), FreeError> {
        let taken = self.take(addr, st, s, None)?;
        self.put_freed(real, Obj { addr, state: st }, home, taken);
        Ok(())
    }

    /// Takes an allocated object (state `s` as last observed, mark merged in) from its
    /// allocating core: a plain store of the state if that is this core, else of the mark (see
    /// `state`).
    #[inline(always)]
    pub(super) fn take(
        &self,
        addr: usize,
        st: StateRef,
        s: u8,
        last_free: Option<Track>,
    ) -> Result<Taken, FreeError> {
        if !state::is_live(s) {
            return Err(not_allocated(addr, s, last_free));
        }
        let owner = s & state::CORE;
        if owner == self.core.0 {
            st.get()
                .store(state::cached(owner, state::EVER), Ordering::Relaxed);
            return Ok(Taken::Mine);
        }
        st.mark().store(state::REMOTE, Ordering::Relaxed);
        Ok(Taken::ForCore(owner))
    }

    /// Puts an object `take` returned where it goes: this core's array (or the slow path), or
    /// the outbox towards its allocating core, handed over to that core's inbox when full.
    #[inline(always)]
    pub(super) fn put_freed(&mut self, real: usize, obj: Obj, home: NodeId, taken: Taken) {
        let node = self.node;
        let Some(cc) = self.state.cache_mut(real) else {
            debug_assert!(false, "cache {real} vanished under its guard");
            return;
        };
        match taken {
            Taken::Mine if home == node && cc.array.push(obj) => {}
            Taken::Mine => self.free_slow(real, obj, home),
            Taken::ForCore(c) => {
                let Some(out) = cc.outbox.get_mut(c as usize) else {
                    debug_assert!(false, "core {c} has no outbox");
                    return;
                };
                if !out.push(obj) {
                    hand_over(cc, c, obj);
                }
            }
        }
    }
}

/// Hands the full outbox towards core `c`, and `obj`, to `c`'s inbox: one lock for the batch.
#[cold]
#[inline(never)]
fn hand_over(cc: &mut CoreCache, c: u8, obj: Obj) {
    let Some(out) = cc.outbox.get_mut(c as usize) else {
        return;
    };
    let mut inbox = cc.cache.inbox[c as usize].lock();
    inbox.extend_from_slice(out.objs());
    inbox.push(obj);
    drop(inbox);
    out.clear();
}

/// Takes core `me`'s inbox of `cc`'s cache (objects it allocated that other cores freed): those
/// still marked on their way back become `me`'s, into its array while there is room (as a refill
/// from another node may put them there too) and to their node otherwise; entries whose mark is
/// gone are dropped (see `state`). Returns how many went into the array.
#[cold]
#[inline(never)]
pub(super) fn receive_remote(
    env: Env<'_>,
    cc: &mut CoreCache,
    scratch: &mut Vec<Obj>,
    me: u8,
) -> usize {
    scratch.clear();
    core::mem::swap(&mut *cc.cache.inbox[me as usize].lock(), scratch);
    // The lock made the freeing cores' mark stores visible; the mark itself stays (it means
    // nothing once the object is cached, and the next allocation clears it).
    scratch.retain(|o| {
        let back = o.state.observe(Ordering::Acquire) == state::allocated(me) | state::REMOTE;
        if back {
            o.state
                .get()
                .store(state::cached(me, state::EVER), Ordering::Relaxed);
        }
        back
    });
    let room = cc.array.limit() - cc.array.objs().len();
    let kept = room.min(scratch.len());
    cc.array.objs_mut().extend(scratch.drain(..kept));
    cc.cache.flush(env, scratch, true, Holder::Core(me));
    // A burst of remote frees can make an inbox long; its room is not kept past the burst (the
    // inbox gets this vector back at the next swap).
    if scratch.capacity() > KEPT_ROOM {
        *scratch = Vec::new();
    }
    kept
}

/// Entries of room a core keeps in its scratch vector (and so in an inbox) after a receive.
const KEPT_ROOM: usize = 512;

/// Whom a freed object went to (see `CoreGuard::take`).
#[derive(Clone, Copy, Debug)]
pub(super) enum Taken {
    /// This core allocated it and now caches it.
    Mine,
    /// Another core allocated it; it is marked on its way back there.
    ForCore(u8),
}
