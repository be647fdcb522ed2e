//! Owns the smoke task's output: seL4_DebugPutChar on a debug kernel; on a release kernel (no
//! debug syscalls) the PL011 UART itself, mapped into this address space as device memory from
//! the device untyped that covers it. Set up once, before any other thread runs.
use crate::bootinfo::BootInfo;
use crate::kernel;
use core::sync::atomic::{AtomicU64, Ordering};

const UART_PADDR: u64 = 0x0900_0000;
/// Where the UART page is mapped (inside the page table the kernel made for the root task).
const UART_VADDR: u64 = 0x5f_e000;
const PL011_DR: u64 = 0x00;
const PL011_FR: u64 = 0x18;
const PL011_FR_TXFF: u32 = 1 << 5;
const RIGHTS_READ_WRITE: u64 = 3;
/// Not cacheable (device memory), execute-never.
const ATTR_DEVICE: u64 = 4;

static UART: AtomicU64 = AtomicU64::new(0);

/// Maps the UART when the kernel has no debug console, using slot `slot`. Returns the step that
/// failed and the kernel's error code.
pub fn init(bi: &BootInfo, slot: u64) -> Result<(), (&'static str, u64)> {
    if kernel::SYS_DEBUG_PUT_CHAR.is_some() {
        return Ok(());
    }
    let untyped = bi
        .untyped()
        .find(|u| u.is_device && u.paddr == UART_PADDR)
        .ok_or(("no device untyped at the UART", 0))?;
    let err = kernel::invoke(
        untyped.cap,
        kernel::UNTYPED_RETYPE,
        &[kernel::SMALL_PAGE_OBJECT, 0, 0, 0, slot, 1],
        &[crate::CNODE],
    );
    if err != 0 {
        return Err(("Untyped_Retype (UART page)", err));
    }
    let err = kernel::invoke(
        slot,
        kernel::PAGE_MAP,
        &[UART_VADDR, RIGHTS_READ_WRITE, ATTR_DEVICE],
        &[crate::VSPACE],
    );
    if err != 0 {
        return Err(("ARM_Page_Map (UART page)", err));
    }
    UART.store(UART_VADDR, Ordering::Release);
    Ok(())
}

pub fn put_char(c: u8) {
    if kernel::debug_put_char(c) {
        return;
    }
    let base = UART.load(Ordering::Acquire);
    if base == 0 {
        return;
    }
    let fr = (base + PL011_FR) as *const u32;
    let dr = (base + PL011_DR) as *mut u32;
    // SAFETY: `init` mapped the PL011's page at `base` as device memory; FR and DR are its
    // 32-bit registers, and only this task's threads print (one at a time, see `main`).
    unsafe {
        while fr.read_volatile() & PL011_FR_TXFF != 0 {}
        dr.write_volatile(u32::from(c));
    }
}
