//! Units: Kubernetes quantities, Go durations and simulated time.
//!
//! Owns: parsing `500m`, `1Gi`, `1e3` into integer milli-units and `1h30m`, `720h`, `Never`
//! into integer milliseconds. May not: depend on any other module of the crate (it is the leaf).

use std::fmt;

/// Simulated time in milliseconds since the scenario's `start`.
pub type SimTime = u64;
/// A simulated duration in milliseconds.
pub type SimDuration = u64;

/// Milliseconds per second.
pub const MS: u64 = 1000;

/// Why a quantity failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("empty quantity")]
    Empty,
    #[error(
        "`{0}` is not a Kubernetes quantity (expected a number with an optional suffix such as 500m, 2, 1Gi, 512Mi, 1e3)"
    )]
    Syntax(String),
    #[error("`{0}` is too large")]
    Overflow(String),
}

/// Parses a Kubernetes resource quantity into its milli-value (`MilliValue()`), rounding up
/// fractions of a milli-unit as Kubernetes does. `"250m"` → 250, `"2"` → 2000,
/// `"1Ki"` → 1_024_000.
pub fn parse_quantity_milli(input: &str) -> Result<i64, QuantityError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(QuantityError::Empty);
    }
    let syntax = || QuantityError::Syntax(input.to_string());
    let overflow = || QuantityError::Overflow(input.to_string());
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if bytes[0] == b'+' || bytes[0] == b'-' {
        negative = bytes[0] == b'-';
        i = 1;
    }
    // Mantissa: digits [. digits]
    let mut mantissa: u128 = 0;
    let mut frac_digits: i32 = 0;
    let mut digits = 0usize;
    let mut seen_dot = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            digits += 1;
            if mantissa < 10u128.pow(30) {
                mantissa = mantissa * 10 + u128::from(c - b'0');
                if seen_dot {
                    frac_digits += 1;
                }
            } else if !seen_dot {
                return Err(overflow());
            }
            i += 1;
        } else if c == b'.' && !seen_dot {
            seen_dot = true;
            i += 1;
        } else {
            break;
        }
    }
    if digits == 0 {
        return Err(syntax());
    }
    let suffix = &s[i..];
    // (power of ten, power of two)
    let (mut exp10, exp2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => {
            let rest = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))
                .ok_or_else(syntax)?;
            let (sign, num) = match rest.as_bytes().first() {
                Some(b'-') => (-1, &rest[1..]),
                Some(b'+') => (1, &rest[1..]),
                _ => (1, rest),
            };
            if num.is_empty() || num.len() > 3 || !num.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            let n: i32 = num.parse().map_err(|_| syntax())?;
            (sign * n, 0)
        }
    };
    // value = mantissa * 10^(exp10 - frac_digits) * 2^exp2 ; we want ceil(value * 1000)
    exp10 = exp10 - frac_digits + 3;
    let mut num: u128 = mantissa;
    let mut den: u128 = 1;
    if exp2 > 0 {
        num = num
            .checked_shl(exp2)
            .filter(|v| v >> exp2 == num)
            .ok_or_else(overflow)?;
    }
    if exp10 >= 0 {
        if exp10 > 38 {
            if num == 0 {
                return Ok(0);
            }
            return Err(overflow());
        }
        num = num
            .checked_mul(10u128.pow(exp10 as u32))
            .ok_or_else(overflow)?;
    } else {
        let e = (-exp10) as u32;
        if e > 38 {
            // Anything this small rounds up to one milli-unit unless it is zero.
            return Ok(if num == 0 || negative { 0 } else { 1 });
        }
        den = 10u128.pow(e);
    }
    let q = num / den;
    let r = num % den;
    let magnitude = if negative { q } else { q + u128::from(r != 0) };
    let magnitude = i64::try_from(magnitude).map_err(|_| overflow())?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Formats a milli-value the short way Kubernetes would: `250m`, `2`, `1Gi` is not attempted;
/// plain decimal with an `m` suffix when fractional.
pub fn format_milli(milli: i64) -> String {
    if milli % 1000 == 0 {
        format!("{}", milli / 1000)
    } else {
        format!("{milli}m")
    }
}

/// Why a duration failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration (Go syntax: 90s, 1m30s, 720h{1})")]
    Syntax(String, &'static str),
    #[error("`{0}` is negative; durations here must be zero or more")]
    Negative(String),
    #[error("`{0}` is too large")]
    Overflow(String),
}

/// A duration that may be `Never` (Karpenter's `NillableDuration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MaybeNever {
    Never,
    After(SimDuration),
}

impl MaybeNever {
    /// The duration, or `None` for `Never`.
    pub fn ms(self) -> Option<SimDuration> {
        match self {
            MaybeNever::Never => None,
            MaybeNever::After(d) => Some(d),
        }
    }
}

impl fmt::Display for MaybeNever {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaybeNever::Never => f.write_str("Never"),
            MaybeNever::After(d) => f.write_str(&format_duration(*d)),
        }
    }
}

/// Parses a Go `time.ParseDuration` string into milliseconds (sub-millisecond parts round
/// down). Accepts `ns us µs ms s m h` units, fractions (`1.5h`) and a bare `0`.
pub fn parse_duration_ms(input: &str) -> Result<SimDuration, DurationError> {
    parse_go_duration(input, "")
}

/// Like [`parse_duration_ms`] but also accepts `Never`.
pub fn parse_maybe_never(input: &str) -> Result<MaybeNever, DurationError> {
    if input.trim() == "Never" {
        return Ok(MaybeNever::Never);
    }
    parse_go_duration(input, " or Never").map(MaybeNever::After)
}

fn parse_go_duration(input: &str, hint: &'static str) -> Result<SimDuration, DurationError> {
    let s = input.trim();
    let syntax = || DurationError::Syntax(input.to_string(), hint);
    let overflow = || DurationError::Overflow(input.to_string());
    let mut rest = s;
    if let Some(r) = rest.strip_prefix('-') {
        if r == "0" {
            return Ok(0);
        }
        if !r.is_empty() {
            return Err(DurationError::Negative(input.to_string()));
        }
        return Err(syntax());
    }
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(syntax());
    }
    // Accumulate in nanoseconds as u128.
    let mut total_ns: u128 = 0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(syntax)?;
        if num_end == 0 {
            return Err(syntax());
        }
        let num = &rest[..num_end];
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let unit_ns: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(syntax()),
        };
        let (int_part, frac_part) = match num.split_once('.') {
            Some((a, b)) => (a, b),
            None => (num, ""),
        };
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return Err(syntax());
        }
        if int_part.len() > 20 {
            return Err(overflow());
        }
        let int_v: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| syntax())?
        };
        let mut v = int_v.checked_mul(unit_ns).ok_or_else(overflow)?;
        if !frac_part.is_empty() {
            let digits = &frac_part[..frac_part.len().min(18)];
            let f: u128 = digits.parse().map_err(|_| syntax())?;
            v += f * unit_ns / 10u128.pow(digits.len() as u32);
        }
        total_ns = total_ns.checked_add(v).ok_or_else(overflow)?;
    }
    let ms = total_ns / 1_000_000;
    u64::try_from(ms)
        .ok()
        .filter(|v| *v < u64::MAX / 4)
        .ok_or_else(overflow)
}

/// Formats milliseconds the way Go prints a duration (`1h30m0s`, `90s` → `1m30s`, `1.5s`).
pub fn format_duration(ms: SimDuration) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let h = ms / 3_600_000;
    let m = (ms / 60_000) % 60;
    let s = (ms / 1000) % 60;
    let frac = ms % 1000;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if frac == 0 {
        out.push_str(&format!("{s}s"));
    } else {
        let f = format!("{frac:03}");
        out.push_str(&format!("{s}.{}s", f.trim_end_matches('0')));
    }
    out
}

/// Seconds as `f64` for reports (times are integer milliseconds internally).
pub fn ms_to_secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity_milli("250m"), Ok(250));
        assert_eq!(parse_quantity_milli("2"), Ok(2000));
        assert_eq!(parse_quantity_milli("1.5"), Ok(1500));
        assert_eq!(parse_quantity_milli("1Ki"), Ok(1_024_000));
        assert_eq!(parse_quantity_milli("512Mi"), Ok(512 * 1024 * 1024 * 1000));
        assert_eq!(parse_quantity_milli("1e3"), Ok(1_000_000));
        assert_eq!(parse_quantity_milli("1E3"), Ok(1_000_000));
        assert_eq!(
            parse_quantity_milli("1000Gi"),
            Ok(1000 * (1i64 << 30) * 1000)
        );
        assert_eq!(
            parse_quantity_milli("0.1m"),
            Ok(1),
            "rounds up like MilliValue"
        );
        assert_eq!(parse_quantity_milli("1n"), Ok(1));
        assert_eq!(parse_quantity_milli("0"), Ok(0));
        assert_eq!(parse_quantity_milli(".5"), Ok(500));
        assert_eq!(parse_quantity_milli("-1"), Ok(-1000));
        assert!(parse_quantity_milli("1Gb").is_err());
        assert!(parse_quantity_milli("").is_err());
        assert!(parse_quantity_milli("abc").is_err());
        assert!(parse_quantity_milli("1.2.3").is_err());
        assert!(parse_quantity_milli("99999999999999999999E").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("90s"), Ok(90_000));
        assert_eq!(parse_duration_ms("1m30s"), Ok(90_000));
        assert_eq!(parse_duration_ms("720h"), Ok(720 * 3_600_000));
        assert_eq!(parse_duration_ms("1.5h"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("0"), Ok(0));
        assert!(parse_duration_ms("Never").is_err());
        assert_eq!(parse_maybe_never("Never"), Ok(MaybeNever::Never));
        assert!(parse_duration_ms("10").is_err());
        assert!(parse_duration_ms("1d").is_err());
        assert!(parse_duration_ms("-5s").is_err());
        assert!(parse_duration_ms("").is_err());
        assert!(parse_duration_ms("s").is_err());
    }

    proptest! {
        #[test]
        fn quantity_integer_roundtrip(v in 0i64..1_000_000_000_000) {
            prop_assert_eq!(parse_quantity_milli(&format_milli(v)), Ok(v));
        }

        #[test]
        fn duration_roundtrip(ms in 0u64..10_000_000_000) {
            prop_assert_eq!(parse_duration_ms(&format_duration(ms)), Ok(ms));
        }

        #[test]
        fn quantity_never_panics(s in "\\PC{0,24}") {
            let _ = parse_quantity_milli(&s);
        }

        #[test]
        fn duration_never_panics(s in "\\PC{0,24}") {
            let _ = parse_maybe_never(&s);
        }
    }
}
