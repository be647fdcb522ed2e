//! Runs a client constructor over the fresh slabs the server reported in the magazine page: every
//! object of each, once, before any of them is handed out.
use crate::cache::Ctor;
use memserver_protocol::{MagazinePage, FRESH_MAX};

pub fn run(page: &MagazinePage, fresh: u64, stride: usize, f: Ctor) {
    let records = (fresh as usize).min(FRESH_MAX);
    for i in 0..records {
        let Some(slab) = page.read_fresh(i) else {
            return;
        };
        for k in 0..slab.objects as usize {
            f((slab.first as usize).wrapping_add(k * stride) as *mut u8);
        }
    }
}
