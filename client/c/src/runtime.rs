//! The runtime of a C client task on seL4: `_start` (from `sel4-runtime`) calls [`start`] with
//! the start arguments `[core, a0, a1, a2]` the root task set; it connects to the server core
//! named there, installs the client for the C API and calls the program's `int main(void)`, whose
//! return value becomes the task's exit status ([`crate::memserver_exit`]).
//!
//! A C program is one thread: its system description lists one core. The root task starts one
//! thread per listed core, each entering here; the first one runs `main`, any other ends the whole
//! client at once with [`MEMSERVER_EXIT_SEVERAL_CORES`] (and says why), so the mistake cannot pass unseen.
use crate::connection::{install, Transport};
use crate::exit::memserver_exit;
use core::ffi::c_int;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use memserver_client::{Client, Config};
use memserver_client_sel4::{abi, Console};
use sel4::Word;
use spin::Mutex;

extern "C" {
    /// The C program's entry.
    fn main() -> c_int;
}

sel4_runtime::declare_child_task!(start);

/// Exit status of a C client whose description lists more than one core.
pub const MEMSERVER_EXIT_SEVERAL_CORES: c_int = 125;
/// Exit status of a C client that could not connect to the server.
pub const MEMSERVER_EXIT_NO_CONNECTION: c_int = 126;

/// The core of the thread that runs `main` (its server endpoint carries exit and console).
static CORE: AtomicUsize = AtomicUsize::new(0);
/// Set by the first thread to enter.
static CLAIMED: AtomicBool = AtomicBool::new(false);
/// The program's console: a line buffer, sent to the root task line by line.
static CONSOLE: Mutex<Option<Console>> = Mutex::new(None);

/// The core of the program's thread.
pub(crate) fn core() -> usize {
    CORE.load(Ordering::Relaxed)
}

/// Writes through the program's line-buffered console.
pub(crate) fn with_console(f: impl FnOnce(&mut Console)) {
    let mut console = CONSOLE.lock();
    f(console.get_or_insert_with(|| Console::new(core())));
}

/// Sends what the console holds (before the task ends).
pub(crate) fn flush_console() {
    if let Some(c) = CONSOLE.lock().as_mut() {
        c.flush();
    }
}

fn start(args: [Word; 4]) {
    let core = args.get(abi::arg::CORE).copied().unwrap_or(0) as usize;
    if CLAIMED.swap(true, Ordering::AcqRel) {
        let mut console = Console::new(core);
        let _ = writeln!(
            console,
            "memserver: a C client runs one thread: list one core for it in the system description"
        );
        drop(console);
        memserver_client_sel4::exit(core, MEMSERVER_EXIT_SEVERAL_CORES as Word)
    }
    CORE.store(core, Ordering::Relaxed);
    // SAFETY: the root task maps this client's magazine page for `core` and this thread is the
    // task's thread on `core` (the spawn contract of `abi`).
    let transport = unsafe { Transport::from_abi(core) };
    match Client::connect(transport, Config::default()) {
        Ok(client) => {
            // Nothing else runs yet that could hold the lock.
            let _ = install(client);
        }
        Err(f) => {
            with_console(|c| {
                let _ = writeln!(c, "memserver: connecting to server core {core}: {f}");
            });
            memserver_exit(MEMSERVER_EXIT_NO_CONNECTION)
        }
    }
    // SAFETY: `main` is the C program's `int main(void)`, called once, on the task's own stack.
    let status = unsafe { main() };
    memserver_exit(status)
}
