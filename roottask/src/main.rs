//! The seL4 root task. Today: boots, spawns the harness's client tasks from the ELF images
//! embedded at build time (see build.rs for the contract) and runs the on-target harness; the
//! memory server will be served from here.

#![no_std]
#![no_main]

mod failure;
mod harness;
mod scenario;

use sel4::BootInfo;
use sel4_root_task::debug_println;

sel4_root_task::declare_root_task!(main);

/// The client images.
pub mod images {
    /// The echo / measurement client.
    pub static ECHO: &[u8] = include_bytes!(env!("MEMSERVER_CLIENT_ECHO_ELF"));
    /// The faulting client.
    pub static FAULTER: &[u8] = include_bytes!(env!("MEMSERVER_CLIENT_FAULTER_ELF"));
}

fn main(bootinfo: &BootInfo<'static>) -> ! {
    debug_println!(
        "memserver root task: {} untyped caps, {} empty slots, node {} of {}",
        bootinfo.untyped().len(),
        bootinfo.empty().len(),
        bootinfo.node_id(),
        bootinfo.num_nodes()
    );
    let mut harness = harness::Harness::default();
    scenario::run_all(bootinfo, &mut harness);
    harness.finish()
}
