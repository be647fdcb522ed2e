//! Owns the loader's translation tables and the MMU set-up every core performs before entering
//! seL4: TTBR0 identity-maps the first 2 GiB (device memory below RAM, normal write-back RAM) so
//! the loader keeps running, TTBR1 maps the kernel window 0xffffff8000000000 to the start of RAM.
//! MAIR and TCR take the values the kernel relies on and never writes itself (4 KiB granule,
//! 48-bit VAs, 16-bit ASIDs, 40-bit PAs; MAIR index 4 = normal write-back, index 0 = device).
//! The tables are written once by the primary core with the MMU off, before any other core starts.
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::*;
use core::cell::UnsafeCell;

const ENTRIES: usize = 512;
const GIB: u64 = 1 << 30;

/// MAIR_EL1 attribute indexes: 0 device nGnRnE, 1 device nGnRE (0x04), 2 device GRE (0x0c),
/// 3 normal non-cacheable (0x44), 4 normal write-back read/write-allocate (0xff).
const MAIR_VALUE: u64 = 0x0000_00ff_440c_0400;
const ATTR_DEVICE: u64 = 0;
const ATTR_NORMAL: u64 = 4;

const DESC_BLOCK: u64 = 0b01;
const DESC_TABLE: u64 = 0b11;
const DESC_AF: u64 = 1 << 10;
const DESC_INNER_SHAREABLE: u64 = 0b11 << 8;
const DESC_PXN: u64 = 1 << 53;
const DESC_UXN: u64 = 1 << 54;

/// Start of the kernel window (seL4 5.0.0 aarch64 `kernelBase`).
pub const KERNEL_WINDOW: u64 = 0xffff_ff80_0000_0000;

#[repr(C, align(4096))]
struct Table([u64; ENTRIES]);

#[repr(C)]
struct Tables {
    low_l0: Table,
    low_l1: Table,
    high_l0: Table,
    high_l1: Table,
}

struct SharedTables(UnsafeCell<Tables>);

// SAFETY: the tables are written only by `build`, on the primary core, before any other core is
// started; afterwards they are only read (by the MMU and by `enable` taking their addresses).
unsafe impl Sync for SharedTables {}

static TABLES: SharedTables = SharedTables(UnsafeCell::new(Tables {
    low_l0: Table([0; ENTRIES]),
    low_l1: Table([0; ENTRIES]),
    high_l0: Table([0; ENTRIES]),
    high_l1: Table([0; ENTRIES]),
}));

const fn block(phys: u64, attr: u64) -> u64 {
    let common = phys | DESC_BLOCK | DESC_AF | (attr << 2);
    if attr == ATTR_DEVICE {
        common | DESC_PXN | DESC_UXN
    } else {
        common | DESC_INNER_SHAREABLE | DESC_UXN
    }
}

fn table(next: &Table) -> u64 {
    next as *const Table as u64 | DESC_TABLE
}

/// Fills the tables. Primary core only, MMU off, before `enable` on any core.
pub fn build(ram_start: u64) {
    // SAFETY: see `SharedTables`: no other core runs yet and no reference into TABLES is live.
    let t = unsafe { &mut *TABLES.0.get() };
    t.low_l1.0[0] = block(0, ATTR_DEVICE);
    t.low_l1.0[1] = block(GIB, ATTR_NORMAL);
    t.low_l0.0[0] = table(&t.low_l1);
    let l0_index = ((KERNEL_WINDOW >> 39) & 0x1ff) as usize;
    let l1_index = ((KERNEL_WINDOW >> 30) & 0x1ff) as usize;
    t.high_l1.0[l1_index] = block(ram_start, ATTR_NORMAL);
    t.high_l0.0[l0_index] = table(&t.high_l1);
    barrier::dsb(barrier::SY);
}

/// Programs MAIR/TCR/TTBRs from the tables `build` made and turns on the MMU and caches.
pub fn enable() {
    // SAFETY: only addresses are taken; the tables are not modified after `build`.
    let t = unsafe { &*TABLES.0.get() };
    MAIR_EL1.set(MAIR_VALUE);
    TCR_EL1.write(
        TCR_EL1::T0SZ.val(16)
            + TCR_EL1::T1SZ.val(16)
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::TG1::KiB_4
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::IRGN1::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::ORGN1::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::SH0::Inner
            + TCR_EL1::SH1::Inner
            + TCR_EL1::IPS::Bits_40
            + TCR_EL1::AS::ASID16Bits,
    );
    TTBR0_EL1.set_baddr(&t.low_l0 as *const Table as u64);
    TTBR1_EL1.set_baddr(&t.high_l0 as *const Table as u64);
    barrier::isb(barrier::SY);
    // SAFETY: invalidating this core's stale EL1 TLB entries before the MMU is turned on.
    unsafe { core::arch::asm!("tlbi vmalle1", "dsb nsh", options(nostack)) };
    barrier::isb(barrier::SY);
    SCTLR_EL1.modify(SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable);
    barrier::isb(barrier::SY);
}

/// Makes freshly written code in [start, end) visible to instruction fetch on every core.
pub fn sync_icache(start: u64, end: u64) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    let line = 4u64 << ((ctr >> 16) & 0xf);
    let mut addr = start & !(line - 1);
    while addr < end {
        // SAFETY: cleaning data cache lines to the point of unification changes no memory contents.
        unsafe { core::arch::asm!("dc cvau, {}", in(reg) addr, options(nostack)) };
        addr += line;
    }
    // SAFETY: invalidating instruction caches changes no memory contents.
    unsafe { core::arch::asm!("dsb ish", "ic ialluis", "dsb ish", "isb", options(nostack)) };
}
