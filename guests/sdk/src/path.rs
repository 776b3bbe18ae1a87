//! Field paths: values addressed by a dotted path such as `meta.id`.
//!
//! A path is resolved the way OpenSearch's field_mapping mapper resolves it:
//! a member named exactly `path` wins (so `{"a.b": 1}` answers `a.b`);
//! otherwise the path is split at a dot into a member name and a path inside
//! that member's object, trying the shortest name first and the next dot when
//! that fails (`{"a": {"b.c": 1}}` and `{"a.b": {"c": 1}}` both answer `a.b.c`).
//! Arrays are not entered: a path through an array or a scalar is missing.
//!
//! ```
//! use sluice_plugin_sdk::{json, path};
//!
//! let mut doc = json::parse_object(
//!     r#"{"meta": {"id": "a1", "v": 3}, "name": "x"}"#, "payload").unwrap();
//! assert_eq!(path::get(&doc, "meta.v").and_then(|v| v.as_unsigned()), Some(3));
//! assert!(path::get(&doc, "meta.missing").is_none());
//!
//! // `remove` takes the value out; an object it empties goes too.
//! let id = path::remove(&mut doc, "meta.id").unwrap();
//! assert_eq!(id.as_str(), Some("a1"));
//! path::remove(&mut doc, "meta.v").unwrap();
//! assert_eq!(json::to_json(&doc, 0).unwrap(), r#"{"name":"x"}"#);
//! ```

use crate::json::{Member, Object, Value};

/// The value at `path` in `object`, if any.
pub fn get<'v, 'a>(object: &'v [Member<'a>], path: &str) -> Option<&'v Value<'a>> {
    if let Some((_, value)) = object.iter().find(|(key, _)| key == path) {
        return Some(value);
    }
    for (dot, _) in path.match_indices('.') {
        let (head, rest) = (&path[..dot], &path[dot + 1..]);
        if let Some((_, Value::Object(child))) = object.iter().find(|(key, _)| key == head)
            && let Some(value) = get(child, rest)
        {
            return Some(value);
        }
    }
    None
}

/// Removes and returns the value at `path` in `object`. An object emptied by
/// the removal is removed too, all the way up.
pub fn remove<'a>(object: &mut Object<'a>, path: &str) -> Option<Value<'a>> {
    if let Some(index) = object.iter().position(|(key, _)| key == path) {
        return Some(object.remove(index).1);
    }
    for (dot, _) in path.match_indices('.') {
        let (head, rest) = (&path[..dot], &path[dot + 1..]);
        let Some(index) = object.iter().position(|(key, _)| key == head) else {
            continue;
        };
        if let Value::Object(child) = &mut object[index].1
            && let Some(value) = remove(child, rest)
        {
            if child.is_empty() {
                object.remove(index);
            }
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    fn object(text: &str) -> Object<'_> {
        json::parse_object(text, "test").unwrap()
    }

    #[test]
    fn remove_resolves_paths_like_opensearch() {
        let mut doc = object(r#"{"a.b":1,"a":{"b":2}}"#);
        // The literal key wins, as in OpenSearch.
        assert_eq!(remove(&mut doc, "a.b"), Some(Value::U64(1)));
        assert_eq!(remove(&mut doc, "a.b"), Some(Value::U64(2)));
        assert_eq!(remove(&mut doc, "a.b"), None);
        assert!(doc.is_empty());

        let mut doc = object(r#"{"a":{"b.c":{"d":1},"x":0},"a.b":{"c":{"e":1}}}"#);
        assert_eq!(remove(&mut doc, "a.b.c.d"), Some(Value::U64(1)));
        assert_eq!(json::to_json(&doc, 0).unwrap(), r#"{"a":{"x":0},"a.b":{"c":{"e":1}}}"#);
        assert_eq!(remove(&mut doc, "a.b.c.e"), Some(Value::U64(1)));
        assert_eq!(json::to_json(&doc, 0).unwrap(), r#"{"a":{"x":0}}"#);
        // Paths through non-objects are missing.
        assert_eq!(remove(&mut doc, "a.x.y"), None);
        assert_eq!(remove(&mut doc, "a.y"), None);
        assert_eq!(remove(&mut doc, "zzz"), None);
    }

    #[test]
    fn get_resolves_like_remove_and_leaves_the_document_alone() {
        let doc = object(r#"{"a.b":1,"a":{"b":2,"c":{"d":[1]}},"x":{"y.z":3},"arr":[{"k":1}]}"#);
        assert_eq!(get(&doc, "a.b"), Some(&Value::U64(1)));
        assert_eq!(get(&doc, "a.c.d"), Some(&Value::Array(vec![Value::U64(1)])));
        assert_eq!(get(&doc, "x.y.z"), Some(&Value::U64(3)));
        assert_eq!(get(&doc, "a"), doc.iter().find(|(k, _)| k == "a").map(|(_, v)| v));
        // Backtracks to the next dot when the shorter name leads nowhere.
        let doc2 = object(r#"{"a":{"q":1},"a.b":{"c":2}}"#);
        assert_eq!(get(&doc2, "a.b.c"), Some(&Value::U64(2)));
        // Missing, through a scalar, through an array, empty path.
        assert_eq!(get(&doc, "a.z"), None);
        assert_eq!(get(&doc, "a.b.c"), None);
        assert_eq!(get(&doc, "arr.k"), None);
        assert_eq!(get(&doc, ""), None);
        assert_eq!(get(&[], "a"), None);
    }
}
