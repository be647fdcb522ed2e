//! A root task that tests the seL4 root-task runtime (`sel4-root-task`) the memory server is built
//! on: it boots, spawns echo and faulting client tasks from ELF images embedded at build time (see
//! build.rs), serves them itself, starts threads of its own on each core, reclaims client memory,
//! and prints one line per test and the closing count. The memory server's own tests run as
//! clients of the memory server (the harness's system description).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod failure;
mod harness;
mod scenario;

use sel4::BootInfo;
use sel4_root_task::debug_println;

sel4_root_task::declare_root_task!(main);

/// The client images, embedded 16-byte aligned (the ELF reader needs aligned headers).
pub mod images {
    #[repr(C, align(16))]
    struct Aligned<B: ?Sized>(B);

    macro_rules! image {
        ($(#[$m:meta])* $name:ident, $env:literal) => {
            $(#[$m])*
            pub static $name: &[u8] = {
                static A: &Aligned<[u8]> = &Aligned(*include_bytes!(env!($env)));
                &A.0
            };
        };
    }

    image!(
        /// The echo / measurement client.
        ECHO,
        "MEMSERVER_CLIENT_ECHO_ELF"
    );
    image!(
        /// The faulting client.
        FAULTER,
        "MEMSERVER_CLIENT_FAULTER_ELF"
    );
}

fn main(bootinfo: &BootInfo<'static>) -> ! {
    debug_println!(
        "runtime tests root task: {} untyped caps, {} empty slots, node {} of {}",
        bootinfo.untyped().len(),
        bootinfo.empty().len(),
        bootinfo.node_id(),
        bootinfo.num_nodes()
    );
    let mut harness = harness::Harness::default();
    if let Some(mut env) = scenario::boot(bootinfo, &mut harness) {
        if let Err(e) = sel4_root_task::init_uart_console(bootinfo, &mut env.alloc) {
            let what = e.what();
            harness.record(
                "release_console_on_the_uart",
                Err(failure::Failure::Prerequisite { what }),
            );
        }
        scenario::run_all(bootinfo, &mut env, &mut harness);
    }
    harness.finish()
}
