//! The aarch64 register set of `TCB_ReadRegisters` / `TCB_WriteRegisters`, in the kernel's order.

use crate::Word;

/// `seL4_UserContext` for aarch64 (34 words; frame registers first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct UserContext {
    pub pc: Word,
    pub sp: Word,
    pub spsr: Word,
    /// x0..x8 (frame registers).
    pub x0_to_x8: [Word; 9],
    pub x16: Word,
    pub x17: Word,
    pub x18: Word,
    pub x29: Word,
    pub x30: Word,
    /// x9..x15.
    pub x9_to_x15: [Word; 7],
    /// x19..x28.
    pub x19_to_x28: [Word; 10],
}

/// Words of a [`UserContext`].
pub const USER_CONTEXT_WORDS: usize = 34;

impl UserContext {
    /// The registers as the kernel's word sequence.
    pub fn to_words(&self) -> [Word; USER_CONTEXT_WORDS] {
        let mut w = [0; USER_CONTEXT_WORDS];
        w[0] = self.pc;
        w[1] = self.sp;
        w[2] = self.spsr;
        w[3..12].copy_from_slice(&self.x0_to_x8);
        w[12] = self.x16;
        w[13] = self.x17;
        w[14] = self.x18;
        w[15] = self.x29;
        w[16] = self.x30;
        w[17..24].copy_from_slice(&self.x9_to_x15);
        w[24..34].copy_from_slice(&self.x19_to_x28);
        w
    }

    /// The registers from the kernel's word sequence.
    pub fn from_words(w: [Word; USER_CONTEXT_WORDS]) -> Self {
        let mut c = Self {
            pc: w[0],
            sp: w[1],
            spsr: w[2],
            x16: w[12],
            x17: w[13],
            x18: w[14],
            x29: w[15],
            x30: w[16],
            ..Self::default()
        };
        c.x0_to_x8.copy_from_slice(&w[3..12]);
        c.x9_to_x15.copy_from_slice(&w[17..24]);
        c.x19_to_x28.copy_from_slice(&w[24..34]);
        c
    }

    /// Register `xN` for N in 0..=30; `None` otherwise.
    pub fn x(&self, n: usize) -> Option<Word> {
        Some(match n {
            0..=8 => self.x0_to_x8[n],
            9..=15 => self.x9_to_x15[n - 9],
            16 => self.x16,
            17 => self.x17,
            18 => self.x18,
            19..=28 => self.x19_to_x28[n - 19],
            29 => self.x29,
            30 => self.x30,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_order_is_the_kernels() {
        let words: [Word; USER_CONTEXT_WORDS] = core::array::from_fn(|i| i as Word);
        let c = UserContext::from_words(words);
        assert_eq!((c.pc, c.sp, c.spsr), (0, 1, 2));
        assert_eq!(c.x(0), Some(3));
        assert_eq!(c.x(8), Some(11));
        assert_eq!(c.x(16), Some(12));
        assert_eq!(c.x(30), Some(16));
        assert_eq!(c.x(9), Some(17));
        assert_eq!(c.x(28), Some(33));
        assert_eq!(c.x(31), None);
        assert_eq!(c.to_words(), words);
    }
}
