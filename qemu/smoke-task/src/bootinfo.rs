//! Owns reading the packed seL4 5.0.0 bootinfo frame (unaligned loads at fixed byte offsets):
//! the first free slot and the untyped capabilities.
const EMPTY_START: usize = 40;
const EMPTY_END: usize = 48;
const UNTYPED_START: usize = 153;
const UNTYPED_END: usize = 161;
const UNTYPED_LIST: usize = 169;
const UNTYPED_DESC_BYTES: usize = 12;

pub struct BootInfo(pub u64);

pub struct Untyped {
    pub cap: u64,
    pub paddr: u64,
    pub size_bits: u8,
    pub is_device: bool,
}

impl BootInfo {
    fn word(&self, at: usize) -> u64 {
        // SAFETY: the kernel maps the bootinfo frame at this address for the root task; every
        // offset used lies within its first page.
        unsafe { ((self.0 as usize + at) as *const u64).read_unaligned() }
    }

    fn byte(&self, at: usize) -> u8 {
        // SAFETY: as in `word`.
        unsafe { ((self.0 as usize + at) as *const u8).read() }
    }

    pub fn empty(&self) -> (u64, u64) {
        (self.word(EMPTY_START), self.word(EMPTY_END))
    }

    pub fn untyped(&self) -> impl Iterator<Item = Untyped> + '_ {
        let (start, end) = (self.word(UNTYPED_START), self.word(UNTYPED_END));
        (start..end).enumerate().map(move |(i, cap)| {
            let desc = UNTYPED_LIST + i * UNTYPED_DESC_BYTES;
            Untyped {
                cap,
                paddr: self.word(desc),
                size_bits: self.byte(desc + 10),
                is_device: self.byte(desc + 11) != 0,
            }
        })
    }
}
