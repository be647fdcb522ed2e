//! A memserver allocator over a host arena, the way every bench sets one up.
use memserver::platform::host::{HostArena, HostArenaError};
use memserver::platform::Platform;
use memserver::topology::{CoreId, Topology, TopologyError};
use memserver::{
    Allocator, CacheFlags, CacheId, CacheParams, CreateError, Ctor, InitError, OwnerId,
};

/// The owner every bench allocates for.
pub const OWNER: OwnerId = OwnerId(1);
pub const CORE0: CoreId = CoreId(0);
pub const CORE1: CoreId = CoreId(1);

#[derive(Debug)]
pub enum FixtureError {
    Topology(TopologyError),
    Arena(HostArenaError),
    Init(InitError),
    Create(CreateError),
}

/// An allocator and the arena it hands out (the allocator is dropped first).
#[derive(Debug)]
pub struct Fixture {
    pub alloc: Allocator,
    _arena: HostArena,
}

impl Fixture {
    /// `nodes` simulated nodes with `cores_per_node` cores each, over `bytes` of arena.
    pub fn new(nodes: usize, cores_per_node: usize, bytes: usize) -> Result<Fixture, FixtureError> {
        let topo = Topology::uniform(nodes, cores_per_node).map_err(FixtureError::Topology)?;
        let arena = HostArena::new(bytes, nodes).map_err(FixtureError::Arena)?;
        let alloc = Allocator::new(topo, arena.memory()).map_err(FixtureError::Init)?;
        Ok(Fixture {
            alloc,
            _arena: arena,
        })
    }

    /// A plain cache of `size`-byte objects aligned to 8, never merged.
    pub fn cache(&self, name: &str, size: usize) -> Result<CacheId, FixtureError> {
        self.alloc
            .cache_create(CacheParams {
                name,
                size,
                align: 8,
                flags: CacheFlags::NO_MERGE,
                ctor: Ctor::None,
                owner: OWNER,
            })
            .map_err(FixtureError::Create)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_allocates_and_frees_on_both_cores() {
        let f = Fixture::new(2, 1, 8 << 20).unwrap();
        let id = f.cache("bench-64", 64).unwrap();
        let a = f.alloc.core(CORE0).unwrap().alloc(id).unwrap();
        f.alloc.core(CORE1).unwrap().free(id, a).unwrap();
        f.alloc.validate().unwrap();
        assert_eq!(f.alloc.stats().objects_in_use, 0);
    }
}
