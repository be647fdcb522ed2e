//! Shared set-up for the slab tests: an allocator over a host arena (the arena outlives it).
#![allow(dead_code)]
use memserver_core::platform::host::HostArena;
use memserver_core::platform::Platform;
use memserver_core::topology::Topology;
use memserver_core::{Allocator, CacheFlags, CacheParams, Ctor, OwnerId};

pub struct Fixture {
    pub alloc: Allocator,
    _arena: HostArena,
}

impl std::ops::Deref for Fixture {
    type Target = Allocator;
    fn deref(&self) -> &Allocator {
        &self.alloc
    }
}

/// `bytes` of memory cut into `nodes` nodes with `cores_per_node` cores each.
pub fn fixture(bytes: usize, nodes: usize, cores_per_node: usize) -> Fixture {
    let arena = HostArena::new(bytes, nodes).expect("arena");
    let topo = Topology::uniform(nodes, cores_per_node).expect("topology");
    let alloc = Allocator::new(topo, arena.memory()).expect("allocator");
    Fixture {
        alloc,
        _arena: arena,
    }
}

pub fn params(name: &str, size: usize, flags: CacheFlags) -> CacheParams<'_> {
    CacheParams {
        name,
        size,
        align: 8,
        flags,
        ctor: Ctor::None,
        owner: OwnerId(1),
    }
}

/// Reads a byte of an object handed out by the allocator (the test plays the client).
pub fn peek(addr: usize) -> u8 {
    // SAFETY: `addr` is inside an object or its slab, memory of the live arena.
    unsafe { std::ptr::read_volatile(addr as *const u8) }
}

pub fn poke(addr: usize, byte: u8) {
    // SAFETY: as for `peek`.
    unsafe { std::ptr::write_volatile(addr as *mut u8, byte) }
}
