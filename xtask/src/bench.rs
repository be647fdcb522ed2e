//! Owns `cargo xtask bench [--quick]`: runs every benchmark of the workspace into one criterion
//! output directory (the core's benches — buddy, slab —, the server's transport bench, and the issue-6
//! targets of `memserver-bench`), replays the saved and, when readable, the live
//! `/proc/slabinfo` for the memory targets, counts messages per object through the in-process
//! transport and (with valgrind) instructions per fast-path operation, runs real programs under
//! glibc, memserver's preload library and the Debian peer allocators (installing the peers'
//! packages when missing), measures the cost curves (`curves`, under callgrind) and the boot cost
//! on target (`boot_cost`), then has `memserver-bench`'s `report` write
//! `BENCHMARKS.md` and the throughput plot from exactly those results.
use crate::error::{Error, Result};
use crate::paths::{self, Paths};
use crate::step;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates whose criterion benches the report includes, with their folders.
const BENCH_CRATES: [(&str, &str); 3] = [
    ("memserver-core", "core"),
    ("memserver", "memserver"),
    ("memserver-bench", "bench"),
];
const LIVE_SLABINFO: &str = "/proc/slabinfo";
const SAMPLE_SLABINFO: &str = "bench/data/slabinfo.sample";
const PLOT: &str = "bench/results/throughput.svg";
/// Where the plots go (the cost curves' files are named by `report`).
const RESULTS: &str = "bench/results";
const NOTES: &str = "bench/NOTES.md";
const PROGRAMS_PLOT: &str = "bench/results/programs.svg";
/// What the real-program runs need beyond CI's gcc and python3: the Debian package and the file
/// it installs (the peer allocators' libraries where `memserver_bench::programs::PEERS` looks,
/// and the `sqlite3` shell that is one of the programs).
const PROGRAM_PACKAGES: [(&str, &str); 4] = [
    ("sqlite3", "/usr/bin/sqlite3"),
    (
        "libmimalloc2.0",
        "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2",
    ),
    ("libjemalloc2", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"),
    (
        "libtcmalloc-minimal4",
        "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    ),
];
const NICE: &str = "-20";

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// This process's niceness (field 19 of `/proc/self/stat`, counted after the command name,
/// which may hold spaces and ends at the last `)`).
fn own_niceness() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_niceness(&stat)
}

fn parse_niceness(stat: &str) -> Option<i64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(16)?.parse().ok()
}

/// Whether this process may lower niceness (`nice` itself runs the command even when it may not).
fn can_raise_priority() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("CapEff:"))
            .and_then(|l| u64::from_str_radix(l["CapEff:".len()..].trim(), 16).ok())
            .is_some_and(|caps| caps & (1 << 23) != 0)
    })
}

pub const USAGE: &str =
    "  bench   run every benchmark (criterion, peers in the same run), the slabinfo replay, the
          cost curves (valgrind), the real programs, boot cost and the bench on target, then
          write BENCHMARKS.md and the plots in bench/results/
          --quick: shorter warm-up and measurement (noisier figures)";

/// The `[[bench]]` names declared in a crate's manifest, in order.
fn declared_benches(manifest: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(manifest).map_err(|e| Error::io("cannot read", manifest, e))?;
    let mut names = Vec::new();
    let mut in_bench = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bench = line == "[[bench]]";
        } else if in_bench {
            if let Some(v) = line.strip_prefix("name").map(str::trim) {
                if let Some(v) = v.strip_prefix('=') {
                    names.push(v.trim().trim_matches('"').to_owned());
                }
            }
        }
    }
    Ok(names)
}

fn criterion_args(quick: bool) -> Vec<&'static str> {
    if quick {
        vec![
            "--warm-up-time",
            "1",
            "--measurement-time",
            "2",
            "--sample-size",
            "20",
            "--noplot",
        ]
    } else {
        vec!["--warm-up-time", "3", "--measurement-time", "5", "--noplot"]
    }
}

fn cargo_in(paths: &Paths) -> Command {
    let mut c = Command::new(paths::cargo());
    c.current_dir(&paths.root);
    c
}

fn replay(paths: &Paths, input: &Path, label: &str, out: &Path) -> Result<()> {
    step::run_visible(
        &format!("memory replay of {} ({label})", input.display()),
        cargo_in(paths)
            .args(["run", "--quiet", "--release", "-p", "memserver-bench"])
            .args(["--bin", "slabinfo_replay", "--", "--input"])
            .arg(input)
            .args(["--label", label, "--out"])
            .arg(out),
    )
}

/// Installs the Debian packages of the peer allocators and programs that are missing (`apt-get install
/// --no-install-recommends`, through sudo when not root), saying so; a peer that cannot be
/// installed is left out of the figures.
fn install_peers() {
    let missing: Vec<&str> = PROGRAM_PACKAGES
        .iter()
        .filter(|(_, lib)| !Path::new(lib).is_file())
        .map(|(pkg, _)| *pkg)
        .collect();
    if missing.is_empty() {
        return;
    }
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    });
    let apt = |args: &[&str]| {
        let mut c = Command::new(if root { "apt-get" } else { "sudo" });
        if !root {
            c.arg("apt-get");
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    step::announce(&format!(
        "installing the peer allocators and programs for the real-program runs: apt-get install -y \
         --no-install-recommends {}",
        missing.join(" ")
    ));
    let _ = step::run_visible("apt-get update", &mut apt(&["update"]));
    let mut install = apt(&["install", "-y", "--no-install-recommends"]);
    install.args(&missing);
    if let Err(e) = step::run_visible("install the real programs' packages", &mut install) {
        step::announce(&format!(
            "could not install {} ({e}): the real-program runs leave them out",
            missing.join(" ")
        ));
    }
}

/// Builds the preload library and runs the real programs under every allocator.
fn programs(paths: &Paths, quick: bool, out: &Path) -> Result<()> {
    install_peers();
    step::run_visible(
        "release build of the preload library and the programs runner",
        cargo_in(paths).args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "memserver-preload",
            "-p",
            "memserver-bench",
            // `--bin` alone selects binaries in every package named, which would leave the
            // preload library (a cdylib, no binary) unbuilt on a fresh machine.
            "--lib",
            "--bin",
            "programs",
        ]),
    )?;
    let mut cmd = Command::new(paths.target.join("release").join("programs"));
    cmd.current_dir(&paths.root)
        .arg("--preload")
        .arg(paths.target.join("release").join("libmemserver_preload.so"))
        .arg("--out")
        .arg(out);
    if quick {
        cmd.args(["--quick", "--repeats", "1"]);
    }
    step::run_visible(
        "real programs under glibc, memserver and the peers",
        &mut cmd,
    )
}

pub fn bench(paths: &Paths, args: &[String]) -> Result<()> {
    let mut quick = false;
    for a in args {
        match a.as_str() {
            "--quick" => quick = true,
            other => {
                return Err(Error::Usage(format!(
                    "bench: unknown option `{other}`\n{USAGE}"
                )))
            }
        }
    }
    let out = paths.target.join("bench-report");
    let crit = out.join("criterion");
    if crit.exists() {
        std::fs::remove_dir_all(&crit).map_err(|e| Error::io("cannot clear", &crit, e))?;
    }
    std::fs::create_dir_all(&crit).map_err(|e| Error::io("cannot create", &crit, e))?;
    // Raise the benches' scheduling weight when allowed, so that the shared machine's other
    // processes take less of their CPUs during a measurement.
    let load_start = load_average();
    // Raised only when this command itself runs at normal priority: started under `nice` (as on
    // a shared machine), the benches keep the niceness they were given.
    let nice = step::probe(Command::new("nice").args(["-n", NICE, "true"]))
        .then(|| format!("under `nice -n {NICE}`"))
        .filter(|_| can_raise_priority() && own_niceness() == Some(0));
    // What the benches ran at when they could not be raised: the niceness this command was
    // started with, which they inherit.
    let inherited = match own_niceness() {
        Some(0) | None => "at normal priority".to_string(),
        Some(n) => format!("at niceness {n} (inherited from the command's own `nice`)"),
    };
    if nice.is_none() {
        step::announce(&format!(
            "cannot raise the benches' priority here: they run {inherited}"
        ));
    }
    for (package, dir) in BENCH_CRATES {
        let names = declared_benches(&paths.root.join(dir).join("Cargo.toml"))?;
        if names.is_empty() {
            continue;
        }
        let mut build = cargo_in(paths);
        build.args(["bench", "--no-run", "-p", package]);
        for n in &names {
            build.args(["--bench", n]);
        }
        step::run_visible(&format!("build the benches of {package}"), &mut build)?;
        let mut cmd = match &nice {
            Some(_) => {
                let mut c = Command::new("nice");
                c.current_dir(&paths.root)
                    .args(["-n", NICE, &paths::cargo()]);
                c
            }
            None => cargo_in(paths),
        };
        cmd.env("CRITERION_HOME", &crit)
            .args(["bench", "-p", package]);
        for n in &names {
            cmd.args(["--bench", n]);
        }
        cmd.arg("--").args(criterion_args(quick));
        step::run_visible(
            &format!("criterion benches of {package}: {}", names.join(", ")),
            &mut cmd,
        )?;
    }
    let mut memory: Vec<PathBuf> = Vec::new();
    let sample_json = out.join("memory-sample.json");
    replay(paths, Path::new(SAMPLE_SLABINFO), "sample", &sample_json)?;
    memory.push(sample_json);
    let live = Path::new(LIVE_SLABINFO);
    if std::fs::read_to_string(live).is_ok() {
        let live_json = out.join("memory-live.json");
        replay(paths, live, "live", &live_json)?;
        memory.push(live_json);
    } else {
        step::announce(
            "/proc/slabinfo is not readable here: the report uses the saved sample only",
        );
    }
    let messages = out.join("transport-messages.json");
    step::run_visible(
        "messages per object through the in-process transport",
        cargo_in(paths)
            .args(["run", "--quiet", "--release", "-p", "memserver-bench"])
            .args(["--bin", "transport_messages", "--", "--out"])
            .arg(&messages),
    )?;
    let counts = out.join("callgrind-counts.json");
    let curves = out.join("curves.json");
    let _ = std::fs::remove_file(&curves);
    let have_counts = step::probe(Command::new("valgrind").arg("--version"));
    if have_counts {
        step::run_visible(
            "release build of the bench binaries",
            cargo_in(paths).args([
                "build",
                "--quiet",
                "--release",
                "-p",
                "memserver-bench",
                "--bins",
            ]),
        )?;
        step::run_visible(
            "instructions per operation under callgrind",
            Command::new(paths.target.join("release").join("callgrind_counts"))
                .current_dir(&paths.root)
                .arg("--out")
                .arg(&counts),
        )?;
        // The curves need gigabytes at their largest points: a failure there leaves them out
        // of the report rather than losing the rest of the run.
        if let Err(e) = step::run_visible(
            "cost as work grows: instructions (callgrind) and time per operation",
            Command::new(paths.target.join("release").join("curves"))
                .current_dir(&paths.root)
                .arg("--out")
                .arg(&curves),
        ) {
            step::announce(&format!("cost curves: {e}; not in the report"));
            let _ = std::fs::remove_file(&curves);
        }
    } else {
        step::announce(
            "valgrind is not installed: no instruction counts and no cost curves in the report",
        );
    }
    let program_runs = out.join("programs.json");
    let have_programs = match programs(paths, quick, &program_runs) {
        Ok(()) => true,
        Err(e) => {
            step::announce(&format!("real programs: {e}; not in the report"));
            false
        }
    };
    let boot = out.join("boot-cost.json");
    let have_boot = match crate::boot_cost::measure(paths, &step::Logs::new(paths.logs())?) {
        Ok(rows) => {
            std::fs::write(&boot, crate::boot_cost::json(&rows))
                .map_err(|e| Error::io("cannot write", &boot, e))?;
            true
        }
        Err(e) => {
            step::announce(&format!("boot cost on target: {e}; not in the report"));
            false
        }
    };
    let plot = paths.root.join(PLOT);
    if let Some(dir) = plot.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    let command = if quick {
        "cargo xtask bench --quick"
    } else {
        "cargo xtask bench"
    };
    let mut cmd = cargo_in(paths);
    cmd.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "memserver-bench",
        "--bin",
        "report",
        "--",
    ])
    .arg("--criterion")
    .arg(&crit)
    .arg("--out")
    .arg(paths.root.join("BENCHMARKS.md"))
    .arg("--plot")
    .arg(&plot)
    .args(["--plot-link", PLOT, "--command", command])
    .args(["--priority", nice.as_deref().unwrap_or(&inherited)])
    .args(["--load-start", &load_start])
    .arg("--transport")
    .arg(&messages);
    for m in &memory {
        cmd.arg("--memory").arg(m);
    }
    let notes = paths.root.join(NOTES);
    if notes.is_file() {
        cmd.arg("--notes").arg(notes);
    }
    if have_counts {
        cmd.arg("--callgrind").arg(&counts);
    }
    if curves.is_file() {
        cmd.arg("--curves").arg(&curves);
    }
    cmd.arg("--curves-plot-dir")
        .arg(paths.root.join(RESULTS))
        .args(["--curves-plot-link", RESULTS]);
    if have_boot {
        cmd.arg("--boot-cost").arg(&boot);
    }
    if have_programs {
        cmd.arg("--programs")
            .arg(&program_runs)
            .arg("--programs-plot")
            .arg(paths.root.join(PROGRAMS_PLOT))
            .args(["--programs-plot-link", PROGRAMS_PLOT]);
    }
    if quick {
        cmd.arg("--quick");
    }
    step::run_visible("report: BENCHMARKS.md and the throughput plot", &mut cmd)?;
    if let Err(e) = crate::bench_target::into_report(paths, &paths.root.join("BENCHMARKS.md")) {
        step::announce(&format!("on-target bench (target 5) failed: {e}"));
    }
    println!(
        "[xtask] wrote {}",
        paths.root.join("BENCHMARKS.md").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn niceness_is_read_after_the_command_name() {
        let stat = "4242 (a b) c) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 19 1 0 99";
        assert_eq!(parse_niceness(stat), Some(19));
        assert_eq!(parse_niceness("garbage"), None);
        assert!(own_niceness().is_some());
    }

    #[test]
    fn bench_names_come_from_the_manifest() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = dir.join("Cargo.toml");
        std::fs::write(
            &m,
            "[package]\nname = \"x\"\n\n[[bench]]\nname = \"buddy\"\nharness = false\n\n[[bench]]\nharness = false\nname = \"slab\"\n\n[dev-dependencies]\nname = \"not-a-bench\"\n",
        )
        .unwrap();
        let names = declared_benches(&m).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names, ["buddy", "slab"]);
    }
}
