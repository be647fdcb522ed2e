//! The memory server's on-target test driver: a client the harness's system description starts at
//! boot and grants the supervisor interface. Every test starts its scenario clients (listed in
//! the description to start on request), serves their reports until each has ended, checks what
//! they reported and what the server says (per-client and server statistics), and reaps them.
//! The demo runs first; the last test checks that the clients are gone and the accounting is back
//! at its starting value. Prints one line per test and the closing count, then exits.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![no_std]
#![no_main]

mod bench;
mod children;
mod failure;
mod harness;
mod scenarios;

use harness::Harness;
use sel4::Word;

sel4_runtime::declare_child_task!(main);

fn main(args: [Word; 4]) {
    let core = args[memserver_client_sel4::abi::arg::CORE] as usize;
    let mut h = Harness::new(core);
    // SAFETY: the harness's system description grants this client the supervisor interface.
    let mut kids = unsafe { children::Children::new() };
    scenarios::run_all(&mut kids, &mut h);
    h.finish();
    memserver_client_sel4::exit(core, h.failed as Word)
}
