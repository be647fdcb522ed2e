//! A client's cache debug options in Linux's `slab_debug=` syntax (`Documentation/mm/slub.rst`):
//! blocks separated by `;`, each `<options>[,<cache>,<cache>...]`. Options: `F` consistency
//! checks, `Z` red zones, `P` poisoning, `U` user tracking (owner and sequence of the last alloc
//! and free), `-` everything off. A block without caches sets the default for every cache; a
//! block with caches sets the options of those caches (a name ending in `*` matches every cache
//! whose name starts with the rest), the first such block naming a cache wins. A block with
//! caches and no options turns everything on for them, as in Linux. The whole text empty: off.
//!
//! Linux's `T` (trace), `A` (failslab) and `O` (off for caches that would need a higher order)
//! have no counterpart here and are refused rather than ignored.

/// The checks one cache gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DebugFlags {
    /// `F`: double free, foreign or interior pointers, damaged red zones or poison.
    pub consistency: bool,
    /// `Z`
    pub red_zone: bool,
    /// `P`
    pub poison: bool,
    /// `U`
    pub store_user: bool,
}

impl DebugFlags {
    pub const OFF: DebugFlags = DebugFlags {
        consistency: false,
        red_zone: false,
        poison: false,
        store_user: false,
    };
    pub const ALL: DebugFlags = DebugFlags {
        consistency: true,
        red_zone: true,
        poison: true,
        store_user: true,
    };

    pub fn any(&self) -> bool {
        *self != Self::OFF
    }
}

/// What is wrong with a `slab_debug` text, at byte offset `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DebugError {
    pub at: usize,
    pub kind: DebugErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebugErrorKind {
    /// Not an option letter of `slab_debug`.
    UnknownOption(char),
    /// A Linux option this server does not implement.
    Unsupported(char),
    /// `-` together with other options in one block.
    OffWithOthers,
    /// An empty cache name (two commas, or a trailing comma).
    EmptyCacheName,
    /// A cache name with a space or control character, or a `*` before its end.
    BadCacheName,
}

impl core::fmt::Display for DebugError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.kind {
            DebugErrorKind::UnknownOption(c) => write!(
                f,
                "unknown option `{c}` at byte {} (options: F, Z, P, U, or -)",
                self.at
            ),
            DebugErrorKind::Unsupported(c) => write!(
                f,
                "option `{c}` at byte {} is Linux's {} and has no counterpart here (options: F, Z, P, U, or -)",
                self.at,
                match c {
                    'T' => "tracing",
                    'A' => "failslab mark",
                    _ => "order limit",
                }
            ),
            DebugErrorKind::OffWithOthers => {
                write!(f, "`-` (off) with other options in one block at byte {}", self.at)
            }
            DebugErrorKind::EmptyCacheName => write!(f, "empty cache name at byte {}", self.at),
            DebugErrorKind::BadCacheName => write!(
                f,
                "bad cache name at byte {} (no spaces; `*` only at the end)",
                self.at
            ),
        }
    }
}

/// A checked `slab_debug` text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlabDebug<'a> {
    text: &'a str,
}

/// One block: its options and its cache list (empty: the default block).
fn blocks(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut at = 0;
    text.split(';').map(move |b| {
        let start = at;
        at += b.len() + 1;
        (start, b)
    })
}

fn options(at: usize, opts: &str, has_caches: bool) -> Result<DebugFlags, DebugError> {
    let mut flags = DebugFlags::OFF;
    if opts.is_empty() {
        return Ok(if has_caches {
            DebugFlags::ALL
        } else {
            DebugFlags::OFF
        });
    }
    for (i, c) in opts.char_indices() {
        let err = |kind| DebugError { at: at + i, kind };
        match c {
            'F' | 'f' => flags.consistency = true,
            'Z' | 'z' => flags.red_zone = true,
            'P' | 'p' => flags.poison = true,
            'U' | 'u' => flags.store_user = true,
            '-' if opts.len() == 1 => {}
            '-' => return Err(err(DebugErrorKind::OffWithOthers)),
            'T' | 't' | 'A' | 'a' | 'O' | 'o' => {
                return Err(err(DebugErrorKind::Unsupported(c.to_ascii_uppercase())))
            }
            _ => return Err(err(DebugErrorKind::UnknownOption(c))),
        }
    }
    Ok(flags)
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

impl<'a> SlabDebug<'a> {
    /// Checks `text`.
    pub fn parse(text: &'a str) -> Result<Self, DebugError> {
        if text.is_empty() {
            return Ok(SlabDebug { text });
        }
        for (start, block) in blocks(text) {
            let mut parts = block.split(',');
            let opts = parts.next().unwrap_or("");
            let mut at = start + opts.len() + 1;
            let mut has_caches = false;
            for name in parts {
                has_caches = true;
                if name.is_empty() {
                    return Err(DebugError {
                        at,
                        kind: DebugErrorKind::EmptyCacheName,
                    });
                }
                let bad_char = name.chars().any(|c| c.is_whitespace() || c.is_control());
                let inner_star = name
                    .char_indices()
                    .any(|(i, c)| c == '*' && i + 1 != name.len());
                if bad_char || inner_star {
                    return Err(DebugError {
                        at,
                        kind: DebugErrorKind::BadCacheName,
                    });
                }
                at += name.len() + 1;
            }
            options(start, opts, has_caches)?;
        }
        Ok(SlabDebug { text })
    }

    /// The checked text.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The checks of the cache named `cache`.
    pub fn flags_for(&self, cache: &str) -> DebugFlags {
        if self.text.is_empty() {
            return DebugFlags::OFF;
        }
        let mut default = DebugFlags::OFF;
        for (start, block) in blocks(self.text) {
            let mut parts = block.split(',');
            let opts = parts.next().unwrap_or("");
            let mut caches = parts.peekable();
            let has_caches = caches.peek().is_some();
            // Checked by `parse`.
            let flags = options(start, opts, has_caches).unwrap_or(DebugFlags::OFF);
            if !has_caches {
                default = flags;
            } else if caches.any(|p| matches(p, cache)) {
                return flags;
            }
        }
        default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(s: &str) -> DebugFlags {
        let mut f = DebugFlags::OFF;
        for c in s.chars() {
            match c {
                'F' => f.consistency = true,
                'Z' => f.red_zone = true,
                'P' => f.poison = true,
                'U' => f.store_user = true,
                _ => unreachable!(),
            }
        }
        f
    }

    #[test]
    fn linux_examples_mean_what_they_mean_in_linux() {
        let all = SlabDebug::parse("FZPU").unwrap();
        assert_eq!(all.flags_for("anything"), DebugFlags::ALL);
        let some = SlabDebug::parse("FZ,cache_a,cache_b").unwrap();
        assert_eq!(some.flags_for("cache_a"), flags("FZ"));
        assert_eq!(some.flags_for("cache_b"), flags("FZ"));
        assert_eq!(some.flags_for("cache_c"), DebugFlags::OFF);
        let every = SlabDebug::parse(",dentry").unwrap();
        assert_eq!(every.flags_for("dentry"), DebugFlags::ALL);
        assert_eq!(every.flags_for("inode"), DebugFlags::OFF);
        let mixed = SlabDebug::parse("Z;-,zs_handle,zspage;P,kmalloc-*").unwrap();
        assert_eq!(mixed.flags_for("other"), flags("Z"));
        assert_eq!(mixed.flags_for("zspage"), DebugFlags::OFF);
        assert_eq!(mixed.flags_for("kmalloc-64"), flags("P"));
        assert_eq!(mixed.flags_for("kmalloc"), flags("Z"));
        assert_eq!(
            SlabDebug::parse("").unwrap().flags_for("x"),
            DebugFlags::OFF
        );
        assert_eq!(SlabDebug::parse("fz").unwrap().flags_for("x"), flags("FZ"));
    }

    #[test]
    fn bad_texts_name_the_place_and_the_reason() {
        let err = |t| SlabDebug::parse(t).unwrap_err();
        assert_eq!(
            err("FX"),
            DebugError {
                at: 1,
                kind: DebugErrorKind::UnknownOption('X')
            }
        );
        assert_eq!(err("FZ;T,a").kind, DebugErrorKind::Unsupported('T'));
        assert_eq!(err("FZ;T,a").at, 3);
        assert_eq!(err("-F").kind, DebugErrorKind::OffWithOthers);
        assert_eq!(
            err("F,a,,b"),
            DebugError {
                at: 4,
                kind: DebugErrorKind::EmptyCacheName
            }
        );
        assert_eq!(err("F,a,").kind, DebugErrorKind::EmptyCacheName);
        assert_eq!(err("F,a b").kind, DebugErrorKind::BadCacheName);
        assert_eq!(err("F,a*b").kind, DebugErrorKind::BadCacheName);
    }
}
