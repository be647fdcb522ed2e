//! Fault messages the kernel sends to a thread's fault endpoint: the label is the fault type, the
//! message registers its details (aarch64 order).

use crate::Word;

/// A decoded fault message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No fault.
    Null,
    /// A capability lookup failed.
    Cap {
        ip: Word,
        addr: Word,
        in_recv_phase: bool,
        lookup_failure_type: Word,
    },
    /// A syscall number the kernel does not know.
    UnknownSyscall {
        fault_ip: Word,
        sp: Word,
        syscall: Word,
    },
    /// An exception the kernel does not handle (undefined instruction, alignment, ...).
    UserException {
        fault_ip: Word,
        sp: Word,
        spsr: Word,
        number: Word,
        code: Word,
    },
    /// A memory access or instruction fetch at an unmapped or forbidden address.
    VmFault {
        ip: Word,
        addr: Word,
        prefetch: bool,
        fsr: Word,
    },
    /// A label no fault has.
    Unknown { label: Word },
}

impl Fault {
    /// Decodes the message with tag `label` whose register `i` is `mr(i)`.
    pub fn decode(label: Word, mr: impl Fn(usize) -> Word) -> Self {
        match label {
            0 => Self::Null,
            1 => Self::Cap {
                ip: mr(0),
                addr: mr(1),
                in_recv_phase: mr(2) != 0,
                lookup_failure_type: mr(3),
            },
            // X0..X7, FaultIP 8, SP 9, LR 10, SPSR 11, Syscall 12.
            2 => Self::UnknownSyscall {
                fault_ip: mr(8),
                sp: mr(9),
                syscall: mr(12),
            },
            3 => Self::UserException {
                fault_ip: mr(0),
                sp: mr(1),
                spsr: mr(2),
                number: mr(3),
                code: mr(4),
            },
            5 => Self::VmFault {
                ip: mr(0),
                addr: mr(1),
                prefetch: mr(2) != 0,
                fsr: mr(3),
            },
            label => Self::Unknown { label },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_vm_fault_and_unknown() {
        let regs = [0x400100, 0xdead0000, 0, 0x92000007];
        assert_eq!(
            Fault::decode(5, |i| regs[i]),
            Fault::VmFault {
                ip: 0x400100,
                addr: 0xdead0000,
                prefetch: false,
                fsr: 0x92000007
            }
        );
        assert_eq!(Fault::decode(9, |_| 0), Fault::Unknown { label: 9 });
    }
}
