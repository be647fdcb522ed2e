//! Speed and memory measurements of the memserver against peers measured in the same run
//! (issue 6): the workloads the criterion benches and the memory replay share, the peers'
//! allocation calls, the reader of criterion's results and the generator of `BENCHMARKS.md`.
//!
//! Nothing here asserts a speed: benches measure, `report` compares the figures of one run.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
pub mod boot_cost;
pub mod callgrind;
pub mod criterion_results;
pub mod curves;
pub mod fixture;
pub mod memory;
pub mod peers;
pub mod pin;
pub mod programs;
pub mod report;
pub mod slabinfo_text;
pub mod svg;
pub mod transport;
pub mod workload;
