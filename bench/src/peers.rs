//! The peers' allocation calls (the `mimalloc` crate and glibc's `malloc`), behind a safe
//! interface: an allocation is a [`Block`] token that only the allocator that made it frees.
//! The only `unsafe` of the peers lives here.
use std::alloc::{GlobalAlloc, Layout};
use std::marker::PhantomData;
use std::ptr::NonNull;

use mimalloc::MiMalloc;

/// Alignment the benches ask every allocator for (what `kmalloc` guarantees).
pub const ALIGN: usize = 8;

/// An allocator measured against the memserver.
pub trait Peer: Sized {
    const NAME: &'static str;
    /// Allocates `size` (1..=1 MiB) bytes; `None` when the allocator refuses.
    fn alloc(size: usize) -> Option<Block<Self>>;
    fn free(block: Block<Self>);
}

/// A live allocation of `P`.
#[derive(Debug)]
pub struct Block<P> {
    ptr: NonNull<u8>,
    size: usize,
    _peer: PhantomData<P>,
}

impl<P> Block<P> {
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }
}

fn layout(size: usize) -> Option<Layout> {
    if size == 0 || size > 1 << 20 {
        return None;
    }
    Layout::from_size_align(size, ALIGN).ok()
}

/// The `mimalloc` crate's global allocator, called directly (not installed as the global one).
#[derive(Debug)]
pub struct Mimalloc;

impl Peer for Mimalloc {
    const NAME: &'static str = "mimalloc";

    #[inline]
    fn alloc(size: usize) -> Option<Block<Self>> {
        let l = layout(size)?;
        // SAFETY: `l` has a non-zero size.
        let ptr = NonNull::new(unsafe { MiMalloc.alloc(l) })?;
        Some(Block {
            ptr,
            size,
            _peer: PhantomData,
        })
    }

    #[inline]
    fn free(block: Block<Self>) {
        let l = layout(block.size).expect("block sizes are valid layouts");
        // SAFETY: a `Block<Mimalloc>` is only made by `Mimalloc::alloc` with this layout and is
        // consumed here, so the pointer is live and freed once.
        unsafe { MiMalloc.dealloc(block.ptr.as_ptr(), l) }
    }
}

/// glibc's `malloc` and `free`.
#[derive(Debug)]
pub struct Glibc;

impl Peer for Glibc {
    const NAME: &'static str = "glibc";

    #[inline]
    fn alloc(size: usize) -> Option<Block<Self>> {
        layout(size)?;
        // SAFETY: `malloc` may be called with any size; a null result is handled.
        let ptr = NonNull::new(unsafe { libc::malloc(size) }.cast::<u8>())?;
        Some(Block {
            ptr,
            size,
            _peer: PhantomData,
        })
    }

    #[inline]
    fn free(block: Block<Self>) {
        // SAFETY: a `Block<Glibc>` is only made by `malloc` above and is consumed here.
        unsafe { libc::free(block.ptr.as_ptr().cast()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<P: Peer>() {
        for size in [1, 8, 64, 8192, 1 << 20] {
            let b = P::alloc(size).unwrap();
            assert_eq!(b.addr() % ALIGN, 0, "{} {size}", P::NAME);
            P::free(b);
        }
        assert!(P::alloc(0).is_none());
        assert!(P::alloc((1 << 20) + 1).is_none());
    }

    #[test]
    fn peers_allocate_aligned_blocks_and_refuse_bad_sizes() {
        round_trip::<Mimalloc>();
        round_trip::<Glibc>();
    }
}
