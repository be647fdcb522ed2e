//! Owns installing what the seL4 build and the QEMU runs need on a fresh Debian machine: the
//! aarch64 cross compiler, QEMU, xmllint and make (apt), the kernel's python generators'
//! packages (pip), and Rust's `aarch64-unknown-none-softfloat` target (rustup). Each tool is
//! probed first; only missing ones are installed, each install announced on one line.
use crate::error::{Error, Result};
use crate::step::{self, Logs};
use std::process::Command;

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
