//! Reading criterion's results of one run: every `<group>/<function>[/<value>]/new/` directory
//! under the output directory (`CRITERION_HOME`) holds `benchmark.json` (the ids) and
//! `estimates.json` (the statistics). We take the median of the per-iteration times.
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One benchmark's figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub group: String,
    pub function: String,
    /// The parameter (`BenchmarkId::new(_, value)`), if any.
    pub value: Option<String>,
    /// Median time of one iteration, in nanoseconds.
    pub median_ns: f64,
    /// Elements per iteration, when the group declared a throughput.
    pub elements: Option<u64>,
}

impl Measurement {
    /// Median time per element (per iteration when no throughput was declared).
    pub fn ns_per_element(&self) -> f64 {
        self.median_ns / self.elements.unwrap_or(1).max(1) as f64
    }
}

#[derive(Debug)]
pub enum ResultsError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A field criterion always writes is missing.
    Missing { path: PathBuf, field: &'static str },
}

impl fmt::Display for ResultsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResultsError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ResultsError::Json { path, source } => write!(f, "{}: {source}", path.display()),
            ResultsError::Missing { path, field } => {
                write!(f, "{}: no `{field}`", path.display())
            }
        }
    }
}

impl std::error::Error for ResultsError {}

fn read_json(path: &Path) -> Result<Value, ResultsError> {
    let text = std::fs::read_to_string(path).map_err(|source| ResultsError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ResultsError::Json {
        path: path.to_owned(),
        source,
    })
}

fn one(dir: &Path) -> Result<Measurement, ResultsError> {
    let bpath = dir.join("benchmark.json");
    let epath = dir.join("estimates.json");
    let b = read_json(&bpath)?;
    let e = read_json(&epath)?;
    let missing = |path: &Path, field| ResultsError::Missing {
        path: path.to_owned(),
        field,
    };
    let text = |v: &Value, k: &'static str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(Measurement {
        group: text(&b, "group_id").ok_or_else(|| missing(&bpath, "group_id"))?,
        function: text(&b, "function_id").unwrap_or_default(),
        value: text(&b, "value_str"),
        median_ns: e
            .pointer("/median/point_estimate")
            .and_then(Value::as_f64)
            .ok_or_else(|| missing(&epath, "median.point_estimate"))?,
        elements: b.pointer("/throughput/Elements").and_then(Value::as_u64),
    })
}

fn walk(dir: &Path, out: &mut Vec<Measurement>) -> Result<(), ResultsError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ResultsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    for d in subdirs {
        if d.file_name().is_some_and(|n| n == "new") {
            if d.join("benchmark.json").is_file() {
                out.push(one(&d)?);
            }
        } else if d
            .file_name()
            .is_none_or(|n| n != "base" && n != "change" && n != "report")
        {
            walk(&d, out)?;
        }
    }
    Ok(())
}

/// Every benchmark under `root`, sorted by group, function and value.
pub fn collect(root: &Path) -> Result<Vec<Measurement>, ResultsError> {
    let mut out = Vec::new();
    if root.is_dir() {
        walk(root, &mut out)?;
    }
    Ok(out)
}

/// Looks one benchmark up.
pub fn find<'a>(
    all: &'a [Measurement],
    group: &str,
    function: &str,
    value: Option<&str>,
) -> Option<&'a Measurement> {
    all.iter()
        .find(|m| m.group == group && m.function == function && m.value.as_deref() == value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_layout() {
        let root = std::env::temp_dir().join(format!("crit-test-{}", std::process::id()));
        let dir = root.join("g/f/64/new");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("benchmark.json"),
            r#"{"group_id":"g","function_id":"f","value_str":"64","throughput":{"Elements":32},"full_id":"g/f/64","directory_name":"g/f/64","title":"g/f/64"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("estimates.json"),
            r#"{"mean":{"point_estimate":70.0},"median":{"point_estimate":64.0}}"#,
        )
        .unwrap();
        let base = root.join("g/f/64/base");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(base.join("benchmark.json"), "not json").unwrap();
        let all = collect(&root).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(all.len(), 1);
        let m = find(&all, "g", "f", Some("64")).unwrap();
        assert_eq!(m.median_ns, 64.0);
        assert_eq!(m.ns_per_element(), 2.0);
    }
}
