//! Where each non-capability parameter sits in the message words: the kernel generator's rule
//! (`get_parameter_positions`): parameters are packed in order, each aligned to its own size or to
//! a word, whichever is smaller; capabilities travel as extra caps and take no bits.

use crate::interface::{Param, ParamType};

/// The position of one parameter in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Index of the parameter in the method's list.
    pub param: usize,
    /// First bit, counting from bit 0 of message word 0.
    pub first_bit: u32,
    /// Width in bits.
    pub bits: u32,
}

impl Slot {
    /// The message word holding the parameter's first bit.
    pub fn word(&self) -> u32 {
        self.first_bit / 64
    }

    /// The bit within that word.
    pub fn shift(&self) -> u32 {
        self.first_bit % 64
    }
}

/// Positions of the data (non-cap) parameters and the number of message words they fill.
pub fn positions(params: &[Param]) -> (Vec<Slot>, u32) {
    let mut used = 0u32;
    let mut slots = Vec::new();
    for (i, p) in params.iter().enumerate() {
        if p.ty == ParamType::Cap {
            continue;
        }
        let bits = p.ty.size_bits();
        let align = bits.min(64);
        used = used.div_ceil(align) * align;
        slots.push(Slot {
            param: i,
            first_bit: used,
            bits,
        });
        used += bits;
    }
    (slots, used.div_ceil(64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, ty: ParamType) -> Param {
        Param {
            name: name.into(),
            ty,
        }
    }

    #[test]
    fn small_parameters_share_a_word_and_words_align() {
        let params = [
            p("suspend_source", ParamType::Bool),
            p("arch_flags", ParamType::Uint(8)),
            p("src", ParamType::Cap),
            p("count", ParamType::Uint(64)),
            p("regs", ParamType::UserContext),
        ];
        let (slots, words) = positions(&params);
        let got: Vec<_> = slots
            .iter()
            .map(|s| (s.param, s.word(), s.shift(), s.bits))
            .collect();
        assert_eq!(
            got,
            [
                (0, 0, 0, 1),
                (1, 0, 8, 8),
                (3, 1, 0, 64),
                (4, 2, 0, 64 * 34)
            ]
        );
        assert_eq!(words, 36);
    }
}
