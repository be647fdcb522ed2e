//! Threads in the root task's own address space and CSpace (e.g. one server thread per core):
//! their stacks and IPC buffers are mapped into a window of the root task's VSpace, each region
//! after an unmapped guard page. Invariant: the window's top-level entry (512 GiB) is used by
//! nothing else (the root image sits in entry 0, [`crate::Scratch`] in entry 2 by default).

use crate::error::Step;
use crate::{AddressSpace, ObjectAllocator, SpawnError};
use sel4::cap_type::{Granule, Tcb};
use sel4::{
    init_thread, CNodeCapData, CPtr, Cap, CapRights, ObjectBlueprint, UserContext, VmAttributes,
    Word, PAGE_SIZE,
};

/// Default window: 2 TiB (top-level entry 4).
pub const DEFAULT_LOCAL_WINDOW_VADDR: usize = 0x200_0000_0000;

/// Single-page slots given back that a window keeps for reuse.
const REUSABLE_PAGES: usize = 1024;

/// A bump allocator of guarded, freshly mapped regions in the root task's VSpace. Single pages
/// mapped with [`LocalWindow::map_existing`] can be given back once their frame is gone
/// ([`LocalWindow::release`]) and their slot (and page table) serves the next one, so a root task
/// that maps a page per client does not grow its window with every client it ever started.
#[derive(Debug)]
pub struct LocalWindow {
    space: AddressSpace,
    next: usize,
    free: heapless::Vec<usize, REUSABLE_PAGES>,
}

impl LocalWindow {
    /// A window starting at `base` (page aligned, in a top-level entry nothing else uses).
    pub fn new(base: usize) -> Self {
        Self {
            space: AddressSpace::existing(init_thread::VSPACE),
            next: base,
            free: heapless::Vec::new(),
        }
    }

    /// Maps `pages` fresh zeroed frames (read-write, not executable) after a guard page; returns
    /// the start address and the first frame's capability (the frames' slots are consecutive
    /// allocations of `alloc`).
    pub fn map_fresh(
        &mut self,
        alloc: &mut ObjectAllocator,
        pages: usize,
    ) -> Result<(usize, Cap<Granule>), SpawnError> {
        let start = self.next + PAGE_SIZE;
        let mut first = None;
        for i in 0..pages {
            let frame: Cap<Granule> = alloc.allocate(ObjectBlueprint::SmallPage)?;
            self.space.map_frame(
                alloc,
                frame,
                start + i * PAGE_SIZE,
                CapRights::read_write(),
                VmAttributes::DATA,
            )?;
            first.get_or_insert(frame);
        }
        self.next = start + pages * PAGE_SIZE;
        first.map(|f| (start, f)).ok_or(SpawnError::TooManyMappings)
    }
}

impl LocalWindow {
    /// Maps the existing frame `frame` (read-write, not executable) after a guard page, in a
    /// released slot if there is one; returns its address. The frame's cap must not be mapped
    /// elsewhere (copy it first).
    pub fn map_existing(
        &mut self,
        alloc: &mut ObjectAllocator,
        frame: Cap<Granule>,
    ) -> Result<usize, SpawnError> {
        let reused = self.free.pop();
        let vaddr = reused.unwrap_or(self.next + PAGE_SIZE);
        let mapped = self.space.map_frame(
            alloc,
            frame,
            vaddr,
            CapRights::read_write(),
            VmAttributes::DATA,
        );
        if let Err(e) = mapped {
            if let Some(v) = reused {
                let _ = self.free.push(v);
            }
            return Err(e);
        }
        if reused.is_none() {
            self.next = vaddr + PAGE_SIZE;
        }
        Ok(vaddr)
    }

    /// Gives back the slot of a page mapped by [`LocalWindow::map_existing`] whose frame has
    /// since been deleted (which unmapped it). Beyond [`REUSABLE_PAGES`] slots kept, the slot is
    /// forgotten.
    pub fn release(&mut self, vaddr: usize) {
        let _ = self.free.push(vaddr);
    }
}

/// What to start.
#[derive(Debug, Clone, Copy)]
pub struct LocalThreadSpec {
    /// Code to run; receives `arg` in x0 and never returns.
    pub entry: extern "C" fn(Word) -> !,
    /// Its argument.
    pub arg: Word,
    /// Stack pages.
    pub stack_pages: usize,
    /// Priority and maximum controlled priority.
    pub priority: u8,
    /// Core to pin it to.
    pub affinity: usize,
    /// A badged endpoint (send and grant rights) in the root CSpace for its faults, or `None`
    /// (a fault then just stops the thread).
    pub fault_endpoint: Option<CPtr>,
    /// Size of the root CNode in bits (`BootInfo::init_thread_cnode_size_bits`).
    pub root_cnode_bits: usize,
    /// A notification to bind to the thread before it first runs (a signal then also ends its
    /// wait on an endpoint), or `None`.
    pub bound_notification: Option<Cap<sel4::cap_type::Notification>>,
}

/// A running thread of the root task.
#[derive(Debug, Clone, Copy)]
pub struct LocalThread {
    /// Its TCB.
    pub tcb: Cap<Tcb>,
    /// Top of its stack.
    pub stack_top: usize,
    /// Its IPC buffer.
    pub ipc_buffer: usize,
}

/// Creates and starts a thread sharing the root task's address space and CSpace.
pub fn spawn_local_thread(
    alloc: &mut ObjectAllocator,
    window: &mut LocalWindow,
    spec: &LocalThreadSpec,
) -> Result<LocalThread, SpawnError> {
    let cspace_data =
        CNodeCapData::skip_high_bits(spec.root_cnode_bits).ok_or(SpawnError::TooManyCaps)?;
    let tcb: Cap<Tcb> = alloc.allocate(ObjectBlueprint::Tcb)?;
    let (stack, _) = window.map_fresh(alloc, spec.stack_pages)?;
    let (ipc_buffer, ipc_frame) = window.map_fresh(alloc, 1)?;
    tcb.tcb_configure(
        spec.fault_endpoint.unwrap_or(CPtr::from_bits(0)),
        spec.priority,
        spec.priority,
        init_thread::CNODE,
        cspace_data,
        init_thread::VSPACE,
        ipc_buffer as Word,
        ipc_frame,
    )
    .step("TCB_Configure (local thread)")?;
    tcb.tcb_set_affinity(spec.affinity)
        .step("TCB_SetAffinity")?;
    if let Some(n) = spec.bound_notification {
        tcb.tcb_bind_notification(n)
            .step("TCB_BindNotification (local thread)")?;
    }
    let stack_top = stack + spec.stack_pages * PAGE_SIZE;
    let mut regs = UserContext {
        pc: spec.entry as usize as Word,
        sp: stack_top as Word,
        ..UserContext::default()
    };
    regs.x0_to_x8[0] = spec.arg;
    // pc, sp, spsr, x0: the first four registers in the kernel's order.
    tcb.tcb_write_registers(true, 4, &regs)
        .step("TCB_WriteRegisters (local thread)")?;
    Ok(LocalThread {
        tcb,
        stack_top,
        ipc_buffer,
    })
}
