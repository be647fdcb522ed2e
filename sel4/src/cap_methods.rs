//! Typed invocations: methods on `Cap<T>` over the generated raw invocations, named like
//! rust-sel4's (`untyped_retype`, `tcb_configure`, `frame_map`, ...).

use crate::cap_type::{AsidPool, CNode, Granule, Tcb, Untyped, VSpace, PD, PT, PUD};
use crate::invocations as raw;
use crate::{
    AbsoluteCPtr, CNodeCapData, CPtr, Cap, CapRights, ObjectBlueprint, Result, UserContext,
    VmAttributes, Word,
};

impl Cap<Untyped> {
    /// Creates `num_objects` objects of `blueprint` in consecutive slots from `dst_offset` of the
    /// CNode at `dst`.
    pub fn untyped_retype(
        self,
        blueprint: &ObjectBlueprint,
        dst: &AbsoluteCPtr,
        dst_offset: usize,
        num_objects: usize,
    ) -> Result<()> {
        raw::untyped_retype(
            self.bits(),
            blueprint.ty() as Word,
            blueprint.api_size_bits(),
            dst.root().bits(),
            dst.path(),
            dst.depth() as Word,
            dst_offset as Word,
            num_objects as Word,
        )
    }
}

impl Cap<Tcb> {
    /// `TCB_Configure` (5.0.0): fault endpoint (a cptr in the thread's own CSpace), priority and
    /// maximum controlled priority, CSpace root with its guard, VSpace root, IPC buffer.
    #[allow(clippy::too_many_arguments)]
    pub fn tcb_configure(
        self,
        fault_ep: CPtr,
        mcp: u8,
        priority: u8,
        cspace_root: Cap<CNode>,
        cspace_root_data: CNodeCapData,
        vspace_root: Cap<VSpace>,
        ipc_buffer: Word,
        ipc_buffer_frame: Cap<Granule>,
    ) -> Result<()> {
        raw::tcb_configure(
            self.bits(),
            fault_ep.bits(),
            (Word::from(mcp) << 8) | Word::from(priority),
            cspace_root.bits(),
            cspace_root_data.into_word(),
            vspace_root.bits(),
            0,
            ipc_buffer,
            ipc_buffer_frame.bits(),
        )
    }

    /// Sets the priority (at most the caller's maximum controlled priority).
    pub fn tcb_set_priority(self, priority: u8) -> Result<()> {
        raw::tcb_set_priority(self.bits(), priority)
    }

    /// Writes the first `count` registers of `regs`, optionally resuming the thread.
    pub fn tcb_write_registers(self, resume: bool, count: usize, regs: &UserContext) -> Result<()> {
        raw::tcb_write_registers(self.bits(), resume, 0, count as Word, regs)
    }

    /// Reads the registers, optionally suspending the thread first.
    pub fn tcb_read_registers(self, suspend: bool) -> Result<UserContext> {
        raw::tcb_read_registers(
            self.bits(),
            suspend,
            0,
            crate::user_context::USER_CONTEXT_WORDS as Word,
        )
    }

    /// Pins the thread to `core`. A single-core kernel has no such call: core 0 is then a no-op
    /// and any other core fails with `NotInThisConfiguration`.
    pub fn tcb_set_affinity(self, core: usize) -> Result<()> {
        #[cfg(sel4_smp)]
        return raw::tcb_set_affinity(self.bits(), core as Word);
        #[cfg(not(sel4_smp))]
        if core == 0 {
            Ok(())
        } else {
            Err(crate::Error::NotInThisConfiguration)
        }
    }

    /// Makes the thread runnable.
    pub fn tcb_resume(self) -> Result<()> {
        raw::tcb_resume(self.bits())
    }

    /// Stops the thread.
    pub fn tcb_suspend(self) -> Result<()> {
        raw::tcb_suspend(self.bits())
    }

    /// Binds `notification` to the thread: a signal also ends the thread's wait on an endpoint
    /// (the receive then returns the notification's badge bits).
    pub fn tcb_bind_notification(
        self,
        notification: Cap<crate::cap_type::Notification>,
    ) -> Result<()> {
        raw::tcb_bind_notification(self.bits(), notification.bits())
    }
}

impl AbsoluteCPtr {
    /// Copies `src` here with `rights` (masked by the source's).
    pub fn copy(&self, src: &AbsoluteCPtr, rights: CapRights) -> Result<()> {
        raw::cnode_copy(
            self.root().bits(),
            self.path(),
            self.depth() as u8,
            src.root().bits(),
            src.path(),
            src.depth() as u8,
            rights.into_word(),
        )
    }

    /// Copies `src` here with `rights` and `badge` (endpoint/notification) or guard (CNode).
    pub fn mint(&self, src: &AbsoluteCPtr, rights: CapRights, badge: Word) -> Result<()> {
        raw::cnode_mint(
            self.root().bits(),
            self.path(),
            self.depth() as u8,
            src.root().bits(),
            src.path(),
            src.depth() as u8,
            rights.into_word(),
            badge,
        )
    }

    /// Moves `src` here.
    pub fn move_(&self, src: &AbsoluteCPtr) -> Result<()> {
        raw::cnode_move(
            self.root().bits(),
            self.path(),
            self.depth() as u8,
            src.root().bits(),
            src.path(),
            src.depth() as u8,
        )
    }

    /// Deletes the capability in this slot.
    pub fn delete(&self) -> Result<()> {
        raw::cnode_delete(self.root().bits(), self.path(), self.depth() as u8)
    }

    /// Deletes every capability derived from the one in this slot.
    pub fn revoke(&self) -> Result<()> {
        raw::cnode_revoke(self.root().bits(), self.path(), self.depth() as u8)
    }
}

impl Cap<AsidPool> {
    /// Assigns an ASID to `vspace` (before anything is mapped into it).
    pub fn asid_pool_assign(self, vspace: Cap<VSpace>) -> Result<()> {
        raw::arm_asid_pool_assign(self.bits(), vspace.bits())
    }
}

impl Cap<PUD> {
    /// Maps this upper directory into `vspace` at `vaddr`.
    pub fn pud_map(self, vspace: Cap<VSpace>, vaddr: usize, attrs: VmAttributes) -> Result<()> {
        raw::arm_page_upper_directory_map(
            self.bits(),
            vspace.bits(),
            vaddr as Word,
            attrs.into_word(),
        )
    }
}

impl Cap<PD> {
    /// Maps this directory into `vspace` at `vaddr`.
    pub fn pd_map(self, vspace: Cap<VSpace>, vaddr: usize, attrs: VmAttributes) -> Result<()> {
        raw::arm_page_directory_map(self.bits(), vspace.bits(), vaddr as Word, attrs.into_word())
    }
}

impl Cap<PT> {
    /// Maps this page table into `vspace` at `vaddr`.
    pub fn pt_map(self, vspace: Cap<VSpace>, vaddr: usize, attrs: VmAttributes) -> Result<()> {
        raw::arm_page_table_map(self.bits(), vspace.bits(), vaddr as Word, attrs.into_word())
    }
}

impl Cap<Granule> {
    /// Maps this frame into `vspace` at `vaddr`.
    pub fn frame_map(
        self,
        vspace: Cap<VSpace>,
        vaddr: usize,
        rights: CapRights,
        attrs: VmAttributes,
    ) -> Result<()> {
        raw::arm_page_map(
            self.bits(),
            vspace.bits(),
            vaddr as Word,
            rights.into_word(),
            attrs.into_word(),
        )
    }

    /// Unmaps this frame.
    pub fn frame_unmap(self) -> Result<()> {
        raw::arm_page_unmap(self.bits())
    }

    /// The frame's physical address.
    pub fn frame_get_address(self) -> Result<Word> {
        raw::arm_page_get_address(self.bits())
    }

    /// Makes instruction fetches see data written to `[start, end)` (offsets in the frame).
    pub fn frame_unify_instruction(self, start: usize, end: usize) -> Result<()> {
        raw::arm_page_unify_instruction(self.bits(), start as Word, end as Word)
    }
}
