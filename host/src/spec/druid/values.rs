//! One object of a Druid spec, with its full key (`spec.ioConfig`), and
//! the checks of its values: each error names the full key of the value.

use super::super::settings::{as_bool, as_text, as_u64};
use super::super::{SpecError, invalid};
use serde_json::{Map, Value};

/// An object of the spec and where it is (`ioConfig`, `spec.tuningConfig`).
pub(super) struct Obj<'a> {
    pub(super) path: String,
    pub(super) map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// `value` at `path`, which must be an object.
    pub(super) fn new(path: &str, value: &'a Value) -> Result<Self, SpecError> {
        let map = value.as_object().ok_or_else(|| invalid(path, "must be an object"))?;
        Ok(Obj { path: path.to_string(), map })
    }

    /// The full key of `key` in this object.
    pub(super) fn key(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) }
    }

    /// Refuses a key that is not in `allowed`, naming it and the allowed ones.
    pub(super) fn check_keys(&self, allowed: &[&str]) -> Result<(), SpecError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(SpecError::UnknownKey { key: self.key(k), allowed: allowed.join(", ") }),
            None => Ok(()),
        }
    }

    /// The value of `key`; `null` counts as absent (as Druid reads it).
    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn object(&self, key: &str) -> Result<Option<Obj<'a>>, SpecError> {
        self.get(key).map(|v| Obj::new(&self.key(key), v)).transpose()
    }

    /// A string (a number or boolean is taken as its text, as Jackson does).
    pub(super) fn text(&self, key: &str) -> Result<Option<String>, SpecError> {
        self.get(key).map(|v| as_text(&self.key(key), v)).transpose()
    }

    /// A string that must be there and not be empty.
    pub(super) fn required_text(&self, key: &str) -> Result<String, SpecError> {
        match self.text(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(invalid(&self.key(key), "must not be empty")),
            None => Err(SpecError::Missing(self.key(key))),
        }
    }

    pub(super) fn bool(&self, key: &str) -> Result<Option<bool>, SpecError> {
        self.get(key).map(|v| as_bool(&self.key(key), v)).transpose()
    }

    pub(super) fn u64(&self, key: &str) -> Result<Option<u64>, SpecError> {
        self.get(key).map(|v| as_u64(&self.key(key), v)).transpose()
    }

    /// An integer of at least `min`.
    pub(super) fn at_least(&self, key: &str, min: u64) -> Result<Option<u64>, SpecError> {
        match self.u64(key)? {
            Some(n) if n < min => Err(invalid(&self.key(key), format!("{n} must be at least {min}"))),
            n => Ok(n),
        }
    }

    /// A signed integer (Druid's `Long`s that take -1 or 0 as "default").
    pub(super) fn i64(&self, key: &str) -> Result<Option<i64>, SpecError> {
        self.get(key)
            .map(|v| match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .map(|n| n.ok_or_else(|| invalid(&self.key(key), "must be an integer")))
            .transpose()
    }

    /// An ISO-8601 period (`PT1H`), in ms.
    pub(super) fn period_ms(&self, key: &str) -> Result<Option<u64>, SpecError> {
        self.get(key)
            .map(|v| {
                let text =
                    v.as_str().ok_or_else(|| invalid(&self.key(key), "must be an ISO-8601 period such as PT1H"))?;
                crate::util::parse_iso8601_period(text)
                    .map(|d| d.as_millis() as u64)
                    .map_err(|e| invalid(&self.key(key), e))
            })
            .transpose()
    }

    /// An ISO-8601 date-time (`2016-01-01T11:00Z`) or ms since the epoch, in ms.
    pub(super) fn time_ms(&self, key: &str) -> Result<Option<i64>, SpecError> {
        self.get(key)
            .map(|v| match v {
                Value::Number(n) => n.as_i64().ok_or_else(|| invalid(&self.key(key), format!("{n} is not a time"))),
                Value::String(s) => crate::util::parse_iso8601_time(s).ok_or_else(|| {
                    invalid(&self.key(key), format!("{s:?} is not an ISO-8601 date-time (e.g. 2016-01-01T11:00Z)"))
                }),
                _ => Err(invalid(&self.key(key), "must be an ISO-8601 date-time such as 2016-01-01T11:00Z")),
            })
            .transpose()
    }

    /// A value that must be an object, kept as it is.
    pub(super) fn raw_object(&self, key: &str) -> Result<Option<Value>, SpecError> {
        Ok(self.object(key)?.map(|o| Value::Object(o.map.clone())))
    }

    /// A value that must be an array, kept as it is.
    pub(super) fn raw_array(&self, key: &str) -> Result<Option<Value>, SpecError> {
        match self.get(key) {
            Some(v @ Value::Array(_)) => Ok(Some(v.clone())),
            Some(_) => Err(invalid(&self.key(key), "must be an array")),
            None => Ok(None),
        }
    }

    /// Refuses `key` if it is given, with the reason.
    pub(super) fn refuse(&self, key: &str, reason: &str) -> Result<(), SpecError> {
        match self.get(key) {
            Some(_) => Err(invalid(&self.key(key), format!("not supported by sluice: {reason}"))),
            None => Ok(()),
        }
    }
}
