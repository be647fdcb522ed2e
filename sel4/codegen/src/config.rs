//! A kernel configuration: the `CONFIG_*` macros of an `autoconf.h`, as the preprocessor sees them.

use crate::GenError;
use std::collections::BTreeMap;

/// The set of defined `CONFIG_*` macros and their integer values (a bare `#define` is 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    defines: BTreeMap<String, i64>,
}

impl Config {
    /// Parses the `#define CONFIG_NAME [value]` lines of an `autoconf.h`; other lines are ignored.
    /// A value that is not an integer literal (e.g. a string) counts as defined with value 1
    /// only if it is a quoted string; anything else is an error.
    pub fn from_autoconf(text: &str) -> Result<Self, GenError> {
        let mut defines = BTreeMap::new();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("#define") {
                continue;
            }
            let Some(name) = words.next() else { continue };
            if !name.starts_with("CONFIG_") {
                continue;
            }
            let value = match words.next() {
                None => 1,
                Some(v) if v.starts_with('"') => 1,
                Some(v) => parse_int(v).ok_or_else(|| GenError::ConfigValue {
                    line: line.to_owned(),
                })?,
            };
            defines.insert(name.to_owned(), value);
        }
        Ok(Self { defines })
    }

    /// A configuration from explicit `(name, value)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, i64)>) -> Self {
        Self {
            defines: pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    /// The value of a macro if defined.
    pub fn get(&self, name: &str) -> Option<i64> {
        self.defines.get(name).copied()
    }

    /// All defined macros in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.defines.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Whether a macro is defined.
    pub fn is_defined(&self, name: &str) -> bool {
        self.defines.contains_key(name)
    }
}

/// Parses a C integer literal (decimal or hex, optional `u`/`l` suffixes).
pub fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()
    } else {
        t.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_defines_with_and_without_values() {
        let c = Config::from_autoconf(
            "#pragma once\n#define CONFIG_MAX_NUM_NODES 2\n#define CONFIG_DEBUG_BUILD\n#define CONFIG_X 0x10\n#define OTHER 3\n",
        )
        .unwrap();
        assert_eq!(c.get("CONFIG_MAX_NUM_NODES"), Some(2));
        assert_eq!(c.get("CONFIG_DEBUG_BUILD"), Some(1));
        assert_eq!(c.get("CONFIG_X"), Some(16));
        assert!(!c.is_defined("OTHER"));
    }

    #[test]
    fn rejects_non_integer_values() {
        assert!(matches!(
            Config::from_autoconf("#define CONFIG_BAD abc\n"),
            Err(GenError::ConfigValue { .. })
        ));
    }
}
