//! `cargo xtask`: the project's set-up, builds, QEMU runs and test entry point.
//! `run` builds the seL4 kernel, the root task (with its clients) and the loader, and boots QEMU
//! streaming the console; `test` installs what is missing, runs the host test suite, then the
//! on-target harness. Every external step announces itself on one line (`[xtask] ...`).
mod bench;
mod bench_target;
mod error;
mod images;
mod kernel;
mod paths;
mod qemu;
mod setup;
mod step;

use error::{Error, Result};
use images::RootTask;
use kernel::{Flavor, KernelConfig};
use paths::Paths;
use std::process::Command;
use std::time::{Duration, Instant};
use step::Logs;

pub const USAGE: &str = "\
usage: cargo xtask <command> [options]
commands:
  test    install what is missing, run the host tests, then the on-target harness under QEMU
  run     build everything and boot QEMU, streaming the console (stops at `N passed, M failed`)
  build   build the kernel, the root task, the clients and the loader; print the image paths
  bench-target
          issue 6 target 5 on the release kernel under QEMU -icount: instructions per
          alloc+free pair through magazines, per alloc/free with magazines off vs a bare round
          trip; writes target/bench-report/on-target.md
  setup   install what is missing (apt: cross gcc, QEMU, xmllint, make; pip: ply, six, tempita;
          rustup: aarch64-unknown-none-softfloat)
options (run, build):
  --kernel debug|release   kernel configuration (default debug: printing, debug syscalls)
  --smp N                  cores (kernel CONFIG_MAX_NUM_NODES and QEMU -smp; default 1)
  --root-task memserver|smoke
                           root task (default memserver when roottask/ exists)
  --timeout SECONDS        QEMU time limit (default 120)
  --no-icount              let guest time follow wall time (default -icount shift=0,sleep=off)";

#[derive(Debug, Clone)]
struct Options {
    kernel: KernelConfig,
    root: Option<RootTask>,
    timeout: Duration,
    icount: bool,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut opts = Options {
        kernel: KernelConfig {
            flavor: Flavor::Debug,
            nodes: 1,
        },
        root: None,
        timeout: Duration::from_secs(120),
        icount: true,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| Error::Usage(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--kernel" => {
                opts.kernel.flavor = match value("--kernel")?.as_str() {
                    "debug" => Flavor::Debug,
                    "release" => Flavor::Release,
                    other => return Err(Error::Usage(format!("unknown kernel flavor `{other}`"))),
                }
            }
            "--smp" => {
                let v = value("--smp")?;
                opts.kernel.nodes = match v.parse() {
                    Ok(n @ 1..=4) => n,
                    _ => return Err(Error::Usage(format!("--smp takes 1..=4, not `{v}`"))),
                }
            }
            "--root-task" => {
                opts.root = Some(match value("--root-task")?.as_str() {
                    "memserver" => RootTask::Memserver,
                    "smoke" => RootTask::Smoke,
                    other => return Err(Error::Usage(format!("unknown root task `{other}`"))),
                })
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

fn build_all(paths: &Paths, logs: &Logs, opts: &Options) -> Result<images::Image> {
    setup::ensure_tools(logs)?;
    let t = Instant::now();
    let src = kernel::prepare_source(paths, logs)?;
    let kernel = kernel::build(paths, logs, &src, opts.kernel)?;
    println!(
        "[xtask] kernel {} ready in {:.1} s: {}",
        opts.kernel.name(),
        t.elapsed().as_secs_f64(),
        kernel.elf.display()
    );
    let t = Instant::now();
    let root = opts.root.unwrap_or_else(|| RootTask::default_for(paths));
    let image = images::build(paths, logs, &kernel, root)?;
    println!(
        "[xtask] images ready in {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        image.loader.display()
    );
    Ok(image)
}

/// Boots `image` and returns how many on-target tests passed.
fn boot(image: &images::Image, opts: &Options, echo: bool) -> Result<u64> {
    let passed = qemu::boot(&qemu::BootConfig {
        loader: image.loader.clone(),
        cores: opts.kernel.nodes,
        icount: opts.icount,
        timeout: opts.timeout,
        echo,
    })
    .map_err(Error::Boot)?;
    println!(
        "[xtask] on-target: {} passed, 0 failed ({} core{}, {:.2} s from QEMU start to the closing line)",
        passed.passed,
        opts.kernel.nodes,
        if opts.kernel.nodes == 1 { "" } else { "s" },
        passed.elapsed.as_secs_f64()
    );
    Ok(passed.passed)
}

/// The on-target runs of `cargo xtask test`: the harness on one core; the kernel bring-up checks
/// of the smoke task on two cores (SMP: PSCI start, kernel SMP boot, reschedule IPI, TLB
/// broadcast); the harness on two cores (one memory-server thread per core, per-node placement);
/// and the bring-up checks on the release kernel (printing through the UART itself).
fn on_target_runs() -> Result<Vec<Options>> {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Ok(vec![
        parse_options(&[])?,
        parse_options(&args(&["--smp", "2", "--root-task", "smoke"]))?,
        parse_options(&args(&["--smp", "2"]))?,
        parse_options(&args(&["--kernel", "release", "--root-task", "smoke"]))?,
    ])
}

/// Runs every part even when an earlier one fails (so one broken part hides nothing), then fails
/// if any did. A failed install stops everything: nothing after it could run.
fn test(paths: &Paths, logs: &Logs) -> Result<()> {
    setup::ensure_tools(logs)?;
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
    for opts in on_target_runs()? {
        let part = format!(
            "on-target {} ({})",
            opts.kernel.name(),
            match opts.root.unwrap_or_else(|| RootTask::default_for(paths)) {
                RootTask::Memserver => "memserver harness",
                RootTask::Smoke => "kernel bring-up checks",
            }
        );
        match build_all(paths, logs, &opts).and_then(|image| boot(&image, &opts, true)) {
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
        "setup" => setup::ensure_tools(&logs),
        "test" if rest.is_empty() => test(&paths, &logs),
        "build" => {
            let opts = parse_options(rest)?;
            let image = build_all(&paths, &logs, &opts)?;
            println!(
                "loader (boot with qemu -kernel): {}",
                image.loader.display()
            );
            println!("root task: {}", image.root_task.display());
            Ok(())
        }
        "bench" => bench::bench(&paths, rest),
        "bench-target" if rest.is_empty() => bench_target::run(&paths, &logs).map(drop),
        "run" => {
            let opts = parse_options(rest)?;
            let image = build_all(&paths, &logs, &opts)?;
            boot(&image, &opts, true).map(drop)
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
