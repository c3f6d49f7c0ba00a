//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`) parsed exactly as the API server parses them, held as
//! an exact count of nano-units.
//!
//! Validation uses this to reject what the API server would reject (`12Gb`, `1.5.5`) before anything is created,
//! and the pod builders use the same parser for the `ray start` resource flags, so both always agree.

/// Nano-units per unit: `1` is 1_000_000_000 nano-units, `1m` is 1_000_000.
pub const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// Why a text is not a quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Not Kubernetes quantity syntax: a number with an optional suffix.
    #[error(
        "not a Kubernetes quantity: write a number with an optional suffix (n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent like e3), for example \"2\", \"500m\", \"1.5Gi\""
    )]
    Syntax,
    /// Valid syntax, but beyond what any resource can hold (more than about 10^20 units, or finer than 10^-40).
    #[error("the quantity is out of range: use a value between 1n and about 10^20")]
    OutOfRange,
}

/// Parses a quantity into nano-units; precision finer than a nano-unit rounds up, as Kubernetes rounds.
///
/// The syntax is the one of Kubernetes' `resource.ParseQuantity` (after the surrounding whitespace is trimmed, as
/// its JSON decoder does): an optional sign, digits with at most one `.`, then one suffix: a decimal SI suffix
/// (`n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`), a binary one (`Ki` ... `Ei`) or an exponent (`e3`, `E-2`).
/// As in Kubernetes, a lone sign or `.` means zero.
pub fn parse_nanos(text: &str) -> Result<i128, QuantityError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(QuantityError::Syntax);
    }
    let (sign, rest) = match s.as_bytes()[0] {
        b'-' => (-1i128, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let int_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (int_part, after_int) = rest.split_at(int_end);
    let (frac_part, suffix) = match after_int.strip_prefix('.') {
        Some(after_dot) => {
            let end = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            after_dot.split_at(end)
        }
        None => ("", after_int),
    };
    let (mut exp10, binary_shift) = suffix_scale(suffix)?;

    // mantissa = the digits as an integer, scaled by 10^-(number of fraction digits). Leading zeros do not count
    // toward the size limit; trailing fraction zeros are dropped before scaling.
    let frac_part = frac_part.trim_end_matches('0');
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    if digits.len() > 36 {
        return Err(QuantityError::OutOfRange);
    }
    let mantissa: i128 = digits.parse().map_err(|_| QuantityError::OutOfRange)?;
    exp10 -= i32::try_from(frac_part.len()).map_err(|_| QuantityError::OutOfRange)?;

    // nanos = mantissa * 2^shift * 10^(exp10 + 9), rounded up away from zero.
    let mut value = mantissa
        .checked_mul(1i128 << binary_shift)
        .ok_or(QuantityError::OutOfRange)?;
    let e = exp10 + 9;
    if e >= 0 {
        let scale = 10i128
            .checked_pow(e.unsigned_abs())
            .ok_or(QuantityError::OutOfRange)?;
        value = value.checked_mul(scale).ok_or(QuantityError::OutOfRange)?;
    } else {
        value = match 10i128.checked_pow(e.unsigned_abs()) {
            Some(divisor) => value / divisor + i128::from(value % divisor != 0),
            // Smaller than one nano-unit: rounds up to one.
            None => 1,
        };
    }
    // More than 2^95 nano-units (about 4 * 10^19 units) is beyond any resource and keeps sums exact.
    if value > 1i128 << 95 {
        return Err(QuantityError::OutOfRange);
    }
    Ok(sign * value)
}

/// The power of ten and the power of two a suffix scales by.
fn suffix_scale(suffix: &str) -> Result<(i32, u32), QuantityError> {
    Ok(match suffix {
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
        other => {
            let exponent = other
                .strip_prefix(['e', 'E'])
                .ok_or(QuantityError::Syntax)?;
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(QuantityError::Syntax);
            }
            let e: i64 = exponent.parse().map_err(|_| QuantityError::OutOfRange)?;
            if !(-60..=60).contains(&e) {
                return Err(QuantityError::OutOfRange);
            }
            (i32::try_from(e).map_err(|_| QuantityError::OutOfRange)?, 0)
        }
    })
}

/// Whether a quantity (in nano-units) is a whole number of units.
pub fn is_whole(nanos: i128) -> bool {
    nanos % NANOS_PER_UNIT == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: i128 = NANOS_PER_UNIT;

    #[test]
    fn the_forms_kubernetes_accepts() {
        for (text, nanos) in [
            ("1", N),
            ("500m", N / 2),
            ("1.5", 3 * N / 2),
            ("1Gi", (1 << 30) * N),
            ("1.5Gi", 1_610_612_736 * N),
            ("100M", 100_000_000 * N),
            ("2e3", 2000 * N),
            ("2E3", 2000 * N),
            ("1e-3", N / 1000),
            ("1e+3", 1000 * N),
            ("1E", 1_000_000_000_000_000_000 * N),
            ("1n", 1),
            ("0.1n", 1),
            ("-1", -N),
            ("+2", 2 * N),
            (".5", N / 2),
            ("5.", 5 * N),
            (".", 0),
            ("-", 0),
            ("e3", 0),
            ("007", 7 * N),
            (" 2 ", 2 * N),
            ("0.000000000000000000000000000000000000001", 1),
        ] {
            assert_eq!(parse_nanos(text), Ok(nanos), "{text:?}");
        }
    }

    #[test]
    fn the_forms_kubernetes_rejects() {
        for text in [
            "", "12Gb", "1K", "1ki", "abc", "1.5.5", "1e", "1Qi", "1 Gi", "1e3.5", "0x10", "1m1",
            "--1", "1Ki3",
        ] {
            assert_eq!(parse_nanos(text), Err(QuantityError::Syntax), "{text:?}");
        }
        for text in ["1e100", "99999999999999999999999999999999999999999", "1Ei1"] {
            assert!(parse_nanos(text).is_err(), "{text:?}");
        }
        assert_eq!(parse_nanos("1e100"), Err(QuantityError::OutOfRange));
    }

    #[test]
    fn whole_numbers() {
        assert!(is_whole(parse_nanos("2").unwrap_or_default()));
        assert!(is_whole(parse_nanos("1k").unwrap_or_default()));
        assert!(!is_whole(parse_nanos("0.5").unwrap_or_default()));
        assert!(!is_whole(parse_nanos("500m").unwrap_or_default()));
    }
}
