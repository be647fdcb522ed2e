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

    pub fn log_path(&self, name: &str) -> PathBuf {
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

/// Test counts read from cargo test's `test result:` lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
}

impl Counts {
    /// Adds the counts of one `test result: ok. 12 passed; 0 failed; ...` line; other lines add nothing.
    pub fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim_start().strip_prefix("test result: ") else {
            return;
        };
        let number_before = |word: &str| {
            rest.split(';')
                .find_map(|part| {
                    part.trim()
                        .strip_suffix(word)?
                        .rsplit(' ')
                        .find(|t| !t.is_empty())?
                        .parse::<u64>()
                        .ok()
                })
                .unwrap_or(0)
        };
        self.passed += number_before(" passed");
        self.failed += number_before(" failed");
    }
}

/// Like [`run_visible`], and also counts the tests cargo reports on standard output (also when
/// the step fails, so a failed run still tells how many tests failed).
pub fn run_counted(name: &str, cmd: &mut Command) -> (Counts, Result<()>) {
    let mut counts = Counts::default();
    let result = run_counting(name, cmd, &mut counts);
    (counts, result)
}

fn run_counting(name: &str, cmd: &mut Command, counts: &mut Counts) -> Result<()> {
    use std::io::{BufRead, BufReader};
    announce(name);
    let prog = program(cmd);
    let spawn_error = |source| Error::Spawn {
        step: name.to_owned(),
        program: prog.clone(),
        source,
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
            println!("{line}");
            counts.add_line(&line);
        }
    }
    let status = child.wait().map_err(spawn_error)?;
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

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn counts_cargo_test_result_lines() {
        let mut c = Counts::default();
        c.add_line("test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s");
        c.add_line(
            "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        c.add_line("test foo ... ok");
        assert_eq!((c.passed, c.failed), (15, 2));
    }
}
