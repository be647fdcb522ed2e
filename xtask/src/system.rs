//! Owns what xtask does with a system description: reading and checking it (before any build
//! step), narrowing it to fewer cores (`--cores`), building its client images (cargo packages,
//! or ELF files made by their `build` command), checking each against the client image window,
//! and writing the blob the root task embeds (`MEMSERVER_SYSTEM_IMAGE`).
use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::paths::{self, Paths};
use crate::setup::TARGET;
use crate::step::Logs;
use memserver_system::derive::check_client_elf;
use memserver_system::description::{ClientSource, System};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The description `cargo xtask run` boots without `--system`.
pub const DEMO: &str = "systems/demo.toml";

/// Reads and checks the description at `file` (relative to the current folder).
pub fn load(file: &Path) -> Result<System> {
    memserver_system::parse_file(file).map_err(Error::Description)
}

/// `system` on its first `cores` cores: nodes keep their memory and lose the other cores; a
/// client keeps its cores below `cores`, or runs on core 0 if none is left.
pub fn narrow(mut system: System, cores: u32) -> Result<System> {
    if cores == 0 || cores > system.cores {
        return Err(Error::Usage(format!(
            "--cores {cores}: {} has cores 0 to {}",
            system.file.display(),
            system.cores - 1
        )));
    }
    system.cores = cores;
    for n in &mut system.nodes {
        n.cores.retain(|&c| c < cores);
    }
    for c in &mut system.clients {
        c.cores.retain(|&k| k < cores);
        if c.cores.is_empty() {
            c.cores.push(0);
        }
    }
    Ok(system)
}

/// A built client image.
#[derive(Debug, Clone)]
pub struct ClientImage {
    pub elf: PathBuf,
}

/// The environment every seL4-side build gets.
pub fn kernel_env(cmd: &mut Command, kernel: &Kernel) {
    cmd.env("SEL4_SOURCE", &kernel.source)
        .env("SEL4_CONFIG", &kernel.autoconf)
        .env("MEMSERVER_KERNEL_NODES", kernel.config.cores().to_string());
}

/// Where a source is named in the description, for messages (`client[2].crate = "..."`).
fn named(system: &System, source: &ClientSource) -> String {
    let i = system
        .clients
        .iter()
        .position(|c| c.source == *source)
        .unwrap_or(0);
    match source {
        ClientSource::Crate(p) => format!("client[{i}].crate = {}", p.display()),
        ClientSource::Elf { path, .. } => format!("client[{i}].elf = {}", path.display()),
    }
}

/// Builds every distinct client image of `system`, in [`System::image_sources`] order, and
/// checks each fits its window.
pub fn build_clients(
    paths: &Paths,
    logs: &Logs,
    kernel: &Kernel,
    system: &System,
) -> Result<Vec<ClientImage>> {
    let mut out = Vec::new();
    for source in system.image_sources() {
        let what = named(system, &source);
        let elf = match &source {
            ClientSource::Crate(dir) => {
                let manifest = system.resolve(dir).join("Cargo.toml");
                let mut cmd = Command::new(paths::cargo());
                kernel_env(&mut cmd, kernel);
                let step = format!("build client ({what} in {})", system.file.display());
                crate::images::cargo_build(logs, &step, &manifest, cmd)?
            }
            ClientSource::Elf { path, build } => {
                if let Some(command) = build {
                    let mut cmd = Command::new("sh");
                    cmd.arg("-c").arg(command).current_dir(system.dir());
                    kernel_env(&mut cmd, kernel);
                    cmd.env("CC", "aarch64-linux-gnu-gcc")
                        .env("MEMSERVER_TARGET", TARGET)
                        .env("MEMSERVER_ROOT", &paths.root)
                        .env("MEMSERVER_TARGET_DIR", &paths.target)
                        .env("CARGO", paths::cargo());
                    let step = format!(
                        "build client ({what}: `{command}` in {})",
                        system.dir().display()
                    );
                    logs.run(&step, &mut cmd)?;
                }
                let elf = system.resolve(path);
                if !elf.is_file() {
                    return Err(Error::ClientImage {
                        what,
                        file: system.file.clone(),
                        reason: format!("{} does not exist after its build", elf.display()),
                    });
                }
                elf
            }
        };
        // Absolute: the root task's build reads it from another folder.
        let elf = std::path::absolute(&elf).map_err(|e| Error::io("cannot resolve", &elf, e))?;
        let bytes = std::fs::read(&elf).map_err(|e| Error::io("cannot read", &elf, e))?;
        check_client_elf(&bytes).map_err(|e| Error::ClientImage {
            what: what.clone(),
            file: system.file.clone(),
            reason: format!("{}: {e}", elf.display()),
        })?;
        out.push(ClientImage { elf });
    }
    Ok(out)
}

/// Writes the blob of `system` with `images` to `dir/system.img` (unchanged files are not
/// rewritten, so cargo does not rebuild the root task for nothing).
pub fn write_blob(dir: &Path, system: &System, images: &[ClientImage]) -> Result<PathBuf> {
    let mut bytes = Vec::new();
    for image in images {
        bytes.push(std::fs::read(&image.elf).map_err(|e| Error::io("cannot read", &image.elf, e))?);
    }
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let blob = memserver_system::encode(&system.image_config(), &refs);
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let path = dir.join("system.img");
    if !std::fs::read(&path).is_ok_and(|old| old == blob) {
        std::fs::write(&path, &blob).map_err(|e| Error::io("cannot write", &path, e))?;
    }
    Ok(path)
}

/// `MEMSERVER_CLIENT_<NAME>_ELF` (name upper-cased, `-` as `_`): the per-client variables the
/// root task read before it read the blob, still set for every client of the description.
pub fn legacy_env_name(client: &str) -> String {
    format!(
        "MEMSERVER_CLIENT_{}_ELF",
        client.to_ascii_uppercase().replace('-', "_")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "[machine]\ncores = 2\n[[machine.node]]\nmemory = \"512 MiB\"\ncores = [0]\n\
        [[machine.node]]\nmemory = \"512 MiB\"\ncores = [1]\n\
        [[client]]\nname = \"a\"\ncrate = \"a\"\ncores = [0, 1]\n\
        [[client]]\nname = \"b\"\ncrate = \"b\"\ncores = [1]\n";

    #[test]
    fn narrowing_keeps_memory_and_moves_clients_to_remaining_cores() {
        let s = memserver_system::parse_str(TWO, "t.toml").unwrap();
        let one = narrow(s.clone(), 1).unwrap();
        assert_eq!(one.cores, 1);
        assert_eq!(one.ram_bytes(), 1 << 30);
        assert_eq!(one.nodes[1].cores, Vec::<u32>::new());
        assert_eq!(one.clients[0].cores, [0]);
        assert_eq!(one.clients[1].cores, [0]);
        assert_eq!(one.core_node(), [0]);
        assert!(one
            .qemu_args()
            .join(" ")
            .contains("-numa node,nodeid=1,memdev=ram1"));
        assert!(narrow(s.clone(), 3).is_err());
        assert!(narrow(s, 0).is_err());
    }

    #[test]
    fn client_variables_are_upper_case_with_underscores() {
        assert_eq!(legacy_env_name("echo"), "MEMSERVER_CLIENT_ECHO_ELF");
        assert_eq!(legacy_env_name("ms-alpha"), "MEMSERVER_CLIENT_MS_ALPHA_ELF");
    }

    /// `systems/numa4.toml` is the harness on four cores: the same server options and clients
    /// (sources resolved to the same folders), those on the harness's last core on core 3.
    #[test]
    fn numa4_runs_the_harness_clients() {
        let root = Paths::discover().root;
        let harness = load(&root.join("harness/system.toml")).unwrap();
        let numa4 = load(&root.join("systems/numa4.toml")).unwrap();
        assert_eq!((numa4.cores, numa4.nodes.len()), (4, 4));
        assert_eq!(harness.server, numa4.server);
        assert_eq!(harness.clients.len(), numa4.clients.len());
        let source = |s: &System, c: &memserver_system::description::ClientDesc| match &c.source {
            memserver_system::description::ClientSource::Crate(p) => {
                s.resolve(p).canonicalize().unwrap()
            }
            memserver_system::description::ClientSource::Elf { path, .. } => s.resolve(path),
        };
        let last = harness.cores - 1;
        for (h, n) in harness.clients.iter().zip(&numa4.clients) {
            let cores: Vec<u32> = h
                .cores
                .iter()
                .map(|&c| if c == last { 3 } else { c })
                .collect();
            assert_eq!(n.cores, cores, "{}", h.name);
            assert_eq!(source(&numa4, n), source(&harness, h), "{}", h.name);
            let same = |c: &memserver_system::description::ClientDesc| {
                (
                    c.name.clone(),
                    c.quota,
                    c.debug.clone(),
                    c.start,
                    c.supervisor,
                )
            };
            assert_eq!(same(n), same(h));
        }
    }

    #[test]
    fn the_systems_in_the_repository_parse() {
        let root = Paths::discover().root;
        for dir in ["systems", "examples/hello", "examples/hello-c", "harness"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml")
                    && p.file_name().is_some_and(|n| n != "Cargo.toml")
                {
                    load(&p).unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }
    }
}
