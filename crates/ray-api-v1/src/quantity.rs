//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`) parsed exactly as the API server parses them, held as
//! an exact count of nano-units.
//!
//! Validation uses this to reject what the API server would reject (`12Gb`, `1.5.5`) before anything is created,
//! and the pod builders use the same parser for the `ray start` resource flags, so both always agree.

/// Nano-units per unit: `1` is 1_000_000_000 nano-units, `1m` is 1_000_000.
pub const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// The largest magnitude, in nano-units: Kubernetes reads a quantity's value as a 64-bit number of units
/// (`Quantity.Value()`), so anything larger means the same as 2^63 - 1 units, and is held as that.
pub const MAX_NANOS: i128 = i64::MAX as i128 * NANOS_PER_UNIT;

/// Why a text is not a quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Not Kubernetes quantity syntax: a number with an optional suffix.
    #[error(
        "not a Kubernetes quantity: write a number with an optional suffix (n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent like e3), for example \"2\", \"500m\", \"1.5Gi\""
    )]
    Syntax,
}

/// Parses a quantity into nano-units; precision finer than a nano-unit rounds up, as Kubernetes rounds, and a
/// magnitude beyond [`MAX_NANOS`] is held as that.
///
/// The syntax is the one of Kubernetes' `resource.ParseQuantity` (after the surrounding whitespace is trimmed, as
/// its JSON decoder does): an optional sign, digits with at most one `.`, then one suffix: a decimal SI suffix
/// (`n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`), a binary one (`Ki` ... `Ei`) or an exponent (`e3`, `E-2`).
/// As in Kubernetes, a number without digits (`.`, `-`, `e3`) means zero, except before `Pi`, `Ei` or an exponent
/// below -9, which Kubernetes refuses.
pub fn parse_nanos(text: &str) -> Result<i128, QuantityError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(QuantityError::Syntax);
    }
    let (negative, rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
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
    let (exp10, shift) = suffix_scale(suffix)?;
    if int_part.is_empty() && frac_part.is_empty() {
        // Kubernetes takes its exact (slow) path for these and finds no number there.
        return if shift >= 50 || exp10 < -9 {
            Err(QuantityError::Syntax)
        } else {
            Ok(0)
        };
    }

    // The value is digits * 10^e nano-units * 2^shift, where digits has no leading zeros.
    let frac_part = frac_part.trim_end_matches('0');
    let joined = format!("{int_part}{frac_part}");
    let digits = joined.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    let e = i128::from(exp10) - i128::try_from(frac_part.len()).unwrap_or(i128::MAX) + 9;
    let magnitude = magnitude(digits, e, shift).min(MAX_NANOS);
    Ok(if negative { -magnitude } else { magnitude })
}

/// `ceil(digits * 10^e * 2^shift)`, or [`MAX_NANOS`] when it is at least that large. `digits` is non-empty, all
/// ASCII digits, without leading zeros.
fn magnitude(digits: &str, e: i128, shift: u32) -> i128 {
    // MAX_NANOS has 28 digits: 29 digits before the point are always beyond it.
    const BEYOND: i128 = 29;
    let len = i128::try_from(digits.len()).unwrap_or(i128::MAX);
    let scale = 1i128 << shift;
    if e >= 0 {
        if len.saturating_add(e) > BEYOND {
            return MAX_NANOS;
        }
        let whole: i128 = digits.parse().unwrap_or(MAX_NANOS);
        return u32::try_from(e)
            .ok()
            .and_then(|e| 10i128.checked_pow(e))
            .and_then(|power| whole.checked_mul(power))
            .and_then(|value| value.checked_mul(scale))
            .unwrap_or(MAX_NANOS);
    }
    // e < 0: the last -e digits are a fraction of a nano-unit.
    let fraction_digits = -e;
    let int_len = len - fraction_digits;
    if int_len > BEYOND {
        return MAX_NANOS;
    }
    let (int_text, frac_text) = if int_len > 0 {
        digits.split_at(usize::try_from(int_len).unwrap_or(0))
    } else {
        ("", digits)
    };
    let whole: i128 = if int_text.is_empty() {
        0
    } else {
        int_text.parse().unwrap_or(MAX_NANOS)
    };
    let Some(whole) = whole.checked_mul(scale) else {
        return MAX_NANOS;
    };
    // frac_text is the fraction's last digits; it has fraction_digits - frac_text.len() zeros before it.
    let fraction = if frac_text.bytes().all(|b| b == b'0') {
        0
    } else if shift == 0 {
        1
    } else {
        // ceil(fraction * 2^shift) from the fraction's first 20 digits (2^60 * 10^20 fits an i128); the digits
        // after them add less than 2^60 / 10^20 < 0.012, counted as rounding up.
        const KEPT: usize = 20;
        let zeros = usize::try_from(fraction_digits)
            .unwrap_or(usize::MAX)
            .saturating_sub(frac_text.len());
        if zeros >= KEPT {
            1
        } else {
            let take = (KEPT - zeros).min(frac_text.len());
            let (head, tail) = frac_text.split_at(take);
            let head_value: i128 = head.parse().unwrap_or(0);
            // head holds positions zeros+1 ..= zeros+take of the fraction; scale it to KEPT positions.
            let padding = u32::try_from(KEPT - zeros - take).unwrap_or(0);
            let numerator = head_value * 10i128.pow(padding) * scale;
            let denominator = 10i128.pow(KEPT as u32);
            let rest = tail.bytes().any(|b| b != b'0');
            numerator / denominator + i128::from(numerator % denominator != 0 || rest)
        }
    };
    whole.saturating_add(fraction)
}

/// The power of ten and the power of two a suffix scales by.
fn suffix_scale(suffix: &str) -> Result<(i64, u32), QuantityError> {
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
            // Kubernetes reads the exponent as a 64-bit number and refuses a larger one.
            (exponent.parse().map_err(|_| QuantityError::Syntax)?, 0)
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
        // Kubernetes refuses these too: no digits on its exact path, an exponent beyond 64 bits.
        for text in ["Pi", "-Ei", ".e-10", "1e99999999999999999999"] {
            assert_eq!(parse_nanos(text), Err(QuantityError::Syntax), "{text:?}");
        }
    }

    #[test]
    fn huge_and_tiny_values() {
        for text in [
            "1e100",
            "8Ei",
            "99999999999999999999999999999999999999999",
            "123456789012345678901Ki",
        ] {
            assert_eq!(parse_nanos(text), Ok(MAX_NANOS), "{text:?}");
        }
        assert_eq!(parse_nanos("-1e100"), Ok(-MAX_NANOS));
        assert_eq!(
            parse_nanos("7.999Ei"),
            Ok(9_222_219_115_350_168_961_024_000_000)
        );
        for (text, nanos) in [
            ("1e-100", 1),
            ("0.5e-9", 1),
            ("1.5e-9", 2),
            ("0.5Ki", 512 * N),
            ("0.001Ki", 1_024_000_000),
            ("0.000000000000000000000000001Ki", 1),
        ] {
            assert_eq!(parse_nanos(text), Ok(nanos), "{text:?}");
        }
    }

    #[test]
    fn whole_numbers() {
        assert!(is_whole(parse_nanos("2").unwrap_or_default()));
        assert!(is_whole(parse_nanos("1k").unwrap_or_default()));
        assert!(!is_whole(parse_nanos("0.5").unwrap_or_default()));
        assert!(!is_whole(parse_nanos("500m").unwrap_or_default()));
    }
}
