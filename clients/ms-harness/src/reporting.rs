//! What a scenario client reports to the test driver: checks and figures over the send capability
//! to the driver's inbox (`abi::PARENT_SLOT`), and its end (the product's exit, with the number
//! of failed checks as status). A client started at boot (the demo) has no driver: its id is 0,
//! its reports are dropped, and only its exit status tells.

use crate::{arg, label};
use core::sync::atomic::{AtomicBool, Ordering};
use memserver_client_sel4::abi;
use sel4::cap_type::Endpoint;
use sel4::{Cap, MessageInfo, Word};

/// Whether this client was started by the driver (set by [`Checks::new`] before any report).
static HAS_PARENT: AtomicBool = AtomicBool::new(false);
/// The core of the thread that made [`Checks`] (its endpoint carries console output).
static CORE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Console output through the root task (whole lines stay whole), for the thread that made
/// [`Checks`].
pub fn console() -> memserver_client_sel4::Console {
    memserver_client_sel4::Console::new(CORE.load(Ordering::Relaxed))
}

/// Free-standing reports of this client (any thread).
pub mod report {
    use super::*;

    /// Reports figure `id` to the driver (dropped without one).
    pub fn figure(id: Word, value: Word) {
        Reporter::shared().figure(id, value);
    }

    /// Reports check `id` to the driver; whether it passed.
    pub fn check(id: Word, value: Word, expected: Word) -> bool {
        Reporter::shared().check(id, value, expected)
    }

    /// Asks the driver whether to go on (no driver: yes).
    pub fn poll() -> bool {
        let r = Reporter::shared();
        let Some(ep) = r.parent else {
            return true;
        };
        let mut mrs = [0; 4];
        let reply = ep.call_with_mrs(MessageInfo::new(label::POLL, 0, 0, 0), &mut mrs);
        reply.label() == 0 && mrs[0] == 1
    }

    /// A register-only round trip to the serve loop of `core` (the product's ping).
    pub fn ping(core: usize, words: [Word; 4]) -> bool {
        memserver_client_sel4::ping(core, words)
    }
}

/// The channel to the driver of this client's thread.
#[derive(Debug, Clone, Copy)]
pub struct Reporter {
    core: usize,
    parent: Option<Cap<Endpoint>>,
}

impl Reporter {
    /// From the thread's start arguments.
    pub fn new(args: [Word; 4]) -> Self {
        let parent = args[arg::ID] != 0;
        HAS_PARENT.store(parent, Ordering::Relaxed);
        CORE.store(args[arg::CORE] as usize, Ordering::Relaxed);
        Self {
            core: args[arg::CORE] as usize,
            parent: parent.then(|| Cap::from_bits(abi::PARENT_SLOT)),
        }
    }

    /// The reporter of any thread once one was made from start arguments (core unknown: 0).
    fn shared() -> Self {
        Self {
            core: 0,
            parent: HAS_PARENT
                .load(Ordering::Relaxed)
                .then(|| Cap::from_bits(abi::PARENT_SLOT)),
        }
    }

    /// The thread's core.
    pub fn core(&self) -> usize {
        self.core
    }

    fn send(&self, label: Word, mut mrs: [Word; 4], len: usize) {
        if let Some(ep) = self.parent {
            ep.call_with_mrs(MessageInfo::new(label, 0, 0, len), &mut mrs);
        }
    }

    /// Reports check `id`: passed when `value == expected`. Returns whether it passed.
    pub fn check(&self, id: Word, value: Word, expected: Word) -> bool {
        let ok = value == expected;
        self.send(label::CHECK, [id, ok as Word, value, expected], 4);
        ok
    }

    /// Reports figure `id`.
    pub fn figure(&self, id: Word, value: Word) {
        self.send(label::FIGURE, [id, value, 0, 0], 2);
    }
}

/// Counts a client's failed checks while reporting each one.
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    pub failed: Word,
    pub report: Reporter,
}

impl Checks {
    /// For the thread started with `args`.
    pub fn new(args: [Word; 4]) -> Self {
        Self {
            failed: 0,
            report: Reporter::new(args),
        }
    }

    /// Reports check `id` (`value` against `expected`); counts it if it failed.
    pub fn check(&mut self, id: Word, value: Word, expected: Word) -> bool {
        let ok = self.report.check(id, value, expected);
        if !ok {
            self.failed += 1;
        }
        ok
    }

    /// Reports check `id` of a condition.
    pub fn ok(&mut self, id: Word, cond: bool) -> bool {
        self.check(id, cond as Word, 1)
    }

    /// Reports figure `id`.
    pub fn figure(&self, id: Word, value: Word) {
        self.report.figure(id, value);
    }

    /// Ends the client with the failure count as its exit status; never returns.
    pub fn done(&self) -> ! {
        memserver_client_sel4::exit(self.report.core, self.failed)
    }
}
