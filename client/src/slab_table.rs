//! The slabs a cache's stub knows, and which of their objects it has handed to its user: what
//! keeps a private magazine checked. A free is taken into the magazine only for an object start
//! of a known slab that the stub handed out and that was not freed since, so an address the
//! magazine gives out is always an object of the cache and never one the user already holds.
//!
//! The stub learns a slab from the objects the server hands it. The server promises (at cache
//! creation, `CacheCreateReply::slab_bytes`) that each slab of the cache starts at a multiple of
//! its size in the client's address space, and says where the first object sits; a handed-out
//! address then names its slab (`addr & !(slab_bytes - 1)`) and its index, at O(1), with no
//! further report. Reports are data the stub trusts for its own protection only: the server
//! still checks every free it receives.
//!
//! The table is direct-mapped by slab number ([`SLABS`] entries). An entry is replaced only
//! when none of its objects is out with the user; a slab that finds its entry taken stays
//! unknown, and a free into it goes to the server as one message (which checks it). Caches whose
//! slabs hold more than [`MAX_OBJECTS`] objects, or that the server makes no promise for, are
//! not checked here (their magazine refuses only an immediate double free).
//!
//! Invariants: bits at or past `objects` are never set; an entry's `first` is its slab's start
//! plus the first object's offset; an unused entry has `slab == EMPTY`, which no slab number
//! (an address shifted right by at least 12) equals.

/// Entries of a table.
pub const SLABS: usize = 32;
/// Most objects per slab the table tracks.
pub const MAX_OBJECTS: usize = 512;
const WORDS: usize = MAX_OBJECTS / 64;
const EMPTY: u64 = u64::MAX;
/// `off * recip >> RECIP_SHIFT == off / stride` for every `off` below the span (see `new`).
const RECIP_SHIFT: u32 = 44;

#[derive(Clone, Copy)]
struct Known {
    /// The slab's number: its start shifted right by `shift`.
    slab: u64,
    /// Address of its first object.
    first: u64,
    /// Bit `i`: object `i` is out with the user.
    bits: [u64; WORDS],
}

const UNUSED: Known = Known {
    slab: EMPTY,
    first: 0,
    bits: [0; WORDS],
};

/// What the table says about an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Not in a slab the table knows (or the table is off): only the server can tell.
    Unknown,
    /// In a known slab, but not the start of one of its objects: `offset` bytes past the start
    /// of the object it falls in, or (before the first or past the last object) past the
    /// slab's start.
    NotObject { offset: u64 },
    /// The start of object `index` of the slab in entry `entry`.
    Object { entry: usize, index: usize },
}

pub struct SlabTable {
    /// `log2(slab_bytes)`; 0 when the table is off (then no entry is ever used).
    shift: u32,
    /// Offset of the first object from its slab's start.
    first: u64,
    stride: u64,
    /// `objects * stride`.
    span: u64,
    /// `ceil(2^44 / stride)`.
    recip: u64,
    slabs: [Known; SLABS],
}

impl SlabTable {
    /// A table that knows nothing and never learns (every lookup is `Unknown`).
    pub const fn off() -> Self {
        SlabTable {
            shift: 0,
            first: 0,
            stride: 1,
            span: 0,
            recip: 0,
            slabs: [UNUSED; SLABS],
        }
    }

    /// A table for a cache whose slabs are `slab_bytes` long and aligned to that in the client's
    /// address space, with `objects` objects `stride` apart from `first` bytes in. Off if the
    /// server made no promise (`slab_bytes == 0`), a figure is inconsistent, or the slabs hold
    /// more objects than the table tracks.
    pub fn new(slab_bytes: u64, first: u64, stride: u64, objects: u64) -> Self {
        let span = objects.checked_mul(stride);
        let ok = slab_bytes.is_power_of_two()
            && slab_bytes >= 1 << 12
            && stride > 0
            && objects > 0
            && objects as usize <= MAX_OBJECTS
            && span.and_then(|s| s.checked_add(first)).is_some_and(|end| end <= slab_bytes)
            // The quotient by `recip` is exact below 2^22 bytes.
            && slab_bytes <= 1 << 22;
        if !ok {
            return Self::off();
        }
        SlabTable {
            shift: slab_bytes.trailing_zeros(),
            first,
            stride,
            span: objects * stride,
            recip: (1u64 << RECIP_SHIFT).div_ceil(stride),
            slabs: [UNUSED; SLABS],
        }
    }

    /// Whether the table checks this cache's frees at all.
    pub fn is_on(&self) -> bool {
        self.shift != 0
    }

    /// Where `addr` falls, at O(1): one entry read and two multiplies.
    #[inline(always)]
    pub fn lookup(&self, addr: usize) -> Lookup {
        let a = addr as u64;
        let slab = a >> self.shift;
        let entry = slab as usize & (SLABS - 1);
        let k = &self.slabs[entry];
        if k.slab != slab {
            return Lookup::Unknown;
        }
        // Below the first object the subtraction wraps past the span.
        let off = a.wrapping_sub(k.first);
        if off >= self.span {
            return Lookup::NotObject {
                offset: a - (slab << self.shift),
            };
        }
        let index = (off * self.recip) >> RECIP_SHIFT;
        let start = index * self.stride;
        if start != off {
            return Lookup::NotObject {
                offset: off - start,
            };
        }
        Lookup::Object {
            entry,
            index: index as usize,
        }
    }

    /// Records that `addr` goes to the user; `addr` is an object start the server handed to
    /// this cache (so only its slab is looked up, not whether it is an object start). Learns
    /// the slab if it is unknown and its entry is free to take.
    #[inline(always)]
    pub fn hand_out(&mut self, addr: usize) {
        let a = addr as u64;
        let slab = a >> self.shift;
        let entry = slab as usize & (SLABS - 1);
        let k = &mut self.slabs[entry];
        if k.slab != slab {
            return self.learn(addr);
        }
        let off = a.wrapping_sub(k.first);
        let index = ((off * self.recip) >> RECIP_SHIFT) as usize;
        k.bits[index / 64 % WORDS] |= 1u64 << (index % 64);
    }

    /// Records that `addr`, an object start the server handed to this cache in a batch, is not
    /// the user's (it was free at the server), whatever a free the stub did not see left here.
    #[inline(always)]
    pub fn arrived(&mut self, addr: usize) {
        let a = addr as u64;
        let slab = a >> self.shift;
        let k = &mut self.slabs[slab as usize & (SLABS - 1)];
        if k.slab == slab {
            let index = ((a.wrapping_sub(k.first) * self.recip) >> RECIP_SHIFT) as usize;
            k.bits[index / 64 % WORDS] &= !(1u64 << (index % 64));
        }
    }

    /// Takes the slab of `addr` into its entry if no object of the entry's slab is out with
    /// the user, and hands `addr` out.
    #[cold]
    fn learn(&mut self, addr: usize) {
        if !self.is_on() {
            return;
        }
        let slab = addr as u64 >> self.shift;
        let entry = slab as usize & (SLABS - 1);
        if self.slabs[entry].bits.iter().any(|&w| w != 0) {
            return;
        }
        self.slabs[entry] = Known {
            slab,
            first: (slab << self.shift) + self.first,
            ..UNUSED
        };
        if let Lookup::Object { .. } = self.lookup(addr) {
            self.hand_out(addr);
        }
    }

    /// A free of object `index` of entry `entry`: true (and the object is no longer out) if the
    /// user held it; false for an object the stub did not hand out or that was freed since.
    #[inline(always)]
    pub fn take_back(&mut self, entry: usize, index: usize) -> bool {
        let k = &mut self.slabs[entry];
        let (w, bit) = (index / 64 % WORDS, 1u64 << (index % 64));
        let word = k.bits[w];
        k.bits[w] = word & !bit;
        word & bit != 0
    }

    /// [`take_back`](Self::take_back) by address, for objects that leave the user by another
    /// way than the magazine (a bulk free the server accepted); unknown addresses are ignored.
    pub fn forget(&mut self, addr: usize) {
        if let Lookup::Object { entry, index } = self.lookup(addr) {
            self.take_back(entry, index);
        }
    }

    /// Whether the table says the user holds `addr` (false for unknown addresses).
    pub fn holds(&self, addr: usize) -> bool {
        match self.lookup(addr) {
            Lookup::Object { entry, index } => {
                self.slabs[entry].bits[index / 64 % WORDS] & (1 << (index % 64)) != 0
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLAB: u64 = 4096;
    const BASE: usize = 0x40_0000_0000;

    fn table() -> SlabTable {
        // 96-byte objects 16 bytes into 4 KiB slabs: 42 of them.
        SlabTable::new(SLAB, 16, 96, 42)
    }

    #[test]
    fn object_starts_interior_addresses_and_other_slabs() {
        let mut t = table();
        let first = BASE + 16;
        assert_eq!(t.lookup(first), Lookup::Unknown, "nothing known yet");
        t.hand_out(first + 96);
        assert!(
            t.holds(first + 96),
            "learns the slab from a handed-out object"
        );
        assert_eq!(t.lookup(first), Lookup::Object { entry: 0, index: 0 });
        assert_eq!(
            t.lookup(first + 41 * 96),
            Lookup::Object {
                entry: 0,
                index: 41
            }
        );
        assert_eq!(t.lookup(first + 8), Lookup::NotObject { offset: 8 });
        assert_eq!(t.lookup(first + 96 + 95), Lookup::NotObject { offset: 95 });
        assert_eq!(
            t.lookup(BASE),
            Lookup::NotObject { offset: 0 },
            "before the first object"
        );
        assert_eq!(
            t.lookup(first + 42 * 96),
            Lookup::NotObject {
                offset: 16 + 42 * 96
            },
            "past the last object"
        );
        assert_eq!(
            t.lookup(BASE + SLAB as usize + 16),
            Lookup::Unknown,
            "the next slab"
        );
    }

    #[test]
    fn an_object_goes_out_once_and_comes_back_once() {
        let mut t = table();
        let obj = BASE + 16 + 5 * 96;
        t.hand_out(obj);
        assert!(t.holds(obj));
        let Lookup::Object { entry, index } = t.lookup(obj) else {
            panic!("known")
        };
        assert!(t.take_back(entry, index));
        assert!(!t.take_back(entry, index), "a second free is refused");
        assert!(!t.holds(obj));
        t.hand_out(obj);
        assert!(t.holds(obj), "out again after the free");
        t.forget(obj);
        assert!(!t.holds(obj));
        t.forget(0x1234);
        t.hand_out(obj);
        t.arrived(obj);
        assert!(!t.holds(obj), "back from the server: not the user's");
        t.arrived(0x1234);
    }

    #[test]
    fn an_entry_is_replaced_only_when_nothing_of_it_is_out() {
        let mut t = table();
        let a = BASE + 16;
        // The slab SLABS slabs further maps to the same entry.
        let b = a + SLABS * SLAB as usize;
        t.hand_out(a);
        t.hand_out(b);
        assert_eq!(t.lookup(b), Lookup::Unknown, "handed out, but not learned");
        assert!(t.holds(a));
        let Lookup::Object { entry, index } = t.lookup(a) else {
            panic!("known")
        };
        assert!(t.take_back(entry, index));
        t.hand_out(b);
        assert!(t.holds(b), "the entry is free to take now");
        assert_eq!(t.lookup(a), Lookup::Unknown, "the old slab is forgotten");
    }

    #[test]
    fn a_table_without_a_promise_is_off() {
        for t in [
            SlabTable::new(0, 0, 64, 64),
            SlabTable::new(3000, 0, 64, 40),
            SlabTable::new(4096, 0, 8, 512 + 1),
            SlabTable::new(4096, 64, 64, 64),
            SlabTable::new(4096, 0, 0, 64),
        ] {
            assert!(!t.is_on());
            assert_eq!(t.lookup(BASE), Lookup::Unknown);
        }
        let mut t = SlabTable::off();
        t.hand_out(BASE);
        assert!(!t.holds(BASE), "an off table tracks nothing");
    }

    #[test]
    fn every_slot_of_a_full_slab_is_tracked_apart() {
        let mut t = SlabTable::new(SLAB, 0, 8, 512);
        for i in 0..512 {
            t.hand_out(BASE + 8 * i);
        }
        for i in 0..512 {
            let Lookup::Object { entry, index } = t.lookup(BASE + 8 * i) else {
                panic!("known")
            };
            assert_eq!(index, i);
            assert!(t.take_back(entry, index));
        }
        assert!((0..512).all(|i| !t.holds(BASE + 8 * i)));
    }
}
