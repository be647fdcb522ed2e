//! Reading `/proc/slabinfo` text ("slabinfo - version: 2.1"): the rows the memory replay and the
//! kmalloc workload are built from. Pure parsing; every malformed line is a precise error.
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One cache's row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    pub active_objs: u64,
    pub num_objs: u64,
    pub objsize: u64,
    pub objperslab: u64,
    pub pagesperslab: u64,
}

impl Row {
    /// Linux's bytes per object: a slab's bytes over its objects.
    pub fn bytes_per_object(&self) -> f64 {
        (self.pagesperslab * 4096) as f64 / self.objperslab as f64
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The first line is not the version 2.1 header.
    BadVersion { found: String },
    /// A row has fewer than the six leading fields.
    ShortRow { line: usize },
    /// A numeric field does not parse.
    BadNumber { line: usize, field: &'static str },
    /// `objperslab` or `pagesperslab` is zero in a row with objects.
    EmptySlab { line: usize },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::BadVersion { found } => write!(f, "not slabinfo version 2.1: {found:?}"),
            ParseError::ShortRow { line } => write!(f, "line {line}: fewer than six fields"),
            ParseError::BadNumber { line, field } => write!(f, "line {line}: bad {field}"),
            ParseError::EmptySlab { line } => {
                write!(f, "line {line}: zero objects or pages per slab")
            }
        }
    }
}

impl std::error::Error for ParseError {}

const FIELDS: [&str; 5] = [
    "active_objs",
    "num_objs",
    "objsize",
    "objperslab",
    "pagesperslab",
];

/// Parses the whole text (both header lines, then one row per cache).
pub fn parse(text: &str) -> Result<Vec<Row>, ParseError> {
    let mut lines = text.lines().enumerate();
    let first = lines.next().map_or("", |(_, l)| l);
    if first.trim() != "slabinfo - version: 2.1" {
        return Err(ParseError::BadVersion {
            found: first.to_owned(),
        });
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        let line_no = i + 1;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        let name = it.next().ok_or(ParseError::ShortRow { line: line_no })?;
        let mut v = [0u64; 5];
        for (slot, field) in v.iter_mut().zip(FIELDS) {
            let s = it.next().ok_or(ParseError::ShortRow { line: line_no })?;
            *slot = s.parse().map_err(|_| ParseError::BadNumber {
                line: line_no,
                field,
            })?;
        }
        if v[0] > 0 && (v[3] == 0 || v[4] == 0) {
            return Err(ParseError::EmptySlab { line: line_no });
        }
        rows.push(Row {
            name: name.to_owned(),
            active_objs: v[0],
            num_objs: v[1],
            objsize: v[2],
            objperslab: v[3],
            pagesperslab: v[4],
        });
    }
    Ok(rows)
}

/// Reads and parses a slabinfo file.
pub fn read(path: &Path) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    Ok(parse(&text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
kmalloc-96          3446   3486     96   42    1 : tunables    0    0    0 : slabdata     83     83      0
kmalloc-8k            36     36   8192    4    8 : tunables    0    0    0 : slabdata      9      9      0
";

    #[test]
    fn rows_parse_with_linux_bytes_per_object() {
        let rows = parse(SAMPLE).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "kmalloc-96");
        assert_eq!(rows[0].active_objs, 3446);
        assert_eq!(rows[1].pagesperslab, 8);
        assert!((rows[0].bytes_per_object() - 4096.0 / 42.0).abs() < 1e-9);
    }

    #[test]
    fn bad_text_gives_precise_errors() {
        assert!(matches!(parse("hello"), Err(ParseError::BadVersion { .. })));
        let short = "slabinfo - version: 2.1\nfoo 1 2\n";
        assert_eq!(parse(short), Err(ParseError::ShortRow { line: 2 }));
        let bad = "slabinfo - version: 2.1\nfoo 1 2 x 4 1\n";
        assert_eq!(
            parse(bad),
            Err(ParseError::BadNumber {
                line: 2,
                field: "objsize"
            })
        );
        let empty = "slabinfo - version: 2.1\nfoo 1 2 8 0 1\n";
        assert_eq!(parse(empty), Err(ParseError::EmptySlab { line: 2 }));
    }

    #[test]
    fn the_saved_sample_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/slabinfo.sample");
        let rows = read(&path).unwrap();
        assert!(rows.iter().filter(|r| r.active_objs > 0).count() > 50);
    }
}
