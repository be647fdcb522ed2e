//! Owns building the aarch64 images with cargo: the client task images (`clients/<name>/`), the
//! root task (`roottask/`, package `memserver-root-task`, which embeds the clients; or, while that
//! does not exist, the temporary smoke task `qemu/smoke-task`); a folder under `clients/` whose
//! package has no binary (a shared library of the clients) is built but not embedded, and the loader (`qemu/loader`),
//! which embeds the kernel and the root task. Paths travel as environment variables:
//! - to every image: `SEL4_SOURCE` (patched kernel source), `SEL4_CONFIG` (the kernel's
//!   `autoconf.h`), `MEMSERVER_KERNEL_NODES` (cores);
//! - to the root task: `MEMSERVER_CLIENTS` (comma-separated client names) and, per client,
//!   `MEMSERVER_CLIENT_<NAME>_ELF` (name upper-cased, `-` as `_`);
//! - to the loader: `MEMSERVER_KERNEL_ELF`, `MEMSERVER_ROOT_TASK_ELF`.
use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::paths::{self, Paths};
use crate::setup::TARGET;
use crate::step::Logs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which root task goes into the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootTask {
    /// `roottask/`: the memory server with the on-target harness.
    Memserver,
    /// `qemu/smoke-task`: prints one line and halts (kernel and loader bring-up only).
    Smoke,
}

impl RootTask {
    pub fn default_for(paths: &Paths) -> Self {
        if paths.root.join("roottask").join("Cargo.toml").is_file() {
            RootTask::Memserver
        } else {
            RootTask::Smoke
        }
    }
}

/// Everything needed to boot.
#[derive(Debug, Clone)]
pub struct Image {
    pub loader: PathBuf,
    pub root_task: PathBuf,
}

fn env_name(client: &str) -> String {
    format!(
        "MEMSERVER_CLIENT_{}_ELF",
        client.to_ascii_uppercase().replace('-', "_")
    )
}

fn kernel_env(cmd: &mut Command, kernel: &Kernel) {
    cmd.env("SEL4_SOURCE", &kernel.source)
        .env("SEL4_CONFIG", &kernel.autoconf)
        .env("MEMSERVER_KERNEL_NODES", kernel.config.nodes.to_string());
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
fn cargo_build(logs: &Logs, step: &str, manifest: &Path, cmd: Command) -> Result<PathBuf> {
    cargo_build_any(logs, step, manifest, cmd)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::MissingArtifact {
            step: step.to_owned(),
            name: manifest.display().to_string(),
        })
}

fn client_dirs(paths: &Paths) -> Result<Vec<(String, PathBuf)>> {
    let dir = paths.root.join("clients");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .map_err(|e| Error::io("cannot list", &dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .filter_map(|p| Some((p.file_name()?.to_string_lossy().into_owned(), p)))
        .collect();
    out.sort();
    Ok(out)
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

pub fn build(paths: &Paths, logs: &Logs, kernel: &Kernel, root: RootTask) -> Result<Image> {
    let root_task = match root {
        RootTask::Smoke => {
            let mut cmd = Command::new(paths::cargo());
            kernel_env(&mut cmd, kernel);
            let manifest = paths.qemu().join("smoke-task").join("Cargo.toml");
            cargo_build(logs, "build smoke root task", &manifest, cmd)?
        }
        RootTask::Memserver => {
            let mut names = Vec::new();
            let mut cmd = Command::new(paths::cargo());
            for (name, dir) in client_dirs(paths)? {
                let mut c = Command::new(paths::cargo());
                kernel_env(&mut c, kernel);
                let step = format!("build client {name}");
                let exes = cargo_build_any(logs, &step, &dir.join("Cargo.toml"), c)?;
                if let Some(exe) = exes.first() {
                    cmd.env(env_name(&name), exe);
                    names.push(name);
                }
            }
            cmd.env("MEMSERVER_CLIENTS", names.join(","));
            kernel_env(&mut cmd, kernel);
            let manifest = paths.root.join("roottask").join("Cargo.toml");
            cargo_build(logs, "build root task", &manifest, cmd)?
        }
    };
    let images = paths.images().join(kernel.config.name());
    let root_task = copy_to(&images, &root_task, "root-task.elf")?;
    let mut cmd = Command::new(paths::cargo());
    cmd.env("MEMSERVER_KERNEL_ELF", &kernel.elf)
        .env("MEMSERVER_ROOT_TASK_ELF", &root_task)
        .env("MEMSERVER_KERNEL_NODES", kernel.config.nodes.to_string());
    let manifest = paths.qemu().join("loader").join("Cargo.toml");
    let loader = cargo_build(logs, "build loader", &manifest, cmd)?;
    let loader = copy_to(&images, &loader, "loader.elf")?;
    Ok(Image { loader, root_task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_variables_are_upper_case_with_underscores() {
        assert_eq!(env_name("echo"), "MEMSERVER_CLIENT_ECHO_ELF");
        assert_eq!(env_name("bad-actor"), "MEMSERVER_CLIENT_BAD_ACTOR_ELF");
    }
}
