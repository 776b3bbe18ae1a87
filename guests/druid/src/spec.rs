//! Reading the configuration: objects whose keys are checked and values
//! typed, every error naming the full key path
//! (`dataSchema.metricsSpec[1].fieldName`). A `null` value counts as absent,
//! as it does for Druid's Jackson-bound specs.

use sluice_plugin_sdk::json::{Member, Value};

/// An object of the configuration and its key path.
#[derive(Debug)]
pub struct Node<'v, 'a> {
    path: String,
    members: &'v [Member<'a>],
}

impl<'v, 'a> Node<'v, 'a> {
    /// `value` as an object at `path`; else an error naming the path.
    pub fn new(value: &'v Value<'a>, path: impl Into<String>) -> Result<Self, String> {
        let path = path.into();
        match value {
            Value::Object(members) => Ok(Node { path, members }),
            other => Err(invalid(&path, other, "expected an object")),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full path of the member `key`.
    pub fn key(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }

    /// An error for the first key not in `allowed`.
    pub fn allow(&self, allowed: &[&str]) -> Result<(), String> {
        match self.members.iter().find(|(k, _)| !allowed.contains(&&**k)) {
            Some((key, _)) => Err(format!("unknown key [{}]; allowed: {}", self.key(key), allowed.join(", "))),
            None => Ok(()),
        }
    }

    /// The value of `key`; `None` when missing or `null`.
    pub fn get(&self, key: &str) -> Option<&'v Value<'a>> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| v).filter(|v| !matches!(v, Value::Null))
    }

    /// The object at `key`.
    pub fn child(&self, key: &str) -> Result<Option<Node<'v, 'a>>, String> {
        self.get(key).map(|v| Node::new(v, self.key(key))).transpose()
    }

    pub fn str(&self, key: &str) -> Result<Option<&'v str>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(other) => Err(invalid(&self.key(key), other, "expected a string")),
        }
    }

    /// A string that must be present and not empty.
    pub fn required_str(&self, key: &str) -> Result<&'v str, String> {
        match self.str(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(format!("invalid value for [{}]: \"\"; expected a non-empty string", self.key(key))),
            None => Err(format!("missing [{}]", self.key(key))),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(invalid(&self.key(key), other, "expected true or false")),
        }
    }

    pub fn array(&self, key: &str) -> Result<Option<&'v [Value<'a>]>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(invalid(&self.key(key), other, "expected an array")),
        }
    }

    /// An array of strings (an absent key is empty).
    pub fn strings(&self, key: &str) -> Result<Vec<&'v str>, String> {
        let items = self.array(key)?.unwrap_or_default();
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Str(s) => Ok(&**s),
                other => Err(invalid(&format!("{}[{i}]", self.key(key)), other, "expected a string")),
            })
            .collect()
    }

    /// A whole number (a JSON integer or a string of one) from `min` to `max`.
    pub fn integer(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, String> {
        let Some(value) = self.get(key) else { return Ok(None) };
        let n = match value {
            Value::U64(n) => i64::try_from(*n).ok(),
            Value::I64(n) => Some(*n),
            Value::Str(s) => s.parse::<i64>().ok(),
            _ => None,
        };
        match n.filter(|n| (min..=max).contains(n)) {
            Some(n) => Ok(Some(n)),
            None => Err(invalid(&self.key(key), value, &format!("expected an integer from {min} to {max}"))),
        }
    }
}

/// `invalid value for [path]: <value>; <hint>`.
pub fn invalid(path: &str, value: &Value<'_>, hint: &str) -> String {
    format!("invalid value for [{path}]: {}; {hint}", value.describe())
}

/// An error for a Druid feature sluice does not implement.
pub fn unsupported(what: &str, hint: &str) -> String {
    format!("{what} is not supported by sluice; {hint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin_sdk::json;

    fn value(text: &str) -> Value<'_> {
        Value::Object(json::parse_object(text, "config").unwrap())
    }

    #[test]
    fn keys_and_types_name_their_path() {
        let v = value(r#"{"a": {"b": 1, "c": null, "s": "x", "t": true, "l": ["p", 2], "n": "12"}}"#);
        let root = Node::new(&v, "").unwrap();
        let a = root.child("a").unwrap().unwrap();
        assert_eq!(a.path(), "a");
        assert_eq!(a.allow(&["b", "c"]).unwrap_err(), "unknown key [a.s]; allowed: b, c");
        assert!(a.allow(&["b", "c", "s", "t", "l", "n"]).is_ok());
        assert_eq!(a.get("c"), None);
        assert_eq!(a.str("c").unwrap(), None);
        assert_eq!(a.str("s").unwrap(), Some("x"));
        assert_eq!(a.str("b").unwrap_err(), "invalid value for [a.b]: 1; expected a string");
        assert_eq!(a.bool("t").unwrap(), Some(true));
        assert_eq!(a.bool("s").unwrap_err(), "invalid value for [a.s]: \"x\"; expected true or false");
        assert_eq!(a.strings("l").unwrap_err(), "invalid value for [a.l[1]]: 2; expected a string");
        assert_eq!(a.integer("n", 0, 100).unwrap(), Some(12));
        assert_eq!(
            a.integer("b", 5, 100).unwrap_err(),
            "invalid value for [a.b]: 1; expected an integer from 5 to 100"
        );
        assert_eq!(a.required_str("missing").unwrap_err(), "missing [a.missing]");
        assert_eq!(root.child("x").unwrap().map(|n| n.path().to_owned()), None);
        assert_eq!(a.child("s").unwrap_err(), "invalid value for [a.s]: \"x\"; expected an object");
        assert_eq!(unsupported("[x]", "remove it"), "[x] is not supported by sluice; remove it");
    }
}
