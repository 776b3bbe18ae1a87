//! `dataSchema.dimensionsSpec`: the columns that key a row.
//!
//! Listed dimensions (names, or `{"type": "string" | "long" | "float" |
//! "double", "name", "multiValueHandling", "createBitmapIndex"}`) are
//! exactly the row's, in their order. With none listed the spec is
//! schemaless: every discovered column ([`crate::flatten`]) except the
//! timestamp column, `__time`, `dimensionExclusions` and every metric's
//! `name` and `fieldName`, as a string dimension. `includeAllDimensions`
//! adds the discovered ones after the listed ones; `useSchemaDiscovery`
//! does too, keeping their JSON types (numbers, arrays as they are, nested
//! objects) as Druid's `auto` columns do, instead of strings.
//!
//! Values follow Druid's SQL-compatible mode: a missing or null value is
//! null, `""` stays `""`. String dimensions take a scalar's text (booleans
//! `true`/`false`, numbers as their JSON text), an object's JSON text, an
//! array as a multi-value (sorted, or sorted without duplicates, or as it
//! is, per `multiValueHandling`; one value is a single value, none is
//! null). Numeric dimensions take numbers and numeric strings (a long
//! dimension only exact integers); anything else is null and an error
//! that makes the row `processedWithError`.

use std::borrow::Cow;
use std::cmp::Ordering;

use sluice_plugin_sdk::json::{Object, Value};

use crate::flatten::InputFormat;
use crate::numbers::{self, Number};
use crate::spec::{Node, invalid, unsupported};

#[derive(Clone, Debug, PartialEq)]
pub struct DimensionsSpec {
    listed: Vec<Dimension>,
    exclusions: Vec<String>,
    discovery: Discovery,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Discovery {
    None,
    Strings,
    Typed,
}

#[derive(Clone, Debug, PartialEq)]
struct Dimension {
    name: String,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    String(MultiValue),
    Long,
    Float,
    Double,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MultiValue {
    SortedArray,
    SortedSet,
    Array,
}

/// A row's dimension values: the listed ones in order, then the discovered ones by name.
#[derive(Debug, Default, PartialEq)]
pub struct Dims<'n, 'a> {
    pub listed: Vec<(&'n str, Value<'a>)>,
    pub discovered: Vec<(&'n str, Value<'a>)>,
}

impl DimensionsSpec {
    pub fn parse(node: Option<Node<'_, '_>>) -> Result<DimensionsSpec, String> {
        let mut spec = DimensionsSpec { listed: Vec::new(), exclusions: Vec::new(), discovery: Discovery::Strings };
        let Some(node) = node else { return Ok(spec) };
        node.allow(&[
            "dimensions",
            "dimensionExclusions",
            "spatialDimensions",
            "includeAllDimensions",
            "useSchemaDiscovery",
            "forceSegmentSortByTime",
        ])?;
        if node.array("spatialDimensions")?.is_some_and(|s| !s.is_empty()) {
            return Err(unsupported(&format!("[{}]", node.key("spatialDimensions")), "remove them"));
        }
        // Segment sort order: nothing to do with rows.
        node.bool("forceSegmentSortByTime")?;
        for (i, item) in node.array("dimensions")?.unwrap_or_default().iter().enumerate() {
            let dimension = parse_dimension(item, &format!("{}[{i}]", node.key("dimensions")))?;
            if spec.listed.iter().any(|d| d.name == dimension.name) {
                return Err(format!("duplicate dimension [{}] in [{}]", dimension.name, node.key("dimensions")));
            }
            spec.listed.push(dimension);
        }
        spec.exclusions = node.strings("dimensionExclusions")?.into_iter().map(str::to_owned).collect();
        if let Some(both) = spec.listed.iter().find(|d| spec.exclusions.contains(&d.name)) {
            return Err(format!(
                "dimension [{}] is both in [{}] and in [{}]",
                both.name,
                node.key("dimensions"),
                node.key("dimensionExclusions")
            ));
        }
        let include_all = node.bool("includeAllDimensions")?.unwrap_or(false);
        spec.discovery = if node.bool("useSchemaDiscovery")?.unwrap_or(false) {
            Discovery::Typed
        } else if spec.listed.is_empty() || include_all {
            Discovery::Strings
        } else {
            Discovery::None
        };
        Ok(spec)
    }

    /// Excludes from discovery the columns Druid does: the timestamp column,
    /// `__time`, and the metrics' names and input fields.
    pub fn exclude<'s>(&mut self, columns: impl IntoIterator<Item = &'s str>) {
        self.exclusions.extend(columns.into_iter().map(str::to_owned));
        self.exclusions.push("__time".to_owned());
    }

    /// The listed dimension names.
    pub fn listed_names(&self) -> impl Iterator<Item = &str> {
        self.listed.iter().map(|d| d.name.as_str())
    }

    /// Whether rows may carry discovered dimensions (their set varies per event).
    pub fn discovers(&self) -> bool {
        self.discovery != Discovery::None
    }

    /// The dimension values of an event; conversion errors are pushed to `errors`.
    pub fn values<'n, 'a>(
        &'n self,
        event: &'n Object<'a>,
        format: &'n InputFormat,
        errors: &mut Vec<String>,
    ) -> Dims<'n, 'a> {
        let mut dims = Dims::default();
        for d in &self.listed {
            let value = format.get(event, &d.name);
            let converted = match d.kind {
                Kind::String(handling) => string_value(value, handling),
                numeric => numeric_value(value, numeric).unwrap_or_else(|e| {
                    errors.push(format!("dimension [{}]: {e}", d.name));
                    Value::Null
                }),
            };
            dims.listed.push((&d.name, converted));
        }
        if self.discovery == Discovery::None {
            return dims;
        }
        for name in format.columns(event, self.discovery == Discovery::Typed) {
            if self.exclusions.iter().any(|e| e == name) || self.listed.iter().any(|d| d.name == name) {
                continue;
            }
            let value = match self.discovery {
                Discovery::Typed => format.get(event, name).cloned().unwrap_or(Value::Null),
                _ => string_value(format.get(event, name), MultiValue::SortedArray),
            };
            // A null dimension and a missing one are the same to rollup.
            if value != Value::Null {
                dims.discovered.push((name, value));
            }
        }
        dims.discovered.sort_by(|a, b| a.0.cmp(b.0));
        dims
    }
}

fn parse_dimension(item: &Value<'_>, path: &str) -> Result<Dimension, String> {
    let (name, kind) = match item {
        Value::Str(name) => (name.to_string(), Kind::String(MultiValue::SortedArray)),
        _ => {
            let node = Node::new(item, path)?;
            node.allow(&["type", "name", "multiValueHandling", "createBitmapIndex"])?;
            let name = node.required_str("name")?;
            node.bool("createBitmapIndex")?;
            let handling = match node.str("multiValueHandling")?.map(str::to_ascii_lowercase).as_deref() {
                None | Some("sorted_array") => MultiValue::SortedArray,
                Some("sorted_set") => MultiValue::SortedSet,
                Some("array") => MultiValue::Array,
                Some(_) => {
                    let value = node.get("multiValueHandling").unwrap_or(&Value::Null);
                    return Err(invalid(
                        &node.key("multiValueHandling"),
                        value,
                        "allowed: sorted_array, sorted_set, array",
                    ));
                }
            };
            let kind = match node.str("type")?.unwrap_or("string") {
                "string" => Kind::String(handling),
                "long" => Kind::Long,
                "float" => Kind::Float,
                "double" => Kind::Double,
                other @ ("auto" | "json" | "spatial") => {
                    return Err(unsupported(
                        &format!("dimension type \"{other}\" in [{}]", node.key("type")),
                        "supported: string, long, float, double (useSchemaDiscovery keeps discovered values typed)",
                    ));
                }
                _ => {
                    let value = node.get("type").unwrap_or(&Value::Null);
                    return Err(invalid(&node.key("type"), value, "allowed: string, long, float, double"));
                }
            };
            (name.to_owned(), kind)
        }
    };
    if name.is_empty() || name == "__time" {
        return Err(format!(
            "invalid dimension name \"{name}\" in [{path}]: __time is the row time and a name must not be empty"
        ));
    }
    Ok(Dimension { name, kind })
}

/// A string dimension's value.
fn string_value<'a>(value: Option<&Value<'a>>, handling: MultiValue) -> Value<'a> {
    let Some(Value::Array(items)) = value else {
        return value.and_then(text).map_or(Value::Null, Value::Str);
    };
    let mut values: Vec<Option<Cow<'a, str>>> = items.iter().map(text).collect();
    if handling != MultiValue::Array {
        values.sort_by(|a, b| java_order(a.as_deref(), b.as_deref()));
    }
    if handling == MultiValue::SortedSet {
        values.dedup();
    }
    let as_value = |v: Option<Cow<'a, str>>| v.map_or(Value::Null, Value::Str);
    match values.len() {
        0 => Value::Null,
        1 => as_value(values.pop().flatten()),
        _ => Value::Array(values.into_iter().map(as_value).collect()),
    }
}

/// A value's text: strings as they are, other scalars as their JSON text,
/// arrays and objects as compact JSON; `None` for null.
fn text<'a>(value: &Value<'a>) -> Option<Cow<'a, str>> {
    match value {
        Value::Null => None,
        Value::Str(s) => Some(s.clone()),
        Value::Array(_) | Value::Object(_) => Some(Cow::Owned(serde_json::to_string(value).unwrap_or_default())),
        scalar => scalar.scalar_text().map(|t| Cow::Owned(t.into_owned())),
    }
}

/// Java's natural order of strings (UTF-16 code units), nulls first.
fn java_order(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.encode_utf16().cmp(b.encode_utf16()),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

/// A numeric dimension's value, as `DimensionHandlerUtils.convertObjectTo*` reads it.
fn numeric_value<'a>(value: Option<&Value<'_>>, kind: Kind) -> Result<Value<'a>, String> {
    let type_name = match kind {
        Kind::Long => "long",
        Kind::Float => "float",
        _ => "double",
    };
    let Some(value) = value.filter(|v| !matches!(v, Value::Null)) else { return Ok(Value::Null) };
    let fail = || format!("could not convert value {} to {type_name}", value.describe());
    let number = match (numbers::json_number(value), value) {
        (Some(n), _) => n,
        (None, Value::Str(s)) if kind == Kind::Long => Number::Long(numbers::exact_long(s).ok_or_else(fail)?),
        (None, Value::Str(s)) => Number::Double(numbers::java_double(s).ok_or_else(fail)?),
        (None, Value::Array(_)) => {
            return Err(format!(
                "could not ingest value {} as {type_name}: a {type_name} column cannot have multiple values in the same row",
                value.describe()
            ));
        }
        (None, _) => return Err(format!("{}: invalid type", fail())),
    };
    let converted = match kind {
        Kind::Long => Some(numbers::long_value(number.long())),
        Kind::Float => numbers::float_value(number.double()),
        _ => numbers::double_value(number.double()),
    };
    converted.ok_or_else(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value<'_> {
        Value::Str(text.into())
    }

    #[test]
    fn string_values() {
        let arr = |items: Vec<Value<'static>>| Value::Array(items);
        let sorted = MultiValue::SortedArray;
        assert_eq!(string_value(None, sorted), Value::Null);
        assert_eq!(string_value(Some(&Value::Null), sorted), Value::Null);
        assert_eq!(string_value(Some(&s("")), sorted), s(""));
        assert_eq!(string_value(Some(&Value::Bool(false)), sorted), s("false"));
        assert_eq!(string_value(Some(&Value::F64(1.5)), sorted), s("1.5"));
        assert_eq!(string_value(Some(&Value::I64(-3)), sorted), s("-3"));
        let object = Value::Object(vec![("a".into(), Value::U64(1))]);
        assert_eq!(string_value(Some(&object), sorted), s(r#"{"a":1}"#));
        let multi = arr(vec![s("b"), Value::Null, s("a"), s("b"), Value::U64(1)]);
        assert_eq!(string_value(Some(&multi), sorted), arr(vec![Value::Null, s("1"), s("a"), s("b"), s("b")]));
        assert_eq!(string_value(Some(&multi), MultiValue::SortedSet), arr(vec![Value::Null, s("1"), s("a"), s("b")]));
        assert_eq!(
            string_value(Some(&multi), MultiValue::Array),
            arr(vec![s("b"), Value::Null, s("a"), s("b"), s("1")])
        );
        assert_eq!(string_value(Some(&arr(vec![s("x")])), sorted), s("x"));
        assert_eq!(string_value(Some(&arr(vec![])), sorted), Value::Null);
        // UTF-16 order: U+FF5E sorts after U+1F600 in Rust's byte order, before it in Java's.
        assert_eq!(
            string_value(Some(&arr(vec![s("\u{FF5E}"), s("\u{1F600}")])), sorted),
            arr(vec![s("\u{1F600}"), s("\u{FF5E}")])
        );
    }

    #[test]
    fn numeric_values() {
        let long = |v: Value<'_>| numeric_value(Some(&v), Kind::Long);
        assert_eq!(long(Value::U64(7)), Ok(Value::U64(7)));
        assert_eq!(long(Value::F64(-7.9)), Ok(Value::I64(-7)));
        assert_eq!(long(s("42.0")), Ok(Value::U64(42)));
        assert_eq!(long(s("1.5")), Err("could not convert value \"1.5\" to long".to_owned()));
        assert_eq!(long(s("")), Err("could not convert value \"\" to long".to_owned()));
        assert_eq!(long(Value::Bool(true)), Err("could not convert value true to long: invalid type".to_owned()));
        assert_eq!(
            long(Value::Array(vec![Value::U64(1)])),
            Err("could not ingest value an array as long: a long column cannot have multiple values in the same row"
                .to_owned())
        );
        assert_eq!(numeric_value(None, Kind::Long), Ok(Value::Null));
        assert_eq!(numeric_value(Some(&s("0.1")), Kind::Float), Ok(Value::F64(0.1)));
        assert_eq!(numeric_value(Some(&Value::F64(0.1)), Kind::Double), Ok(Value::F64(0.1)));
        assert_eq!(
            numeric_value(Some(&s("x")), Kind::Double),
            Err("could not convert value \"x\" to double".to_owned())
        );
        assert_eq!(
            numeric_value(Some(&s("1e39")), Kind::Float),
            Err("could not convert value \"1e39\" to float".to_owned())
        );
    }
}
