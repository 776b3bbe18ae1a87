//! `inputFormat` (`json`) and its `flattenSpec`: which columns an event has.
//!
//! With `useFieldDiscovery` (the default) every top-level field is a column;
//! `fields` add columns: `root` (a top-level field, `expr` naming it when
//! it differs from `name`) and `path` (a JSONPath: `$.a.b`, `$.a[0]`,
//! `$['a']`, `$.a[-1]`; Jayway's deep scans, wildcards, filters and
//! functions are refused). A field shadows a top-level column of its name.
//!
//! Schemaless dimensions are the discovered columns: as Druid's
//! `JSONFlattenerMaker`, top-level fields that are scalars or flat arrays
//! (not objects, not arrays holding arrays or objects, not null unless
//! `keepNullColumns`), then the `fields`; all top-level fields when
//! `useSchemaDiscovery` asks for nested ones too.

use sluice_plugin_sdk::json::{Object, Value};

use crate::spec::{Node, invalid, unsupported};

#[derive(Clone, Debug, PartialEq)]
pub struct InputFormat {
    use_field_discovery: bool,
    keep_null_columns: bool,
    fields: Vec<Field>,
}

#[derive(Clone, Debug, PartialEq)]
struct Field {
    name: String,
    steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(i64),
}

impl InputFormat {
    /// Parses `inputFormat` (absent: `{"type": "json"}`).
    pub fn parse(node: Option<Node<'_, '_>>) -> Result<InputFormat, String> {
        let mut format = InputFormat { use_field_discovery: true, keep_null_columns: false, fields: Vec::new() };
        let Some(node) = node else { return Ok(format) };
        node.allow(&[
            "type",
            "flattenSpec",
            "featureSpec",
            "keepNullColumns",
            "assumeNewlineDelimited",
            "useJsonNodeReader",
        ])?;
        match node.str("type")? {
            Some("json") => {}
            Some(other) => {
                return Err(unsupported(
                    &format!("input format \"{other}\" in [{}]", node.key("type")),
                    "supported: json",
                ));
            }
            None => return Err(format!("missing [{}]", node.key("type"))),
        }
        if let Some(features) = node.child("featureSpec")?
            && node.get("featureSpec").and_then(Value::as_object).is_some_and(|o| !o.is_empty())
        {
            return Err(unsupported(&format!("[{}]", features.path()), "payloads are parsed as standard JSON"));
        }
        // Each message is one JSON object: how multi-line records split does not apply.
        node.bool("assumeNewlineDelimited")?;
        node.bool("useJsonNodeReader")?;
        format.keep_null_columns = node.bool("keepNullColumns")?.unwrap_or(false);
        if let Some(flatten) = node.child("flattenSpec")? {
            flatten.allow(&["useFieldDiscovery", "fields"])?;
            format.use_field_discovery = flatten.bool("useFieldDiscovery")?.unwrap_or(true);
            for (i, item) in flatten.array("fields")?.unwrap_or_default().iter().enumerate() {
                let field = parse_field(item, &format!("{}[{i}]", flatten.key("fields")))?;
                if format.fields.iter().any(|f| f.name == field.name) {
                    return Err(format!(
                        "duplicate flattenSpec field name [{}] in [{}]",
                        field.name,
                        flatten.key("fields")
                    ));
                }
                format.fields.push(field);
            }
        }
        Ok(format)
    }

    /// The value of column `name` in `event` (`None`: no such column).
    pub fn get<'v, 'a>(&self, event: &'v Object<'a>, name: &str) -> Option<&'v Value<'a>> {
        match self.fields.iter().find(|f| f.name == name) {
            Some(field) => resolve(event, &field.steps),
            None if self.use_field_discovery => member(event, name),
            None => None,
        }
    }

    /// The event's columns, for schemaless dimensions: discovered top-level
    /// fields in document order, then the `fields` (each name once).
    pub fn columns<'v>(&'v self, event: &'v Object<'_>, nested: bool) -> Vec<&'v str> {
        let mut names: Vec<&str> = Vec::new();
        if self.use_field_discovery {
            for (key, value) in event {
                let discoverable = nested
                    || match value {
                        Value::Object(_) => false,
                        Value::Null => self.keep_null_columns,
                        Value::Array(items) => items.iter().all(|v| !matches!(v, Value::Array(_) | Value::Object(_))),
                        _ => true,
                    };
                if discoverable && !self.fields.iter().any(|f| f.name == **key) {
                    names.push(key);
                }
            }
        }
        names.extend(self.fields.iter().map(|f| f.name.as_str()));
        names
    }
}

fn member<'v, 'a>(event: &'v Object<'a>, key: &str) -> Option<&'v Value<'a>> {
    event.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn resolve<'v, 'a>(event: &'v Object<'a>, steps: &[Step]) -> Option<&'v Value<'a>> {
    let (first, rest) = steps.split_first()?;
    let Step::Key(key) = first else { return None };
    let mut value = member(event, key)?;
    for step in rest {
        value = match (step, value) {
            (Step::Key(key), Value::Object(members)) => member(members, key)?,
            (Step::Index(i), Value::Array(items)) => {
                let index = if *i < 0 { items.len() as i64 + i } else { *i };
                items.get(usize::try_from(index).ok()?)?
            }
            _ => return None,
        };
    }
    Some(value)
}

fn parse_field(item: &Value<'_>, path: &str) -> Result<Field, String> {
    if let Value::Str(name) = item {
        return Ok(Field { name: name.to_string(), steps: vec![Step::Key(name.to_string())] });
    }
    let node = Node::new(item, path)?;
    node.allow(&["type", "name", "expr", "nodes"])?;
    let name = node.required_str("name")?;
    let kind = node.required_str("type")?.to_ascii_lowercase();
    let steps = match kind.as_str() {
        "root" => vec![Step::Key(node.str("expr")?.unwrap_or(name).to_owned())],
        "path" => {
            let expr = node.required_str("expr")?;
            json_path(expr).map_err(|e| format!("invalid value for [{}]: \"{expr}\"; {e}", node.key("expr")))?
        }
        "jq" | "tree" => {
            return Err(unsupported(
                &format!("flattenSpec field type \"{kind}\" in [{}]", node.key("type")),
                "use \"root\" or \"path\"",
            ));
        }
        _ => return Err(invalid(&node.key("type"), node.get("type").unwrap_or(&Value::Null), "allowed: root, path")),
    };
    if node.get("nodes").is_some() {
        return Err(format!("[{}] is only for flattenSpec fields of type \"tree\"", node.key("nodes")));
    }
    Ok(Field { name: name.to_owned(), steps })
}

/// A JSONPath of member names and array indexes.
fn json_path(expr: &str) -> Result<Vec<Step>, String> {
    const HINT: &str = "sluice supports JSONPaths of member names and indexes ($.a.b, $.a[0], $['a'])";
    let refuse = |what: &str| Err(format!("{what} is not supported by sluice; {HINT}"));
    let rest = expr.strip_prefix('$').ok_or_else(|| format!("a JSONPath starts with $; {HINT}"))?;
    let mut steps = Vec::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '.' => {
                if rest[at + 1..].starts_with('.') {
                    return refuse("a deep scan (..)");
                }
                let name: String =
                    std::iter::from_fn(|| chars.next_if(|(_, c)| *c != '.' && *c != '[')).map(|(_, c)| c).collect();
                match name.as_str() {
                    "" => return Err(format!("an empty member name; {HINT}")),
                    "*" => return refuse("a wildcard (*)"),
                    n if n.ends_with(')') => return refuse("a function"),
                    _ => steps.push(Step::Key(name)),
                }
            }
            '[' => {
                let close = rest[at..].find(']').ok_or_else(|| format!("an unclosed [; {HINT}"))? + at;
                let inner = rest[at + 1..close].trim();
                while chars.next_if(|(i, _)| *i <= close).is_some() {}
                let quoted = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                if let Some(name) = quoted {
                    if name.contains(['\'', '"', ',']) {
                        return refuse("several member names");
                    }
                    steps.push(Step::Key(name.to_owned()));
                } else if let Ok(index) = inner.parse::<i64>() {
                    steps.push(Step::Index(index));
                } else {
                    return refuse(&format!("[{inner}]"));
                }
            }
            _ => return Err(format!("unexpected {c:?}; {HINT}")),
        }
    }
    if !matches!(steps.first(), Some(Step::Key(_))) {
        return Err(format!("the path must start with a member name; {HINT}"));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin_sdk::json;

    fn format(text: &str) -> InputFormat {
        let v = Value::Object(json::parse_object(text, "config").unwrap());
        InputFormat::parse(Some(Node::new(&v, "inputFormat").unwrap())).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn error(text: &str) -> String {
        let v = Value::Object(json::parse_object(text, "config").unwrap());
        InputFormat::parse(Some(Node::new(&v, "inputFormat").unwrap())).unwrap_err()
    }

    #[test]
    fn json_paths() {
        let key = |s: &str| Step::Key(s.to_owned());
        assert_eq!(json_path("$.a.b"), Ok(vec![key("a"), key("b")]));
        assert_eq!(json_path("$.a[0][-1]"), Ok(vec![key("a"), Step::Index(0), Step::Index(-1)]));
        assert_eq!(json_path("$['a.b'][\"c\"]"), Ok(vec![key("a.b"), key("c")]));
        assert!(json_path("$..a").unwrap_err().starts_with("a deep scan (..) is not supported by sluice"));
        assert!(json_path("$.a[*]").unwrap_err().starts_with("[*] is not supported by sluice"));
        assert!(json_path("$.a.*").unwrap_err().starts_with("a wildcard (*) is not supported"));
        assert!(json_path("$.a.length()").unwrap_err().starts_with("a function is not supported"));
        assert!(json_path("$.a[?(@.b)]").unwrap_err().contains("is not supported by sluice"));
        assert!(json_path("a.b").unwrap_err().starts_with("a JSONPath starts with $"));
        assert!(json_path("$[0]").unwrap_err().starts_with("the path must start with a member name"));
        assert!(json_path("$.a[0").unwrap_err().starts_with("an unclosed ["));
    }

    #[test]
    fn fields_and_discovery() {
        let f = format(
            r#"{"type": "json", "flattenSpec": {"useFieldDiscovery": true, "fields": [
                "r", {"type": "root", "name": "renamed", "expr": "orig"},
                {"type": "path", "name": "ab", "expr": "$.a.b"}, {"type": "PATH", "name": "last", "expr": "$.l[-1]"},
                {"type": "path", "name": "s", "expr": "$.a.missing"}]}}"#,
        );
        let event = json::parse_object(
            r#"{"s": "top", "orig": 1, "a": {"b": [1, 2]}, "l": [1, 2, 3], "n": null, "nested": [[1]], "objs": [{}], "x": true}"#,
            "payload",
        )
        .unwrap();
        assert_eq!(f.get(&event, "renamed"), Some(&Value::U64(1)));
        assert_eq!(f.get(&event, "ab"), Some(&Value::Array(vec![Value::U64(1), Value::U64(2)])));
        assert_eq!(f.get(&event, "last"), Some(&Value::U64(3)));
        assert_eq!(f.get(&event, "s"), None, "a field shadows the top-level column");
        assert_eq!(f.get(&event, "x"), Some(&Value::Bool(true)));
        assert_eq!(f.get(&event, "nope"), None);
        assert_eq!(f.columns(&event, false), ["orig", "l", "x", "r", "renamed", "ab", "last", "s"]);
        assert_eq!(
            f.columns(&event, true),
            ["orig", "a", "l", "n", "nested", "objs", "x", "r", "renamed", "ab", "last", "s"]
        );

        let no_discovery = format(
            r#"{"type": "json", "keepNullColumns": true, "flattenSpec": {"useFieldDiscovery": false, "fields": ["x"]}}"#,
        );
        assert_eq!(no_discovery.get(&event, "orig"), None);
        assert_eq!(no_discovery.get(&event, "x"), Some(&Value::Bool(true)));
        assert_eq!(no_discovery.columns(&event, false), ["x"]);
        let keep_nulls = format(r#"{"type": "json", "keepNullColumns": true}"#);
        assert!(keep_nulls.columns(&event, false).contains(&"n"));
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            error(r#"{"type": "csv"}"#),
            "input format \"csv\" in [inputFormat.type] is not supported by sluice; supported: json"
        );
        assert_eq!(error(r#"{}"#), "missing [inputFormat.type]");
        assert!(
            error(r#"{"type": "json", "featureSpec": {"ALLOW_SINGLE_QUOTES": true}}"#)
                .starts_with("[inputFormat.featureSpec] is not supported by sluice")
        );
        assert_eq!(
            error(r#"{"type": "json", "flattenSpec": {"fields": [{"type": "jq", "name": "a", "expr": ".a"}]}}"#),
            "flattenSpec field type \"jq\" in [inputFormat.flattenSpec.fields[0].type] is not supported by sluice; use \"root\" or \"path\""
        );
        assert!(
            error(r#"{"type": "json", "flattenSpec": {"fields": [{"type": "tree", "name": "a", "nodes": ["a"]}]}}"#)
                .contains("\"tree\"")
        );
        assert_eq!(
            error(r#"{"type": "json", "flattenSpec": {"fields": [{"type": "path", "name": "a"}]}}"#),
            "missing [inputFormat.flattenSpec.fields[0].expr]"
        );
        assert_eq!(
            error(r#"{"type": "json", "flattenSpec": {"fields": ["a", "a"]}}"#),
            "duplicate flattenSpec field name [a] in [inputFormat.flattenSpec.fields]"
        );
        assert_eq!(
            error(r#"{"type": "json", "flattenSpec": {"fields": [{"type": "path", "name": "a", "exp": "$.a"}]}}"#),
            "unknown key [inputFormat.flattenSpec.fields[0].exp]; allowed: type, name, expr, nodes"
        );
        assert_eq!(
            error(r#"{"type": "json", "flattenSpec": {"fields": [{"type": "path", "name": "a", "expr": "$..a"}]}}"#),
            "invalid value for [inputFormat.flattenSpec.fields[0].expr]: \"$..a\"; a deep scan (..) is not supported by sluice; sluice supports JSONPaths of member names and indexes ($.a.b, $.a[0], $['a'])"
        );
        assert_eq!(
            error(r#"{"type": "json", "flattenSpec": {"useFieldDiscovery": "yes"}}"#),
            "invalid value for [inputFormat.flattenSpec.useFieldDiscovery]: \"yes\"; expected true or false"
        );
    }
}
