//! The configuration the root task reads from its image: what a system description says, in
//! the form the root task uses (physical node ranges, the node of each core, the distance
//! matrix, clients with their image index). Produced by [`crate::encode`] from a checked
//! description, so the root task may rely on its consistency ([`ImageConfig::check`] verifies it
//! again after decoding: the blob is built by xtask, but a consistency check is cheap).
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// A memory node: physical RAM `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub start: u64,
    pub end: u64,
}

impl Node {
    pub fn bytes(&self) -> u64 {
        self.end - self.start
    }

    pub fn contains(&self, paddr: u64) -> bool {
        paddr >= self.start && paddr < self.end
    }
}

/// A client's quota. `u64::MAX` means unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Live objects.
    pub objects: u64,
    /// Usable bytes of its live objects.
    pub bytes: u64,
    /// Server metadata kept for the client (its record, caches, arrays, slab records, debug
    /// tracks).
    pub metadata_bytes: u64,
}

impl Quota {
    pub const UNLIMITED: Quota = Quota {
        objects: u64::MAX,
        bytes: u64::MAX,
        metadata_bytes: u64::MAX,
    };
}

/// When the root task starts a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Start {
    /// Spawned at boot, after the server threads are up.
    AtBoot,
    /// Listed (its image is in the blob) but spawned only when asked (by a driver client).
    OnRequest,
}

/// One client task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// Unique within the image.
    pub name: String,
    /// Index into the image table ([`crate::Images::get`]); clients may share an image.
    pub image: u32,
    /// The cores it runs on (one thread per core), ascending, each below [`ImageConfig::cores`].
    pub cores: Vec<u32>,
    pub quota: Quota,
    /// Cache debug options in Linux `slab_debug=` syntax (see [`crate::slab_debug`]); empty: off.
    pub debug: String,
    pub start: Start,
    /// Granted the supervisor interface: start an `OnRequest` client, wait for its end, reap
    /// it, read statistics (a test driver).
    pub supervisor: bool,
}

/// Options of the memory server itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerOptions {
    /// Largest batch one Refill or Drain may move (1..=`memserver_protocol::MAX_BATCH`).
    pub max_batch: u32,
    /// Most bytes of each memory node the buddy zones get (the largest untypeds first), like
    /// Linux's `mem=`; `u64::MAX`: all the root task does not keep for itself. A small value
    /// lets a test fill a node cheaply.
    pub memory_per_node: u64,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_batch: crate::limits::MAX_BATCH,
            memory_per_node: u64::MAX,
        }
    }
}

/// The configuration embedded in an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// Cores the kernel runs (its `CONFIG_MAX_NUM_NODES`, QEMU `-smp`).
    pub cores: u32,
    /// Physical RAM of each memory node, in node order; consecutive, from `limits::RAM_BASE`.
    pub nodes: Vec<Node>,
    /// The node of each core (`core_node[c]` for core `c`).
    pub core_node: Vec<u8>,
    /// Node distances, `distance[a][b]`, SLIT style (10 local).
    pub distance: Vec<Vec<u8>>,
    pub clients: Vec<ClientConfig>,
    pub server: ServerOptions,
}

/// Why a decoded configuration is not consistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    NoCores,
    NoNodes,
    /// A node is empty or starts before the previous one ends.
    NodeRange(usize),
    /// `core_node` does not have one entry per core.
    CoreNodeCount,
    /// Core's node is not a node.
    CoreNode(usize),
    /// The distance matrix is not nodes x nodes.
    DistanceShape,
    /// Client's core is not below `cores`, or its cores are not ascending, or it has none.
    ClientCores(usize),
    /// Client's image index is outside the image table.
    ClientImage(usize),
}

impl ImageConfig {
    /// Checks the invariants the root task relies on; `images` is the number of images.
    pub fn check(&self, images: usize) -> Result<(), ConfigError> {
        if self.cores == 0 {
            return Err(ConfigError::NoCores);
        }
        if self.nodes.is_empty() {
            return Err(ConfigError::NoNodes);
        }
        let mut prev_end = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            if n.start >= n.end || n.start < prev_end {
                return Err(ConfigError::NodeRange(i));
            }
            prev_end = n.end;
        }
        if self.core_node.len() != self.cores as usize {
            return Err(ConfigError::CoreNodeCount);
        }
        if let Some(c) = self
            .core_node
            .iter()
            .position(|&n| n as usize >= self.nodes.len())
        {
            return Err(ConfigError::CoreNode(c));
        }
        if self.distance.len() != self.nodes.len()
            || self.distance.iter().any(|r| r.len() != self.nodes.len())
        {
            return Err(ConfigError::DistanceShape);
        }
        for (i, c) in self.clients.iter().enumerate() {
            let ascending = c.cores.windows(2).all(|w| w[0] < w[1]);
            if c.cores.is_empty() || !ascending || c.cores.iter().any(|&k| k >= self.cores) {
                return Err(ConfigError::ClientCores(i));
            }
            if c.image as usize >= images {
                return Err(ConfigError::ClientImage(i));
            }
        }
        Ok(())
    }

    /// The node holding physical address `paddr`.
    pub fn node_of_paddr(&self, paddr: u64) -> Option<u8> {
        self.nodes
            .iter()
            .position(|n| n.contains(paddr))
            .map(|i| i as u8)
    }

    /// RAM bytes of all nodes.
    pub fn ram_bytes(&self) -> u64 {
        self.nodes.iter().map(Node::bytes).sum()
    }

    /// The client named `name`.
    pub fn client(&self, name: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    pub(crate) fn two_nodes() -> ImageConfig {
        ImageConfig {
            cores: 2,
            nodes: vec![
                Node {
                    start: 0x4000_0000,
                    end: 0x6000_0000,
                },
                Node {
                    start: 0x6000_0000,
                    end: 0x8000_0000,
                },
            ],
            core_node: vec![0, 1],
            distance: vec![vec![10, 20], vec![20, 10]],
            clients: vec![ClientConfig {
                name: "a".into(),
                image: 0,
                cores: vec![0, 1],
                quota: Quota::UNLIMITED,
                debug: String::new(),
                start: Start::AtBoot,
                supervisor: false,
            }],
            server: ServerOptions::default(),
        }
    }

    #[test]
    fn a_consistent_configuration_passes_and_each_inconsistency_is_named() {
        let good = two_nodes();
        assert_eq!(good.check(1), Ok(()));
        assert_eq!(good.node_of_paddr(0x6000_0000), Some(1));
        assert_eq!(good.node_of_paddr(0x8000_0000), None);
        assert_eq!(good.ram_bytes(), 1 << 30);
        assert_eq!(good.check(0), Err(ConfigError::ClientImage(0)));
        let mut c = good.clone();
        c.nodes[1].start = 0x5000_0000;
        assert_eq!(c.check(1), Err(ConfigError::NodeRange(1)));
        let mut c = good.clone();
        c.core_node[1] = 2;
        assert_eq!(c.check(1), Err(ConfigError::CoreNode(1)));
        let mut c = good.clone();
        c.core_node.pop();
        assert_eq!(c.check(1), Err(ConfigError::CoreNodeCount));
        let mut c = good.clone();
        c.clients[0].cores = vec![1, 0];
        assert_eq!(c.check(1), Err(ConfigError::ClientCores(0)));
        let mut c = good.clone();
        c.clients[0].cores = vec![2];
        assert_eq!(c.check(1), Err(ConfigError::ClientCores(0)));
        let mut c = good;
        c.distance[0].pop();
        assert_eq!(c.check(1), Err(ConfigError::DistanceShape));
    }
}
