//! Owns building the aarch64 images with cargo: the root task and the loader, which embeds the
//! kernel and the root task. The memory server's root task (`roottask/`, package
//! `memserver-root-task`) embeds the system's blob (its configuration and client images, see
//! `system.rs`); the other root tasks run kernel and runtime checks with fixed images: the
//! smoke task (`qemu/smoke-task`) and the runtime tests (`harness/runtime-tests`, with the
//! `clients/echo` and `clients/faulter` images). Paths travel as environment variables:
//! - to every image: `SEL4_SOURCE` (patched kernel source), `SEL4_CONFIG` (the kernel's
//!   `autoconf.h`), `MEMSERVER_KERNEL_NODES` (cores);
//! - to the memory server's root task: `MEMSERVER_SYSTEM_IMAGE` (the blob), and, while the root
//!   task still reads them, `MEMSERVER_CLIENT_<NAME>_ELF` per client of the description;
//! - to the runtime tests: `MEMSERVER_CLIENT_ECHO_ELF`, `MEMSERVER_CLIENT_FAULTER_ELF`;
//! - to the loader: `MEMSERVER_KERNEL_ELF`, `MEMSERVER_ROOT_TASK_ELF`, `MEMSERVER_KERNEL_NODES`,
//!   `MEMSERVER_RAM_END` (hex: the end of RAM of the description).
use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::paths::{self, Paths};
use crate::setup::TARGET;
use crate::step::Logs;
use crate::system;
use memserver_system::description::System;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which root task goes into the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootTask {
    /// `roottask/`: the memory server, serving the clients of the system description.
    Memserver,
    /// `qemu/smoke-task`: kernel and loader bring-up checks (the description's machine only).
    Smoke,
    /// `harness/runtime-tests`: the root-task runtime's checks (spawning, faults, local threads)
    /// with the echo and faulter clients (the description's machine only).
    RuntimeTests,
}

impl RootTask {
    pub fn name(self) -> &'static str {
        match self {
            RootTask::Memserver => "memserver",
            RootTask::Smoke => "smoke",
            RootTask::RuntimeTests => "runtime-tests",
        }
    }

    /// The package folder of the root task, from the repository root.
    fn dir(self) -> &'static str {
        match self {
            RootTask::Memserver => "roottask",
            RootTask::Smoke => "qemu/smoke-task",
            RootTask::RuntimeTests => "harness/runtime-tests",
        }
    }

    /// Whether its package exists in this tree.
    pub fn exists(self, paths: &Paths) -> bool {
        paths.root.join(self.dir()).join("Cargo.toml").is_file()
    }
}

/// Everything needed to boot.
#[derive(Debug, Clone)]
pub struct Image {
    pub loader: PathBuf,
    pub root_task: PathBuf,
}

/// `cargo build --release --target {TARGET}` of one package; returns its executables
/// (none for a library).
fn cargo_build_any(
    logs: &Logs,
    step: &str,
    manifest: &Path,
    mut cmd: Command,
) -> Result<Vec<PathBuf>> {
    cmd.args(["build", "--release", "--target", TARGET])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(manifest);
    let stdout = logs.run_stdout(step, &mut cmd)?;
    let mut exes = Vec::new();
    for line in stdout.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" {
            if let Some(exe) = msg["executable"].as_str() {
                exes.push(PathBuf::from(exe));
            }
        }
    }
    Ok(exes)
}

/// Like `cargo_build_any`, for a package that must produce an executable.
pub fn cargo_build(logs: &Logs, step: &str, manifest: &Path, cmd: Command) -> Result<PathBuf> {
    cargo_build_any(logs, step, manifest, cmd)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::MissingArtifact {
            step: step.to_owned(),
            name: manifest.display().to_string(),
        })
}

fn copy_to(images: &Path, from: &Path, name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(images).map_err(|e| Error::io("cannot create", images, e))?;
    let to = images.join(name);
    let bytes = std::fs::read(from).map_err(|e| Error::io("cannot read", from, e))?;
    if std::fs::read(&to).is_ok_and(|old| old == bytes) {
        return Ok(to);
    }
    std::fs::write(&to, bytes).map_err(|e| Error::io("cannot write", &to, e))?;
    Ok(to)
}

/// The folder of an image's files: `<target>/xtask/images/<description stem>-<root>-<kernel>`.
fn image_dir(paths: &Paths, kernel: &Kernel, root: RootTask, system: &System) -> PathBuf {
    let stem = system
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "system".into());
    paths
        .images()
        .join(format!("{stem}-{}-{}", root.name(), kernel.config.name()))
}

/// Builds the root task of `root` for `system` and the loader that boots it.
pub fn build(
    paths: &Paths,
    logs: &Logs,
    kernel: &Kernel,
    root: RootTask,
    system: &System,
) -> Result<Image> {
    let dir = image_dir(paths, kernel, root, system);
    let manifest = paths.root.join(root.dir()).join("Cargo.toml");
    let mut cmd = Command::new(paths::cargo());
    system::kernel_env(&mut cmd, kernel);
    let root_task = match root {
        RootTask::Smoke => cargo_build(logs, "build smoke root task", &manifest, cmd)?,
        RootTask::RuntimeTests => {
            for name in ["echo", "faulter"] {
                let mut c = Command::new(paths::cargo());
                system::kernel_env(&mut c, kernel);
                let client = paths.root.join("clients").join(name).join("Cargo.toml");
                let elf = cargo_build(logs, &format!("build client {name}"), &client, c)?;
                cmd.env(system::legacy_env_name(name), elf);
            }
            cargo_build(logs, "build runtime-tests root task", &manifest, cmd)?
        }
        RootTask::Memserver => {
            let images = system::build_clients(paths, logs, kernel, system)?;
            let sources = system.image_sources();
            for client in &system.clients {
                if let Some(i) = sources.iter().position(|s| *s == client.source) {
                    cmd.env(system::legacy_env_name(&client.name), &images[i].elf);
                }
            }
            let names: Vec<&str> = system.clients.iter().map(|c| c.name.as_str()).collect();
            cmd.env("MEMSERVER_CLIENTS", names.join(","));
            let blob = system::write_blob(&dir, system, &images)?;
            cmd.env("MEMSERVER_SYSTEM_IMAGE", &blob);
            cargo_build(logs, "build root task", &manifest, cmd)?
        }
    };
    let root_task = copy_to(&dir, &root_task, "root-task.elf")?;
    let mut cmd = Command::new(paths::cargo());
    cmd.env("MEMSERVER_KERNEL_ELF", &kernel.elf)
        .env("MEMSERVER_ROOT_TASK_ELF", &root_task)
        .env("MEMSERVER_KERNEL_NODES", kernel.config.cores().to_string())
        .env(
            "MEMSERVER_RAM_END",
            format!("{:#x}", kernel.config.settings.ram_end),
        );
    let manifest = paths.qemu().join("loader").join("Cargo.toml");
    let loader = cargo_build(logs, "build loader", &manifest, cmd)?;
    let loader = copy_to(&dir, &loader, "loader.elf")?;
    Ok(Image { loader, root_task })
}
