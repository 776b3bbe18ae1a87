//! Stream positions.
//!
//! Every source's position is a non-negative decimal integer: Kafka offsets,
//! file line numbers, and Kinesis sequence numbers (decimal strings of ~56
//! digits, more than 128 bits). [`Pointer`] keeps the common small case in a
//! `u64` and anything larger as normalized decimal text, and compares both
//! numerically.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// A position in one stream partition, compared numerically.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Pointer {
    Small(u64),
    /// Decimal digits without leading zeros, always greater than `u64::MAX`.
    Large(Arc<str>),
}

impl Default for Pointer {
    fn default() -> Self {
        Pointer::Small(0)
    }
}

impl From<u64> for Pointer {
    fn from(n: u64) -> Self {
        Pointer::Small(n)
    }
}

impl Pointer {
    /// The value, when it fits 64 bits (Kafka offsets, line numbers).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Pointer::Small(n) => Some(*n),
            Pointer::Large(_) => None,
        }
    }

    /// A key whose byte order is the numeric order: length, then digits.
    pub fn sort_key(&self) -> Vec<u8> {
        let text = self.to_string();
        let mut key = Vec::with_capacity(text.len() + 1);
        key.push(text.len() as u8);
        key.extend_from_slice(text.as_bytes());
        key
    }
}

impl Ord for Pointer {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Pointer::Small(a), Pointer::Small(b)) => a.cmp(b),
            (Pointer::Small(_), Pointer::Large(_)) => Ordering::Less,
            (Pointer::Large(_), Pointer::Small(_)) => Ordering::Greater,
            (Pointer::Large(a), Pointer::Large(b)) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
        }
    }
}

impl PartialOrd for Pointer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pointer::Small(n) => write!(f, "{n}"),
            Pointer::Large(s) => f.write_str(s),
        }
    }
}

impl fmt::Debug for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pointer({self})")
    }
}

/// Longest pointer accepted: Kinesis allows sequence numbers of up to 129 digits.
const MAX_DIGITS: usize = 160;

/// A pointer that is not a non-negative decimal integer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid pointer {0:?}: expected a non-negative decimal integer")]
pub struct InvalidPointer(pub String);

impl FromStr for Pointer {
    type Err = InvalidPointer;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidPointer(s.to_string()));
        }
        let digits = t.trim_start_matches('0');
        if digits.is_empty() {
            return Ok(Pointer::Small(0));
        }
        if digits.len() > MAX_DIGITS {
            return Err(InvalidPointer(s.to_string()));
        }
        Ok(match digits.parse::<u64>() {
            Ok(n) => Pointer::Small(n),
            Err(_) => Pointer::Large(digits.into()),
        })
    }
}

// Serialized as a decimal string: JSON numbers lose precision beyond 2^53.
impl Serialize for Pointer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Pointer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a shard starts reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "value", rename_all = "snake_case")]
pub enum StartPosition {
    /// The oldest message still in the partition.
    Earliest,
    /// Only messages that arrive after the reader opens.
    Latest,
    /// The message at this pointer (or the first one after it).
    At(Pointer),
    /// The first message after this pointer: how a committed checkpoint resumes.
    After(Pointer),
    /// The first message with a timestamp at or after this many ms since the epoch.
    Timestamp(i64),
}

impl fmt::Display for StartPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartPosition::Earliest => f.write_str("earliest"),
            StartPosition::Latest => f.write_str("latest"),
            StartPosition::At(p) => write!(f, "at {p}"),
            StartPosition::After(p) => write!(f, "after {p}"),
            StartPosition::Timestamp(t) => write!(f, "timestamp {t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pointer {
        s.parse().unwrap()
    }

    #[test]
    fn parses_small_and_kinesis_sized_pointers() {
        assert_eq!(p("0"), Pointer::Small(0));
        assert_eq!(p("007"), Pointer::Small(7));
        let kinesis = "49590338271490256608559692538361571095921575989136588898";
        assert_eq!(p(kinesis).to_string(), kinesis);
        assert!(matches!(p(kinesis), Pointer::Large(_)));
        assert_eq!(p(&u64::MAX.to_string()), Pointer::Small(u64::MAX));
        assert!(matches!(p("18446744073709551616"), Pointer::Large(_)));
    }

    #[test]
    fn rejects_bad_pointers() {
        for bad in ["", "-1", "1.5", "abc", "+3", &"9".repeat(200)] {
            assert!(bad.parse::<Pointer>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn compares_numerically_not_lexically() {
        assert!(p("9") < p("10"));
        assert!(p("18446744073709551615") < p("18446744073709551616"));
        assert!(p("99999999999999999999") < p("100000000000000000000"));
        assert!(
            p("49590338271490256608559692538361571095921575989136588898")
                < p("49590338271490256608559692538361571095921575989136588899")
        );
        let keys = [p("9"), p("10"), p("99999999999999999999"), p("100000000000000000000")].map(|x| x.sort_key());
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "sort keys follow numeric order");
    }

    #[test]
    fn serde_round_trip_as_string() {
        let big = p("49590338271490256608559692538361571095921575989136588898");
        let json = serde_json::to_string(&big).unwrap();
        assert_eq!(json, "\"49590338271490256608559692538361571095921575989136588898\"");
        assert_eq!(serde_json::from_str::<Pointer>(&json).unwrap(), big);
        let s = StartPosition::After(Pointer::Small(7));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"mode":"after","value":"7"}"#);
        assert_eq!(serde_json::from_str::<StartPosition>(&json).unwrap(), s);
    }
}
