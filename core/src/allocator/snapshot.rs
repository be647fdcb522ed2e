//! A full picture of the allocator's state, for tests that must show an operation changed
//! nothing: the buddy layer's free blocks, the registry's handles, and for every real cache its
//! per-core arrays (array, alien and outgoing arrays, in order), its inboxes, every node's slab
//! records (free index stack, each object's state and mark bytes, `STORE_USER` tracks,
//! requested sizes, and a digest of the slab's memory, where red zones and poison live) and
//! shared array, plus the large kmalloc blocks. Two snapshots compare equal exactly when these
//! are equal.
//!
//! Left out on purpose: the hot-slab hint of each core (a lookup shortcut with no meaning for
//! any result), debug violation counters (a refused free of a damaged object counts it, as it
//! must), and the `STORE_USER` sequence counter.
//!
//! Locking: as `stats` (registry, every core in ascending order, each node and inbox in turn,
//! then the large blocks), so the picture is consistent. Cost: linear in the memory held by
//! slabs; for tests and diagnosis, never on a request path.
use super::*;
use crate::slab::object_mem;

/// See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Free buddy blocks per node and order.
    pub buddy: Vec<Vec<usize>>,
    /// Every handle slot: (generation, real cache index).
    pub handles: Vec<(u32, u32)>,
    /// Every live real cache, by index.
    pub caches: Vec<CacheSnapshot>,
    /// Large kmalloc blocks: address, owner, order.
    pub large: Vec<(usize, OwnerId, u8)>,
}

/// One real cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheSnapshot {
    pub real: u32,
    pub name: String,
    pub owner: OwnerId,
    pub refs: u32,
    pub created: u64,
    /// Per core: the array, then each alien array, then each outgoing array (addresses).
    pub cores: Vec<Vec<Vec<usize>>>,
    /// Per core: objects other cores sent back to it.
    pub inboxes: Vec<Vec<usize>>,
    pub nodes: Vec<NodeSnapshot>,
}

/// One cache on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSnapshot {
    pub slabs: Vec<SlabSnapshot>,
    pub shared: Vec<usize>,
}

/// One slab record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabSnapshot {
    pub index: u32,
    pub base: usize,
    pub free: Vec<u16>,
    /// Each object's (state, mark) bytes.
    pub states: Vec<(u8, u8)>,
    pub tracks: Vec<TrackPair>,
    pub requested: Vec<u32>,
    /// FNV-1a of the slab's bytes.
    pub memory: u64,
}

fn addrs(objs: &[Obj]) -> Vec<usize> {
    objs.iter().map(|o| o.addr).collect()
}

/// FNV-1a over `[addr, addr + len)`, memory the allocator holds from the buddy layer.
fn digest(addr: usize, len: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for i in 0..len {
        h ^= object_mem::read(addr + i) as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

impl Allocator {
    /// The allocator's whole state; see [`Snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        let reg = self.registry.lock();
        let cores = self.lock_cores();
        let nodes = self.topology.nodes();
        let buddy = (0..nodes)
            .map(|n| {
                (0..=crate::buddy::MAX_ORDER)
                    .map(|o| self.buddy.free_blocks(NodeId(n as u8), o))
                    .collect()
            })
            .collect();
        let caches = reg
            .live_reals()
            .map(|(real, r)| {
                let cache = &r.cache;
                let per_core = cores
                    .iter()
                    .map(|c| match c.cache(real as usize) {
                        Some(cc) => core::iter::once(addrs(cc.array.objs()))
                            .chain(cc.alien.iter().map(|a| addrs(a.objs())))
                            .chain(cc.outbox.iter().map(|a| addrs(a.objs())))
                            .collect(),
                        None => Vec::new(),
                    })
                    .collect();
                let inboxes = cache.inbox.iter().map(|i| addrs(&i.lock())).collect();
                let slab_len = crate::buddy::PAGE_SIZE << cache.layout.order;
                let node_snaps = cache
                    .nodes
                    .iter()
                    .map(|n| {
                        let nc = n.lock();
                        NodeSnapshot {
                            slabs: nc
                                .recs()
                                .map(|(index, rec)| SlabSnapshot {
                                    index,
                                    base: rec.base,
                                    free: rec.free.clone(),
                                    states: (0..rec.objects())
                                        .map(|i| {
                                            (
                                                rec.states.get(i).load(Ordering::Acquire),
                                                rec.states.mark(i).load(Ordering::Acquire),
                                            )
                                        })
                                        .collect(),
                                    tracks: (0..rec.objects())
                                        .filter_map(|i| rec.track(i))
                                        .collect(),
                                    requested: (0..rec.objects())
                                        .filter_map(|i| rec.requested(i))
                                        .collect(),
                                    memory: digest(rec.base, slab_len),
                                })
                                .collect(),
                            shared: addrs(&nc.shared),
                        }
                    })
                    .collect();
                CacheSnapshot {
                    real,
                    name: cache.name.clone(),
                    owner: cache.owner,
                    refs: r.refs,
                    created: r.created,
                    cores: per_core,
                    inboxes,
                    nodes: node_snaps,
                }
            })
            .collect();
        let large = self
            .large
            .lock()
            .blocks
            .iter()
            .map(|(&a, b)| (a, b.owner, b.order))
            .collect();
        Snapshot {
            buddy,
            handles: reg.handles.iter().map(|h| (h.generation, h.real)).collect(),
            caches,
            large,
        }
    }
}
