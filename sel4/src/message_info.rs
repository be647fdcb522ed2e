//! The message tag: `label << 12 | caps_unwrapped << 9 | extra_caps << 7 | length`.

use crate::Word;

/// A message tag (`seL4_MessageInfo_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageInfo(Word);

impl MessageInfo {
    const LENGTH_BITS: u32 = 7;
    const EXTRA_CAPS_BITS: u32 = 2;
    const UNWRAPPED_BITS: u32 = 3;
    const LABEL_SHIFT: u32 = 12;

    /// A tag; fields are truncated to their widths (label 52 bits, caps unwrapped 3,
    /// extra caps 2, length 7), as the kernel's bitfield constructor does.
    pub const fn new(label: Word, caps_unwrapped: usize, extra_caps: usize, length: usize) -> Self {
        Self(
            (label << Self::LABEL_SHIFT)
                | ((caps_unwrapped as Word & mask(Self::UNWRAPPED_BITS)) << 9)
                | ((extra_caps as Word & mask(Self::EXTRA_CAPS_BITS)) << 7)
                | (length as Word & mask(Self::LENGTH_BITS)),
        )
    }

    /// The tag from its word.
    pub const fn from_word(word: Word) -> Self {
        Self(word)
    }

    /// The tag's word (x1 of the syscall).
    pub const fn into_word(self) -> Word {
        self.0
    }

    /// The label (an invocation label, a fault type or an application value).
    pub const fn label(self) -> Word {
        self.0 >> Self::LABEL_SHIFT
    }

    /// Capabilities unwrapped by the kernel (badges delivered instead).
    pub const fn caps_unwrapped(self) -> usize {
        ((self.0 >> 9) & mask(Self::UNWRAPPED_BITS)) as usize
    }

    /// Extra capabilities transferred.
    pub const fn extra_caps(self) -> usize {
        ((self.0 >> 7) & mask(Self::EXTRA_CAPS_BITS)) as usize
    }

    /// Message registers used.
    pub const fn length(self) -> usize {
        (self.0 & mask(Self::LENGTH_BITS)) as usize
    }
}

const fn mask(bits: u32) -> Word {
    (1 << bits) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_truncate() {
        let m = MessageInfo::new(0x1234, 1, 3, 120);
        assert_eq!(m.into_word(), 0x1234 << 12 | 1 << 9 | 3 << 7 | 120);
        assert_eq!(
            (m.label(), m.caps_unwrapped(), m.extra_caps(), m.length()),
            (0x1234, 1, 3, 120)
        );
        let t = MessageInfo::new(1, 9, 4, 130);
        assert_eq!((t.caps_unwrapped(), t.extra_caps(), t.length()), (1, 0, 2));
    }
}
