//! Owns building seL4 5.0.0: fetching the pinned `sel4-sys =0.0.28` package through cargo,
//! unpacking a private copy of its `seL4/` folder under `target/sel4-kernel/src`, adding our
//! `virt` platform files and applying our patches (`qemu/kernel/`), writing the configuration's
//! `autoconf.h` into a build folder per configuration and running the kernel's own Makefile.
//! The private copy is rebuilt from the archive whenever the archive, the platform files or the
//! patches change (a stamp file records what it was made from); it is never edited in place.
use crate::error::{Error, Result};
use crate::paths::{self, Paths};
use crate::step::Logs;
use memserver_system::derive::KernelSettings;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "sel4-sys-0.0.28";
const STAMP: &str = ".memserver-stamp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Prints, has seL4_DebugPutChar / seL4_DebugHalt.
    Debug,
    /// No printing, no debug syscalls.
    Release,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Debug => "debug",
            Flavor::Release => "release",
        }
    }
}

/// A kernel build: the flavour and what the system description decides (cores, end of RAM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelConfig {
    pub flavor: Flavor,
    pub settings: KernelSettings,
}

impl KernelConfig {
    /// `debug-2core-1024M`: names the build folder.
    pub fn name(&self) -> String {
        format!("{}-{}", self.flavor.name(), self.settings.name())
    }

    /// CONFIG_MAX_NUM_NODES: cores the kernel runs on.
    pub fn cores(&self) -> u32 {
        self.settings.cores
    }
}

/// A built kernel.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub config: KernelConfig,
    pub elf: PathBuf,
    pub autoconf: PathBuf,
    /// The patched source tree it was built from.
    pub source: PathBuf,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))
}

fn write_if_changed(path: &Path, contents: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    std::fs::write(path, contents).map_err(|e| Error::io("cannot write", path, e))
}

/// All regular files below `dir`, sorted, as (path relative to dir, full path).
fn files_below(dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io("cannot list", &d, e))?;
        for entry in entries {
            let path = entry.map_err(|e| Error::io("cannot list", &d, e))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn find_crate_archive() -> Result<PathBuf> {
    let cache = paths::cargo_home().join("registry").join("cache");
    let name = format!("{PACKAGE}.crate");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&cache)
        .map_err(|e| Error::io("cannot list cargo's registry cache", &cache, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(&name))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.into_iter().next().ok_or_else(|| {
        Error::KernelSource(format!(
            "{name} is not in {} after `cargo fetch`",
            cache.display()
        ))
    })
}

fn unpack(archive: &Path, dest: &Path) -> Result<()> {
    let file = std::fs::File::open(archive).map_err(|e| Error::io("cannot open", archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let prefix = Path::new(PACKAGE).join("seL4");
    let entries = tar
        .entries()
        .map_err(|e| Error::io("cannot read archive", archive, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::io("cannot read archive", archive, e))?;
        let path = entry
            .path()
            .map_err(|e| Error::io("bad path in archive", archive, e))?
            .into_owned();
        let Ok(rel) = path.strip_prefix(&prefix) else {
            continue;
        };
        if rel.as_os_str().is_empty() || !entry.header().entry_type().is_file() {
            continue;
        }
        let out = dest.join(rel);
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        }
        entry
            .unpack(&out)
            .map_err(|e| Error::io("cannot unpack", &out, e))?;
    }
    Ok(())
}

/// Splits a multi-file unified diff into (file, single-file diff text).
fn split_patch(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let starts_file =
            lines[i].starts_with("--- ") && lines.get(i + 1).is_some_and(|l| l.starts_with("+++ "));
        if starts_file {
            let target = lines[i + 1][4..]
                .trim_end()
                .trim_start_matches("b/")
                .to_owned();
            out.push((target, String::new()));
        }
        if let Some((_, body)) = out.last_mut() {
            body.push_str(lines[i]);
        }
        i += 1;
    }
    out
}

fn apply_patch(src: &Path, patch_file: &Path) -> Result<()> {
    let text = String::from_utf8(read(patch_file)?)
        .map_err(|_| Error::KernelSource(format!("{} is not UTF-8", patch_file.display())))?;
    let files = split_patch(&text);
    if files.is_empty() {
        return Err(Error::KernelSource(format!(
            "{} holds no file diff",
            patch_file.display()
        )));
    }
    for (target, diff) in files {
        let bad = |what: String| {
            Error::KernelSource(format!("{} on {target}: {what}", patch_file.display()))
        };
        let patch = diffy::Patch::from_str(&diff).map_err(|e| bad(e.to_string()))?;
        let path = src.join(&target);
        let original = String::from_utf8(read(&path)?).map_err(|_| bad("not UTF-8".into()))?;
        let patched = diffy::apply(&original, &patch).map_err(|e| bad(e.to_string()))?;
        std::fs::write(&path, patched).map_err(|e| Error::io("cannot write", &path, e))?;
    }
    Ok(())
}

/// The patched private source tree, made fresh if its inputs changed.
pub fn prepare_source(paths: &Paths, logs: &Logs) -> Result<PathBuf> {
    let manifest = paths.qemu().join("kernel-src").join("Cargo.toml");
    logs.run(
        "fetch seL4 5.0.0 source (cargo fetch sel4-sys =0.0.28)",
        Command::new(paths::cargo())
            .args(["fetch", "--locked", "--manifest-path"])
            .arg(&manifest),
    )?;
    let archive = find_crate_archive()?;
    let platform = files_below(&paths.qemu().join("kernel").join("platform"))?;
    let patches: Vec<PathBuf> = files_below(&paths.qemu().join("kernel").join("patches"))?
        .into_iter()
        .map(|(_, full)| full)
        .filter(|p| p.extension().is_some_and(|e| e == "patch"))
        .collect();

    let mut hasher = DefaultHasher::new();
    read(&archive)?.hash(&mut hasher);
    for (rel, full) in &platform {
        rel.hash(&mut hasher);
        read(full)?.hash(&mut hasher);
    }
    for p in &patches {
        p.file_name().hash(&mut hasher);
        read(p)?.hash(&mut hasher);
    }
    let stamp = format!("{:016x}\n", hasher.finish());

    let src = paths.kernel_dir().join("src");
    if std::fs::read_to_string(src.join(STAMP)).is_ok_and(|s| s == stamp) {
        return Ok(src);
    }
    crate::step::announce("unpack and patch a private copy of the seL4 5.0.0 source");
    if src.exists() {
        std::fs::remove_dir_all(&src).map_err(|e| Error::io("cannot remove", &src, e))?;
    }
    unpack(&archive, &src)?;
    for (rel, full) in &platform {
        let dest = src.join(rel);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        }
        std::fs::copy(full, &dest).map_err(|e| Error::io("cannot copy to", &dest, e))?;
    }
    for p in &patches {
        apply_patch(&src, p)?;
    }
    std::fs::write(src.join(STAMP), stamp).map_err(|e| Error::io("cannot write", &src, e))?;
    Ok(src)
}

/// The `autoconf.h` text for a configuration: our file for the flavor, with the core count and
/// the end of RAM of the system description.
fn autoconf(paths: &Paths, config: KernelConfig) -> Result<String> {
    let file = paths
        .qemu()
        .join("kernel")
        .join("config")
        .join(format!("autoconf-{}.h", config.flavor.name()));
    let text = String::from_utf8(read(&file)?)
        .map_err(|_| Error::KernelSource(format!("{} is not UTF-8", file.display())))?;
    config.settings.apply(&text).ok_or_else(|| {
        Error::KernelSource(format!(
            "{} lacks `#define CONFIG_MAX_NUM_NODES 1` or already sets CONFIG_MEMSERVER_RAM_END",
            file.display()
        ))
    })
}

pub fn build(paths: &Paths, logs: &Logs, src: &Path, config: KernelConfig) -> Result<Kernel> {
    let dir = paths.kernel_dir().join(format!("build-{}", config.name()));
    let autoconf_path = dir.join("autoconf.h");
    let text = autoconf(paths, config)?;
    // The kernel's Makefile does not track autoconf.h: a changed configuration starts from an
    // empty build folder.
    if dir.exists() && std::fs::read_to_string(&autoconf_path).ok().as_deref() != Some(&text) {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("cannot remove", &dir, e))?;
    }
    write_if_changed(&autoconf_path, text.as_bytes())?;
    let mut make = Command::new("make");
    make.current_dir(&dir)
        .arg("-f")
        .arg(src.join("Makefile"))
        .arg(format!("SOURCE_ROOT={}", src.display()))
        .args([
            "ARCH=arm",
            "SEL4_ARCH=aarch64",
            "PLAT=virt",
            "ARMV=armv8-a",
            "CPU=cortex-a53",
            "TOOLPREFIX=aarch64-linux-gnu-",
            "PYTHON=python3",
            "CIRCULAR_INCLUDES=true",
            "-j2",
        ]);
    if config.flavor == Flavor::Debug {
        make.arg("DEBUG=1");
    }
    make.arg("kernel.elf");
    logs.run(&format!("build seL4 kernel ({})", config.name()), &mut make)?;
    Ok(Kernel {
        config,
        elf: dir.join("kernel.elf"),
        autoconf: autoconf_path,
        source: src.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_FILES: &str = "\
description line
--- a/Makefile
+++ b/Makefile
@@ -1,2 +1,2 @@
 keep
-old
+new
--- src/x.c
+++ src/x.c
@@ -1 +1,2 @@
 a
+b
";

    #[test]
    fn multi_file_patches_split_per_file_and_apply() {
        let files = split_patch(TWO_FILES);
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Makefile", "src/x.c"]);
        let patch = diffy::Patch::from_str(&files[0].1).unwrap();
        assert_eq!(diffy::apply("keep\nold\n", &patch).unwrap(), "keep\nnew\n");
        let patch = diffy::Patch::from_str(&files[1].1).unwrap();
        assert_eq!(diffy::apply("a\n", &patch).unwrap(), "a\nb\n");
        assert!(diffy::apply("other\n", &patch).is_err());
    }

    #[test]
    fn our_configurations_are_single_core_and_differ_only_in_debug() {
        let dir = Paths::discover().qemu().join("kernel").join("config");
        let debug = std::fs::read_to_string(dir.join("autoconf-debug.h")).unwrap();
        let release = std::fs::read_to_string(dir.join("autoconf-release.h")).unwrap();
        let defines = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| l.starts_with("#define CONFIG_"))
                .map(str::to_owned)
                .collect()
        };
        let (d, r) = (defines(&debug), defines(&release));
        let settings = KernelSettings {
            cores: 2,
            ram_end: 0x8000_0000,
            root_cnode_bits: 14,
        };
        assert!(settings.apply(&debug).is_some() && settings.apply(&release).is_some());
        let only_debug: Vec<&String> = d.iter().filter(|l| !r.contains(l)).collect();
        assert_eq!(
            only_debug,
            ["#define CONFIG_DEBUG_BUILD 1", "#define CONFIG_PRINTING 1"]
        );
        assert!(r.iter().all(|l| d.contains(l)));
    }
}
