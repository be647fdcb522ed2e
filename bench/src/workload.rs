//! The kmalloc mixed workload (target 2): a fixed-seed trace over a working set of live objects.
//!
//! Skew: each kmalloc class is weighted by the active objects of that class (`kmalloc-N`,
//! `kmalloc-cg-N`, `kmalloc-rcl-N`) in a real `/proc/slabinfo` (the repository keeps this
//! machine's copy in `data/slabinfo.sample`), and a size is drawn uniformly inside its class
//! (between the previous class's size + 1 and the class size). The trace replaces a random slot of
//! the working set at each step: free what the slot held, allocate a new size into it. So the
//! allocator sees a steady population of `slots` live objects, not immediate frees.
use memserver::kmalloc::KMALLOC_SIZES;
use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

use crate::slabinfo_text::Row;

/// Seed of every trace in the report.
pub const SEED: u64 = 0x6d65_6d73_6572_7665;
/// Live objects of the working set.
pub const SLOTS: usize = 4096;
/// Replacements per measured pass.
pub const OPS: usize = 4096;

/// Class weights (one per kmalloc class).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix {
    pub weights: [u64; 13],
}

/// Linux's suffix for a kmalloc class size.
fn class_suffix(size: usize) -> String {
    if size >= 1024 {
        format!("{}k", size / 1024)
    } else {
        size.to_string()
    }
}

impl Mix {
    /// Weights from slabinfo rows; `None` if no kmalloc row has active objects.
    pub fn from_rows(rows: &[Row]) -> Option<Mix> {
        let mut weights = [0u64; 13];
        for (w, &size) in weights.iter_mut().zip(KMALLOC_SIZES.iter()) {
            let s = class_suffix(size);
            let names = [
                format!("kmalloc-{s}"),
                format!("kmalloc-cg-{s}"),
                format!("kmalloc-rcl-{s}"),
            ];
            *w = rows
                .iter()
                .filter(|r| names.contains(&r.name))
                .map(|r| r.active_objs)
                .sum();
        }
        (weights.iter().sum::<u64>() > 0).then_some(Mix { weights })
    }

    /// The mix of the saved sample.
    pub fn sample() -> Mix {
        let text = include_str!("../data/slabinfo.sample");
        let rows = crate::slabinfo_text::parse(text).expect("saved sample parses");
        Mix::from_rows(&rows).expect("saved sample has kmalloc rows")
    }

    /// One size drawn from the mix.
    pub fn draw(&self, rng: &mut XorShiftRng) -> usize {
        let total: u64 = self.weights.iter().sum();
        let mut pick = rng.next_u64() % total;
        let mut class = 0;
        for (i, &w) in self.weights.iter().enumerate() {
            if pick < w {
                class = i;
                break;
            }
            pick -= w;
        }
        let lo = if class == 0 {
            1
        } else {
            KMALLOC_SIZES[class - 1] + 1
        };
        let hi = KMALLOC_SIZES[class];
        lo + (rng.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// Mean object size of the mix, in bytes.
    pub fn mean_size(&self) -> f64 {
        let total: u64 = self.weights.iter().sum();
        let mut sum = 0.0;
        for (i, &w) in self.weights.iter().enumerate() {
            let lo = if i == 0 { 1 } else { KMALLOC_SIZES[i - 1] + 1 };
            sum += w as f64 * (lo + KMALLOC_SIZES[i]) as f64 / 2.0;
        }
        sum / total as f64
    }
}

/// One step: free what `slot` holds, then allocate `size` bytes into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub slot: u32,
    pub size: u32,
}

/// The initial sizes of the working set and a pass of `ops` steps.
#[derive(Clone, Debug)]
pub struct Trace {
    pub initial: Vec<usize>,
    pub steps: Vec<Step>,
}

impl Trace {
    pub fn new(mix: &Mix, seed: u64, slots: usize, ops: usize) -> Trace {
        let mut rng = XorShiftRng::seed_from_u64(seed);
        let initial = (0..slots).map(|_| mix.draw(&mut rng)).collect();
        let steps = (0..ops)
            .map(|_| Step {
                slot: (rng.next_u64() % slots as u64) as u32,
                size: mix.draw(&mut rng) as u32,
            })
            .collect();
        Trace { initial, steps }
    }

    /// The report's trace.
    pub fn standard() -> Trace {
        Trace::new(&Mix::sample(), SEED, SLOTS, OPS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_mix_is_skewed_to_small_sizes() {
        let m = Mix::sample();
        let small: u64 = m.weights[..7].iter().sum();
        let large: u64 = m.weights[7..].iter().sum();
        assert!(small > large, "{m:?}");
        assert!(m.mean_size() < 512.0);
    }

    #[test]
    fn traces_are_deterministic_and_in_range() {
        let a = Trace::standard();
        let b = Trace::standard();
        assert_eq!(a.steps, b.steps);
        assert_eq!(a.initial.len(), SLOTS);
        assert!(a.initial.iter().all(|&s| (1..=8192).contains(&s)));
        assert!(a
            .steps
            .iter()
            .all(|s| (s.slot as usize) < SLOTS && (1..=8192).contains(&s.size)));
    }

    #[test]
    fn mix_weights_sum_class_variants() {
        let rows = crate::slabinfo_text::parse(
            "slabinfo - version: 2.1\nkmalloc-1k 5 5 1024 16 4\nkmalloc-cg-1k 7 7 1024 16 4\nkmalloc-8 0 0 8 512 1\n",
        )
        .unwrap();
        let m = Mix::from_rows(&rows).unwrap();
        assert_eq!(m.weights[9], 12);
        assert_eq!(m.weights.iter().sum::<u64>(), 12);
    }
}
