//! Small bitfield words passed to invocations: CNode guard data, capability rights, mapping
//! attributes (aarch64, seL4 5.0.0 encodings).

use crate::Word;

/// The data word of a CNode root: guard size in bits 2..7, guard value in bits 8..25.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CNodeCapData(Word);

impl CNodeCapData {
    /// Guard `guard` of `guard_size` bits; `None` if either does not fit its field.
    pub const fn new(guard: Word, guard_size: usize) -> Option<Self> {
        if guard_size >= 64 || guard >= (1 << 18) {
            return None;
        }
        Some(Self((guard << 8) | ((guard_size as Word) << 2)))
    }

    /// The guard that makes a root CNode of `radix_bits` resolve whole 64-bit cptrs.
    pub const fn skip_high_bits(radix_bits: usize) -> Option<Self> {
        if radix_bits == 0 || radix_bits >= 64 {
            return None;
        }
        Self::new(0, 64 - radix_bits)
    }

    /// The word.
    pub const fn into_word(self) -> Word {
        self.0
    }
}

/// Rights of a capability: write 1, read 2, grant 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapRights {
    pub write: bool,
    pub read: bool,
    pub grant: bool,
}

impl CapRights {
    /// All rights.
    pub const fn all() -> Self {
        Self {
            write: true,
            read: true,
            grant: true,
        }
    }

    /// Read and write.
    pub const fn read_write() -> Self {
        Self {
            write: true,
            read: true,
            grant: false,
        }
    }

    /// Read only.
    pub const fn read_only() -> Self {
        Self {
            write: false,
            read: true,
            grant: false,
        }
    }

    /// Write only (what a badged endpoint for sending needs).
    pub const fn write_only() -> Self {
        Self {
            write: true,
            read: false,
            grant: false,
        }
    }

    /// The word.
    pub const fn into_word(self) -> Word {
        self.write as Word | (self.read as Word) << 1 | (self.grant as Word) << 2
    }
}

/// Mapping attributes: cacheable 1, parity 2, execute-never 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmAttributes(Word);

impl VmAttributes {
    /// Cacheable normal memory (libsel4's default, with parity).
    pub const DEFAULT: Self = Self(1 | 2);
    /// Cacheable, never executable.
    pub const DATA: Self = Self(1 | 2 | 4);
    /// Uncached (device-like) memory.
    pub const UNCACHED: Self = Self(0);

    /// Whether instructions may be fetched from the mapping.
    pub const fn executable(self) -> bool {
        self.0 & 4 == 0
    }

    /// The word.
    pub const fn into_word(self) -> Word {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(
            CNodeCapData::skip_high_bits(4).unwrap().into_word(),
            60 << 2
        );
        assert_eq!(
            CNodeCapData::new(5, 3).unwrap().into_word(),
            5 << 8 | 3 << 2
        );
        assert_eq!(CNodeCapData::new(1 << 18, 3), None);
        assert_eq!(CNodeCapData::skip_high_bits(64), None);
        assert_eq!(CapRights::all().into_word(), 7);
        assert_eq!(CapRights::read_write().into_word(), 3);
        assert_eq!(CapRights::write_only().into_word(), 1);
        assert!(VmAttributes::DEFAULT.executable());
        assert!(!VmAttributes::DATA.executable());
    }
}
