//! Owns running external programs as named steps: each step is announced on one line, its output
//! goes to a log file under `target/xtask/logs/` (or straight to the terminal for steps whose
//! output the user wants to watch), and a failure reports the step's name, exit status and the last
//! lines of its output.
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TAIL_LINES: usize = 30;

pub fn announce(name: &str) {
    println!("[xtask] {name}");
}

fn program(cmd: &Command) -> String {
    cmd.get_program().to_string_lossy().into_owned()
}

/// Last `n` lines of a file (empty if it cannot be read).
pub fn tail_of(path: &Path, n: usize) -> Vec<String> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(|l| l.ok()).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

pub struct Logs {
    dir: PathBuf,
}

impl Logs {
    pub fn new(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        Ok(Self { dir })
    }

    fn log_path(&self, name: &str) -> PathBuf {
        let slug: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        self.dir.join(format!("{slug}.log"))
    }

    /// Runs `cmd` with stdout and stderr in the step's log file.
    pub fn run(&self, name: &str, cmd: &mut Command) -> Result<()> {
        self.run_inner(name, cmd, false).map(|_| ())
    }

    /// Runs `cmd` with stderr in the step's log file and returns its stdout.
    pub fn run_stdout(&self, name: &str, cmd: &mut Command) -> Result<String> {
        self.run_inner(name, cmd, true)
    }

    fn run_inner(&self, name: &str, cmd: &mut Command, capture: bool) -> Result<String> {
        announce(name);
        let log = self.log_path(name);
        let file = File::create(&log).map_err(|e| Error::io("cannot create", &log, e))?;
        let err = file
            .try_clone()
            .map_err(|e| Error::io("cannot reopen", &log, e))?;
        cmd.stdin(Stdio::null()).stderr(Stdio::from(err));
        if capture {
            cmd.stdout(Stdio::piped());
        } else {
            cmd.stdout(Stdio::from(file));
        }
        let out = cmd.output().map_err(|source| Error::Spawn {
            step: name.to_owned(),
            program: program(cmd),
            source,
        })?;
        if !out.status.success() {
            return Err(Error::StepFailed {
                step: name.to_owned(),
                status: out.status.to_string(),
                tail: tail_of(&log, TAIL_LINES),
                log: Some(log),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Runs `cmd` with its output on the terminal (the user watches it; it is already visible when
/// the step fails).
pub fn run_visible(name: &str, cmd: &mut Command) -> Result<()> {
    announce(name);
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|source| Error::Spawn {
            step: name.to_owned(),
            program: program(cmd),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::StepFailed {
            step: name.to_owned(),
            status: status.to_string(),
            log: None,
            tail: Vec::new(),
        })
    }
}

/// Whether `cmd` runs and exits successfully (output discarded): used to probe for tools.
pub fn probe(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
