//! `cargo xtask`: the project's set-up, builds, QEMU runs and test entry point.
//! Everything on the seL4 side follows from a system description (`--system FILE`, default
//! `systems/demo.toml`): `run` builds the seL4 kernel, the client images, the root task and the
//! loader of that system and boots QEMU streaming the console; `test` installs what is missing,
//! runs the host test suite, the fuzz smoke and Miri, then the on-target runs. Every external step announces itself on one line (`[xtask] ...`).

#![forbid(unsafe_code)]
mod bench;
mod bench_target;
mod boot_cost;
mod error;
mod fuzz;
mod images;
mod kernel;
mod miri;
mod paths;
mod qemu;
mod setup;
mod step;
mod system;

use error::{Error, Result};
use images::RootTask;
use kernel::{Flavor, KernelConfig};
use memserver_system::description::System;
use paths::Paths;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use step::Logs;

pub const USAGE: &str = "\
usage: cargo xtask <command> [options]
commands:
  test    install what is missing, run the host tests, then every on-target run under QEMU
  run     build a system and boot it under QEMU, streaming the console (ends at the harness's
          `N passed, M failed`, or at `memserver: all clients ended` with every client's status 0)
  build   build a system's kernel, client images, root task and loader; print the image paths
  bench-target
          issue 6 target 5 on the release kernel under QEMU -icount: instructions per
          alloc+free pair through magazines, per alloc/free with magazines off vs a bare round
          trip; writes target/bench-report/on-target.md
  boot-cost
          all of memory: frames managed and the guest instructions that turning RAM into the
          buddy zones costs, for 512 MiB, 1 GiB, 2 GiB and 4 GiB systems (one core, one node);
          writes target/bench-report/boot-cost.md
  miri [CRATE...]
          the host crates' tests under Miri, Stacked and Tree Borrows (a part of `test`;
          installs nightly's miri and rust-src components when missing)
  setup   install what is missing (apt: cross gcc, QEMU, xmllint, make; pip: ply, six, tempita;
          rustup: aarch64-unknown-none-softfloat) and check that each tool works
options (run, build):
  --system FILE            the system description (default systems/demo.toml): cores, memory
                           nodes, clients; the kernel configuration, QEMU's -m/-smp/-numa and the
                           root task's configuration all follow from it
  --cores N                run the description on its first N cores only
  --kernel debug|release   kernel flavour (default debug: printing, debug syscalls)
  --root-task memserver|smoke|runtime-tests
                           root task (default memserver; the others use only the description's
                           machine)
  --timeout SECONDS        QEMU time limit (default 120)
  --no-icount              let guest time follow wall time (default -icount shift=0,sleep=off)";

#[derive(Debug, Clone)]
pub struct Options {
    pub flavor: Flavor,
    pub system: PathBuf,
    pub cores: Option<u32>,
    pub root: RootTask,
    pub timeout: Duration,
    pub icount: bool,
}

impl Options {
    fn new(paths: &Paths) -> Self {
        Options {
            flavor: Flavor::Debug,
            system: paths.root.join(system::DEMO),
            cores: None,
            root: RootTask::Memserver,
            timeout: Duration::from_secs(120),
            icount: true,
        }
    }
}

fn parse_options(paths: &Paths, args: &[String]) -> Result<Options> {
    let mut opts = Options::new(paths);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| Error::Usage(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--system" => opts.system = PathBuf::from(value("--system")?),
            "--kernel" => {
                opts.flavor = match value("--kernel")?.as_str() {
                    "debug" => Flavor::Debug,
                    "release" => Flavor::Release,
                    other => return Err(Error::Usage(format!("unknown kernel flavor `{other}`"))),
                }
            }
            "--cores" => {
                let v = value("--cores")?;
                opts.cores = Some(
                    v.parse()
                        .map_err(|_| Error::Usage(format!("--cores takes a number, not `{v}`")))?,
                );
            }
            "--root-task" => {
                opts.root = match value("--root-task")?.as_str() {
                    "memserver" => RootTask::Memserver,
                    "smoke" => RootTask::Smoke,
                    "runtime-tests" => RootTask::RuntimeTests,
                    other => return Err(Error::Usage(format!("unknown root task `{other}`"))),
                }
            }
            "--timeout" => {
                let v = value("--timeout")?;
                opts.timeout =
                    Duration::from_secs(v.parse().map_err(|_| {
                        Error::Usage(format!("--timeout takes seconds, not `{v}`"))
                    })?);
            }
            "--no-icount" => opts.icount = false,
            other => return Err(Error::Usage(format!("unknown option `{other}`"))),
        }
    }
    Ok(opts)
}

/// The description of `opts`, read and checked (and narrowed to `--cores`): the first step,
/// before anything is installed or built.
fn load_system(opts: &Options) -> Result<System> {
    let system = system::load(&opts.system)?;
    match opts.cores {
        Some(n) => system::narrow(system, n),
        None => Ok(system),
    }
}

/// A built image and the description it was built from.
pub struct Built {
    pub image: images::Image,
    pub system: System,
}

pub fn build_all(paths: &Paths, logs: &Logs, opts: &Options) -> Result<Built> {
    let system = load_system(opts)?;
    if !opts.root.exists(paths) {
        return Err(Error::Usage(format!(
            "root task `{}` does not exist in this tree",
            opts.root.name()
        )));
    }
    setup::ensure_tools(logs)?;
    let t = Instant::now();
    let src = kernel::prepare_source(paths, logs)?;
    let config = KernelConfig {
        flavor: opts.flavor,
        settings: system.kernel_settings(),
    };
    let kernel = kernel::build(paths, logs, &src, config)?;
    println!(
        "[xtask] kernel {} ready in {:.1} s: {}",
        config.name(),
        t.elapsed().as_secs_f64(),
        kernel.elf.display()
    );
    let t = Instant::now();
    let image = images::build(paths, logs, &kernel, opts.root, &system)?;
    println!(
        "[xtask] images ready in {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        image.loader.display()
    );
    Ok(Built { image, system })
}

/// Boots a built image and returns how many on-target tests passed (or clients ended well).
pub fn boot(built: &Built, opts: &Options, echo: bool) -> Result<qemu::Passed> {
    let cores = built.system.cores;
    let passed = qemu::boot(&qemu::BootConfig {
        loader: built.image.loader.clone(),
        machine: built.system.qemu_args(),
        cores,
        icount: opts.icount,
        timeout: opts.timeout,
        echo,
        stop_at: None,
        boot_clients: built
            .system
            .clients
            .iter()
            .filter(|c| c.start == memserver_system::Start::AtBoot)
            .map(|c| c.name.clone())
            .collect(),
    })
    .map_err(Error::Boot)?;
    println!(
        "[xtask] on-target: {} passed, 0 failed ({}, {} core{}, {} MiB; {:.2} s from QEMU start)",
        passed.passed,
        built.system.file.display(),
        cores,
        if cores == 1 { "" } else { "s" },
        built.system.ram_bytes() >> 20,
        passed.elapsed.as_secs_f64()
    );
    Ok(passed)
}

/// The harness's description: the product helper's `harness/system.toml` once it exists,
/// else the transitional one in `systems/`.
fn harness_system(paths: &Paths) -> PathBuf {
    let harness = paths.root.join("harness").join("system.toml");
    if harness.is_file() {
        harness
    } else {
        paths.root.join("systems").join("harness.toml")
    }
}

/// One on-target run of `cargo xtask test`: to the closing line (or until all clients ended).
struct Run {
    what: &'static str,
    opts: Options,
    /// The share of RAM (percent) the root task's zones must manage at least: one more test.
    zones_at_least: Option<u64>,
}

/// Runs one on-target part; returns the tests it passed.
fn on_target(paths: &Paths, logs: &Logs, run: &Run) -> Result<u64> {
    let built = build_all(paths, logs, &run.opts)?;
    let passed = boot(&built, &run.opts, true)?;
    let Some(min_percent) = run.zones_at_least else {
        return Ok(passed.passed);
    };
    let frames = passed
        .measures
        .iter()
        .find(|(n, _)| n == "zones_frames")
        .map(|(_, v)| *v)
        .ok_or_else(|| Error::MissingMeasure("zones_frames".into()))?;
    let ram_frames = built.system.ram_bytes() >> 12;
    let share = frames * 100 / ram_frames.max(1);
    println!(
        "test all_of_memory_in_the_zones ... {}: {frames} of {ram_frames} frames ({share} %, at least {min_percent} % expected)",
        if share >= min_percent { "ok" } else { "FAILED" }
    );
    if share >= min_percent {
        Ok(passed.passed + 1)
    } else {
        Err(Error::ZonesTooSmall {
            frames,
            ram_frames,
            min_percent,
        })
    }
}

/// The on-target runs of `cargo xtask test`: the harness on one and on two cores (one
/// memory-server thread per core, per-node placement) and on four cores on four nodes; the
/// kernel bring-up checks of the smoke task on two cores (PSCI start, SMP boot, reschedule IPI,
/// TLB broadcast) and on the release kernel (printing through the UART itself); the root-task runtime's checks on one and two
/// cores (when that root task exists); a 2 GiB system whose zones hold all of its memory and
/// whose clients allocate on both nodes; and the two examples of `examples/` (Rust and C clients).
fn on_target_runs(paths: &Paths) -> Vec<Run> {
    let harness = harness_system(paths);
    // Time limits with room for a loaded machine (the two-core harness takes 20 to 70 s).
    let base = Options {
        timeout: Duration::from_secs(300),
        ..Options::new(paths)
    };
    let with = |f: &dyn Fn(&mut Options)| {
        let mut o = base.clone();
        o.system = harness.clone();
        f(&mut o);
        o
    };
    let mut runs = vec![
        Run {
            what: "memserver harness, 1 core",
            opts: with(&|o| o.cores = Some(1)),
            zones_at_least: None,
        },
        Run {
            what: "kernel bring-up checks, 2 cores",
            opts: with(&|o| {
                o.root = RootTask::Smoke;
                o.cores = Some(2);
            }),
            zones_at_least: None,
        },
        Run {
            what: "memserver harness, 2 cores",
            opts: with(&|o| o.cores = Some(2)),
            zones_at_least: None,
        },
        Run {
            what: "memserver harness, 4 cores on 4 nodes",
            opts: Options {
                system: paths.root.join("systems").join("numa4.toml"),
                ..base.clone()
            },
            zones_at_least: None,
        },
        Run {
            what: "kernel bring-up checks, release kernel, 1 core",
            opts: with(&|o| {
                o.root = RootTask::Smoke;
                o.flavor = Flavor::Release;
                o.cores = Some(1);
            }),
            zones_at_least: None,
        },
        Run {
            what: "all of memory, 2 GiB on 2 nodes",
            opts: Options {
                system: paths.root.join("systems").join("memory-2g.toml"),
                timeout: Duration::from_secs(600),
                ..base.clone()
            },
            zones_at_least: Some(90),
        },
    ];
    // The examples a user copies: each boots to its closing line and exits with status 0.
    for (what, dir) in [
        ("example hello (Rust)", "hello"),
        ("example hello-c (C)", "hello-c"),
    ] {
        runs.push(Run {
            what,
            opts: Options {
                system: paths.root.join("examples").join(dir).join("system.toml"),
                ..base.clone()
            },
            zones_at_least: None,
        });
    }
    if RootTask::RuntimeTests.exists(paths) {
        for (what, cores) in [
            ("root-task runtime checks, 1 core", 1),
            ("root-task runtime checks, 2 cores", 2),
        ] {
            runs.push(Run {
                what,
                opts: with(&|o| {
                    o.root = RootTask::RuntimeTests;
                    o.cores = Some(cores);
                }),
                zones_at_least: None,
            });
        }
    }
    runs
}

/// Runs every part even when an earlier one fails (so one broken part hides nothing), then fails
/// if any did. A failed install stops everything: nothing after it could run.
fn test(paths: &Paths, logs: &Logs) -> Result<()> {
    let runs = on_target_runs(paths);
    // Every description is checked before anything is installed or built.
    for run in &runs {
        load_system(&run.opts)?;
    }
    setup::setup(logs)?;
    let mut failed = Vec::new();
    let mut total = step::Counts::default();
    let mut note = |part: String, counts: step::Counts, result: Result<()>| {
        total.passed += counts.passed;
        total.failed += counts.failed;
        if let Err(e) = result {
            eprintln!("xtask: error: {e}");
            // A part that failed without failing a counted test (a build, a boot) counts once.
            total.failed += u64::from(counts.failed == 0);
            failed.push(part);
        }
    };
    let (counts, result) = step::run_counted(
        "host tests (cargo test: the workspace's default members, i.e. every host crate)",
        Command::new(paths::cargo())
            .current_dir(&paths.root)
            .arg("test"),
    );
    note("host tests".into(), counts, result);
    let (counts, result) = step::run_counted(
        "loader host tests (image placement)",
        Command::new(paths::cargo())
            .args(["test", "--lib", "--manifest-path"])
            .arg(paths.qemu().join("loader").join("Cargo.toml")),
    );
    note("loader host tests".into(), counts, result);
    let (counts, result) = fuzz::smoke(paths, logs);
    note("fuzz smoke".into(), counts, result);
    let (counts, result) = miri::run(paths, logs);
    note("miri".into(), counts, result);
    for run in runs {
        let part = format!("on-target: {} ({})", run.what, run.opts.system.display());
        match on_target(paths, logs, &run) {
            Ok(passed) => note(part, step::Counts { passed, failed: 0 }, Ok(())),
            Err(e) => note(part, step::Counts::default(), Err(e)),
        }
    }
    // The closing line counts every test of every part: host and on-target.
    println!("total: {} passed, {} failed", total.passed, total.failed);
    if failed.is_empty() {
        println!("[xtask] test: every part passed");
        Ok(())
    } else {
        Err(Error::PartsFailed(failed))
    }
}

fn run(args: &[String]) -> Result<()> {
    let paths = Paths::discover();
    let logs = Logs::new(paths.logs())?;
    let Some((cmd, rest)) = args.split_first() else {
        return Err(Error::Usage("no command given".into()));
    };
    match cmd.as_str() {
        "setup" => setup::setup(&logs),
        "test" if rest.is_empty() => test(&paths, &logs),
        "miri" => miri::command(&paths, &logs, rest),
        "build" => {
            let opts = parse_options(&paths, rest)?;
            let built = build_all(&paths, &logs, &opts)?;
            println!(
                "loader (boot with qemu -kernel): {}",
                built.image.loader.display()
            );
            println!("root task: {}", built.image.root_task.display());
            println!(
                "qemu-system-aarch64 -machine virt,gic-version=2 -cpu cortex-a53 {} -nic none -nographic -kernel {}",
                built.system.qemu_args().join(" "),
                built.image.loader.display()
            );
            Ok(())
        }
        "bench" => bench::bench(&paths, rest),
        "bench-target" if rest.is_empty() => bench_target::run(&paths, &logs).map(drop),
        "boot-cost" if rest.is_empty() => boot_cost::run(&paths, &logs),
        "run" => {
            let opts = parse_options(&paths, rest)?;
            let built = build_all(&paths, &logs, &opts)?;
            boot(&built, &opts, true).map(drop)
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(Error::Usage(format!("unknown command `{other}` {rest:?}"))),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("xtask: error: {e}");
        std::process::exit(1);
    }
}
