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

/// A test's arena: `native` bytes natively, `miri` under Miri, where setting up and validating
/// every page of the arena costs seconds per megabyte (each test picks what its objects need).
pub const fn arena(native: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        native
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

/// Settings for a property checked `cases` times natively and `miri_cases` times under Miri
/// (which interprets each case thousands of times slower). Miri runs isolated from the file
/// system, so there no failure file is read or written.
pub fn proptest_config(cases: u32, miri_cases: u32) -> proptest::test_runner::Config {
    if cfg!(miri) {
        proptest::test_runner::Config {
            cases: miri_cases,
            failure_persistence: None,
            ..Default::default()
        }
    } else {
        proptest::test_runner::Config::with_cases(cases)
    }
}

/// Every report of `log` still kept, oldest first.
#[allow(dead_code)]
pub fn read_log(log: &memserver_core::ViolationLog) -> Vec<memserver_core::Report> {
    let mut out = Vec::new();
    let mut cursor = 0;
    loop {
        let mut buf = [memserver_core::Report::EMPTY; 4];
        let r = log
            .read(cursor, &mut buf)
            .expect("cursor from the previous read");
        out.extend_from_slice(&buf[..r.count]);
        if r.count == 0 {
            return out;
        }
        cursor = r.next;
    }
}

/// A new violation log for `owner`'s reports.
#[allow(dead_code)]
pub fn log_for(a: &Allocator, owner: OwnerId) -> std::sync::Arc<memserver_core::ViolationLog> {
    let log = std::sync::Arc::new(memserver_core::ViolationLog::new());
    a.set_violation_log(owner, log.clone()).unwrap();
    log
}
