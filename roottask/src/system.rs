//! The system this image was built for: the blob xtask embeds through `MEMSERVER_SYSTEM_IMAGE`
//! (see build.rs), holding the configuration (cores, memory nodes, clients, server options) and
//! the client ELF images, and the topology derived from it. The configuration is decoded once,
//! on first use, which must come after the heap is up (it allocates); it never changes after.

use memserver::topology::{NodeId, Topology, TopologyError};
use memserver_system::{decode, DecodeError, ImageConfig, Images};

#[repr(C, align(16))]
struct Aligned<B: ?Sized>(B);

/// The blob, 16-byte aligned (the ELF reader needs aligned headers, and the blob keeps every
/// image at a 16-byte aligned offset).
static BLOB: &Aligned<[u8]> = &Aligned(*include_bytes!(env!("MEMSERVER_SYSTEM_IMAGE")));

static LOADED: spin::Once<Result<(ImageConfig, Images<'static>), DecodeError>> = spin::Once::new();

/// The configuration and the client images by index (`ClientConfig::image`), decoded on the
/// first call (which needs the heap).
pub fn load() -> Result<&'static (ImageConfig, Images<'static>), DecodeError> {
    LOADED
        .call_once(|| decode(&BLOB.0))
        .as_ref()
        .map_err(|e| *e)
}

/// The configuration. The blob is made by xtask from a checked description and decoded with
/// every length and index checked, so this fails only for an image not built by xtask.
pub fn config() -> Result<&'static ImageConfig, DecodeError> {
    load().map(|(c, _)| c)
}

/// Why the topology cannot be made.
#[derive(Debug, Clone, Copy)]
pub enum SystemError {
    Decode(DecodeError),
    /// The kernel runs more cores than the configuration describes.
    Cores {
        booted: usize,
        configured: u32,
    },
    Topology(TopologyError),
}

impl core::fmt::Display for SystemError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "{e}"),
            Self::Cores { booted, configured } => write!(
                f,
                "the kernel runs {booted} cores, the system has {configured}"
            ),
            Self::Topology(e) => write!(f, "topology: {e:?}"),
        }
    }
}

/// The topology for the `cores` booted cores: the configured node of each core and the node
/// distances.
pub fn topology(cores: usize) -> Result<Topology, SystemError> {
    let c = config().map_err(SystemError::Decode)?;
    if cores > c.cores as usize || cores == 0 {
        return Err(SystemError::Cores {
            booted: cores,
            configured: c.cores,
        });
    }
    let core_node = c.core_node[..cores].iter().map(|&n| NodeId(n)).collect();
    Topology::new(core_node, c.distance.clone()).map_err(SystemError::Topology)
}

/// The node holding physical address `paddr`.
pub fn node_of_paddr(paddr: u64) -> Option<NodeId> {
    config().ok()?.node_of_paddr(paddr).map(NodeId)
}
