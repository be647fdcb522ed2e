//! The memory targets (issue 6, target 6), replayed from a `/proc/slabinfo`:
//! (a) layout: for every row with active objects, a cache of that object size (align 8, never
//! merged, as each slabinfo row is a real cache) and our bytes per object (slab bytes over objects
//! per slab, as our own slabinfo reports them) against Linux's;
//! (b) churn: allocate every row's active count on core 0, free a random half (fixed seed) on
//! core 1, allocate the same number again on core 0; slab pages in use against the ideal, and the
//! allocator's heap metadata (measured by the caller's counting allocator).
use memserver::buddy::PAGE_SIZE;
use memserver::topology::CoreId;
use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;
use serde::{Deserialize, Serialize};

use crate::fixture::{Fixture, FixtureError};
use crate::slabinfo_text::Row;

/// Bytes of Linux's `struct page` (`struct slab` overlays it) per slab page.
pub const LINUX_PAGE_STRUCT: f64 = 64.0;

/// Seed of the random half freed by the churn.
pub const CHURN_SEED: u64 = 0x636875726e;

/// One row of the layout comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayoutRow {
    pub name: String,
    pub objsize: u64,
    pub active: u64,
    pub linux_objperslab: u64,
    pub linux_pagesperslab: u64,
    pub ours_objperslab: u64,
    pub ours_pagesperslab: u64,
}

impl LayoutRow {
    pub fn linux_bpo(&self) -> f64 {
        (self.linux_pagesperslab as f64 * PAGE_SIZE as f64) / self.linux_objperslab as f64
    }

    pub fn ours_bpo(&self) -> f64 {
        (self.ours_pagesperslab as f64 * PAGE_SIZE as f64) / self.ours_objperslab as f64
    }
}

/// Slab pages through the churn.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Churn {
    pub live_objects: u64,
    /// Σ ceil(live / objperslab) × pagesperslab with our layouts: perfect packing.
    pub ideal_pages: u64,
    pub pages_after_alloc: u64,
    pub pages_after_free_half: u64,
    pub pages_after_realloc: u64,
    /// After every object is freed (the free path returns empty slabs beyond `min_partial`;
    /// what stays is that and the slabs of the objects the per-core arrays cache).
    #[serde(default)]
    pub pages_after_free_all: u64,
}

/// Heap bytes the allocator itself holds (all out of line, in server-private memory).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Held right after `Allocator::new` (page map and per-core state; per arena, not per object).
    pub fixed_bytes: u64,
    /// Held at the end of the churn beyond `fixed_bytes` (caches, slab records, arrays).
    pub per_cache_and_slab_bytes: u64,
    pub arena_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// Short name of the run (`sample`, `live`).
    pub source: String,
    /// The slabinfo file replayed.
    pub input: String,
    pub rows: Vec<LayoutRow>,
    pub churn: Churn,
    pub metadata: Metadata,
}

impl MemoryReport {
    /// Rows where our bytes per object are at most Linux's.
    pub fn rows_at_most_linux(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.ours_bpo() <= r.linux_bpo() + 1e-9)
            .count()
    }

    /// Σ active × bytes per object, ours over Linux's.
    pub fn total_ratio(&self) -> f64 {
        let ours: f64 = self
            .rows
            .iter()
            .map(|r| r.active as f64 * r.ours_bpo())
            .sum();
        let linux: f64 = self
            .rows
            .iter()
            .map(|r| r.active as f64 * r.linux_bpo())
            .sum();
        ours / linux
    }

    pub fn churn_ratio(&self) -> f64 {
        self.churn.pages_after_realloc as f64 / self.churn.ideal_pages as f64
    }

    /// Bytes per live object after the churn, all counted: slab pages plus every byte of
    /// out-of-line metadata beyond the arena's fixed part (caches, slab records, state bytes,
    /// arrays).
    pub fn total_per_object(&self) -> f64 {
        (self.churn.pages_after_realloc as f64 * PAGE_SIZE as f64
            + self.metadata.per_cache_and_slab_bytes as f64)
            / self.churn.live_objects.max(1) as f64
    }

    /// Linux's bytes per live object for the same slab pages: each page plus its 64-byte
    /// `struct page` (which `struct slab` overlays; the free pointer is in the object).
    pub fn linux_total_per_object(&self) -> f64 {
        self.churn.pages_after_realloc as f64 * (PAGE_SIZE as f64 + LINUX_PAGE_STRUCT)
            / self.churn.live_objects.max(1) as f64
    }

    pub fn metadata_per_object(&self) -> f64 {
        self.metadata.per_cache_and_slab_bytes as f64 / self.churn.live_objects.max(1) as f64
    }
}

#[derive(Debug)]
pub enum MemoryError {
    Fixture(FixtureError),
    Alloc {
        row: String,
    },
    Free {
        row: String,
    },
    /// The allocator's own invariants failed after the churn.
    Invalid(String),
    /// Our slabinfo has no row for a cache we created.
    MissingRow {
        row: String,
    },
}

impl std::fmt::Display for MemoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for MemoryError {}

/// A cache name our allocator accepts (Linux's, cut to our limit).
fn cache_name(i: usize, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(memserver::slab::MAX_NAME - 5)
        .collect();
    format!("{clean}#{i}")
}

/// Runs the replay over `rows` (those with active objects). `heap()` returns the bytes the
/// process's heap holds right now; only allocator activity may happen between its calls.
pub fn replay(
    source: &str,
    input: &str,
    rows: &[Row],
    heap: &dyn Fn() -> usize,
) -> Result<MemoryReport, MemoryError> {
    let rows: Vec<&Row> = rows.iter().filter(|r| r.active_objs > 0).collect();
    let names: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| cache_name(i, &r.name))
        .collect();
    let mut addrs: Vec<Vec<usize>> = rows
        .iter()
        .map(|r| Vec::with_capacity(r.active_objs as usize))
        .collect();
    let mut rng = XorShiftRng::seed_from_u64(CHURN_SEED);
    // Which objects of each row the churn frees: a random half, chosen up front.
    let victims: Vec<Vec<bool>> = rows
        .iter()
        .map(|r| {
            let n = r.active_objs as usize;
            let mut idx: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                idx.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
            }
            let mut v = vec![false; n];
            for &i in &idx[..n / 2] {
                v[i] = true;
            }
            v
        })
        .collect();
    let mut ids = Vec::with_capacity(rows.len());
    let raw: u64 = rows.iter().map(|r| r.active_objs * r.objsize).sum();
    let arena = ((2 * raw as usize + (64 << 20)) >> 22 << 22).max(64 << 20);

    let before = heap();
    let f = Fixture::new(1, 2, arena).map_err(MemoryError::Fixture)?;
    let base = heap();
    let f_alloc = &f.alloc;
    let mut ours_rows = Vec::with_capacity(rows.len());
    for (r, name) in rows.iter().zip(&names) {
        ids.push(
            f.cache(name, r.objsize as usize)
                .map_err(MemoryError::Fixture)?,
        );
    }
    let (c0, c1) = (CoreId(0), CoreId(1));
    {
        let mut g = f_alloc
            .core(c0)
            .map_err(|_| MemoryError::Invalid("core 0".into()))?;
        for ((r, &id), a) in rows.iter().zip(&ids).zip(addrs.iter_mut()) {
            for _ in 0..r.active_objs {
                a.push(g.alloc(id).map_err(|_| MemoryError::Alloc {
                    row: r.name.clone(),
                })?);
            }
        }
    }
    let pages_after_alloc = f_alloc.stats().slab_frames as u64;
    {
        let mut g = f_alloc
            .core(c1)
            .map_err(|_| MemoryError::Invalid("core 1".into()))?;
        for (((r, &id), a), v) in rows.iter().zip(&ids).zip(addrs.iter_mut()).zip(&victims) {
            for (slot, &kill) in a.iter_mut().zip(v) {
                if kill {
                    g.free(id, *slot).map_err(|_| MemoryError::Free {
                        row: r.name.clone(),
                    })?;
                    *slot = 0;
                }
            }
        }
    }
    let pages_after_free_half = f_alloc.stats().slab_frames as u64;
    {
        let mut g = f_alloc
            .core(c0)
            .map_err(|_| MemoryError::Invalid("core 0".into()))?;
        for ((r, &id), a) in rows.iter().zip(&ids).zip(addrs.iter_mut()) {
            for slot in a.iter_mut().filter(|s| **s == 0) {
                *slot = g.alloc(id).map_err(|_| MemoryError::Alloc {
                    row: r.name.clone(),
                })?;
            }
        }
    }
    let pages_after_realloc = f_alloc.stats().slab_frames as u64;
    let end = heap();
    drop(victims);

    let info = f_alloc.slabinfo_rows(None);
    let mut ideal_pages = 0;
    for (r, name) in rows.iter().zip(&names) {
        let ours =
            info.iter()
                .find(|o| &o.name == name)
                .ok_or_else(|| MemoryError::MissingRow {
                    row: r.name.clone(),
                })?;
        let (objs, pages) = (ours.objperslab as u64, ours.pagesperslab as u64);
        ideal_pages += r.active_objs.div_ceil(objs) * pages;
        ours_rows.push(LayoutRow {
            name: r.name.clone(),
            objsize: r.objsize,
            active: r.active_objs,
            linux_objperslab: r.objperslab,
            linux_pagesperslab: r.pagesperslab,
            ours_objperslab: objs,
            ours_pagesperslab: pages,
        });
    }
    f_alloc
        .validate()
        .map_err(|e| MemoryError::Invalid(format!("{e:?}")))?;
    let live = f_alloc.stats().objects_in_use as u64;
    let expected: u64 = rows.iter().map(|r| r.active_objs).sum();
    if live != expected {
        return Err(MemoryError::Invalid(format!(
            "{live} objects in use, expected {expected}"
        )));
    }
    {
        let mut g = f_alloc
            .core(c0)
            .map_err(|_| MemoryError::Invalid("core 0".into()))?;
        for (&id, a) in ids.iter().zip(&addrs) {
            for &x in a {
                g.free(id, x)
                    .map_err(|_| MemoryError::Free { row: "end".into() })?;
            }
        }
    }
    let pages_after_free_all = f_alloc.stats().slab_frames as u64;
    let fixed_bytes = base.saturating_sub(before).saturating_sub(arena) as u64;
    Ok(MemoryReport {
        source: source.to_owned(),
        input: input.to_owned(),
        rows: ours_rows,
        churn: Churn {
            live_objects: expected,
            ideal_pages,
            pages_after_alloc,
            pages_after_free_half,
            pages_after_realloc,
            pages_after_free_all,
        },
        metadata: Metadata {
            fixed_bytes,
            per_cache_and_slab_bytes: end.saturating_sub(base) as u64,
            arena_bytes: arena as u64,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_memory_counts_pages_and_metadata_against_pages_and_struct_page() {
        let m = MemoryReport {
            source: "t".into(),
            input: "t".into(),
            rows: Vec::new(),
            churn: Churn {
                live_objects: 1000,
                pages_after_realloc: 10,
                ..Churn::default()
            },
            metadata: Metadata {
                fixed_bytes: 1 << 20,
                per_cache_and_slab_bytes: 4000,
                arena_bytes: 1 << 30,
            },
        };
        assert!((m.total_per_object() - 44.96).abs() < 1e-9);
        assert!((m.linux_total_per_object() - 41.6).abs() < 1e-9);
    }

    #[test]
    fn replay_of_a_small_slabinfo_matches_linux_layouts() {
        let text = "slabinfo - version: 2.1
kmalloc-64 2432 2560 64 64 1 : tunables 0 0 0 : slabdata 40 40 0
kmalloc-192 7350 7350 192 21 1 : tunables 0 0 0 : slabdata 350 350 0
kmalloc-8k 36 36 8192 4 8 : tunables 0 0 0 : slabdata 9 9 0
empty 0 0 100 40 1 : tunables 0 0 0 : slabdata 0 0 0
";
        let rows = crate::slabinfo_text::parse(text).unwrap();
        let r = replay("test", "inline", &rows, &|| 0).unwrap();
        assert_eq!(r.rows.len(), 3);
        for row in &r.rows {
            assert_eq!(
                (row.ours_objperslab, row.ours_pagesperslab),
                (row.linux_objperslab, row.linux_pagesperslab),
                "{row:?}"
            );
        }
        assert_eq!(r.rows_at_most_linux(), 3);
        assert!((r.total_ratio() - 1.0).abs() < 1e-9);
        assert_eq!(r.churn.live_objects, 2432 + 7350 + 36);
        assert!(r.churn.pages_after_realloc >= r.churn.ideal_pages);
        assert!(r.churn.pages_after_free_half <= r.churn.pages_after_realloc);
    }
}
