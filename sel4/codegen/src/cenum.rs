//! Reads the first `enum { ... }` of each of a chain of libsel4 C headers (object types, error
//! codes), honouring `#ifdef`/`#ifndef`/`#if`/`#else`/`#endif` inside the enum body and
//! `NAME = OTHER` references to earlier entries of the chain.

use crate::{condition, Config, GenError};
use std::collections::BTreeMap;

/// One enum entry: its C name and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub c_name: String,
    pub value: i64,
}

/// Parses the enums of `headers` in order; values and names carry over from one to the next.
pub fn parse_chain(headers: &[String], config: &Config) -> Result<Vec<Variant>, GenError> {
    let mut known: BTreeMap<String, i64> = BTreeMap::new();
    let mut out = Vec::new();
    for text in headers {
        let body = enum_body(text).ok_or_else(|| GenError::Malformed {
            file: "C header".into(),
            what: "no enum { ... } block".into(),
        })?;
        let mut active: Vec<bool> = Vec::new();
        let mut next = 0;
        for raw in strip_comments(body).lines() {
            let line = raw.trim();
            if let Some(directive) = line.strip_prefix('#') {
                let directive = directive.trim_start();
                let (word, rest) = directive
                    .split_once(char::is_whitespace)
                    .unwrap_or((directive, ""));
                match word {
                    "ifdef" => active.push(config.is_defined(rest.trim())),
                    "ifndef" => active.push(!config.is_defined(rest.trim())),
                    "if" => active.push(condition::holds(rest, config)?),
                    "else" => {
                        let top = active.last_mut().ok_or_else(|| unbalanced(line))?;
                        *top = !*top;
                    }
                    "endif" => {
                        active.pop().ok_or_else(|| unbalanced(line))?;
                    }
                    _ => {}
                }
                continue;
            }
            if active.iter().any(|a| !a) {
                continue;
            }
            for entry in line.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                if entry.starts_with("SEL4_FORCE_LONG_ENUM") {
                    continue;
                }
                let (name, value) = match entry.split_once('=') {
                    Some((name, expr)) => {
                        let expr = expr.trim();
                        let value = crate::config::parse_int(expr)
                            .or_else(|| known.get(expr).copied())
                            .ok_or_else(|| GenError::UnknownEnumName { name: expr.into() })?;
                        (name.trim(), value)
                    }
                    None => (entry, next),
                };
                known.insert(name.to_owned(), value);
                out.push(Variant {
                    c_name: name.to_owned(),
                    value,
                });
                next = value + 1;
            }
        }
    }
    Ok(out)
}

fn unbalanced(line: &str) -> GenError {
    GenError::Malformed {
        file: "C header".into(),
        what: format!("unbalanced {line}"),
    }
}

fn enum_body(text: &str) -> Option<&str> {
    let start = text.find("enum")?;
    let open = start + text[start..].find('{')? + 1;
    let close = open + text[open..].find('}')?;
    Some(&text[open..close])
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        rest = rest[i..].find("*/").map_or("", |j| &rest[i + j + 2..]);
    }
    out.push_str(rest);
    out.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_conditionals_and_references() {
        let a = "typedef enum a { /* c */ A0, A1,\n ACount, } x;".to_string();
        let b = "enum b {\n B0 = ACount,\n#ifdef CONFIG_X\n BX,\n#else\n BNotX,\n#endif\n BEnd\n};"
            .to_string();
        let got = parse_chain(&[a.clone(), b.clone()], &Config::default()).unwrap();
        let names: Vec<_> = got.iter().map(|v| (v.c_name.as_str(), v.value)).collect();
        assert_eq!(
            names,
            [
                ("A0", 0),
                ("A1", 1),
                ("ACount", 2),
                ("B0", 2),
                ("BNotX", 3),
                ("BEnd", 4)
            ]
        );
        let with_x = parse_chain(&[a, b], &Config::from_pairs([("CONFIG_X", 1)])).unwrap();
        assert_eq!(with_x[4].c_name, "BX");
    }

    #[test]
    fn unknown_reference_is_an_error() {
        assert_eq!(
            parse_chain(&["enum { A = Nope };".into()], &Config::default()),
            Err(GenError::UnknownEnumName {
                name: "Nope".into()
            })
        );
    }
}
