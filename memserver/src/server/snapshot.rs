//! The server's whole state, for tests that must show a request changed nothing: the core's
//! [`Snapshot`], every client's record (greeting, quota, usage, handle slots with their
//! generations, kmalloc caches), the slabinfo text of the server and of each client, and the
//! outcome of `validate()`. Takes each client slot's lock in turn, then the core's locks; never
//! on a request path.
use super::clients::ClientRecord;
use super::{Server, ServerInvariant, Usage};
use crate::allocator::Snapshot;
use crate::slab::{CacheId, OwnerId};
use alloc::string::String;
use alloc::vec::Vec;
use memserver_protocol::Failure;

/// See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSnapshot {
    pub core: Snapshot,
    pub clients: Vec<ClientSnapshot>,
    /// `/proc/slabinfo` of every cache.
    pub slabinfo: String,
    pub validate: Result<(), ServerInvariant>,
}

/// One attached client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSnapshot {
    pub owner: OwnerId,
    pub greeted: bool,
    pub usage: Usage,
    pub quota: super::Quota,
    /// Server metadata bytes charged for the client.
    pub metadata: u64,
    /// Each handle slot: generation, and the cache with its usable size if the slot is used.
    pub handles: Vec<(u32, Option<(CacheId, usize)>)>,
    pub kmalloc: [CacheId; 13],
    /// `/proc/slabinfo` of the client's own caches.
    pub slabinfo: String,
}

impl Server {
    /// The server's whole state; see [`ServerSnapshot`].
    pub fn snapshot(&self) -> ServerSnapshot {
        let mut clients = Vec::new();
        let _ = self.clients.for_each(|r| -> Result<(), ()> {
            clients.push(self.client_of(r));
            Ok(())
        });
        let mut slabinfo = String::new();
        let _ = self.alloc.slabinfo(None, &mut slabinfo);
        ServerSnapshot {
            core: self.alloc.snapshot(),
            clients,
            slabinfo,
            validate: self.validate(),
        }
    }

    /// The record of the client with `badge`, as [`ServerSnapshot::clients`] shows it.
    pub fn client_snapshot(&self, badge: u64) -> Result<ClientSnapshot, Failure> {
        let mut guard = self.clients.lock(badge)?;
        Ok(self.client_of(guard.record()?))
    }

    fn client_of(&self, r: &ClientRecord) -> ClientSnapshot {
        let mut slabinfo = String::new();
        let _ = self.alloc.slabinfo(Some(r.owner), &mut slabinfo);
        ClientSnapshot {
            owner: r.owner,
            greeted: r.greeted,
            usage: r.usage,
            quota: r.quota,
            metadata: r.metadata.used(),
            handles: r
                .handles
                .slots()
                .map(|(g, e)| (g, e.map(|e| (e.id, e.usable))))
                .collect(),
            kmalloc: r.kmalloc.caches,
            slabinfo,
        }
    }
}
