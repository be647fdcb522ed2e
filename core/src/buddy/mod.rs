//! The buddy (page) layer: one zone of 4 KiB frames per memory node, blocks of 2^order frames for
//! orders `0..=MAX_ORDER`, split on allocation and merged with their buddy on free. Allocation
//! prefers a node and falls back to the others in distance order (`Topology::fallback_order`).
//!
//! All metadata is out of line (per-frame state bytes and index-linked free lists in the server's
//! heap); the frames themselves are never read or written, since on seL4 they belong to clients.
//! Every frame has a dense global number (`frame_index`) so upper layers can keep side tables.
//!
//! Locking: each zone's mutable state is behind its own `spin::Mutex` (cache-line padded), taken
//! once per alloc or free; everything else is immutable after `new`, so `Buddy` is `Sync`. No
//! operation holds two zone locks at once.
mod error;
mod free_list;
mod zone;

use alloc::vec::Vec;

pub use error::{BuddyError, BuddyInvariant};
use zone::{Span, Zone};

use crate::platform::MemRange;
use crate::topology::{NodeId, Topology, MAX_NODES};

pub const PAGE_SHIFT: usize = 12;
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// The largest order: blocks of `2^MAX_ORDER` frames (4 MiB).
pub const MAX_ORDER: u8 = 10;
/// Number of orders, `0..=MAX_ORDER`.
pub const ORDERS: usize = MAX_ORDER as usize + 1;

/// An allocated block: `PAGE_SIZE << order` bytes at `addr`, on memory node `node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub addr: usize,
    pub order: u8,
    pub node: NodeId,
}

impl Block {
    pub fn bytes(&self) -> usize {
        PAGE_SIZE << self.order
    }
}

/// Keeps each zone's lock on its own cache line.
#[derive(Debug)]
#[repr(align(64))]
struct Padded<T>(T);

/// The buddy allocator over all nodes' zones.
#[derive(Debug)]
pub struct Buddy {
    /// Indexed by node number; a node without memory has an empty zone.
    zones: Vec<Padded<Zone>>,
    /// All spans of all zones, sorted by base address.
    spans: Vec<Span>,
    /// Per node, the nodes to try in order (itself first).
    fallback: Vec<([NodeId; MAX_NODES], u8)>,
    total_frames: usize,
}

impl Buddy {
    /// One zone per node of `topology`, made of the `memory` ranges of that node (a node may have
    /// several ranges or none). Ranges must be page-aligned, non-empty and must not overlap.
    pub fn new(topology: &Topology, memory: &[MemRange]) -> Result<Buddy, BuddyError> {
        let nodes = topology.nodes();
        for r in memory {
            if r.node.0 as usize >= nodes {
                return Err(BuddyError::RangeUnknownNode(r.node));
            }
            if !r.base.is_multiple_of(PAGE_SIZE) || !r.len.is_multiple_of(PAGE_SIZE) {
                return Err(BuddyError::RangeMisaligned {
                    base: r.base,
                    len: r.len,
                });
            }
            if r.len == 0 {
                return Err(BuddyError::RangeEmpty { base: r.base });
            }
            if r.end().is_none() {
                return Err(BuddyError::RangeOverflow {
                    base: r.base,
                    len: r.len,
                });
            }
        }
        let mut sorted: Vec<MemRange> = memory.to_vec();
        sorted.sort_by_key(|r| r.base);
        for w in sorted.windows(2) {
            if w[0].base + w[0].len > w[1].base {
                return Err(BuddyError::RangeOverlap {
                    a: w[0].base,
                    b: w[1].base,
                });
            }
        }
        let mut zones = Vec::with_capacity(nodes);
        let mut spans = Vec::with_capacity(sorted.len());
        let mut global = 0usize;
        for n in 0..nodes {
            let node = NodeId(n as u8);
            let mut zone_spans = Vec::new();
            let mut local = 0usize;
            for r in sorted.iter().filter(|r| r.node == node) {
                let local_first =
                    u32::try_from(local).map_err(|_| BuddyError::ZoneTooLarge(node))?;
                zone_spans.push(Span {
                    base: r.base,
                    end: r.base + r.len,
                    node,
                    local_first,
                    global_first: global + local,
                });
                local += r.len / PAGE_SIZE;
            }
            // Local indices must stay below the free lists' NIL (u32::MAX).
            if local >= u32::MAX as usize {
                return Err(BuddyError::ZoneTooLarge(node));
            }
            global += local;
            spans.extend_from_slice(&zone_spans);
            zones.push(Padded(Zone::new(node, zone_spans)));
        }
        spans.sort_by_key(|s| s.base);
        let fallback = (0..nodes)
            .map(|n| {
                let order = topology.fallback_order(NodeId(n as u8));
                let mut arr = [NodeId(0); MAX_NODES];
                arr[..order.len()].copy_from_slice(order);
                (arr, order.len() as u8)
            })
            .collect();
        Ok(Buddy {
            zones,
            spans,
            fallback,
            total_frames: global,
        })
    }

    /// A block of `2^order` frames, from `preferred` if it has one, else from the other nodes in
    /// distance order.
    #[inline]
    pub fn alloc(&self, order: u8, preferred: NodeId) -> Result<Block, BuddyError> {
        if order > MAX_ORDER {
            return Err(BuddyError::BadOrder(order));
        }
        let (order_of_nodes, len) = self
            .fallback
            .get(preferred.0 as usize)
            .ok_or(BuddyError::UnknownNode(preferred))?;
        for &node in &order_of_nodes[..*len as usize] {
            if let Some(addr) = self.zones[node.0 as usize].0.alloc(order) {
                return Ok(Block { addr, order, node });
            }
        }
        Err(BuddyError::OutOfMemory { order })
    }

    /// A block of `2^order` frames from `node` only.
    #[inline]
    pub fn alloc_on(&self, order: u8, node: NodeId) -> Result<Block, BuddyError> {
        if order > MAX_ORDER {
            return Err(BuddyError::BadOrder(order));
        }
        let zone = self
            .zones
            .get(node.0 as usize)
            .ok_or(BuddyError::UnknownNode(node))?;
        let addr = zone
            .0
            .alloc(order)
            .ok_or(BuddyError::OutOfMemory { order })?;
        Ok(Block { addr, order, node })
    }

    /// Returns the block allocated at `addr` with `order`. On error nothing changes.
    #[inline]
    pub fn free(&self, addr: usize, order: u8) -> Result<(), BuddyError> {
        if order > MAX_ORDER {
            return Err(BuddyError::BadOrder(order));
        }
        if !addr.is_multiple_of(PAGE_SIZE << order) {
            return Err(BuddyError::Misaligned { addr, order });
        }
        let span = self.span_of(addr).ok_or(BuddyError::NotManaged { addr })?;
        self.zones[span.node.0 as usize].0.free(span, addr, order)
    }

    /// Frees `block` (as returned by `alloc`).
    pub fn free_block(&self, block: Block) -> Result<(), BuddyError> {
        self.free(block.addr, block.order)
    }

    #[inline]
    fn span_of(&self, addr: usize) -> Option<&Span> {
        let span = match self.spans.len() {
            0 => return None,
            1 => &self.spans[0],
            _ => {
                let i = self.spans.partition_point(|s| s.base <= addr);
                self.spans.get(i.checked_sub(1)?)?
            }
        };
        (addr >= span.base && addr < span.end).then_some(span)
    }

    /// The node whose zone holds `addr`.
    pub fn node_of(&self, addr: usize) -> Option<NodeId> {
        self.span_of(addr).map(|s| s.node)
    }

    /// Dense global number (`0..total_frames()`) of the frame holding `addr`.
    #[inline]
    pub fn frame_index(&self, addr: usize) -> Option<usize> {
        self.span_of(addr)
            .map(|s| s.global_first + ((addr - s.base) >> PAGE_SHIFT))
    }

    /// Address of the frame numbered `index` (the inverse of `frame_index`).
    pub fn frame_addr(&self, index: usize) -> Option<usize> {
        self.spans
            .iter()
            .find(|s| index >= s.global_first && index < s.global_first + s.frames())
            .map(|s| s.base + ((index - s.global_first) << PAGE_SHIFT))
    }

    /// The order of the allocated block that starts at `addr`, if one does.
    pub fn allocated_order(&self, addr: usize) -> Option<u8> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return None;
        }
        let span = self.span_of(addr)?;
        self.zones[span.node.0 as usize]
            .0
            .allocated_order(span, addr)
    }

    /// Number of nodes (zones), including nodes without memory.
    pub fn nodes(&self) -> usize {
        self.zones.len()
    }

    /// All frames managed, over all zones.
    pub fn total_frames(&self) -> usize {
        self.total_frames
    }

    /// Frames managed by `node`'s zone (0 for an unknown node).
    pub fn frames_on(&self, node: NodeId) -> usize {
        self.zones.get(node.0 as usize).map_or(0, |z| z.0.frames)
    }

    /// Free frames over all zones (each zone is read under its lock, one after the other).
    pub fn free_frames(&self) -> usize {
        self.zones.iter().map(|z| z.0.free_frames()).sum()
    }

    /// Free frames in `node`'s zone (0 for an unknown node).
    pub fn free_frames_on(&self, node: NodeId) -> usize {
        self.zones
            .get(node.0 as usize)
            .map_or(0, |z| z.0.free_frames())
    }

    /// Free blocks of exactly `order` in `node`'s zone (0 for an unknown node or order).
    pub fn free_blocks(&self, node: NodeId, order: u8) -> usize {
        match self.zones.get(node.0 as usize) {
            Some(z) if order <= MAX_ORDER => z.0.free_blocks(order),
            _ => 0,
        }
    }

    /// Checks every zone's invariants (see the `zone` module).
    pub fn validate(&self) -> Result<(), BuddyInvariant> {
        self.zones.iter().try_for_each(|z| z.0.validate())
    }
}

#[cfg(test)]
mod tests;
