//! Named tests with one line each and a closing count, printed through the root task's console
//! (the runner reads this output): `test <name> ... ok`, `test <name> ... FAILED: <why>`,
//! `measure <name> <value>` and the closing `<N> passed, <M> failed`.

use crate::failure::MsFailure;
use core::fmt::Write;
use memserver_client_sel4::Console;

/// Pass/fail counts and the console.
pub struct Harness {
    pub passed: usize,
    pub failed: usize,
    out: Console,
}

impl Harness {
    pub fn new(core: usize) -> Self {
        Self {
            passed: 0,
            failed: 0,
            out: Console::new(core),
        }
    }

    /// Records and prints the outcome of test `name`.
    pub fn record(&mut self, name: &str, outcome: Result<(), MsFailure>) {
        match outcome {
            Ok(()) => {
                self.passed += 1;
                let _ = writeln!(self.out, "test {name} ... ok");
            }
            Err(why) => {
                self.failed += 1;
                let _ = writeln!(self.out, "test {name} ... FAILED: {why}");
            }
        }
    }

    /// Prints a measurement that must be identical between two deterministic boots.
    pub fn measure(&mut self, name: &str, value: u64) {
        let _ = writeln!(self.out, "measure {name} {value}");
    }

    /// Prints a line of information.
    pub fn note(&mut self, args: core::fmt::Arguments<'_>) {
        let _ = self.out.write_fmt(args);
        let _ = self.out.write_str("\n");
    }

    /// Prints the closing line.
    pub fn finish(&mut self) {
        // Counted since the loader enabled the counter on this core: under QEMU `-icount
        // shift=0` it is the guest instructions (nanoseconds of guest time) of the boot so far.
        let _ = writeln!(
            self.out,
            "guest instructions from boot to the closing line (core 0): {}",
            sel4::pmu::cycle_counter()
        );
        let _ = writeln!(self.out, "{} passed, {} failed", self.passed, self.failed);
        self.out.flush();
    }
}
