//! Exact arithmetic on Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`), for the `ray start` resource flags
//! and the desired-resources sums in status.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Nano-units per unit: quantities are held as an exact integer count of 10^-9 units.
const NANO: i128 = ray_api_v1::quantity::NANOS_PER_UNIT;

/// A quantity that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{field}: {value:?} is not a Kubernetes quantity (examples: \"2\", \"500m\", \"1.5Gi\", \"4e3\")"
)]
pub struct QuantityError {
    /// The field holding the quantity.
    pub field: String,
    /// The text.
    pub value: String,
}

/// A resource quantity as an exact number of nano-units (`1` = 1_000_000_000, `1m` = 1_000_000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Nanos(pub i128);

impl Nanos {
    /// Parses a quantity; sub-nano precision rounds up, as Kubernetes does.
    pub fn parse(q: &Quantity, field: &str) -> Result<Nanos, QuantityError> {
        parse(q.0.trim()).ok_or_else(|| QuantityError {
            field: field.to_string(),
            value: q.0.clone(),
        })
    }

    /// The value rounded up to a whole unit (Kubernetes' `Quantity.Value()`): `500m` → 1.
    pub fn ceil_units(self) -> i128 {
        let whole = self.0.div_euclid(NANO);
        if self.0.rem_euclid(NANO) == 0 {
            whole
        } else {
            whole + 1
        }
    }

    /// Whether the quantity is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Formats as a quantity: binary suffixes (`Gi`, `Mi`, ...) when `binary` and the value is a whole multiple of
    /// 1Ki, otherwise a plain number or `m`/`u`/`n` suffixed.
    pub fn format(self, binary: bool) -> Quantity {
        let v = self.0;
        if v % NANO == 0 {
            let units = v / NANO;
            if binary && units != 0 {
                for (suffix, power) in [
                    ("Ei", 60),
                    ("Pi", 50),
                    ("Ti", 40),
                    ("Gi", 30),
                    ("Mi", 20),
                    ("Ki", 10),
                ] {
                    let base = 1i128 << power;
                    if units % base == 0 {
                        return Quantity(format!("{}{suffix}", units / base));
                    }
                }
            }
            return Quantity(units.to_string());
        }
        if v % 1_000_000 == 0 {
            Quantity(format!("{}m", v / 1_000_000))
        } else if v % 1_000 == 0 {
            Quantity(format!("{}u", v / 1_000))
        } else {
            Quantity(format!("{v}n"))
        }
    }
}

/// Kubernetes' quantity syntax, shared with validation so that what validation accepts always renders.
fn parse(s: &str) -> Option<Nanos> {
    ray_api_v1::quantity::parse_nanos(s).ok().map(Nanos)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn n(s: &str) -> Nanos {
        Nanos::parse(&Quantity(s.into()), "f").unwrap()
    }

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(n("1").0, NANO);
        assert_eq!(n("500m").0, NANO / 2);
        assert_eq!(n("1.5").0, 3 * NANO / 2);
        assert_eq!(n("1Gi").0, (1i128 << 30) * NANO);
        assert_eq!(n("1.5Gi").0, 1_610_612_736 * NANO);
        assert_eq!(n("100M").0, 100_000_000 * NANO);
        assert_eq!(n("2e3").0, 2000 * NANO);
        assert_eq!(n("1n").0, 1);
        assert!(Nanos::parse(&Quantity("abc".into()), "f").is_err());
        assert!(Nanos::parse(&Quantity("1Qi".into()), "f").is_err());
        assert!(Nanos::parse(&Quantity("".into()), "f").is_err());
    }

    #[test]
    fn rounds_up_to_units() {
        assert_eq!(n("500m").ceil_units(), 1);
        assert_eq!(n("2").ceil_units(), 2);
        assert_eq!(n("2001m").ceil_units(), 3);
    }

    #[test]
    fn formats() {
        assert_eq!(n("3Gi").format(true).0, "3Gi");
        assert_eq!(n("1536Mi").format(true).0, "1536Mi");
        assert_eq!(n("1500m").format(false).0, "1500m");
        assert_eq!(n("3").format(false).0, "3");
        assert_eq!(n("1000M").format(true).0, "1000000000");
    }
}
