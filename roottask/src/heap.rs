//! The root task's heap: server-private memory for the allocator core's metadata (free arrays,
//! page map, per-object state bytes, client records), never handed to clients. Backed by 2 MiB
//! frames retyped from RAM untyped memory and mapped at [`HEAP_VADDR`] (one capability per 2 MiB,
//! so a large heap costs few root CNode slots), behind a locked buddy heap. Sized once from
//! bootinfo by [`bytes_for`] (tables that grow with RAM, plus the clients' metadata share) and
//! set up before the first allocation; nothing allocates before [`init`].

use buddy_system_allocator::LockedHeap;
use core::sync::atomic::{AtomicBool, Ordering};
use sel4::cap_type::Granule;
use sel4::{init_thread, BootInfo, CapRights, ObjectBlueprint, VmAttributes, PAGE_SIZE};
use sel4_root_task::{AddressSpace, ObjectAllocator, SpawnError};

/// Where the heap starts: top-level entry 3 (the image uses 0, the server window 1, scratch 2).
/// Aligned far beyond any heap size, so the buddy heap's first block is as large as the heap
/// allows.
pub const HEAP_VADDR: usize = 0x180_0000_0000;
const LARGE: usize = 2 << 20;
/// Heap for what grows with the clients (their records, caches, slabs' state tables), before
/// the share that grows with RAM.
const METADATA_BASE: usize = 24 << 20;
/// RAM bytes per further byte of client metadata heap.
const RAM_PER_METADATA_BYTE: usize = 128;
/// The allocator core's tables per frame of the span it manages: page-map slot (16 bytes),
/// slab record index (4) and buddy state (1); each table is one allocation, which the buddy heap
/// rounds up to a power of two.
const TABLE_BYTES_PER_FRAME: [usize; 3] = [16, 4, 1];
/// How far a zone may start past its untyped's first frame in the server window (the zones'
/// alignment there), which the page map's span covers as well.
const ZONE_SLACK_BYTES: usize = 4 << 20;

static READY: AtomicBool = AtomicBool::new(false);

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();

/// Heap bytes not handed out now (before the buddy heap's rounding of what comes next).
pub fn free_bytes() -> usize {
    let heap = HEAP.lock();
    heap.stats_total_bytes() - heap.stats_alloc_actual()
}

/// The server's metadata budget out of `free` heap bytes: the heap is a buddy heap, which
/// rounds a request up to a power of two (up to twice its bytes), and the root task keeps an
/// eighth of the rest for its own tables; so the clients' metadata can never exhaust it.
pub fn metadata_budget(free: usize) -> u64 {
    (free / 2 - free / 16) as u64
}

/// Heap bytes for a machine with this bootinfo: the allocator core's per-frame tables for all
/// of RAM, plus the clients' metadata share, in whole 2 MiB frames.
pub fn bytes_for(bootinfo: &BootInfo) -> usize {
    let (ram, pieces) = bootinfo
        .untyped_list()
        .filter(|u| !u.is_device)
        .fold((0usize, 0usize), |(ram, n), u| {
            (ram + (1usize << u.size_bits), n + 1)
        });
    let span_frames = (ram + pieces * ZONE_SLACK_BYTES) / PAGE_SIZE;
    let tables: usize = TABLE_BYTES_PER_FRAME
        .iter()
        .map(|b| (b * span_frames).next_power_of_two())
        .sum();
    let bytes = tables + METADATA_BASE + ram / RAM_PER_METADATA_BYTE;
    bytes.div_ceil(LARGE) * LARGE
}

/// Maps `bytes` of heap (whole 2 MiB frames) and gives them to the allocator (the first call
/// only).
pub fn init(alloc: &mut ObjectAllocator, bytes: usize) -> Result<(), SpawnError> {
    if READY.load(Ordering::Acquire) {
        return Ok(());
    }
    let mut space = AddressSpace::existing(init_thread::VSPACE);
    let frames = bytes / LARGE;
    for i in 0..frames {
        let vaddr = HEAP_VADDR + i * LARGE;
        // Large frames map at the directory level: the upper directory and directory only.
        space.ensure_directories(alloc, vaddr)?;
        let frame = alloc.allocate::<sel4::cap_type::LargePage>(ObjectBlueprint::LargePage)?;
        frame
            .cast::<Granule>()
            .frame_map(
                init_thread::VSPACE,
                vaddr,
                CapRights::read_write(),
                VmAttributes::DATA,
            )
            .map_err(|error| SpawnError::Kernel {
                step: "Page_Map (heap)",
                error,
            })?;
    }
    if READY.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    // SAFETY: the range was just mapped read-write, is used by nothing but this heap, and
    // `READY` makes this run once, so the heap receives it exactly once.
    unsafe { HEAP.lock().init(HEAP_VADDR, frames * LARGE) };
    Ok(())
}
