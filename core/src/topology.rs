//! Machine topology as data: which cores exist, which memory node each core belongs to, and the
//! distance between nodes (allocation falls back from the local node in distance order).
//! Immutable after construction; shared freely between cores.
use alloc::vec::Vec;

/// Upper bound on cores; per-core arrays are sized by it.
pub const MAX_CORES: usize = 8;
/// Upper bound on memory nodes.
pub const MAX_NODES: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CoreId(pub u8);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u8);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopologyError {
    NoCores,
    NoNodes,
    TooManyCores,
    TooManyNodes,
    /// A core names a node that does not exist.
    UnknownNode(CoreId),
    /// The distance table is not `nodes × nodes`.
    BadDistances,
}

#[derive(Clone, Debug)]
pub struct Topology {
    core_node: Vec<NodeId>,
    /// `distance[a][b]`, as in the ACPI SLIT: 10 local, larger is farther.
    distance: Vec<Vec<u8>>,
    /// For each node, all nodes sorted by distance from it (itself first).
    fallback: Vec<Vec<NodeId>>,
}

impl Topology {
    /// `core_node[c]` is the node of core `c`; `distance` is a square table over the nodes.
    pub fn new(core_node: Vec<NodeId>, distance: Vec<Vec<u8>>) -> Result<Self, TopologyError> {
        let nodes = distance.len();
        if core_node.is_empty() {
            return Err(TopologyError::NoCores);
        }
        if nodes == 0 {
            return Err(TopologyError::NoNodes);
        }
        if core_node.len() > MAX_CORES {
            return Err(TopologyError::TooManyCores);
        }
        if nodes > MAX_NODES {
            return Err(TopologyError::TooManyNodes);
        }
        if distance.iter().any(|row| row.len() != nodes) {
            return Err(TopologyError::BadDistances);
        }
        if let Some(c) = core_node.iter().position(|n| n.0 as usize >= nodes) {
            return Err(TopologyError::UnknownNode(CoreId(c as u8)));
        }
        let fallback = (0..nodes)
            .map(|from| {
                let mut order: Vec<NodeId> = (0..nodes).map(|n| NodeId(n as u8)).collect();
                order.sort_by_key(|n| (n.0 as usize != from, distance[from][n.0 as usize], n.0));
                order
            })
            .collect();
        Ok(Topology {
            core_node,
            distance,
            fallback,
        })
    }

    /// `nodes` nodes with `cores_per_node` cores each, local distance 10 and remote 20.
    pub fn uniform(nodes: usize, cores_per_node: usize) -> Result<Self, TopologyError> {
        let core_node = (0..nodes * cores_per_node)
            .map(|c| NodeId((c / cores_per_node.max(1)) as u8))
            .collect();
        let distance = (0..nodes)
            .map(|a| (0..nodes).map(|b| if a == b { 10 } else { 20 }).collect())
            .collect();
        Self::new(core_node, distance)
    }

    pub fn cores(&self) -> usize {
        self.core_node.len()
    }

    pub fn nodes(&self) -> usize {
        self.distance.len()
    }

    /// The node of `core`; `None` for a core that does not exist.
    pub fn node_of(&self, core: CoreId) -> Option<NodeId> {
        self.core_node.get(core.0 as usize).copied()
    }

    pub fn distance(&self, a: NodeId, b: NodeId) -> Option<u8> {
        self.distance.get(a.0 as usize)?.get(b.0 as usize).copied()
    }

    /// All nodes in the order an allocation preferring `from` tries them.
    pub fn fallback_order(&self, from: NodeId) -> &[NodeId] {
        self.fallback
            .get(from.0 as usize)
            .map_or(&[], |v| v.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn fallback_is_local_first_then_by_distance() {
        let t = Topology::new(
            vec![NodeId(0), NodeId(1), NodeId(2)],
            vec![vec![10, 30, 20], vec![30, 10, 20], vec![20, 20, 10]],
        )
        .unwrap();
        assert_eq!(
            t.fallback_order(NodeId(0)),
            &[NodeId(0), NodeId(2), NodeId(1)]
        );
        assert_eq!(
            t.fallback_order(NodeId(1)),
            &[NodeId(1), NodeId(2), NodeId(0)]
        );
    }

    #[test]
    fn bad_topologies_are_rejected() {
        assert_eq!(
            Topology::new(vec![], vec![vec![10]]).unwrap_err(),
            TopologyError::NoCores
        );
        assert_eq!(
            Topology::new(vec![NodeId(1)], vec![vec![10]]).unwrap_err(),
            TopologyError::UnknownNode(CoreId(0))
        );
        assert_eq!(
            Topology::new(vec![NodeId(0)], vec![vec![10, 20]]).unwrap_err(),
            TopologyError::BadDistances
        );
        assert_eq!(
            Topology::uniform(2, 2).unwrap().node_of(CoreId(3)),
            Some(NodeId(1))
        );
    }
}
