//! The bootinfo frame of seL4 5.0.0: a packed C struct, read field by field with unaligned
//! little-endian loads from a byte slice (offsets: empty 40, userImageFrames 72, untyped 153,
//! untypedList 169 with 12-byte entries).

use crate::Word;
use core::ops::Range;

const EXTRA_LEN: usize = 0;
const NODE_ID: usize = 8;
const NUM_NODES: usize = 16;
const IPC_BUFFER: usize = 32;
const EMPTY: usize = 40;
const SHARED_FRAMES: usize = 56;
const USER_IMAGE_FRAMES: usize = 72;
const USER_IMAGE_PAGING: usize = 88;
const EXTRA_BI_PAGES: usize = 120;
const CNODE_SIZE_BITS: usize = 136;
const DOMAIN: usize = 137;
const UNTYPED: usize = 153;
const UNTYPED_LIST: usize = 169;
const UNTYPED_DESC_BYTES: usize = 12;

/// Entries of the untyped list (`CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS`).
pub const MAX_UNTYPED: usize = crate::config::MAX_NUM_BOOTINFO_UNTYPED_CAPS as usize;
/// Bytes of the whole struct.
pub const BOOT_INFO_BYTES: usize = UNTYPED_LIST + MAX_UNTYPED * UNTYPED_DESC_BYTES;

/// Why a byte range is not a usable bootinfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootInfoError {
    /// Fewer bytes than the struct needs.
    TooShort { len: usize, needed: usize },
    /// A slot region whose end lies before its start.
    InvertedRegion { start: Word, end: Word },
    /// More untyped caps than the list holds.
    TooManyUntyped { count: Word },
}

/// A range of slots in the root CNode `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRegion {
    pub start: Word,
    pub end: Word,
}

impl SlotRegion {
    /// Number of slots.
    pub const fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether the region is empty.
    pub const fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The slots.
    pub const fn range(&self) -> Range<Word> {
        self.start..self.end
    }
}

/// One untyped capability described by bootinfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UntypedDesc {
    /// Slot of the capability.
    pub slot: Word,
    /// Physical address.
    pub paddr: Word,
    /// Size: `2^size_bits` bytes.
    pub size_bits: u8,
    /// Device memory (not RAM).
    pub is_device: bool,
}

/// A validated view of the bootinfo bytes.
#[derive(Debug, Clone, Copy)]
pub struct BootInfo<'a> {
    bytes: &'a [u8],
}

impl<'a> BootInfo<'a> {
    /// Validates `bytes` (all region fields well-formed, untyped count within the list).
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, BootInfoError> {
        if bytes.len() < BOOT_INFO_BYTES {
            return Err(BootInfoError::TooShort {
                len: bytes.len(),
                needed: BOOT_INFO_BYTES,
            });
        }
        let bi = Self { bytes };
        for off in [
            EMPTY,
            SHARED_FRAMES,
            USER_IMAGE_FRAMES,
            USER_IMAGE_PAGING,
            EXTRA_BI_PAGES,
            UNTYPED,
        ] {
            let r = bi.region(off);
            if r.end < r.start {
                return Err(BootInfoError::InvertedRegion {
                    start: r.start,
                    end: r.end,
                });
            }
        }
        let count = bi.region(UNTYPED).len();
        if count > MAX_UNTYPED {
            return Err(BootInfoError::TooManyUntyped {
                count: count as Word,
            });
        }
        Ok(bi)
    }

    /// The bootinfo the kernel passed to the root task in x0.
    ///
    /// # Safety
    /// `addr` must be the address the kernel passed: a mapped, read-only-for-us frame that lives
    /// as long as the task.
    pub unsafe fn from_addr(addr: usize) -> Result<BootInfo<'static>, BootInfoError> {
        // SAFETY: the caller guarantees a mapped bootinfo frame of at least one page (4096 bytes,
        // more than BOOT_INFO_BYTES) that is never written while we hold it.
        let bytes = unsafe { core::slice::from_raw_parts(addr as *const u8, crate::PAGE_SIZE) };
        BootInfo::from_bytes(bytes)
    }

    fn word(&self, off: usize) -> Word {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.bytes[off..off + 8]);
        Word::from_le_bytes(b)
    }

    fn region(&self, off: usize) -> SlotRegion {
        SlotRegion {
            start: self.word(off),
            end: self.word(off + 8),
        }
    }

    /// Bytes of additional bootinfo after the first page.
    pub fn extra_len(&self) -> Word {
        self.word(EXTRA_LEN)
    }

    /// This node's id.
    pub fn node_id(&self) -> Word {
        self.word(NODE_ID)
    }

    /// Number of nodes (cores).
    pub fn num_nodes(&self) -> Word {
        self.word(NUM_NODES)
    }

    /// Address of the root task's IPC buffer.
    pub fn ipc_buffer_addr(&self) -> Word {
        self.word(IPC_BUFFER)
    }

    /// Empty slots of the root CNode.
    pub fn empty(&self) -> SlotRegion {
        self.region(EMPTY)
    }

    /// Frame caps of the root task's image.
    pub fn user_image_frames(&self) -> SlotRegion {
        self.region(USER_IMAGE_FRAMES)
    }

    /// Paging-structure caps of the root task's image.
    pub fn user_image_paging(&self) -> SlotRegion {
        self.region(USER_IMAGE_PAGING)
    }

    /// Size of the root CNode in bits.
    pub fn init_thread_cnode_size_bits(&self) -> u8 {
        self.bytes[CNODE_SIZE_BITS]
    }

    /// The root task's domain.
    pub fn init_thread_domain(&self) -> Word {
        self.word(DOMAIN)
    }

    /// Slots of the untyped caps.
    pub fn untyped(&self) -> SlotRegion {
        self.region(UNTYPED)
    }

    /// The untyped caps with their descriptions.
    pub fn untyped_list(&self) -> impl Iterator<Item = UntypedDesc> + 'a {
        let bytes = self.bytes;
        let region = self.region(UNTYPED);
        (0..region.len()).map(move |i| {
            let off = UNTYPED_LIST + i * UNTYPED_DESC_BYTES;
            let mut p = [0u8; 8];
            p.copy_from_slice(&bytes[off..off + 8]);
            UntypedDesc {
                slot: region.start + i as Word,
                paddr: Word::from_le_bytes(p),
                size_bits: bytes[off + 10],
                is_device: bytes[off + 11] != 0,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(b: &mut [u8], off: usize, v: Word) {
        b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn reads_packed_fields() {
        let mut b = [0u8; 4096];
        put(&mut b, NUM_NODES, 1);
        put(&mut b, EMPTY, 100);
        put(&mut b, EMPTY + 8, 4096);
        put(&mut b, UNTYPED, 60);
        put(&mut b, UNTYPED + 8, 62);
        b[CNODE_SIZE_BITS] = 12;
        put(&mut b, UNTYPED_LIST, 0x4000_0000);
        b[UNTYPED_LIST + 10] = 20;
        put(&mut b, UNTYPED_LIST + 12, 0x0900_0000);
        b[UNTYPED_LIST + 22] = 12;
        b[UNTYPED_LIST + 23] = 1;
        let bi = BootInfo::from_bytes(&b).unwrap();
        assert_eq!(bi.num_nodes(), 1);
        assert_eq!(bi.empty().len(), 3996);
        assert_eq!(bi.init_thread_cnode_size_bits(), 12);
        let list: Vec<_> = bi.untyped_list().collect();
        assert_eq!(
            list,
            [
                UntypedDesc {
                    slot: 60,
                    paddr: 0x4000_0000,
                    size_bits: 20,
                    is_device: false
                },
                UntypedDesc {
                    slot: 61,
                    paddr: 0x0900_0000,
                    size_bits: 12,
                    is_device: true
                },
            ]
        );
    }

    #[test]
    fn rejects_bad_input() {
        let mut b = [0u8; 4096];
        assert!(matches!(
            BootInfo::from_bytes(&b[..100]),
            Err(BootInfoError::TooShort { .. })
        ));
        put(&mut b, EMPTY, 10);
        assert_eq!(
            BootInfo::from_bytes(&b).unwrap_err(),
            BootInfoError::InvertedRegion { start: 10, end: 0 }
        );
        put(&mut b, EMPTY, 0);
        put(&mut b, UNTYPED + 8, MAX_UNTYPED as Word + 1);
        assert!(matches!(
            BootInfo::from_bytes(&b),
            Err(BootInfoError::TooManyUntyped { .. })
        ));
    }
}
