//! A task in its own CSpace and VSpace, created from an ELF image:
//! CNode (guarded so that 64-bit cptrs resolve), VSpace with an ASID, the image's segments, a
//! stack below [`STACK_TOP`] (with an unmapped guard page above it), an IPC buffer at
//! [`IPC_BUFFER_VADDR`], a badged fault endpoint and the granted capabilities in the slots of
//! [`child_slots`], then `TCB_Configure` and registers; [`Process::start`] resumes it.
//! All frames and paging structures stay recorded in the [`Process`] for teardown.

use crate::error::Step;
use crate::{load_elf, AddressSpace, ObjectAllocator, Scratch, SpawnError};
use sel4::cap_type::{AsidPool, CNode, Endpoint, Granule, Tcb};
use sel4::{
    init_thread, AbsoluteCPtr, CNodeCapData, CPtr, Cap, CapRights, ObjectBlueprint, UserContext,
    VmAttributes, Word, PAGE_SIZE,
};

/// Top of a child's stack (exclusive).
pub const STACK_TOP: usize = 0x1000_0000;
/// A child's IPC buffer (one page above the stack, a guard page between).
pub const IPC_BUFFER_VADDR: usize = STACK_TOP + PAGE_SIZE;
/// Address space between the stacks of consecutive threads of a process (thread `t`'s stack ends
/// at `STACK_TOP - t * THREAD_STACK_STRIDE`).
pub const THREAD_STACK_STRIDE: usize = 0x10_0000;
/// Distance between the IPC buffers of consecutive threads (a guard page between them).
pub const THREAD_IPC_STRIDE: usize = 2 * PAGE_SIZE;
/// Threads one process can have.
pub const MAX_THREADS: usize = 8;
/// Frames one process can record.
pub const MAX_FRAMES: usize = 512;

/// The fixed slots of a child's CSpace.
pub mod child_slots {
    /// The badged fault endpoint (`TCB_Configure` names it; the kernel sends faults there).
    pub const FAULT_EP: u64 = 1;
    /// The first of the capabilities granted through [`super::ProcessSpec::caps`], in order.
    pub const FIRST_GRANTED: u64 = 2;
}

/// A capability copied or minted into the child's CSpace.
#[derive(Debug, Clone, Copy)]
pub struct GrantedCap {
    /// The source slot in the root task's CSpace.
    pub src: AbsoluteCPtr,
    /// Rights of the copy.
    pub rights: CapRights,
    /// Badge to mint (endpoints and notifications), or `None` for a plain copy.
    pub badge: Option<Word>,
}

/// What to create.
#[derive(Debug, Clone, Copy)]
pub struct ProcessSpec<'a> {
    /// The executable.
    pub elf: &'a [u8],
    /// Priority and maximum controlled priority (equal to the server's for the IPC fastpath).
    pub priority: u8,
    /// CNode size: `2^cnode_size_bits` slots.
    pub cnode_size_bits: usize,
    /// Stack pages.
    pub stack_pages: usize,
    /// The endpoint faults go to, and the badge that identifies this child there.
    pub fault_endpoint: Cap<Endpoint>,
    pub fault_badge: Word,
    /// Capabilities for slots `FIRST_GRANTED..`.
    pub caps: &'a [GrantedCap],
    /// Core to pin the thread to (0 on a single-core kernel).
    pub affinity: usize,
}

/// A created task.
#[derive(Debug)]
pub struct Process {
    /// Its thread.
    pub tcb: Cap<Tcb>,
    /// Its CSpace root (in the root task's CSpace, unguarded: index with `cnode_size_bits`).
    pub cnode: Cap<CNode>,
    /// Its address space.
    pub vspace: AddressSpace,
    /// Entry address of its image.
    pub entry: Word,
    cnode_size_bits: usize,
    stack_pages: usize,
    priority: u8,
    frames: heapless::Vec<Cap<Granule>, MAX_FRAMES>,
}

/// Creates a task from `spec` (not yet running: see [`Process::start`]).
pub fn spawn(
    alloc: &mut ObjectAllocator,
    scratch: &mut Scratch,
    asid_pool: Cap<AsidPool>,
    spec: &ProcessSpec<'_>,
) -> Result<Process, SpawnError> {
    if child_slots::FIRST_GRANTED as usize + spec.caps.len() > (1 << spec.cnode_size_bits) {
        return Err(SpawnError::TooManyCaps);
    }
    let cspace_data =
        CNodeCapData::skip_high_bits(spec.cnode_size_bits).ok_or(SpawnError::TooManyCaps)?;
    let tcb: Cap<Tcb> = alloc.allocate(ObjectBlueprint::Tcb)?;
    let cnode: Cap<CNode> = alloc.allocate(ObjectBlueprint::CNode {
        size_bits: spec.cnode_size_bits,
    })?;
    let vspace = AddressSpace::create(alloc, asid_pool)?;
    let mut p = Process {
        tcb,
        cnode,
        vspace,
        entry: 0,
        cnode_size_bits: spec.cnode_size_bits,
        stack_pages: spec.stack_pages,
        priority: spec.priority,
        frames: heapless::Vec::new(),
    };
    let mut frames = heapless::Vec::<Cap<Granule>, MAX_FRAMES>::new();
    let image = load_elf(alloc, scratch, &mut p.vspace, spec.elf, |f| {
        frames.push(f).map_err(|_| SpawnError::TooManyMappings)
    })?;
    p.frames = frames;
    p.entry = image.entry;

    for i in 0..spec.stack_pages {
        let vaddr = STACK_TOP - (spec.stack_pages - i) * PAGE_SIZE;
        p.map_new_frame(alloc, vaddr, VmAttributes::DATA)?;
    }
    let ipc_frame = p.map_new_frame(alloc, IPC_BUFFER_VADDR, VmAttributes::DATA)?;

    let root = init_thread::CNODE;
    p.slot(child_slots::FAULT_EP)
        .mint(
            &root.relative(spec.fault_endpoint),
            CapRights {
                write: true,
                read: false,
                grant: true,
            },
            spec.fault_badge,
        )
        .step("CNode_Mint (fault endpoint)")?;
    for (i, cap) in spec.caps.iter().enumerate() {
        let dst = p.slot(child_slots::FIRST_GRANTED + i as Word);
        match cap.badge {
            Some(badge) => dst
                .mint(&cap.src, cap.rights, badge)
                .step("CNode_Mint (granted)")?,
            None => dst
                .copy(&cap.src, cap.rights)
                .step("CNode_Copy (granted)")?,
        }
    }

    tcb.tcb_configure(
        CPtr::from_bits(child_slots::FAULT_EP),
        spec.priority,
        spec.priority,
        cnode,
        cspace_data,
        p.vspace.root(),
        IPC_BUFFER_VADDR as Word,
        ipc_frame,
    )
    .step("TCB_Configure")?;
    tcb.tcb_set_affinity(spec.affinity)
        .step("TCB_SetAffinity")?;
    Ok(p)
}

impl Process {
    fn map_new_frame(
        &mut self,
        alloc: &mut ObjectAllocator,
        vaddr: usize,
        attrs: VmAttributes,
    ) -> Result<Cap<Granule>, SpawnError> {
        let frame: Cap<Granule> = alloc.allocate(ObjectBlueprint::SmallPage)?;
        self.vspace
            .map_frame(alloc, frame, vaddr, CapRights::read_write(), attrs)?;
        self.frames
            .push(frame)
            .map_err(|_| SpawnError::TooManyMappings)?;
        Ok(frame)
    }

    /// Maps a fresh zeroed frame into this process at `vaddr` (e.g. a heap or shared page) and
    /// returns its capability (mapped once; copy it with `CNode_Copy` to map it elsewhere too).
    pub fn map_fresh_page(
        &mut self,
        alloc: &mut ObjectAllocator,
        vaddr: usize,
        attrs: VmAttributes,
    ) -> Result<Cap<Granule>, SpawnError> {
        self.map_new_frame(alloc, vaddr, attrs)
    }

    /// Maps the existing frame `frame` into this process at `vaddr` (its cap must not be mapped
    /// elsewhere: copy it first with [`ObjectAllocator::copy`]).
    pub fn map_frame(
        &mut self,
        alloc: &mut ObjectAllocator,
        frame: Cap<Granule>,
        vaddr: usize,
        rights: CapRights,
        attrs: VmAttributes,
    ) -> Result<(), SpawnError> {
        self.vspace.map_frame(alloc, frame, vaddr, rights, attrs)
    }

    /// Slot `index` of this process's CSpace, addressed from the root task.
    pub fn slot(&self, index: Word) -> AbsoluteCPtr {
        self.cnode
            .relative_bits_with_depth(index, self.cnode_size_bits)
    }

    /// Sets pc, sp and x0..x3 and makes the thread runnable.
    pub fn start(&self, args: [Word; 4]) -> Result<(), SpawnError> {
        self.start_thread(self.tcb, 0, args)
    }

    /// Creates thread `thread` (1..[`MAX_THREADS`]) in this process: its own stack (below
    /// `STACK_TOP - thread * THREAD_STACK_STRIDE`) and IPC buffer, the same CSpace and VSpace,
    /// faults to the endpoint in this process's slot `fault_slot`, pinned to `affinity` before it
    /// ever runs. Not started: see [`Process::start_thread`].
    pub fn add_thread(
        &mut self,
        alloc: &mut ObjectAllocator,
        thread: usize,
        fault_slot: Word,
        affinity: usize,
    ) -> Result<Cap<Tcb>, SpawnError> {
        if thread == 0 || thread >= MAX_THREADS {
            return Err(SpawnError::TooManyMappings);
        }
        let cspace_data =
            CNodeCapData::skip_high_bits(self.cnode_size_bits).ok_or(SpawnError::TooManyCaps)?;
        let tcb: Cap<Tcb> = alloc.allocate(ObjectBlueprint::Tcb)?;
        let top = STACK_TOP - thread * THREAD_STACK_STRIDE;
        for i in 0..self.stack_pages {
            let vaddr = top - (self.stack_pages - i) * PAGE_SIZE;
            self.map_new_frame(alloc, vaddr, VmAttributes::DATA)?;
        }
        let ipc_vaddr = IPC_BUFFER_VADDR + thread * THREAD_IPC_STRIDE;
        let ipc_frame = self.map_new_frame(alloc, ipc_vaddr, VmAttributes::DATA)?;
        tcb.tcb_configure(
            CPtr::from_bits(fault_slot),
            self.priority,
            self.priority,
            self.cnode,
            cspace_data,
            self.vspace.root(),
            ipc_vaddr as Word,
            ipc_frame,
        )
        .step("TCB_Configure (thread)")?;
        tcb.tcb_set_affinity(affinity)
            .step("TCB_SetAffinity (thread)")?;
        Ok(tcb)
    }

    /// Starts thread `thread` (its TCB `tcb`) at the image's entry with x0..x3 = `args`.
    pub fn start_thread(
        &self,
        tcb: Cap<Tcb>,
        thread: usize,
        args: [Word; 4],
    ) -> Result<(), SpawnError> {
        let mut regs = UserContext {
            pc: self.entry,
            sp: (STACK_TOP - thread * THREAD_STACK_STRIDE) as Word,
            ..UserContext::default()
        };
        regs.x0_to_x8[..4].copy_from_slice(&args);
        // pc, sp, spsr, x0..x3: the first seven registers in the kernel's order.
        tcb.tcb_write_registers(true, 7, &regs)
            .step("TCB_WriteRegisters")
    }

    /// Stops the thread (e.g. after a fault or when it is done).
    pub fn suspend(&self) -> Result<(), SpawnError> {
        self.tcb.tcb_suspend().step("TCB_Suspend")
    }

    /// The frames mapped into this process (image, stack, IPC buffer, later pages).
    pub fn frames(&self) -> &[Cap<Granule>] {
        &self.frames
    }
}
