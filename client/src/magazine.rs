//! A private magazine: a stack of object addresses the client already holds from the server, so
//! that alloc and free of one object cost no message. Capacity is twice the batch (a loaded and a
//! spare magazine in Bonwick's terms), so alternating alloc/free at a boundary does not ping-pong.
use memserver_protocol::MAX_BATCH;

pub const CAPACITY: usize = 2 * MAX_BATCH;

pub struct Magazine {
    len: usize,
    items: [usize; CAPACITY],
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
        self.len = self.len.checked_sub(1)?;
        Some(self.items[self.len])
    }

    /// Pushes `addr` unless the magazine already holds `limit` objects.
    #[inline]
    pub fn push(&mut self, addr: usize, limit: usize) -> bool {
        if self.len >= limit.min(CAPACITY) {
            return false;
        }
        self.items[self.len] = addr;
        self.len += 1;
        true
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Takes up to `n` objects off the top (the most recently freed stay).
    pub fn take_bottom(&mut self, n: usize, out: &mut [u64; MAX_BATCH]) -> usize {
        let n = n.min(self.len).min(MAX_BATCH);
        for (o, a) in out.iter_mut().zip(&self.items[..n]) {
            *o = *a as u64;
        }
        self.items.copy_within(n..self.len, 0);
        self.len -= n;
        n
    }

    /// Appends addresses (the caller checked there is room).
    pub fn extend(&mut self, addrs: &[u64]) {
        for &a in addrs {
            debug_assert!(self.len < CAPACITY);
            self.items[self.len] = a as usize;
            self.len += 1;
        }
    }
}
