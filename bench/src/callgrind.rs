//! Instruction counts of the fast paths: `profile_pair` run under
//! `valgrind --tool=callgrind --toggle-collect=<function>`, once per workload function, so the
//! "Collected" total is exactly that function's inclusive count (everything it executes, the
//! peers' out-of-line C functions included), divided by its number of operations.
use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The workload functions of `profile_pair`, each run for `n` operations.
pub const FUNCTIONS: [&str; 8] = [
    "memserver_pairs",
    "memserver_handle_pairs",
    "memserver_batches",
    "mimalloc_pairs",
    "memserver_mixed",
    "memserver_set_mixed",
    "mimalloc_mixed",
    "memserver_remote",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Count {
    pub function: String,
    pub operations: u64,
    pub instructions: u64,
}

impl Count {
    pub fn per_op(&self) -> f64 {
        self.instructions as f64 / self.operations.max(1) as f64
    }
}

/// The "Collected : N" total of callgrind's summary on stderr.
pub fn collected(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|l| {
        let (_, rest) = l.split_once("Collected :")?;
        rest.trim().replace(',', "").parse().ok()
    })
}

/// Runs `profile` (the `profile_pair` binary) under callgrind once per function.
pub fn measure(profile: &Path, n: u64) -> Result<Vec<Count>, String> {
    let mut out = Vec::new();
    for f in FUNCTIONS {
        let res = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg("--callgrind-out-file=/dev/null")
            .arg(format!("--toggle-collect=*profile_pair::{f}*"))
            .arg(profile)
            .arg(n.to_string())
            .output()
            .map_err(|e| format!("valgrind: {e}"))?;
        let stderr = String::from_utf8_lossy(&res.stderr);
        if !res.status.success() {
            return Err(format!("valgrind on {f}: {}", res.status));
        }
        let instructions = collected(&stderr).ok_or_else(|| format!("{f}: no `Collected` line"))?;
        out.push(Count {
            function: f.to_owned(),
            operations: n,
            instructions,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_total_is_read_from_the_summary() {
        let text = "==1== Events    : Ir\n==1== Collected : 13206407\n==1==\n==1== I   refs:      26,101,979\n";
        assert_eq!(collected(text), Some(13_206_407));
        assert_eq!(collected("nothing"), None);
    }
}
