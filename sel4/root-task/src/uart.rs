//! Owns the root task's console on a release kernel, which has no `DebugPutChar`: the PL011 UART's
//! register page, retyped from the device untyped that starts at its address and mapped as device
//! memory at [`UART_VADDR`], is handed to the runtime's console. On a debug kernel nothing is done.
//! Called once by the main thread before any other thread of the root task runs. QEMU `virt`'s
//! PL011 only.

use crate::{AddressSpace, ObjectAllocator};
use sel4::{init_thread, Cap, CapRights, ObjectBlueprint, VmAttributes};

/// QEMU `virt`'s PL011.
const UART_PADDR: sel4::Word = 0x0900_0000;
/// Where the register page is mapped: a top-level (512 GiB) slot of its own, since
/// `AddressSpace::existing` creates every paging level below the root.
const UART_VADDR: usize = 0x380_0000_0000;

/// Why the UART could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UartError {
    /// No device untyped starts at the UART's address.
    NoDeviceUntyped,
    /// No free slot for the frame.
    NoSlot,
    /// Untyped_Retype of the frame failed.
    Retype,
    /// Mapping the frame failed.
    Map,
}

impl UartError {
    /// The step that failed.
    pub fn what(self) -> &'static str {
        match self {
            Self::NoDeviceUntyped => "no device untyped at the UART",
            Self::NoSlot => "no slot for the UART page",
            Self::Retype => "Untyped_Retype of the UART page",
            Self::Map => "mapping the UART page",
        }
    }
}

/// Maps the UART and routes the console to it, unless the kernel has a debug console.
pub fn init_uart_console(
    bootinfo: &sel4::BootInfo<'_>,
    alloc: &mut ObjectAllocator,
) -> Result<(), UartError> {
    if sel4::debug_cap_identify(init_thread::CNODE.bits()).is_some() {
        return Ok(());
    }
    let untyped = bootinfo
        .untyped_list()
        .find(|u| u.is_device && u.paddr == UART_PADDR)
        .ok_or(UartError::NoDeviceUntyped)?;
    let slot = alloc.slot().map_err(|_| UartError::NoSlot)?;
    Cap::<sel4::cap_type::Untyped>::from_bits(untyped.slot)
        .untyped_retype(
            &ObjectBlueprint::SmallPage,
            &init_thread::CNODE.relative_bits_with_depth(0, 0),
            slot as usize,
            1,
        )
        .map_err(|_| UartError::Retype)?;
    AddressSpace::existing(init_thread::VSPACE)
        .map_frame(
            alloc,
            Cap::from_bits(slot),
            UART_VADDR,
            CapRights::read_write(),
            VmAttributes::UNCACHED,
        )
        .map_err(|_| UartError::Map)?;
    // SAFETY: UART_VADDR now maps the PL011's register page as uncached device memory, and the
    // root task never unmaps it.
    unsafe { sel4_runtime::set_uart(UART_VADDR) };
    Ok(())
}
