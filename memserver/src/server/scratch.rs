//! A client's staging arrays for batch addresses (Refill, Drain and their kmalloc forms): kept in
//! its record and reused by every batch request, so no request zeroes a kilobyte of stack first.
//! Invariant: a request writes the part it reads (`..n`) before reading it; nothing survives
//! between requests that matters. Guarded by the client's slot lock, like the rest of the record.
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};
use memserver_protocol::{Error, Failure, MAX_BATCH};

pub struct Scratch {
    /// Words as read from, or to be written to, the magazine page (client addresses).
    pub words: [u64; MAX_BATCH],
    /// Server addresses.
    pub addrs: [usize; MAX_BATCH],
}

/// A [`Scratch`] on the heap, allocated fallibly (its bytes are part of the client record's
/// metadata charge).
pub struct ScratchBox(Box<[Scratch; 1]>);

impl Scratch {
    /// A zeroed scratch on the heap, or `OutOfMemory` if the heap cannot give it.
    pub fn try_new() -> Result<ScratchBox, Failure> {
        let bytes = core::mem::size_of::<Scratch>() as u64;
        let mut v = Vec::new();
        v.try_reserve_exact(1)
            .map_err(|_| Failure::with(Error::OutOfMemory, [0, bytes, 0]))?;
        v.push(Scratch {
            words: [0; MAX_BATCH],
            addrs: [0; MAX_BATCH],
        });
        let one: Box<[Scratch; 1]> = v
            .into_boxed_slice()
            .try_into()
            .map_err(|_| Failure::new(Error::Internal))?;
        Ok(ScratchBox(one))
    }
}

impl Deref for ScratchBox {
    type Target = Scratch;
    fn deref(&self) -> &Scratch {
        &self.0[0]
    }
}

impl DerefMut for ScratchBox {
    fn deref_mut(&mut self) -> &mut Scratch {
        &mut self.0[0]
    }
}
