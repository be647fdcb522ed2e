//! A private magazine: a stack of object addresses the client already holds from the server, so
//! that alloc and free of one object cost no message. Capacity is twice the batch (a loaded and a
//! spare magazine in Bonwick's terms), so alternating alloc/free at a boundary does not ping-pong.
//! Addresses are kept as wire words, so a refill or a drain moves them between the magazine and
//! the shared page with no staging copy. Invariant: `len <= CAPACITY` (every method keeps it;
//! `pop` relies on it to read without a bounds check).
use memserver_protocol::{MagazinePage, MAX_BATCH};

pub const CAPACITY: usize = 2 * MAX_BATCH;

pub struct Magazine {
    len: usize,
    items: [u64; CAPACITY],
}

impl Magazine {
    pub const fn new() -> Self {
        Magazine {
            len: 0,
            items: [0; CAPACITY],
        }
    }

    #[inline]
    pub fn pop(&mut self) -> Option<usize> {
        let len = self.len.checked_sub(1)?;
        debug_assert!(len < CAPACITY);
        // SAFETY: `len < self.len <= CAPACITY`: every method keeps `len <= CAPACITY`.
        let addr = unsafe { *self.items.get_unchecked(len) };
        self.len = len;
        Some(addr as usize)
    }

    /// Pushes `addr` unless the magazine already holds `limit` objects, or `addr` is the object
    /// freed last (an immediate double free, which [`top`](Self::top) then names to the
    /// caller's slow path; Linux's free-pointer check catches the same case).
    #[inline]
    pub fn push(&mut self, addr: usize, limit: usize) -> bool {
        let len = self.len;
        if len >= limit.min(CAPACITY) {
            return false;
        }
        if len > 0 && self.items[len - 1] == addr as u64 {
            return false;
        }
        self.items[len] = addr as u64;
        self.len = len + 1;
        true
    }

    /// Pushes `addr` unless the magazine already holds `limit` objects; for callers that
    /// checked the free already (a cache's slab table).
    #[inline(always)]
    pub fn put(&mut self, addr: usize, limit: usize) -> bool {
        let len = self.len;
        if len >= limit.min(CAPACITY) {
            return false;
        }
        self.items[len] = addr as u64;
        self.len = len + 1;
        true
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The `n` objects on top (the last pushed or loaded), oldest first; fewer if it holds fewer.
    pub fn newest(&self, n: usize) -> &[u64] {
        &self.items[self.len - n.min(self.len)..self.len]
    }

    /// The object freed (or loaded) last, if any.
    #[inline]
    pub fn top(&self) -> Option<usize> {
        self.len.checked_sub(1).map(|i| self.items[i] as usize)
    }

    /// Takes up to `n` objects off the top (the most recently freed stay).
    pub fn take_bottom(&mut self, n: usize, out: &mut [u64; MAX_BATCH]) -> usize {
        let n = n.min(self.len).min(MAX_BATCH);
        out[..n].copy_from_slice(&self.items[..n]);
        self.items.copy_within(n..self.len, 0);
        self.len -= n;
        n
    }

    /// Appends addresses up to the capacity; returns how many did not fit (never, when the
    /// caller took them out of this magazine just before).
    pub fn extend(&mut self, addrs: &[u64]) -> usize {
        let n = addrs.len().min(CAPACITY - self.len);
        self.items[self.len..self.len + n].copy_from_slice(&addrs[..n]);
        self.len += n;
        addrs.len() - n
    }
}

impl Magazine {
    /// Puts the first `n` addresses of `slot` of `page` on top (a refill's reply, oldest first);
    /// returns how many: `n`, or 0 if the slot or count is out of range or they do not fit.
    pub fn load(&mut self, page: &MagazinePage, slot: usize, n: usize) -> usize {
        let Some(room) = self.items.get_mut(self.len..self.len.saturating_add(n)) else {
            return 0;
        };
        if page.read_slot(slot, room).is_none() {
            return 0;
        }
        self.len += n;
        n
    }

    /// Moves the oldest `n` objects (at most [`MAX_BATCH`]) into `slot` of `page` for a drain;
    /// the most recently freed stay. Returns how many moved (0 if the slot is out of range).
    pub fn unload(&mut self, page: &MagazinePage, slot: usize, n: usize) -> usize {
        let n = n.min(self.len).min(MAX_BATCH);
        if page.write_slot(slot, &self.items[..n]).is_none() {
            return 0;
        }
        self.items.copy_within(n..self.len, 0);
        self.len -= n;
        n
    }
}

/// After a refused drain of `sent`: the objects the client still holds. A refused drain freed
/// nothing and names the offending address in `detail[0]`; that one is dropped (a bad pointer
/// must not poison every later drain), the rest are kept. Only an `Internal` reply (a batch
/// the server stopped part-way, a server bug) freed the first `detail[2]`.
pub fn survivors<'o>(
    f: &memserver_protocol::Failure,
    sent: &[u64],
    out: &'o mut [u64; MAX_BATCH],
) -> &'o [u64] {
    let freed = match f.error {
        memserver_protocol::Error::Internal => (f.detail[2] as usize).min(sent.len()),
        _ => 0,
    };
    let mut n = 0;
    let mut dropped = false;
    for &a in &sent[freed..] {
        if !dropped && a == f.detail[0] {
            dropped = true;
            continue;
        }
        out[n] = a;
        n += 1;
    }
    &out[..n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use memserver_protocol::{Error, Failure};

    #[test]
    fn push_pop_limit_and_take_bottom() {
        let mut m = Magazine::new();
        for a in 1..=4 {
            assert!(m.push(a, 4));
        }
        assert!(!m.push(5, 4), "limit reached");
        let mut out = [0; MAX_BATCH];
        assert_eq!(m.take_bottom(3, &mut out), 3);
        assert_eq!(&out[..3], &[1, 2, 3], "the oldest go back first");
        assert_eq!(m.pop(), Some(4));
        assert_eq!(m.pop(), None);
        assert_eq!(m.extend(&[0; CAPACITY + 3]), 3, "extend stops at capacity");
    }

    #[test]
    fn an_immediate_double_free_is_not_pushed() {
        let mut m = Magazine::new();
        assert!(m.push(8, 4));
        assert!(!m.push(8, 4), "the same object twice in a row");
        assert_eq!((m.len(), m.top()), (1, Some(8)));
        assert!(m.push(16, 4));
        assert!(m.push(8, 4), "not immediate: only the server can tell");
    }

    #[test]
    fn load_and_unload_go_through_the_page() {
        let page = MagazinePage::new();
        page.write_slot(1, &[10, 20, 30]).unwrap();
        let mut m = Magazine::new();
        assert!(m.push(5, CAPACITY));
        assert_eq!(m.load(&page, 1, 3), 3);
        assert_eq!(m.len(), 4);
        assert_eq!(m.pop(), Some(30), "the slot's last address is on top");
        assert_eq!(m.load(&page, 9, 1), 0, "slot out of range");
        assert_eq!(m.load(&page, 1, CAPACITY), 0, "does not fit");
        assert_eq!(m.len(), 3, "a refused load changes nothing");
        assert_eq!(m.unload(&page, 2, 2), 2);
        let mut out = [0; 2];
        page.read_slot(2, &mut out).unwrap();
        assert_eq!(out, [5, 10], "the oldest go back first");
        assert_eq!(m.pop(), Some(20));
        assert_eq!(m.pop(), None);
        assert_eq!(m.unload(&page, 9, 1), 0, "nothing to unload");
    }

    #[test]
    fn survivors_drop_the_named_address_and_the_freed_prefix() {
        let sent = [10, 20, 30, 40];
        let mut out = [0; MAX_BATCH];
        let bad = Failure::with(Error::NotAllocated, [30, 0, 0]);
        assert_eq!(survivors(&bad, &sent, &mut out), &[10, 20, 40]);
        // A red zone error's third word is the byte found, not a count: nothing was freed.
        let red = Failure::with(Error::RedZone, [30, 64, 0xaa]);
        assert_eq!(survivors(&red, &sent, &mut out), &[10, 20, 40]);
        let partial = Failure::with(Error::Internal, [0, 0, 2]);
        assert_eq!(survivors(&partial, &sent, &mut out), &[30, 40]);
        let dup = Failure::with(Error::DuplicateAddress, [20, 0, 0]);
        assert_eq!(survivors(&dup, &[20, 5, 20], &mut out), &[5, 20]);
    }
}
