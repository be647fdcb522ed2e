//! Sizes and counts as a description writes them: a plain number, `"unlimited"`, or a number
//! with a binary unit (`"512 MiB"`, `"4M"`, `"1 GiB"`, `"64K"`; `K`/`M`/`G`/`T` are binary as in
//! Linux's `memparse`). Decimal units (`MB`, `GB`) are refused rather than guessed.

/// Why a size does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeError {
    Empty,
    /// No number before the unit.
    NoNumber,
    /// The number does not fit 64 bits (with its unit).
    TooLarge,
    /// A unit we do not know.
    UnknownUnit,
    /// A decimal unit (`kB`, `MB`, `GB`, `TB`): write `KiB`, `MiB`, `GiB`, `TiB`.
    DecimalUnit,
    /// A count of objects has no unit.
    UnitOnCount,
    /// `unlimited` where a finite size is needed.
    Unlimited,
}

impl core::fmt::Display for SizeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty size",
            Self::NoNumber => "no number before the unit",
            Self::TooLarge => "larger than 2^64 - 1",
            Self::UnknownUnit => "unknown unit (use B, K/KiB, M/MiB, G/GiB, T/TiB)",
            Self::DecimalUnit => {
                "decimal units are ambiguous: write KiB, MiB, GiB or TiB (powers of 1024)"
            }
            Self::UnitOnCount => "a count takes no unit",
            Self::Unlimited => "must be finite here",
        })
    }
}

/// `u64::MAX` stands for unlimited.
pub const UNLIMITED: u64 = u64::MAX;

fn shift_of(unit: &str) -> Result<u32, SizeError> {
    Ok(match unit {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        "kB" | "KB" | "MB" | "GB" | "TB" => return Err(SizeError::DecimalUnit),
        _ => return Err(SizeError::UnknownUnit),
    })
}

/// Parses a byte size; `"unlimited"` gives [`UNLIMITED`].
pub fn parse_bytes(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    if t == "unlimited" {
        return Ok(UNLIMITED);
    }
    if t.is_empty() {
        return Err(SizeError::Empty);
    }
    let digits = t
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    if number.is_empty() {
        return Err(SizeError::NoNumber);
    }
    let mut n: u64 = 0;
    for c in number.chars().filter(|&c| c != '_') {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(c as u8 - b'0')))
            .ok_or(SizeError::TooLarge)?;
    }
    let shift = shift_of(unit.trim_start())?;
    let v = n.checked_shl(shift).ok_or(SizeError::TooLarge)?;
    if v >> shift != n || v == UNLIMITED {
        return Err(SizeError::TooLarge);
    }
    Ok(v)
}

/// Parses a count (no unit); `"unlimited"` gives [`UNLIMITED`].
pub fn parse_count(text: &str) -> Result<u64, SizeError> {
    let v = parse_bytes(text)?;
    let t = text.trim();
    if t != "unlimited" && t.contains(|c: char| c.is_ascii_alphabetic()) {
        return Err(SizeError::UnitOnCount);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_units_and_unlimited_parse() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("4M"), Ok(4 << 20));
        assert_eq!(parse_bytes("1 GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes(" 512 MiB "), Ok(512 << 20));
        assert_eq!(parse_bytes("64K"), Ok(64 << 10));
        assert_eq!(parse_bytes("1_000"), Ok(1000));
        assert_eq!(parse_bytes("unlimited"), Ok(UNLIMITED));
        assert_eq!(parse_count("12"), Ok(12));
        assert_eq!(parse_count("unlimited"), Ok(UNLIMITED));
    }

    #[test]
    fn bad_sizes_say_why() {
        assert_eq!(parse_bytes(""), Err(SizeError::Empty));
        assert_eq!(parse_bytes("MiB"), Err(SizeError::NoNumber));
        assert_eq!(parse_bytes("4 MB"), Err(SizeError::DecimalUnit));
        assert_eq!(parse_bytes("4 mib"), Err(SizeError::UnknownUnit));
        assert_eq!(parse_bytes("-4"), Err(SizeError::NoNumber));
        assert_eq!(parse_bytes("4.5 GiB"), Err(SizeError::UnknownUnit));
        assert_eq!(
            parse_bytes("99999999999999999999"),
            Err(SizeError::TooLarge)
        );
        assert_eq!(parse_bytes("16777216 TiB"), Err(SizeError::TooLarge));
        assert_eq!(
            parse_bytes("18446744073709551615"),
            Err(SizeError::TooLarge)
        );
        assert_eq!(parse_count("4K"), Err(SizeError::UnitOnCount));
    }
}
