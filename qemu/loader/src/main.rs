//! memserver-loader: QEMU `-kernel` starts it at EL1 with the MMU off. It places the embedded seL4
//! 5.0.0 kernel at the start of RAM and the root task right after it, turns the MMU on with the
//! mappings the kernel expects, grants EL0 counter access, starts the other cores the kernel was
//! configured for, and enters the kernel with its four boot arguments. Any failure is printed on
//! the UART and stops this core; nothing is entered half-loaded.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod console;
mod counters;
mod entry;
mod handoff;
mod images;
mod mmu;
mod phys;
mod smp;

use aarch64_cpu::registers::{CurrentEL, Readable};
use core::panic::PanicInfo;
use memserver_loader::layout;

fn stop() -> ! {
    loop {
        aarch64_cpu::asm::wfe();
    }
}

#[no_mangle]
extern "C" fn loader_main() -> ! {
    let el = CurrentEL.read(CurrentEL::EL);
    if el != 1 {
        say!("started at EL{el}, seL4 5.0.0 must be entered at EL1; stopping");
        stop();
    }
    mmu::build(phys::RAM_START);
    mmu::enable();

    let memory = phys::memory();
    let kernel_plan = match layout::plan_kernel(images::kernel(), &memory) {
        Ok(k) => k,
        Err(e) => {
            say!("kernel image rejected: {e:?}");
            stop();
        }
    };
    let kernel = kernel_plan.placed;
    let user_plan = match layout::plan_user(images::root_task(), kernel.phys_end, &memory) {
        Ok(u) => u,
        Err(e) => {
            say!("root task image rejected: {e:?}");
            stop();
        }
    };
    let user = user_plan.placed;
    phys::write(&kernel_plan);
    phys::write(&user_plan);
    mmu::sync_icache(kernel.phys_start, kernel.phys_end);
    mmu::sync_icache(user.phys_start, user.phys_end);
    counters::grant_el0_access();
    say!(
        "kernel {:#x}..{:#x} entry {:#x}; root task {:#x}..{:#x} entry {:#x}",
        kernel.phys_start,
        kernel.phys_end,
        kernel.entry,
        user.phys_start,
        user.phys_end,
        user.entry
    );

    for core in 1..images::kernel_nodes() {
        if let Err(e) = smp::start_core(core, kernel.entry) {
            say!(
                "PSCI CPU_ON for core {core} failed ({}); run QEMU with -smp {}",
                e.0,
                images::kernel_nodes()
            );
            stop();
        }
    }
    handoff::enter_kernel(
        kernel.entry,
        &handoff::BootArgs {
            user_phys_start: user.phys_start,
            user_phys_end: user.phys_end,
            pv_offset: user.pv_offset,
            user_entry: user.entry,
        },
    )
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    say!("panic: {info}");
    stop()
}
