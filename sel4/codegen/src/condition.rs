//! Evaluates the preprocessor-style conditions of the interface files (`defined(CONFIG_X)`,
//! `defined CONFIG_X`, `CONFIG_N > 1`, `!`, `&&`, `||`, comparisons, parentheses) against a
//! [`Config`]. An undefined name evaluates to 0, as in the C preprocessor.

use crate::{Config, GenError};

/// Whether `expr` holds for `config`; an empty condition always holds.
pub fn holds(expr: &str, config: &Config) -> Result<bool, GenError> {
    if expr.trim().is_empty() {
        return Ok(true);
    }
    let tokens = tokenize(expr)?;
    let mut parser = Parser {
        expr,
        tokens: &tokens,
        pos: 0,
        config,
    };
    let value = parser.or()?;
    match parser.tokens.get(parser.pos) {
        None => Ok(value != 0),
        Some(t) => Err(parser.error_at(t.1)),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    Op(&'static str),
}

const OPS: [&str; 12] = [
    "&&", "||", "==", "!=", ">=", "<=", ">", "<", "!", "(", ")", "-",
];

fn tokenize(expr: &str) -> Result<Vec<(Tok, usize)>, GenError> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((Tok::Ident(expr[start..i].to_owned()), start));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let v = crate::config::parse_int(&expr[start..i]).ok_or(GenError::Condition {
                expr: expr.to_owned(),
                at: start,
            })?;
            out.push((Tok::Int(v), start));
        } else if let Some(op) = OPS.iter().find(|op| expr[i..].starts_with(**op)) {
            out.push((Tok::Op(op), i));
            i += op.len();
        } else {
            return Err(GenError::Condition {
                expr: expr.to_owned(),
                at: i,
            });
        }
    }
    Ok(out)
}

struct Parser<'a> {
    expr: &'a str,
    tokens: &'a [(Tok, usize)],
    pos: usize,
    config: &'a Config,
}

impl Parser<'_> {
    fn error_at(&self, at: usize) -> GenError {
        GenError::Condition {
            expr: self.expr.to_owned(),
            at,
        }
    }

    fn error_here(&self) -> GenError {
        let at = self.tokens.get(self.pos).map_or(self.expr.len(), |t| t.1);
        self.error_at(at)
    }

    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.tokens.get(self.pos), Some((Tok::Op(o), _)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<i64, GenError> {
        let mut v = self.and()?;
        while self.eat("||") {
            let r = self.and()?;
            v = i64::from(v != 0 || r != 0);
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<i64, GenError> {
        let mut v = self.compare()?;
        while self.eat("&&") {
            let r = self.compare()?;
            v = i64::from(v != 0 && r != 0);
        }
        Ok(v)
    }

    fn compare(&mut self) -> Result<i64, GenError> {
        let l = self.unary()?;
        for op in ["==", "!=", ">=", "<=", ">", "<"] {
            if self.eat(op) {
                let r = self.unary()?;
                let b = match op {
                    "==" => l == r,
                    "!=" => l != r,
                    ">=" => l >= r,
                    "<=" => l <= r,
                    ">" => l > r,
                    _ => l < r,
                };
                return Ok(i64::from(b));
            }
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<i64, GenError> {
        if self.eat("!") {
            return Ok(i64::from(self.unary()? == 0));
        }
        if self.eat("-") {
            return Ok(-self.unary()?);
        }
        if self.eat("(") {
            let v = self.or()?;
            if !self.eat(")") {
                return Err(self.error_here());
            }
            return Ok(v);
        }
        match self.tokens.get(self.pos).cloned() {
            Some((Tok::Int(v), _)) => {
                self.pos += 1;
                Ok(v)
            }
            Some((Tok::Ident(name), _)) if name == "defined" => {
                self.pos += 1;
                let paren = self.eat("(");
                let Some((Tok::Ident(target), _)) = self.tokens.get(self.pos).cloned() else {
                    return Err(self.error_here());
                };
                self.pos += 1;
                if paren && !self.eat(")") {
                    return Err(self.error_here());
                }
                Ok(i64::from(self.config.is_defined(&target)))
            }
            Some((Tok::Ident(name), _)) => {
                self.pos += 1;
                Ok(self.config.get(&name).unwrap_or(0))
            }
            _ => Err(self.error_here()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::from_pairs([("CONFIG_MAX_NUM_NODES", 2), ("CONFIG_DEBUG_BUILD", 1)])
    }

    #[test]
    fn evaluates_the_forms_used_by_the_interface_files() {
        let c = cfg();
        assert!(holds("", &c).unwrap());
        assert!(holds("CONFIG_MAX_NUM_NODES > 1", &c).unwrap());
        assert!(!holds("CONFIG_MAX_NUM_NODES > 2", &c).unwrap());
        assert!(holds("defined CONFIG_DEBUG_BUILD", &c).unwrap());
        assert!(!holds("defined(CONFIG_HARDWARE_DEBUG_API)", &c).unwrap());
        assert!(holds(
            "!defined(CONFIG_ARM_SMMU) && (CONFIG_MAX_NUM_NODES == 2 || 0)",
            &c
        )
        .unwrap());
        assert!(!holds("CONFIG_UNDEFINED", &c).unwrap());
    }

    #[test]
    fn malformed_conditions_are_errors_with_position() {
        let c = cfg();
        assert_eq!(
            holds("defined(CONFIG_X", &c),
            Err(GenError::Condition {
                expr: "defined(CONFIG_X".into(),
                at: 16
            })
        );
        assert!(matches!(
            holds("1 +", &c),
            Err(GenError::Condition { at: 2, .. })
        ));
        assert!(matches!(holds("(1", &c), Err(GenError::Condition { .. })));
        assert!(matches!(
            holds("1 1", &c),
            Err(GenError::Condition { at: 2, .. })
        ));
    }
}
