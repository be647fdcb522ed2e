//! The root task's heap: server-private memory for the allocator core's metadata (free arrays,
//! page map, per-object state bytes, client records), never handed to clients. Backed by 2 MiB
//! frames retyped from RAM untyped memory and mapped at [`HEAP_VADDR`] (one capability per 2 MiB,
//! so a large heap costs few root CNode slots), behind a locked buddy heap. Set up once, before
//! the first allocation; nothing allocates before [`init`].

use buddy_system_allocator::LockedHeap;
use core::sync::atomic::{AtomicBool, Ordering};
use sel4::cap_type::Granule;
use sel4::{init_thread, CapRights, ObjectBlueprint, VmAttributes};
use sel4_root_task::{AddressSpace, ObjectAllocator, SpawnError};

/// Bytes of the heap.
pub const HEAP_BYTES: usize = 16 << 20;
/// Where the heap lies (top-level entry 3: the image uses 0, the server window 1, scratch 2).
pub const HEAP_VADDR: usize = 0x180_0000_0000 + LARGE;
const LARGE: usize = 2 << 20;

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

/// Maps the heap's frames and gives them to the allocator (the first call only).
pub fn init(alloc: &mut ObjectAllocator) -> Result<(), SpawnError> {
    if READY.load(Ordering::Acquire) {
        return Ok(());
    }
    let mut space = AddressSpace::existing(init_thread::VSPACE);
    // The upper directory and directory of the region (the table made for the 2 MiB below the
    // heap stays unused: large frames map at the directory level).
    space.ensure_tables(alloc, HEAP_VADDR - LARGE)?;
    for i in 0..HEAP_BYTES / LARGE {
        let frame = alloc.allocate::<sel4::cap_type::LargePage>(ObjectBlueprint::LargePage)?;
        frame
            .cast::<Granule>()
            .frame_map(
                init_thread::VSPACE,
                HEAP_VADDR + i * LARGE,
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
    unsafe { HEAP.lock().init(HEAP_VADDR, HEAP_BYTES) };
    Ok(())
}
