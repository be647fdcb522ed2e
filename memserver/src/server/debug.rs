//! A client's debug options, given at attach in Linux's `slab_debug=` syntax (parsed by
//! `memserver_system::slab_debug`, the one parser the system description also uses): the debug
//! flags each of its caches gets by name, kmalloc caches included, on top of the flags its
//! creator asked for. Linux's F, Z, P, U map to consistency checks, red zones, poisoning and
//! owner tracking.
use crate::slab::CacheFlags;
use alloc::string::String;
use memserver_protocol::{Error, Failure};
use memserver_system::slab_debug::{DebugFlags, SlabDebug};

/// The checked `slab_debug` text of one client.
#[derive(Clone, Debug, Default)]
pub struct DebugOptions {
    text: String,
}

impl DebugOptions {
    /// Checks `text`; refused with `BadField` and the byte offset of the fault.
    pub fn check(text: &str) -> Result<(), Failure> {
        SlabDebug::parse(text).map_err(|e| Failure::with(Error::BadField, [e.at as u64, 0, 0]))?;
        Ok(())
    }

    /// Checks `text` and keeps a copy (allocated fallibly; its bytes are part of the client
    /// record's metadata charge).
    pub fn parse(text: &str) -> Result<Self, Failure> {
        Self::check(text)?;
        let mut copy = String::new();
        copy.try_reserve_exact(text.len())
            .map_err(|_| Failure::with(Error::OutOfMemory, [0, text.len() as u64, 0]))?;
        copy.push_str(text);
        Ok(DebugOptions { text: copy })
    }

    /// The debug flags of the cache named `name`.
    pub fn flags_for(&self, name: &str) -> CacheFlags {
        // Checked in `parse`.
        let Ok(parsed) = SlabDebug::parse(&self.text) else {
            return CacheFlags::empty();
        };
        core_flags(parsed.flags_for(name))
    }
}

fn core_flags(d: DebugFlags) -> CacheFlags {
    let mut f = CacheFlags::empty();
    f.set(CacheFlags::CONSISTENCY_CHECKS, d.consistency);
    f.set(CacheFlags::RED_ZONE, d.red_zone);
    f.set(CacheFlags::POISON, d.poison);
    f.set(CacheFlags::STORE_USER, d.store_user);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_letters_map_to_the_core_flags_by_cache_name() {
        let d = DebugOptions::parse("ZU,kmalloc-32,dentry;P").unwrap();
        assert_eq!(
            d.flags_for("kmalloc-32"),
            CacheFlags::RED_ZONE | CacheFlags::STORE_USER
        );
        assert_eq!(
            d.flags_for("dentry"),
            CacheFlags::RED_ZONE | CacheFlags::STORE_USER
        );
        assert_eq!(d.flags_for("kmalloc-64"), CacheFlags::POISON);
        assert_eq!(
            DebugOptions::parse("F").unwrap().flags_for("x"),
            CacheFlags::CONSISTENCY_CHECKS
        );
        assert_eq!(DebugOptions::default().flags_for("x"), CacheFlags::empty());
        assert_eq!(
            DebugOptions::parse("FX").unwrap_err(),
            Failure::with(Error::BadField, [1, 0, 0])
        );
    }
}
