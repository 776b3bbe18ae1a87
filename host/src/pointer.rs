//! Stream positions.
//!
//! Every source's position fits an unsigned 128-bit integer: Kafka offsets
//! (i64 >= 0), Kinesis sequence numbers (decimal strings of up to 128 bits) and
//! file line numbers. One numeric type keeps comparison, storage and display
//! uniform across sources.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A position in one stream partition, compared numerically.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pointer(pub u128);

impl Pointer {
    pub fn next(self) -> Pointer {
        Pointer(self.0.saturating_add(1))
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A pointer that is not a non-negative decimal integer of at most 128 bits.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid pointer {0:?}: expected a non-negative decimal integer of at most 128 bits")]
pub struct InvalidPointer(pub String);

impl FromStr for Pointer {
    type Err = InvalidPointer;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidPointer(s.to_string()));
        }
        t.parse::<u128>().map(Pointer).map_err(|_| InvalidPointer(s.to_string()))
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

    #[test]
    fn parses_decimal_up_to_128_bits() {
        assert_eq!("0".parse::<Pointer>().unwrap(), Pointer(0));
        let kinesis = "49590338271490256608559692538361571095921575989136588898";
        assert_eq!(kinesis.parse::<Pointer>().unwrap().to_string(), kinesis);
        assert_eq!(u128::MAX.to_string().parse::<Pointer>().unwrap(), Pointer(u128::MAX));
    }

    #[test]
    fn rejects_bad_pointers() {
        for bad in ["", "-1", "1.5", "abc", "340282366920938463463374607431768211456", "+3"] {
            assert!(bad.parse::<Pointer>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn compares_numerically_not_lexically() {
        assert!("9".parse::<Pointer>().unwrap() < "10".parse::<Pointer>().unwrap());
    }

    #[test]
    fn serde_round_trip_as_string() {
        let p = Pointer(u128::MAX);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, format!("\"{}\"", u128::MAX));
        assert_eq!(serde_json::from_str::<Pointer>(&json).unwrap(), p);
        let s = StartPosition::After(Pointer(7));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"mode":"after","value":"7"}"#);
        assert_eq!(serde_json::from_str::<StartPosition>(&json).unwrap(), s);
    }
}
