//! The seL4 root task: the memory server. It boots, runs the boot-pipeline tests (echo and faulting
//! client tasks), turns RAM untyped memory into the buddy zones of the memory server, and serves
//! the memory-server client tasks of the on-target harness, all from ELF images embedded at build
//! time (see build.rs for the contract).

#![no_std]
#![no_main]

extern crate alloc;

mod client_window;
mod failure;
mod frames;
mod handout;
mod harness;
mod heap;
mod ms_bench;
mod ms_scenario;
mod numa;
mod scenario;
mod service;
mod uart;

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
    image!(
        /// Memory-server client: caches.
        MS_ALPHA,
        "MEMSERVER_CLIENT_MS_ALPHA_ELF"
    );
    image!(
        /// Memory-server client: kmalloc and GlobalAlloc.
        MS_BETA,
        "MEMSERVER_CLIENT_MS_BETA_ELF"
    );
    image!(
        /// Memory-server client: slabinfo and quota.
        MS_GAMMA,
        "MEMSERVER_CLIENT_MS_GAMMA_ELF"
    );
    image!(
        /// Memory-server client: the adversarial list, faults and exits.
        MS_ROGUE,
        "MEMSERVER_CLIENT_MS_ROGUE_ELF"
    );
    image!(
        /// Memory-server client: the on-target bench.
        MS_BENCH,
        "MEMSERVER_CLIENT_MS_BENCH_ELF"
    );
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
    if let Some(mut env) = scenario::boot(bootinfo, &mut harness) {
        if let Err(e) = uart::init(bootinfo, &mut env) {
            let what = e.what();
            harness.record(
                "release_console_on_the_uart",
                Err(failure::Failure::Prerequisite { what }),
            );
        }
        scenario::run_all(bootinfo, &mut env, &mut harness);
        match heap::init(&mut env.alloc) {
            Ok(()) => ms_scenario::run_all(&mut env, bootinfo.num_nodes() as usize, &mut harness),
            Err(e) => debug_println!("memserver: no heap: {e:?}"),
        }
    }
    harness.finish()
}
