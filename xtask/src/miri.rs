//! Owns the Miri step of `cargo xtask test` (and `cargo xtask miri`): the tests of the host crates
//! that hold the allocator core, the server, the wire format and the client stub run under Miri,
//! the Rust interpreter that stops at undefined behaviour (an out-of-bounds or dangling access, a
//! data race, an aliasing violation), under Miri's two aliasing models, Stacked Borrows and Tree
//! Borrows; each crate's time under each model is printed, and a crate that fails (or meets UB)
//! fails the step. Nightly and its `miri` and `rust-src` components are installed with rustup
//! when missing (the fuzz step installs nightly too).
//!
//! Tests scale themselves down under `cfg(miri)` (smaller arenas, fewer rounds and proptest
//! cases: Miri runs a test some thousand times slower), and the few that cannot run there are
//! `#[cfg_attr(miri, ignore = "reason")]`. Miri runs isolated (no file system, a virtual clock),
//! with its default fixed seed, so a run is reproducible: `cargo +nightly miri test -p <crate>`,
//! with `MIRIFLAGS` as printed, repeats it.
//!
//! A Miri process interprets on one CPU, so the runs (one per crate and model) share a queue,
//! costliest first, served by one worker per CPU: on two CPUs the core's two runs start at once
//! and the shorter crates fill in behind them.
//!
//! `cargo xtask test` runs every crate under both models, except the core, whose test binaries
//! it shares out between the two (see [`CORE_UNDER`]): the core's whole run under both models
//! (`cargo xtask miri memserver-core`) takes longer than CI's budget for the step.
use crate::error::{Error, Result};
use crate::fuzz;
use crate::paths::Paths;
use crate::step::{self, Counts, Logs};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// A crate under Miri: its package and the features its tests need.
type Crate = (&'static str, &'static [&'static str]);

/// The crates under Miri, costliest first (the order the runs are queued in), with the features
/// their tests need (the client's in-process transport and its threaded tests are behind `std`).
/// The end-to-end crate `memserver-tests` is not run: its sweeps over whole servers would take
/// most of an hour under Miri at their present sizes.
const CRATES: [Crate; 4] = [
    ("memserver-core", &[]),
    ("memserver", &[]),
    ("memserver-protocol", &[]),
    ("memserver-client", &["std"]),
];

/// The crates `cargo xtask test` runs under Miri: all of them.
const IN_TEST: [&str; 4] = [
    "memserver-core",
    "memserver",
    "memserver-protocol",
    "memserver-client",
];

/// The core's test binaries (cargo's target options) `cargo xtask test` runs under each model
/// (`cargo xtask miri` runs them all under both). Tree Borrows takes the binaries that drive the
/// code keeping raw pointers across calls (the per-core hot-handle table, resolved caches and
/// kmalloc sets with their keyed frees across cores and nodes, the state tables, in `slab_api`
/// and the unit tests) and the release hook's static roots; Stacked Borrows the real threads
/// (data races), the models, the rest of the Linux API, the debug checks and the quarantine.
/// Each half costs about the same under its model; both models cover every unsafe path.
const CORE_UNDER: [(&str, &[&str]); 2] = [
    (
        "Tree Borrows",
        &["--lib", "--test", "slab_api", "--test", "release_hook"],
    ),
    (
        "Stacked Borrows",
        &[
            "--test",
            "concurrency",
            "--test",
            "linux_api",
            "--test",
            "slab_model",
            "--test",
            "kmalloc_model",
            "--test",
            "report_and_continue",
            "--test",
            "slub_kunit",
            "--test",
            "kmalloc_redzone",
            "--test",
            "buddy_model",
        ],
    ),
];

/// The allocator hands out addresses as integers (they cross the IPC boundary as message words),
/// so integer-to-pointer casts are the design, not an accident: Miri checks each such access
/// against the allocation it lands in (its wildcard provenance), and this flag only silences the
/// warning it would print for each cast.
const COMMON_FLAGS: &str = "-Zmiri-permissive-provenance";

/// An aliasing model: its name and the flag that selects it.
type Model = (&'static str, &'static str);

/// The aliasing models, the slower first (Tree Borrows takes about a third longer here).
const MODELS: [Model; 2] = [
    ("Tree Borrows", "-Zmiri-tree-borrows"),
    ("Stacked Borrows", ""),
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

/// One Miri process: a crate's tests (all of them, or the test binaries `targets` names) under
/// one model.
#[derive(Clone, Copy)]
struct Run {
    krate: Crate,
    model: Model,
    targets: &'static [&'static str],
}

/// What one run did: the crate (and "part" when it ran some of its test binaries), the model.
struct Outcome {
    what: String,
    model: &'static str,
    counts: Counts,
    seconds: f64,
    result: Result<()>,
}

/// One run, its output in the logs: counts, time and verdict.
fn run_one(paths: &Paths, logs: &Logs, run: &Run) -> Outcome {
    let Run {
        krate: (package, features),
        model,
        targets,
    } = *run;
    let flags = format!("{COMMON_FLAGS} {}", model.1).trim().to_owned();
    let mut cmd = miri_test(paths, package, features);
    cmd.args(targets).env("MIRIFLAGS", &flags);
    let what = if targets.is_empty() {
        package.to_owned()
    } else {
        format!("{package} (part)")
    };
    let name = format!("miri: {what} under {} (MIRIFLAGS='{flags}')", model.0);
    let start = Instant::now();
    let result = logs.run(&name, &mut cmd);
    let seconds = start.elapsed().as_secs_f64();
    let mut counts = Counts::default();
    for line in step::tail_of(&logs.log_path(&name), usize::MAX) {
        counts.add_line(&line);
    }
    println!(
        "[xtask] miri {what} under {}: {}, {} tests passed, {} failed, {seconds:.0} s",
        model.0,
        if result.is_ok() { "passed" } else { "FAILED" },
        counts.passed,
        counts.failed
    );
    Outcome {
        what,
        model: model.0,
        counts,
        seconds,
        result,
    }
}

/// The Miri step of `cargo xtask test`: the crates of [`IN_TEST`] under both models, the core
/// shared out between them as [`CORE_UNDER`] says.
pub fn run(paths: &Paths, logs: &Logs) -> (Counts, Result<()>) {
    let crates: Vec<Crate> = CRATES
        .into_iter()
        .filter(|(p, _)| IN_TEST.contains(p))
        .collect();
    let runs = crates
        .iter()
        .flat_map(|&krate| {
            MODELS.into_iter().map(move |model| Run {
                krate,
                model,
                targets: CORE_UNDER
                    .iter()
                    .find(|&&(m, _)| krate.0 == "memserver-core" && m == model.0)
                    .map_or(&[][..], |&(_, t)| t),
            })
        })
        .collect::<Vec<_>>();
    run_plan(paths, logs, &crates, &runs)
}

/// `cargo xtask miri [CRATE...]`: the named crates of [`CRATES`] (all if none) under both models.
pub fn command(paths: &Paths, logs: &Logs, names: &[String]) -> Result<()> {
    for name in names {
        if !CRATES.iter().any(|(p, _)| p == name) {
            let known: Vec<&str> = CRATES.iter().map(|(p, _)| *p).collect();
            return Err(Error::Usage(format!(
                "miri: unknown crate {name} (one of {})",
                known.join(", ")
            )));
        }
    }
    let chosen: Vec<Crate> = CRATES
        .into_iter()
        .filter(|(p, _)| names.is_empty() || names.iter().any(|n| n == p))
        .collect();
    let runs: Vec<Run> = chosen
        .iter()
        .flat_map(|&krate| {
            MODELS.into_iter().map(move |model| Run {
                krate,
                model,
                targets: &[],
            })
        })
        .collect();
    run_plan(paths, logs, &chosen, &runs).1
}

/// Builds the tests of `crates` once (Miri's build is the same for both models), then does
/// `runs` (one Miri process each, in the order of [`CRATES`] and [`MODELS`]: costliest first)
/// through a queue with one worker per CPU. Counts one passed test per test that passed under a
/// model and one failed part per run that failed.
fn run_plan(paths: &Paths, logs: &Logs, crates: &[Crate], runs: &[Run]) -> (Counts, Result<()>) {
    let start = Instant::now();
    let mut total = Counts::default();
    let setup = ensure_miri(logs).and_then(|()| {
        let mut cmd = nightly_cargo(&["miri", "setup"]);
        cmd.env_remove("CARGO").env_remove("RUSTC");
        logs.run("miri: build the sysroot (cargo miri setup)", &mut cmd)?;
        for &(package, features) in crates {
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
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(runs.len());
    let next = AtomicUsize::new(0);
    let mut outcomes: Vec<(usize, Outcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(run) = runs.get(i) else {
                            return done;
                        };
                        done.push((i, run_one(paths, logs, run)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a miri worker panicked"))
            .collect()
    });
    outcomes.sort_by_key(|(i, _)| *i);
    println!(
        "[xtask] miri: {:.0} s in all ({:.0} s to install, set up and build; then {} runs on {} \
         workers)",
        start.elapsed().as_secs_f64(),
        built.as_secs_f64(),
        runs.len(),
        workers
    );
    let mut failed = Vec::new();
    for (_, o) in outcomes {
        println!(
            "[xtask] miri time: {:<26} {:<16} {:>5.0} s  {} passed, {} failed",
            o.what, o.model, o.seconds, o.counts.passed, o.counts.failed
        );
        total.passed += o.counts.passed;
        total.failed += o.counts.failed;
        if let Err(e) = o.result {
            eprintln!("xtask: error: {e}");
            // A failure outside a counted test (UB aborts the test binary) counts once.
            total.failed += u64::from(o.counts.failed == 0);
            failed.push(format!("miri {} ({})", o.what, o.model));
        }
    }
    let result = if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::PartsFailed(failed))
    };
    (total, result)
}

#[cfg(test)]
mod tests {
    use super::{CORE_UNDER, MODELS};

    /// Every test binary of the core (its unit tests and each file of `core/tests/`) is in
    /// exactly one model's share, so a new test file cannot drop out of `cargo xtask test`; each
    /// share names a model.
    #[test]
    fn the_core_shares_cover_each_test_binary_once() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests");
        let mut want: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
            .collect();
        want.push("--lib".into());
        want.sort();
        let mut got: Vec<String> = Vec::new();
        for (model, args) in CORE_UNDER {
            assert!(MODELS.iter().any(|m| m.0 == model), "{model} is no model");
            let mut it = args.iter();
            while let Some(&a) = it.next() {
                match a {
                    "--lib" => got.push(a.into()),
                    "--test" => got.push((*it.next().unwrap()).into()),
                    other => panic!("unexpected option {other}"),
                }
            }
        }
        got.sort();
        assert_eq!(got, want);
    }
}
