//! Messages per object through the in-process transport (target 4): a client with magazines of
//! `batch` objects allocates `ROUND` objects of a 64-byte cache and frees them all, `ROUNDS` times
//! after one warm round; we count the messages its transport sent. Deterministic: a count, not a
//! time (the times come from the memserver crate's `transport` criterion bench).
use std::sync::Arc;

use memserver::platform::host::HostArena;
use memserver::platform::Platform;
use memserver::server::{AttachParams, Quota, Server, ServerConfig};
use memserver::topology::{Topology, MAX_CORES};
use memserver::Allocator;
use memserver_client::host::{magazine_page, HostSystem};
use memserver_client::{Client, Config};
use serde::{Deserialize, Serialize};

pub const ROUND: usize = 256;
pub const ROUNDS: usize = 64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageCount {
    /// Magazine size (0: magazines off, one message per operation).
    pub batch: usize,
    pub objects: u64,
    pub messages: u64,
}

impl MessageCount {
    /// Messages per object allocated and freed.
    pub fn per_object(&self) -> f64 {
        self.messages as f64 / self.objects as f64
    }
}

/// Counts the messages of the workload above with magazines of `batch`.
pub fn count(batch: usize) -> Result<MessageCount, String> {
    let arena = HostArena::new(64 << 20, 1).map_err(|e| format!("{e:?}"))?;
    let topo = Topology::uniform(1, 1).map_err(|e| format!("{e:?}"))?;
    let alloc = Allocator::new(topo, arena.memory()).map_err(|e| format!("{e:?}"))?;
    let server = Arc::new(Server::new(alloc, ServerConfig::default()));
    let s = server.clone();
    let system = HostSystem::start(1, move |core, badge, msg| s.dispatch(core, badge, msg));
    let page = magazine_page();
    let mut pages = [0usize; MAX_CORES];
    pages[0] = Arc::as_ptr(&page) as usize;
    // SAFETY: `page` stays alive in the transport (an `Arc`) for as long as the client is attached.
    let badge = unsafe {
        server.attach(&AttachParams {
            pages,
            offset: 0,
            quota: Quota::UNLIMITED,
            slab_debug: "",
        })
    }
    .map_err(|e| format!("{e:?}"))?;
    let t = system
        .transport(0, badge, page)
        .ok_or_else(|| "no transport for core 0".to_string())?;
    let mut c = Client::connect(t, Config { batch }).map_err(|e| format!("{e:?}"))?;
    let mut cache = c
        .kmem_cache_create("msgs", 64, 8, 0, None)
        .map_err(|e| format!("{e:?}"))?;
    let mut objs = Vec::with_capacity(ROUND);
    let mut before = 0;
    for r in 0..=ROUNDS {
        if r == 1 {
            before = c.messages();
        }
        for _ in 0..ROUND {
            objs.push(
                c.kmem_cache_alloc(&mut cache)
                    .map_err(|e| format!("{e:?}"))?,
            );
        }
        for o in objs.drain(..) {
            c.kmem_cache_free(&mut cache, o)
                .map_err(|e| format!("{e:?}"))?;
        }
    }
    let messages = c.messages() - before;
    c.kmem_cache_flush(&mut cache)
        .map_err(|e| format!("{e:?}"))?;
    c.kmem_cache_destroy(&mut cache)
        .map_err(|e| format!("{e:?}"))?;
    c.detach().map_err(|e| format!("{e:?}"))?;
    drop(system);
    Ok(MessageCount {
        batch,
        objects: (ROUNDS * ROUND) as u64,
        messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magazines_cut_messages_by_their_size() {
        let off = count(0).unwrap();
        assert_eq!(off.per_object(), 2.0, "{off:?}");
        let m32 = count(32).unwrap();
        assert!(m32.per_object() <= 2.0 / 32.0 + 1e-9, "{m32:?}");
        assert!(m32.messages > 0);
    }
}
