//! Platform glue: where the RAM frames managed by the buddy layer come from. A platform hands out
//! page-aligned ranges of frames, each tagged with its memory node (on the host: an arena from the
//! OS cut into simulated nodes; on seL4: frames made from untyped memory). Immutable once built.
use crate::topology::NodeId;

#[cfg(feature = "std")]
pub mod host;

/// A range of RAM frames `[base, base + len)` belonging to memory node `node`, as server
/// virtual addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRange {
    pub node: NodeId,
    pub base: usize,
    pub len: usize,
}

impl MemRange {
    /// One past the last byte, or `None` when the range wraps the address space.
    pub fn end(&self) -> Option<usize> {
        self.base.checked_add(self.len)
    }
}

/// A source of RAM frames, grouped by memory node.
pub trait Platform {
    /// The ranges of frames the buddy layer may manage.
    fn memory(&self) -> &[MemRange];
}
