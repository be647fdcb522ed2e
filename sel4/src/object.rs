//! What `Untyped_Retype` can make: object type plus size, and the size each takes.

use crate::{ObjectType, Word};

/// An object to create from untyped memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectBlueprint {
    /// Untyped memory of `2^size_bits` bytes.
    Untyped { size_bits: usize },
    /// A thread control block.
    Tcb,
    /// An endpoint.
    Endpoint,
    /// A notification.
    Notification,
    /// A CNode of `2^size_bits` slots.
    CNode { size_bits: usize },
    /// A 4 KiB frame.
    SmallPage,
    /// A 2 MiB frame.
    LargePage,
    /// A 1 GiB frame.
    HugePage,
    /// A page table.
    PT,
    /// A page directory.
    PD,
    /// A page upper directory.
    PUD,
    /// A page global directory (VSpace root).
    PGD,
}

/// Bytes of one CNode slot, as a power of two.
pub const SLOT_BITS: usize = 5;

impl ObjectBlueprint {
    /// The object type passed to the kernel.
    pub const fn ty(self) -> ObjectType {
        match self {
            Self::Untyped { .. } => ObjectType::Untyped,
            Self::Tcb => ObjectType::Tcb,
            Self::Endpoint => ObjectType::Endpoint,
            Self::Notification => ObjectType::Notification,
            Self::CNode { .. } => ObjectType::CapTable,
            Self::SmallPage => ObjectType::ArmSmallPage,
            Self::LargePage => ObjectType::ArmLargePage,
            Self::HugePage => ObjectType::ArmHugePage,
            Self::PT => ObjectType::ArmPageTable,
            Self::PD => ObjectType::ArmPageDirectory,
            Self::PUD => ObjectType::ArmPageUpperDirectory,
            Self::PGD => ObjectType::ArmPageGlobalDirectory,
        }
    }

    /// The `size_bits` argument of `Untyped_Retype` (only variable-size objects use it).
    pub const fn api_size_bits(self) -> Word {
        match self {
            Self::Untyped { size_bits } | Self::CNode { size_bits } => size_bits as Word,
            _ => 0,
        }
    }

    /// Bytes the object takes, as a power of two (5.0.0 aarch64: TCB 11, endpoint 4,
    /// notification 5, paging structures 12).
    pub const fn physical_size_bits(self) -> usize {
        match self {
            Self::Untyped { size_bits } => size_bits,
            Self::CNode { size_bits } => size_bits + SLOT_BITS,
            Self::Tcb => 11,
            Self::Endpoint => 4,
            Self::Notification => 5,
            Self::SmallPage | Self::PT | Self::PD | Self::PUD | Self::PGD => 12,
            Self::LargePage => 21,
            Self::HugePage => 30,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_sizes() {
        assert_eq!(ObjectBlueprint::Tcb.ty() as Word, 1);
        assert_eq!(ObjectBlueprint::SmallPage.ty() as Word, 8);
        assert_eq!(ObjectBlueprint::PGD.ty() as Word, 7);
        assert_eq!(ObjectBlueprint::CNode { size_bits: 4 }.api_size_bits(), 4);
        assert_eq!(
            ObjectBlueprint::CNode { size_bits: 4 }.physical_size_bits(),
            9
        );
        assert_eq!(ObjectBlueprint::Endpoint.api_size_bits(), 0);
    }
}
