//! Owns installing what the seL4 build and the QEMU runs need on a fresh Debian machine: the
//! aarch64 cross compiler, QEMU, xmllint and make (apt), the kernel's python generators'
//! packages (pip), and Rust's `aarch64-unknown-none-softfloat` target (rustup). Each tool is
//! probed first; only missing ones are installed, each install announced on one line.
//! `cargo xtask setup` (and `cargo xtask test`) then checks that each tool *works*: the cross
//! compiler compiles and links a tiny bare-metal program, QEMU boots it on the `virt` machine
//! with the project's options (no default NIC, no option ROM) and it prints and powers off
//! within a time limit, rustc compiles for the target, the python modules import.
use crate::error::{Error, Result};
use crate::step::{self, Logs};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every on-target image (root task, client tasks, loader) is built without FP/SIMD registers:
/// none of them computes in floating point, and a task that touches the FPU after another one did
/// makes the kernel's lazy FPU switch trap and swap the whole register file on IPC (about 270
/// guest instructions per message measured on target 5's bench).
pub const TARGET: &str = "aarch64-unknown-none-softfloat";

struct AptTool {
    /// Command that succeeds when the tool is present.
    probe: &'static [&'static str],
    package: &'static str,
}

const APT_TOOLS: &[AptTool] = &[
    AptTool {
        probe: &["aarch64-linux-gnu-gcc", "--version"],
        package: "gcc-aarch64-linux-gnu",
    },
    AptTool {
        probe: &["qemu-system-aarch64", "--version"],
        package: "qemu-system-arm",
    },
    AptTool {
        probe: &["xmllint", "--version"],
        package: "libxml2-utils",
    },
    AptTool {
        probe: &["make", "--version"],
        package: "make",
    },
];

const PYTHON_MODULES: &[(&str, &str)] = &[("ply", "ply"), ("six", "six"), ("tempita", "tempita")];

fn present(argv: &[&str]) -> bool {
    step::probe(Command::new(argv[0]).args(&argv[1..]))
}

fn python_module_present(module: &str) -> bool {
    present(&["python3", "-c", &format!("import {module}")])
}

fn rust_target_present() -> bool {
    let Ok(out) = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
    else {
        return false;
    };
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    out.status.success()
        && std::fs::read_dir(&dir)
            .map(|mut d| {
                d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
            })
            .unwrap_or(false)
}

fn install_failed(name: &str, e: Error) -> Error {
    match e {
        Error::StepFailed { status, tail, .. } => Error::Install {
            step: name.to_owned(),
            detail: format!("{status}\n  | {}", tail.join("\n  | ")),
        },
        Error::Spawn {
            program, source, ..
        } => Error::Install {
            step: name.to_owned(),
            detail: format!("cannot start `{program}`: {source}"),
        },
        other => other,
    }
}

/// apt-get, run as root (or through sudo), with `apt-get update` done once before the first install.
struct Apt<'a> {
    logs: &'a Logs,
    sudo: bool,
    updated: bool,
}

impl Apt<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(if self.sudo { "sudo" } else { "apt-get" });
        if self.sudo {
            c.arg("apt-get");
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    }

    fn install(&mut self, package: &str) -> Result<()> {
        if !self.updated {
            let name = "install: apt-get update";
            self.logs
                .run(name, &mut self.command(&["update"]))
                .map_err(|e| install_failed(name, e))?;
            self.updated = true;
        }
        let name = format!("install: apt-get install {package}");
        self.logs
            .run(
                &name,
                &mut self.command(&["install", "-y", "--no-install-recommends", package]),
            )
            .map_err(|e| install_failed(&name, e))
    }
}

/// Installs whatever is missing; announces and does nothing else when all is present.
pub fn ensure_tools(logs: &Logs) -> Result<()> {
    let mut apt = Apt {
        logs,
        sudo: needs_sudo(),
        updated: false,
    };
    for tool in APT_TOOLS {
        if present(tool.probe) {
            continue;
        }
        apt.install(tool.package)?;
        if !present(tool.probe) {
            return Err(Error::Install {
                step: format!("install: apt-get install {}", tool.package),
                detail: format!("`{}` still does not run", tool.probe.join(" ")),
            });
        }
    }
    for (module, package) in PYTHON_MODULES {
        if python_module_present(module) {
            continue;
        }
        let name = format!("install: pip install {package}");
        let pip = logs.run(
            &name,
            Command::new("python3").args(["-m", "pip", "install", "--quiet", package]),
        );
        if pip.is_err() || !python_module_present(module) {
            // A Debian python3 refuses pip installs into the system: use its own package.
            let deb = format!("python3-{package}");
            apt.install(&deb)?;
        }
        if !python_module_present(module) {
            return Err(Error::Install {
                step: name,
                detail: format!("python3 still cannot import `{module}` (pip and apt tried)"),
            });
        }
    }
    if !rust_target_present() {
        let name = format!("install: rustup target add {TARGET}");
        logs.run(
            &name,
            Command::new("rustup").args(["target", "add", TARGET]),
        )
        .map_err(|e| install_failed(&name, e))?;
    }
    Ok(())
}

fn needs_sudo() -> bool {
    let uid = Command::new("id").arg("-u").output();
    let root = uid.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    !root && present(&["sudo", "-n", "true"])
}

/// A bare-metal aarch64 program for the QEMU probe: prints `probe ok` on the `virt` PL011 and
/// powers the machine off through PSCI SYSTEM_OFF (`hvc`: QEMU's conduit when the guest starts
/// at EL1), so QEMU exits by itself.
const PROBE_SOURCE: &str = "\
    .global _start
_start:
    ldr x1, =0x09000000
    adr x2, message
1:  ldrb w0, [x2], #1
    cbz w0, 2f
    str w0, [x1]
    b 1b
2:  ldr x0, =0x84000008
    hvc #0
3:  b 3b
message:
    .asciz \"probe ok\\n\"
";

/// What QEMU must print for the probe to pass.
const PROBE_LINE: &str = "probe ok";
/// The probe boot's time limit.
const PROBE_TIME: Duration = Duration::from_secs(20);

fn check_failed(what: &str, detail: String) -> Error {
    Error::Install {
        step: format!("check: {what}"),
        detail,
    }
}

/// Runs `cmd`, failing with its output.
fn check_run(what: &str, cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| check_failed(what, format!("cannot start: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(check_failed(
            what,
            format!(
                "{}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ))
    }
}

/// The cross compiler assembles and links the probe program; returns its ELF.
fn check_cross_gcc(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    let src = dir.join("probe.S");
    let elf = dir.join("probe.elf");
    std::fs::write(&src, PROBE_SOURCE).map_err(|e| Error::io("cannot write", &src, e))?;
    check_run(
        "aarch64-linux-gnu-gcc compiles and links a bare-metal program",
        Command::new("aarch64-linux-gnu-gcc")
            .args(["-nostdlib", "-static", "-Wl,-Ttext=0x40000000", "-o"])
            .arg(&elf)
            .arg(&src),
    )?;
    Ok(elf)
}

/// QEMU boots `elf` on `virt` with the project's options and it prints [`PROBE_LINE`] and
/// powers off within [`PROBE_TIME`].
fn check_qemu(elf: &std::path::Path) -> Result<()> {
    let what = "qemu-system-aarch64 boots a probe on `virt` (-nic none, -icount)";
    let mut child = Command::new("qemu-system-aarch64")
        .args([
            "-machine",
            "virt,gic-version=2",
            "-cpu",
            "cortex-a53",
            "-m",
            "256M",
        ])
        .args([
            "-nic",
            "none",
            "-nographic",
            "-icount",
            "shift=0,sleep=off",
            "-kernel",
        ])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| check_failed(what, format!("cannot start: {e}")))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < PROBE_TIME => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(check_failed(
                    what,
                    format!("did not power off within {} s", PROBE_TIME.as_secs()),
                ));
            }
        }
    };
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut out);
    }
    if status.success() && out.lines().any(|l| l.trim() == PROBE_LINE) {
        Ok(())
    } else {
        Err(check_failed(
            what,
            format!("{status}; output: {}", out.trim()),
        ))
    }
}

/// rustc compiles a `no_std` library for the image target.
fn check_rust_target(dir: &std::path::Path) -> Result<()> {
    let src = dir.join("probe.rs");
    std::fs::write(&src, "#![no_std]\npub fn probe() -> u32 { 1 }\n")
        .map_err(|e| Error::io("cannot write", &src, e))?;
    check_run(
        &format!("rustc compiles for {TARGET}"),
        Command::new("rustc")
            .args([
                "--edition",
                "2021",
                "--crate-type",
                "lib",
                "--target",
                TARGET,
                "--out-dir",
            ])
            .arg(dir)
            .arg(&src),
    )
}

/// `cargo xtask setup`: installs what is missing (saying what), then checks that every tool
/// works, one line per check.
pub fn setup(logs: &Logs) -> Result<()> {
    ensure_tools(logs)?;
    let dir = std::env::temp_dir().join(format!("memserver-setup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
    let result = (|| {
        let elf = check_cross_gcc(&dir)?;
        step::announce("check: aarch64-linux-gnu-gcc compiles and links: ok");
        check_qemu(&elf)?;
        step::announce(
            "check: qemu-system-aarch64 boots a probe on virt (-nic none) and powers off: ok",
        );
        check_rust_target(&dir)?;
        step::announce(&format!("check: rustc compiles for {TARGET}: ok"));
        for tool in APT_TOOLS.iter().skip(2) {
            check_run(
                &tool.probe.join(" "),
                Command::new(tool.probe[0]).args(&tool.probe[1..]),
            )?;
            step::announce(&format!("check: `{}` runs: ok", tool.probe.join(" ")));
        }
        for (module, _) in PYTHON_MODULES {
            check_run(
                &format!("python3 imports {module}"),
                Command::new("python3").args(["-c", &format!("import {module}")]),
            )?;
        }
        step::announce("check: python3 imports ply, six, tempita: ok");
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
