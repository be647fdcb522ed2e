//! Owns where things are: the repository root, cargo's target directory (CARGO_TARGET_DIR or
//! `<root>/target`) and xtask's own folders inside it, and cargo's home.
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
    pub target: PathBuf,
}

impl Paths {
    pub fn discover() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives one level below the repository root")
            .to_path_buf();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        Self { root, target }
    }

    pub fn qemu(&self) -> PathBuf {
        self.root.join("qemu")
    }

    pub fn xtask_dir(&self) -> PathBuf {
        self.target.join("xtask")
    }

    pub fn logs(&self) -> PathBuf {
        self.xtask_dir().join("logs")
    }

    pub fn kernel_dir(&self) -> PathBuf {
        self.target.join("sel4-kernel")
    }

    pub fn images(&self) -> PathBuf {
        self.xtask_dir().join("images")
    }
}

pub fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}
