//! A client's staging arrays for batch addresses (Refill, Drain and their kmalloc forms): kept in
//! its record and reused by every batch request, so no request zeroes a kilobyte of stack first.
//! Invariant: a request writes the part it reads (`..n`) before reading it; nothing survives
//! between requests that matters. Guarded by the client's slot lock, like the rest of the record.
use alloc::boxed::Box;
use memserver_protocol::MAX_BATCH;

pub struct Scratch {
    /// Words as read from, or to be written to, the magazine page (client addresses).
    pub words: [u64; MAX_BATCH],
    /// Server addresses.
    pub addrs: [usize; MAX_BATCH],
}

impl Scratch {
    pub fn new() -> Box<Scratch> {
        Box::new(Scratch {
            words: [0; MAX_BATCH],
            addrs: [0; MAX_BATCH],
        })
    }
}
