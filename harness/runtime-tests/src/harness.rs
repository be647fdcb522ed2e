//! Named tests with one line each and a closing count; the runner reads this output.

use crate::failure::Failure;
use sel4_root_task::debug_println;

/// Pass/fail counts.
#[derive(Debug, Default)]
pub struct Harness {
    passed: usize,
    failed: usize,
}

impl Harness {
    /// Records and prints the outcome of test `name`.
    pub fn record(&mut self, name: &str, outcome: Result<(), Failure>) {
        match outcome {
            Ok(()) => {
                self.passed += 1;
                debug_println!("test {name} ... ok");
            }
            Err(why) => {
                self.failed += 1;
                debug_println!("test {name} ... FAILED: {why}");
            }
        }
    }

    /// Prints a measurement that must be identical between two deterministic boots.
    pub fn measure(&self, name: &str, value: u64) {
        debug_println!("measure {name} {value}");
    }

    /// Prints the closing line and halts the kernel.
    pub fn finish(&self) -> ! {
        // Counted since the loader enabled the counter on this core: under QEMU `-icount
        // shift=0` it is the guest instructions (nanoseconds of guest time) of the boot so far.
        debug_println!(
            "guest instructions from boot to the closing line (core 0): {}",
            sel4::pmu::cycle_counter()
        );
        debug_println!("{} passed, {} failed", self.passed, self.failed);
        sel4::debug_halt()
    }
}
