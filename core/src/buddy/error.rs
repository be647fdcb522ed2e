//! Errors of the buddy layer: what a caller did wrong ([`BuddyError`]) and which internal
//! invariant `validate()` found broken ([`BuddyInvariant`]). Plain data, no state.
use crate::topology::NodeId;

/// A refused request. A refused request changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuddyError {
    /// The order is above `MAX_ORDER`.
    BadOrder(u8),
    /// The node is not in the topology.
    UnknownNode(NodeId),
    /// No zone that may serve the request has a free block of that order.
    OutOfMemory { order: u8 },
    /// The address is not aligned to the block size of the order.
    Misaligned { addr: usize, order: u8 },
    /// The address lies outside every zone.
    NotManaged { addr: usize },
    /// No allocated block starts at this address (never allocated, already free, or interior).
    NotAllocated { addr: usize },
    /// A block starts here, but it was allocated with another order.
    OrderMismatch {
        addr: usize,
        allocated: u8,
        given: u8,
    },
    // Construction (`Buddy::new`) errors.
    /// A memory range names a node that is not in the topology.
    RangeUnknownNode(NodeId),
    /// A memory range's base or length is not a multiple of `PAGE_SIZE`.
    RangeMisaligned { base: usize, len: usize },
    /// A memory range is empty.
    RangeEmpty { base: usize },
    /// A memory range wraps around the end of the address space.
    RangeOverflow { base: usize, len: usize },
    /// Two memory ranges overlap.
    RangeOverlap { a: usize, b: usize },
    /// A node has more frames than the zone's 32-bit frame numbers can index.
    ZoneTooLarge(NodeId),
}

/// A broken internal invariant, found by `validate()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuddyInvariant {
    /// A frame where a block should start holds a tail marker or an invalid state byte.
    BadBlockStart {
        node: NodeId,
        frame: usize,
        state: u8,
    },
    /// A block is not aligned to its size or runs past the end of its range.
    BadBlockPlacement {
        node: NodeId,
        frame: usize,
        order: u8,
    },
    /// A frame inside a block is marked as the start of a block.
    BadTail {
        node: NodeId,
        frame: usize,
        state: u8,
    },
    /// A free block and its buddy of the same order are both free (missed merge).
    Unmerged {
        node: NodeId,
        frame: usize,
        order: u8,
    },
    /// A free list links to a frame that is not a free block of that order, or its back links
    /// are inconsistent, or it does not end.
    ListCorrupt {
        node: NodeId,
        order: u8,
        frame: usize,
    },
    /// A free list's length, its recorded count and the free blocks found differ.
    CountMismatch {
        node: NodeId,
        order: u8,
        listed: usize,
        recorded: usize,
        found: usize,
    },
    /// The non-empty bitmap disagrees with a list.
    BitmapMismatch { node: NodeId, order: u8 },
    /// The zone's free frame total differs from the sum over its free blocks.
    FreeTotalMismatch {
        node: NodeId,
        recorded: usize,
        found: usize,
    },
    /// The zone's count of fresh blocks (not yet listed) differs from its untouched tiling.
    FreshMismatch { node: NodeId },
}
