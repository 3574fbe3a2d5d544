//! Byte sizes as people write them (`100MB`, `1GiB`) and as people read them.

use std::fmt;
use std::str::FromStr;

/// A number of bytes parsed from `512`, `100KB`, `100MB`, `2GB` (powers of 1000) or `1KiB`,
/// `64MiB`, `1GiB` (powers of 1024); `K`, `M`, `G`, `T` alone are powers of 1024, as in curl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let bad = || {
            format!(
                "invalid size '{s}': use a number of bytes with an optional unit, such as 500KB, 100MB, 2GB or 64MiB"
            )
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "t" | "tib" => 1 << 40,
            _ => return Err(bad()),
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(bad)
    }
}

impl fmt::Display for ByteSize {
    /// Binary units with one decimal: `1.5 MiB`, `512 B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut v = self.0 as f64;
        let mut unit = "B";
        for u in UNITS {
            if v < 1024.0 {
                break;
            }
            v /= 1024.0;
            unit = u;
        }
        write!(f, "{v:.1} {unit}")
    }
}

/// A size above which something is done, or never: `64MiB`, `0` (always), `never` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold(pub Option<u64>);

impl FromStr for Threshold {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "never" | "off" => Ok(Threshold(None)),
            _ => s
                .parse::<ByteSize>()
                .map(|b| Threshold(Some(b.0)))
                .map_err(|e| format!("{e}; or never")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_and_binary_units() {
        assert_eq!("512".parse(), Ok(ByteSize(512)));
        assert_eq!("100MB".parse(), Ok(ByteSize(100_000_000)));
        assert_eq!("64MiB".parse(), Ok(ByteSize(64 << 20)));
        assert_eq!("1G".parse(), Ok(ByteSize(1 << 30)));
        assert_eq!("2 kb".parse(), Ok(ByteSize(2_000)));
        assert!("MB".parse::<ByteSize>().is_err());
        assert!("1.5GB".parse::<ByteSize>().is_err());
        assert!("99999999999999TB".parse::<ByteSize>().is_err());
    }

    #[test]
    fn thresholds_are_sizes_or_never() {
        assert_eq!("64MiB".parse(), Ok(Threshold(Some(64 << 20))));
        assert_eq!("0".parse(), Ok(Threshold(Some(0))));
        assert_eq!("never".parse(), Ok(Threshold(None)));
        assert_eq!("Off".parse(), Ok(Threshold(None)));
        assert!("sometimes".parse::<Threshold>().is_err());
    }

    #[test]
    fn displays_binary_units() {
        assert_eq!(ByteSize(512).to_string(), "512 B");
        assert_eq!(ByteSize(1536).to_string(), "1.5 KiB");
        assert_eq!(ByteSize(1 << 30).to_string(), "1.0 GiB");
    }
}
