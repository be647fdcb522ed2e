//! The runtime of a C client task on seL4: `_start` (from `sel4-runtime`) calls [`start`] with
//! the start arguments the root task set; it connects to the server core named there, installs
//! the client for the C API and calls the program's `int main(void)`. Its return value is the
//! task's exit status ([`memserver_exit`]).
use crate::connection::{install, Transport};
use crate::exit::memserver_exit;
use core::ffi::c_int;
use memserver_client::{Client, Config};
use memserver_client_sel4::abi;
use sel4::Word;

extern "C" {
    /// The C program's entry.
    fn main() -> c_int;
}

sel4_runtime::declare_child_task!(start);

fn start(args: [Word; 4]) {
    let core = args.get(abi::arg::CORE).copied().unwrap_or(0) as usize;
    // SAFETY: the root task maps this client's magazine page for `core` (the spawn contract).
    let transport = unsafe { Transport::from_abi(core) };
    match Client::connect(transport, Config::default()) {
        Ok(client) => {
            // Nothing runs yet that could hold the lock.
            let _ = install(client);
        }
        Err(f) => {
            sel4_runtime::debug_println!("memserver: connecting to server core {core}: {f}");
            memserver_exit(1)
        }
    }
    // SAFETY: `main` is the C program's `int main(void)`, called once, on the task's own stack.
    let status = unsafe { main() };
    memserver_exit(status)
}
