//! Owns the Miri step of `cargo xtask test` (and `cargo xtask miri`): the tests of the host crates
//! that hold the allocator, the server, the wire format and the client stub run under Miri, the
//! Rust interpreter that stops at undefined behaviour (an out-of-bounds or dangling access, a data
//! race, an aliasing violation), under Miri's two aliasing models, Stacked Borrows and Tree
//! Borrows (`cargo xtask test` leaves the core to `cargo xtask miri`, see [`IN_TEST`]); each
//! crate's time is printed, and a crate that fails (or meets UB) fails the step. Nightly and its `miri` and `rust-src` components are installed with rustup
//! when missing (the fuzz step installs nightly too).
//!
//! Tests scale themselves down under `cfg(miri)` (smaller arenas, fewer rounds and proptest
//! cases: Miri runs a test some thousand times slower), and the few that cannot run there are
//! `#[cfg_attr(miri, ignore = "reason")]`. Miri runs isolated (no file system, a virtual clock),
//! with its default fixed seed, so a run is reproducible: `cargo +nightly miri test -p <crate>`,
//! with `MIRIFLAGS` as printed, repeats it.
use crate::error::{Error, Result};
use crate::fuzz;
use crate::paths::Paths;
use crate::step::{self, Counts, Logs};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// A crate under Miri: its package and the features its tests need.
type Crate = (&'static str, &'static [&'static str]);

/// The crates under Miri, with the features their tests need (the client's in-process transport
/// and its threaded tests are behind `std`). The end-to-end crate `memserver-tests` is not run:
/// its sweeps over whole servers would take most of an hour under Miri at their present sizes.
const CRATES: [Crate; 4] = [
    ("memserver-core", &[]),
    ("memserver-protocol", &[]),
    ("memserver", &[]),
    ("memserver-client", &["std"]),
];

/// The crates `cargo xtask test` runs under Miri. The core is not among them yet: its tests,
/// scaled down, still take longer under Miri than CI's budget for the step on a loaded two-CPU
/// machine, and their full run under both models is not yet measured; `cargo xtask miri
/// memserver-core` runs them.
const IN_TEST: [&str; 3] = ["memserver-protocol", "memserver", "memserver-client"];

/// The allocator hands out addresses as integers (they cross the IPC boundary as message words),
/// so integer-to-pointer casts are the design, not an accident: Miri checks each such access
/// against the allocation it lands in (its wildcard provenance), and this flag only silences the
/// warning it would print for each cast.
const COMMON_FLAGS: &str = "-Zmiri-permissive-provenance";

/// An aliasing model: its name and the flag that selects it.
type Model = (&'static str, &'static str);

/// The aliasing models.
const MODELS: [Model; 2] = [
    ("Stacked Borrows", ""),
    ("Tree Borrows", "-Zmiri-tree-borrows"),
];

fn nightly_cargo(args: &[&str]) -> Command {
    let mut cmd = fuzz::rustup(&["run", fuzz::TOOLCHAIN, "cargo"]);
    cmd.args(args);
    cmd
}

/// Installs the `miri` and `rust-src` components of nightly when either is missing.
fn ensure_miri(logs: &Logs) -> Result<()> {
    fuzz::ensure_nightly(logs)?;
    let sysroot = logs.run_stdout(
        "miri: nightly sysroot",
        &mut fuzz::rustup(&["run", fuzz::TOOLCHAIN, "rustc", "--print", "sysroot"]),
    )?;
    let has_src = Path::new(sysroot.trim())
        .join("lib/rustlib/src/rust/library")
        .is_dir();
    if has_src && step::probe(&mut nightly_cargo(&["miri", "--version"])) {
        return Ok(());
    }
    let name = format!(
        "install: rustup component add --toolchain {} miri rust-src",
        fuzz::TOOLCHAIN
    );
    logs.run(
        &name,
        &mut fuzz::rustup(&[
            "component",
            "add",
            "--toolchain",
            fuzz::TOOLCHAIN,
            "miri",
            "rust-src",
        ]),
    )
    .map_err(|e| Error::Install {
        step: name.clone(),
        detail: e.to_string(),
    })
}

/// `cargo miri test` of one crate, with cargo's variables from the outer `cargo xtask` removed
/// (they name the stable toolchain; cargo-miri must find nightly's cargo).
fn miri_test(paths: &Paths, package: &str, features: &[&str]) -> Command {
    let mut cmd = nightly_cargo(&["miri", "test", "--no-fail-fast", "-p", package]);
    for f in features {
        cmd.args(["--features", &format!("{package}/{f}")]);
    }
    cmd.current_dir(&paths.root)
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC");
    cmd
}

/// What one crate did under one model.
struct Outcome {
    package: &'static str,
    model: &'static str,
    counts: Counts,
    seconds: f64,
    result: Result<()>,
}

/// One crate under one model, its output in the logs: counts, time and verdict.
fn run_one(
    paths: &Paths,
    logs: &Logs,
    package: &'static str,
    features: &[&str],
    model: Model,
) -> Outcome {
    let flags = format!("{COMMON_FLAGS} {}", model.1).trim().to_owned();
    let mut cmd = miri_test(paths, package, features);
    cmd.env("MIRIFLAGS", &flags);
    let name = format!("miri: {package} under {} (MIRIFLAGS='{flags}')", model.0);
    let start = Instant::now();
    let result = logs.run(&name, &mut cmd);
    let seconds = start.elapsed().as_secs_f64();
    let mut counts = Counts::default();
    for line in step::tail_of(&logs.log_path(&name), usize::MAX) {
        counts.add_line(&line);
    }
    println!(
        "[xtask] miri {package} under {}: {}, {} tests passed, {} failed, {seconds:.0} s",
        model.0,
        if result.is_ok() { "passed" } else { "FAILED" },
        counts.passed,
        counts.failed
    );
    Outcome {
        package,
        model: model.0,
        counts,
        seconds,
        result,
    }
}

/// The Miri step of `cargo xtask test`: the crates of [`IN_TEST`] under both models side by
/// side.
pub fn run(paths: &Paths, logs: &Logs) -> (Counts, Result<()>) {
    let crates: Vec<Crate> = CRATES
        .into_iter()
        .filter(|(p, _)| IN_TEST.contains(p))
        .collect();
    let plan: Vec<(Model, Vec<Crate>)> = MODELS.into_iter().map(|m| (m, crates.clone())).collect();
    run_plan(paths, logs, &plan)
}

/// `cargo xtask miri [CRATE...]`: the named crates of [`CRATES`] (all if none) under both models.
pub fn command(paths: &Paths, logs: &Logs, names: &[String]) -> Result<()> {
    let mut chosen = Vec::new();
    for name in names {
        match CRATES.iter().find(|(p, _)| p == name) {
            Some(c) => chosen.push(*c),
            None => {
                let known: Vec<&str> = CRATES.iter().map(|(p, _)| *p).collect();
                return Err(Error::Usage(format!(
                    "miri: unknown crate {name} (one of {})",
                    known.join(", ")
                )));
            }
        }
    }
    if chosen.is_empty() {
        chosen = CRATES.to_vec();
    }
    let plan: Vec<(Model, Vec<Crate>)> = MODELS.into_iter().map(|m| (m, chosen.clone())).collect();
    run_plan(paths, logs, &plan).1
}

/// Runs a plan: every crate in it is built once (Miri's build is the same for both models), then
/// the models run side by side, one Miri process each (a Miri process uses one CPU), each going
/// through its crates in turn. Counts one passed test per test that passed under a model and
/// one failed part per crate and model that failed.
fn run_plan(paths: &Paths, logs: &Logs, plan: &[(Model, Vec<Crate>)]) -> (Counts, Result<()>) {
    let mut crates: Vec<Crate> = Vec::new();
    for c in plan.iter().flat_map(|(_, cs)| cs) {
        if !crates.contains(c) {
            crates.push(*c);
        }
    }
    let start = Instant::now();
    let mut total = Counts::default();
    let setup = ensure_miri(logs).and_then(|()| {
        let mut cmd = nightly_cargo(&["miri", "setup"]);
        cmd.env_remove("CARGO").env_remove("RUSTC");
        logs.run("miri: build the sysroot (cargo miri setup)", &mut cmd)?;
        for &(package, features) in &crates {
            let mut cmd = miri_test(paths, package, features);
            cmd.arg("--no-run");
            logs.run(&format!("miri: build {package}'s tests"), &mut cmd)?;
        }
        Ok(())
    });
    if let Err(e) = setup {
        return (total, Err(e));
    }
    let built = start.elapsed();
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let runs: Vec<_> = plan
            .iter()
            .map(|(model, crates)| {
                s.spawn(move || {
                    crates
                        .iter()
                        .map(|&(package, features)| run_one(paths, logs, package, features, *model))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        runs.into_iter()
            .flat_map(|r| r.join().expect("a miri run panicked"))
            .collect()
    });
    println!(
        "[xtask] miri: {:.0} s in all ({:.0} s to install, set up and build)",
        start.elapsed().as_secs_f64(),
        built.as_secs_f64()
    );
    let mut failed = Vec::new();
    for o in outcomes {
        println!(
            "[xtask] miri time: {:<20} {:<16} {:>5.0} s  {} passed, {} failed",
            o.package, o.model, o.seconds, o.counts.passed, o.counts.failed
        );
        total.passed += o.counts.passed;
        total.failed += o.counts.failed;
        if let Err(e) = o.result {
            eprintln!("xtask: error: {e}");
            // A failure outside a counted test (UB aborts the test binary) counts once.
            total.failed += u64::from(o.counts.failed == 0);
            failed.push(format!("miri {} ({})", o.package, o.model));
        }
    }
    let result = if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::PartsFailed(failed))
    };
    (total, result)
}
