//! The image's topology configuration: memory nodes by physical range, the node of each core and
//! the buddy zone taken from each node. It must match the QEMU options of the runner
//! (`-m 1G`, two `-numa node` entries of 512 MiB each, core `c` on node `c % 2`).

use memserver::topology::{NodeId, Topology, TopologyError};

/// A memory node: physical RAM `[start, end)`.
#[derive(Debug, Clone, Copy)]
pub struct NodeRange {
    pub start: u64,
    pub end: u64,
}

/// The nodes, in node order.
pub const NODES: [NodeRange; 2] = [
    NodeRange {
        start: 0x4000_0000,
        end: 0x6000_0000,
    },
    NodeRange {
        start: 0x6000_0000,
        end: 0x8000_0000,
    },
];

/// Bytes of each node's buddy zone (4 MiB aligned, a multiple of the largest buddy block).
pub const ZONE_BYTES: usize = 8 << 20;

/// Distance between two nodes (SLIT style).
const LOCAL: u8 = 10;
const REMOTE: u8 = 20;

/// The node of `core`.
pub fn node_of_core(core: usize) -> NodeId {
    NodeId((core % NODES.len()) as u8)
}

/// The topology for `cores` booted cores.
pub fn topology(cores: usize) -> Result<Topology, TopologyError> {
    let core_node = (0..cores.max(1)).map(node_of_core).collect();
    let distance = (0..NODES.len())
        .map(|a| {
            (0..NODES.len())
                .map(|b| if a == b { LOCAL } else { REMOTE })
                .collect()
        })
        .collect();
    Topology::new(core_node, distance)
}

/// The node holding physical address `paddr`.
pub fn node_of_paddr(paddr: u64) -> Option<NodeId> {
    NODES
        .iter()
        .position(|n| paddr >= n.start && paddr < n.end)
        .map(|i| NodeId(i as u8))
}
