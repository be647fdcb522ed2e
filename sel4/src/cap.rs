//! Typed capability pointers: a [`CPtr`] tagged with the kind of object it names, the root task's
//! initial capabilities, and absolute paths (`root CNode, index, depth`) for CNode operations.

use crate::{Word, WORD_BITS};
use core::marker::PhantomData;

/// An untyped capability pointer in the caller's CSpace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CPtr(Word);

impl CPtr {
    /// The pointer with these bits.
    pub const fn from_bits(bits: Word) -> Self {
        Self(bits)
    }

    /// The pointer's bits.
    pub const fn bits(self) -> Word {
        self.0
    }

    /// This pointer as a capability of type `T` (the caller asserts the type).
    pub const fn cast<T: CapType>(self) -> Cap<T> {
        Cap::from_cptr(self)
    }
}

/// The kind of object a [`Cap`] names.
pub trait CapType: Copy + core::fmt::Debug {
    /// Name for messages.
    const NAME: &'static str;
}

/// The capability types.
pub mod cap_type {
    macro_rules! cap_types {
        ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
            $(
                $(#[$doc])*
                #[derive(Debug, Clone, Copy, PartialEq, Eq)]
                pub struct $name;
                impl super::CapType for $name {
                    const NAME: &'static str = stringify!($name);
                }
            )*
        };
    }
    cap_types!(
        /// Untyped memory.
        Untyped,
        /// Thread control block.
        Tcb,
        /// IPC endpoint.
        Endpoint,
        /// Notification object.
        Notification,
        /// Capability table (CNode).
        CNode,
        /// 4 KiB frame.
        Granule,
        /// 2 MiB frame.
        LargePage,
        /// 1 GiB frame.
        HugePage,
        /// Page table (level 3).
        PT,
        /// Page directory (level 2).
        PD,
        /// Page upper directory (level 1).
        PUD,
        /// Page global directory: the VSpace root.
        VSpace,
        /// ASID control.
        AsidControl,
        /// ASID pool.
        AsidPool,
        /// IRQ control.
        IrqControl,
        /// Domain set.
        DomainSet,
        /// Type not known statically.
        Unspecified,
    );
}

/// A capability pointer to an object of type `T`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cap<T: CapType> {
    cptr: CPtr,
    _type: PhantomData<T>,
}

impl<T: CapType> Clone for Cap<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: CapType> Copy for Cap<T> {}

impl<T: CapType> Cap<T> {
    /// The capability at `cptr`.
    pub const fn from_cptr(cptr: CPtr) -> Self {
        Self {
            cptr,
            _type: PhantomData,
        }
    }

    /// The capability at slot `bits`.
    pub const fn from_bits(bits: Word) -> Self {
        Self::from_cptr(CPtr::from_bits(bits))
    }

    /// The pointer.
    pub const fn cptr(self) -> CPtr {
        self.cptr
    }

    /// The pointer's bits.
    pub const fn bits(self) -> Word {
        self.cptr.bits()
    }

    /// The same pointer with another type (the caller asserts the type).
    pub const fn cast<U: CapType>(self) -> Cap<U> {
        Cap::from_cptr(self.cptr)
    }

    /// The same pointer, type forgotten.
    pub const fn upcast(self) -> Cap<cap_type::Unspecified> {
        self.cast()
    }
}

impl Cap<cap_type::CNode> {
    /// The slot `cptr` resolved from this CNode with a full-word depth.
    pub const fn relative<T: CapType>(self, cap: Cap<T>) -> AbsoluteCPtr {
        self.relative_bits_with_depth(cap.bits(), WORD_BITS)
    }

    /// The slot at `path` resolved with `depth` bits from this CNode.
    pub const fn relative_bits_with_depth(self, path: Word, depth: usize) -> AbsoluteCPtr {
        AbsoluteCPtr {
            root: self,
            path,
            depth,
        }
    }
}

/// A slot named by a root CNode, a path and a depth (the form CNode operations take).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbsoluteCPtr {
    root: Cap<cap_type::CNode>,
    path: Word,
    depth: usize,
}

impl AbsoluteCPtr {
    /// The root CNode.
    pub const fn root(&self) -> Cap<cap_type::CNode> {
        self.root
    }

    /// The path.
    pub const fn path(&self) -> Word {
        self.path
    }

    /// The depth in bits.
    pub const fn depth(&self) -> usize {
        self.depth
    }
}

/// The root task's initial capabilities (`seL4_RootCNodeCapSlots`).
pub mod init_thread {
    use super::{cap_type, Cap};

    /// The root task's TCB.
    pub const TCB: Cap<cap_type::Tcb> = Cap::from_bits(1);
    /// The root task's CNode.
    pub const CNODE: Cap<cap_type::CNode> = Cap::from_bits(2);
    /// The root task's VSpace (page global directory).
    pub const VSPACE: Cap<cap_type::VSpace> = Cap::from_bits(3);
    /// IRQ control.
    pub const IRQ_CONTROL: Cap<cap_type::IrqControl> = Cap::from_bits(4);
    /// ASID control.
    pub const ASID_CONTROL: Cap<cap_type::AsidControl> = Cap::from_bits(5);
    /// The initial ASID pool.
    pub const ASID_POOL: Cap<cap_type::AsidPool> = Cap::from_bits(6);
    /// The bootinfo frame.
    pub const BOOT_INFO_FRAME: Cap<cap_type::Granule> = Cap::from_bits(9);
    /// The root task's IPC buffer frame.
    pub const IPC_BUFFER: Cap<cap_type::Granule> = Cap::from_bits(10);
    /// The domain set.
    pub const DOMAIN: Cap<cap_type::DomainSet> = Cap::from_bits(11);
}
