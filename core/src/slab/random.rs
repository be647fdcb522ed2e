//! Free-order randomisation of new slabs (Linux's `CONFIG_SLAB_FREELIST_RANDOM`): the free index
//! stack of each new slab is a Fisher–Yates shuffle drawn from the node's generator. The state
//! is owned by one `NodeCache` and used under its lock.
use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

#[derive(Debug)]
pub struct FreelistRng(XorShiftRng);

impl FreelistRng {
    pub fn new(seed: u64) -> FreelistRng {
        FreelistRng(XorShiftRng::seed_from_u64(seed))
    }

    /// Shuffles `v` in place.
    pub fn shuffle(&mut self, v: &mut [u16]) {
        for i in (1..v.len()).rev() {
            let j = (self.0.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn shuffle_is_a_permutation_and_not_identity() {
        let mut r = FreelistRng::new(7);
        let mut v: Vec<u16> = (0..64).collect();
        r.shuffle(&mut v);
        let mut s = v.clone();
        s.sort();
        assert_eq!(s, (0..64).collect::<Vec<u16>>());
        assert_ne!(v, (0..64).collect::<Vec<u16>>());
    }
}
