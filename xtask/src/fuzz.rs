//! Owns the fuzz smoke of `cargo xtask test`: the targets of `fuzz/` are built as plain libFuzzer
//! binaries by the nightly toolchain (installed with rustup, profile minimal, when missing) and
//! each runs for a few seconds on its corpus; a crash, a hang or a failed check fails the step.
//!
//! No cargo-fuzz: it would be one more tool to build on a fresh machine, and what it adds is the
//! compiler flags below (SanitizerCoverage as libFuzzer reads it), which cargo takes directly.
//! Corpora grow under `<target>/fuzz/corpus/<name>` between runs; `fuzz/seeds/<name>` and
//! `fuzz/dict/<name>.dict` are read when they exist. A crashing input is kept as
//! `<target>/fuzz/artifacts/<name>-crash-<sha1>`; the binaries in
//! `<target>/fuzz/<host>/release/` replay it (`<binary> <file>`) or fuzz on (`<binary> <corpus>`).
use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::step::{self, Counts, Logs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The toolchain that builds the targets (SanitizerCoverage flags are unstable).
pub(crate) const TOOLCHAIN: &str = "nightly";

/// cargo-fuzz's instrumentation without comparison tracing: the dispatch target draws its values
/// from a dictionary of live handles and addresses, and tracing every comparison of the
/// allocator's checks halved its speed. Debug assertions and overflow checks stay on, so an
/// internal `debug_assert!` is a crash too.
const RUSTFLAGS: &str = "-Cpasses=sancov-module \
     -Cllvm-args=-sanitizer-coverage-level=4 \
     -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
     -Cllvm-args=-sanitizer-coverage-pc-table \
     --cfg fuzzing -Cdebug-assertions -Coverflow-checks -Cforce-frame-pointers";

/// A target and its share of the smoke's minute.
struct Target {
    name: &'static str,
    seconds: u32,
}

const TARGETS: [Target; 4] = [
    Target {
        name: "dispatch",
        seconds: 30,
    },
    Target {
        name: "decode",
        seconds: 10,
    },
    Target {
        name: "system",
        seconds: 10,
    },
    Target {
        name: "system_blob",
        seconds: 10,
    },
];

pub(crate) fn rustup(args: &[&str]) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(args);
    cmd
}

pub(crate) fn ensure_nightly(logs: &Logs) -> Result<()> {
    if step::probe(&mut rustup(&["run", TOOLCHAIN, "rustc", "--version"])) {
        return Ok(());
    }
    let name = format!("install: rustup toolchain install {TOOLCHAIN} --profile minimal");
    logs.run(
        &name,
        &mut rustup(&["toolchain", "install", TOOLCHAIN, "--profile", "minimal"]),
    )
    .map_err(|e| Error::Install {
        step: name.clone(),
        detail: e.to_string(),
    })
}

fn host_triple(logs: &Logs) -> Result<String> {
    let out = logs.run_stdout(
        "fuzz: nightly host triple",
        &mut rustup(&["run", TOOLCHAIN, "rustc", "-vV"]),
    )?;
    out.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| Error::MissingArtifact {
            step: "fuzz: nightly host triple".into(),
            name: "host: line of rustc -vV".into(),
        })
}

/// Builds every target; returns the folder of the binaries.
fn build(paths: &Paths, logs: &Logs) -> Result<PathBuf> {
    let host = host_triple(logs)?;
    let dir = paths.target.join("fuzz");
    let mut cmd = rustup(&["run", TOOLCHAIN, "cargo", "build", "--release", "--bins"]);
    cmd.arg("--manifest-path")
        .arg(paths.root.join("fuzz").join("Cargo.toml"))
        .args(["--target", &host])
        .arg("--target-dir")
        .arg(&dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env("RUSTFLAGS", RUSTFLAGS);
    logs.run(
        "fuzz: build the targets (nightly, SanitizerCoverage)",
        &mut cmd,
    )?;
    Ok(dir.join(host).join("release"))
}

/// One line of libFuzzer's final statistics (`stat::name: value`).
fn stat(log: &str, name: &str) -> Option<u64> {
    log.lines()
        .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
        .and_then(|v| v.trim().parse().ok())
}

/// Edges covered, from libFuzzer's last status line (`... cov: N ft: ...`).
fn coverage(log: &str) -> Option<u64> {
    let line = log.lines().rev().find(|l| l.contains(" cov: "))?;
    let rest = &line[line.find(" cov: ")? + 6..];
    rest.split_whitespace().next()?.parse().ok()
}

fn run_target(paths: &Paths, bins: &Path, t: &Target) -> Result<()> {
    let fuzz = paths.target.join("fuzz");
    let corpus = fuzz.join("corpus").join(t.name);
    let artifacts = fuzz.join("artifacts");
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    let mut cmd = Command::new(bins.join(t.name));
    cmd.arg(format!("-max_total_time={}", t.seconds))
        .arg("-timeout=10")
        .arg("-print_final_stats=1")
        .arg(format!(
            "-artifact_prefix={}/{}-",
            artifacts.display(),
            t.name
        ));
    let dict = paths
        .root
        .join("fuzz")
        .join("dict")
        .join(format!("{}.dict", t.name));
    if dict.exists() {
        cmd.arg(format!("-dict={}", dict.display()));
    }
    cmd.arg(&corpus);
    let seeds = paths.root.join("fuzz").join("seeds").join(t.name);
    if seeds.exists() {
        cmd.arg(&seeds);
    }
    let name = format!("fuzz smoke: {} for {} s", t.name, t.seconds);
    step::announce(&name);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            step: name.clone(),
            program: t.name.into(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stderr);
    let log = paths.logs().join(format!("fuzz-{}.log", t.name));
    std::fs::write(&log, text.as_bytes()).map_err(|e| Error::io("cannot write", &log, e))?;
    if !out.status.success() {
        return Err(Error::StepFailed {
            step: name,
            status: out.status.to_string(),
            tail: step::tail_of(&log, 40),
            log: Some(log),
        });
    }
    let runs = stat(&text, "number_of_executed_units").unwrap_or(0);
    println!(
        "[xtask] fuzz {}: {runs} executions ({} per second), {} edges, no crash",
        t.name,
        stat(&text, "average_exec_per_sec").unwrap_or(0),
        coverage(&text).map_or("?".into(), |c| c.to_string()),
    );
    Ok(())
}

/// The fuzz smoke: one passed test per target that ran without a crash, one failed per target
/// that crashed.
pub fn smoke(paths: &Paths, logs: &Logs) -> (Counts, Result<()>) {
    let start = Instant::now();
    let mut counts = Counts::default();
    let bins = match ensure_nightly(logs).and_then(|()| build(paths, logs)) {
        Ok(bins) => bins,
        Err(e) => return (counts, Err(e)),
    };
    let built = start.elapsed();
    let mut failed = Vec::new();
    for t in &TARGETS {
        match run_target(paths, &bins, t) {
            Ok(()) => counts.passed += 1,
            Err(e) => {
                eprintln!("xtask: error: {e}");
                counts.failed += 1;
                failed.push(format!("fuzz {}", t.name));
            }
        }
    }
    println!(
        "[xtask] fuzz smoke: {:.0} s in all ({:.0} s to install and build)",
        start.elapsed().as_secs_f64(),
        built.as_secs_f64()
    );
    let result = if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::PartsFailed(failed))
    };
    (counts, result)
}

#[cfg(test)]
mod tests {
    use super::{coverage, stat};

    #[test]
    fn reads_libfuzzer_statistics() {
        let log = "#1000\tNEW    cov: 12 ft: 30 corp: 3/9b\n\
                   #52311\tDONE   cov: 2281 ft: 9181 corp: 1351/102Kb lim: 362 exec/s: 4542 rss: 34Mb\n\
                   stat::number_of_executed_units: 52311\n\
                   stat::average_exec_per_sec:     4542\n";
        assert_eq!(stat(log, "number_of_executed_units"), Some(52311));
        assert_eq!(stat(log, "average_exec_per_sec"), Some(4542));
        assert_eq!(stat(log, "peak_rss_mb"), None);
        assert_eq!(coverage(log), Some(2281));
        assert_eq!(coverage("no status line"), None);
    }
}
