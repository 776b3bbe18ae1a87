//! Validation of a document `_source` against OpenSearch index mappings.
//!
//! The mapping (`{"dynamic": ..., "properties": {...}}`, OpenSearch syntax) is
//! parsed once, at configure time, into a compact tree whose properties are
//! sorted for binary search. Validation walks the document against it and
//! reports the first mismatch, naming the full field path and the expected
//! type, in the spirit of OpenSearch's own document parser:
//!
//! * leaf types: `text`, `match_only_text`, `keyword` (a value longer than
//!   `ignore_above` is kept, as OpenSearch keeps it in `_source` unindexed),
//!   `wildcard`, `constant_keyword`, `search_as_you_type`, `token_count`
//!   (strings, numbers, booleans); `byte`, `short`, `integer`, `long`,
//!   `unsigned_long`, `half_float`, `float`, `double`, `scaled_float` (needs
//!   `scaling_factor`), with OpenSearch's coercion (see `numbers.rs`);
//!   `boolean` (`true`, `false`, `"true"`, `"false"`, `""`); `date` and
//!   `date_nanos` with their `format` ([`crate::date::DateFormat`]); `ip` (v4
//!   or v6); `geo_point` (every form OpenSearch accepts, see `geo.rs`);
//!   `binary` (base64); `flat_object` (or Elasticsearch's name `flattened`:
//!   any object); `alias` (a document cannot hold a value for it); `object`
//!   (or no type with `properties`) and `nested`;
//! * recognised but not checked (any value): `geo_shape`, `xy_point`,
//!   `xy_shape`, `completion`, `knn_vector`, `rank_feature`, `rank_features`,
//!   the `*_range` types, `join`, `percolator`, `semantic`, `sparse_vector`,
//!   `derived`, `murmur3`, `histogram`;
//! * any field may hold `null` or an array of values of its type;
//! * `dynamic` (`true` by default, inherited by sub-objects): `strict` rejects
//!   unmapped fields, `false` and `true` accept them unchecked;
//! * dotted field names (`"user.age": 5`) address sub-fields, as in OpenSearch;
//! * field parameters: `coerce` (numbers), `ignore_malformed` (numbers, dates,
//!   `ip`, `geo_point`: accept any value), `format` (dates), `ignore_above`,
//!   `scaling_factor`, `ignore_z_value` (`geo_point`), `dynamic` and `enabled`
//!   on objects; other parameters (`index`, `analyzer`, `fields`, ...) do not
//!   affect what a document may hold and are ignored.
//!
//! ```
//! use sluice_plugin_sdk::json;
//! use sluice_plugin_sdk::mapping::Mappings;
//!
//! // Parsed once, when the plugin is configured...
//! let mappings = Mappings::parse(&json::parse(
//!     r#"{"dynamic": "strict", "properties": {
//!         "age": {"type": "integer"},
//!         "seen": {"type": "date"}}}"#,
//! ).unwrap()).unwrap();
//!
//! // ...then each document is checked; the first mismatch is the reason.
//! let doc = json::parse_object(r#"{"age": "42", "seen": "2024-01-31"}"#, "document").unwrap();
//! assert_eq!(mappings.validate(&doc), Ok(()));
//! let doc = json::parse_object(r#"{"age": "abc"}"#, "document").unwrap();
//! assert_eq!(mappings.validate(&doc).unwrap_err(),
//!            r#"field [age] of type [integer]: cannot parse "abc""#);
//! let doc = json::parse_object(r#"{"name": "x"}"#, "document").unwrap();
//! assert_eq!(mappings.validate(&doc).unwrap_err(),
//!            "field [name] is not allowed: mapping has dynamic [strict]");
//! ```

use std::fmt;

use crate::date::DateFormat;
use crate::json::{Member, Value};
use numbers::{FloatWidth, IntKind, check_float, check_integer};

mod geo;
mod numbers;

/// Every checked field type, for error messages.
const SUPPORTED_TYPES: &str = "[text, match_only_text, keyword, wildcard, constant_keyword, search_as_you_type, \
     token_count, byte, short, integer, long, unsigned_long, half_float, float, double, scaled_float, boolean, date, \
     date_nanos, ip, geo_point, binary, flat_object, flattened, alias, object, nested]";

/// Types OpenSearch has whose values are not checked here.
const UNCHECKED_TYPES: &[&str] = &[
    "geo_shape",
    "xy_point",
    "xy_shape",
    "completion",
    "knn_vector",
    "rank_feature",
    "rank_features",
    "integer_range",
    "long_range",
    "float_range",
    "double_range",
    "date_range",
    "ip_range",
    "join",
    "percolator",
    "semantic",
    "sparse_vector",
    "derived",
    "murmur3",
    "histogram",
];

/// The default `format` of a `date` field.
const DEFAULT_DATE_FORMAT: &str = "strict_date_optional_time||epoch_millis";
/// The default `format` of a `date_nanos` field.
const DEFAULT_DATE_NANOS_FORMAT: &str = "strict_date_optional_time_nanos||epoch_millis";

/// Parsed index mappings.
#[derive(Debug)]
pub struct Mappings {
    root: ObjectMapping,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dynamic {
    True,
    False,
    Strict,
}

#[derive(Debug)]
struct ObjectMapping {
    /// `None`: inherited from the enclosing object (the root defaults to `true`).
    dynamic: Option<Dynamic>,
    /// `enabled: false`: the content is kept in `_source` but never parsed.
    enabled: bool,
    /// Sorted by name, names without dots.
    properties: Vec<(Box<str>, FieldMapping)>,
}

#[derive(Debug)]
enum FieldMapping {
    Object(ObjectMapping),
    Nested(ObjectMapping),
    Leaf(Leaf),
}

#[derive(Debug)]
struct Leaf {
    /// The mapping type, as written (`keyword`, `integer`...).
    name: Box<str>,
    kind: Kind,
    /// Numeric types: accept numeric strings (and `""` as null) and truncate decimals; default true.
    coerce: bool,
    /// Accept any value, as OpenSearch then skips a malformed one (for the
    /// types that have the parameter).
    ignore_malformed: bool,
}

#[derive(Debug)]
enum Kind {
    /// text, keyword...: any scalar (OpenSearch indexes numbers and booleans as their text).
    Text,
    Integer(IntKind),
    /// Finite numbers representable in the type (`half_float`, `float`, `double`, `scaled_float`).
    Float(FloatWidth),
    Boolean,
    Date(DateFormat),
    Ip,
    GeoPoint {
        ignore_z: bool,
    },
    /// Base64 text.
    Binary,
    /// `flat_object`: any object.
    FlatObject,
    /// A field alias: a document cannot hold a value for it.
    Alias,
    /// A type whose values are not checked.
    Any,
}

/// The parameters of a field definition that shape what its values may be.
#[derive(Default)]
struct Params<'a> {
    format: Option<&'a str>,
    scaling_factor: Option<&'a Value<'a>>,
    ignore_z: Option<bool>,
}

impl Mappings {
    /// Parses OpenSearch mappings: an object with optional `dynamic` and
    /// `properties`. Errors name the offending field.
    pub fn parse(value: &Value<'_>) -> Result<Self, String> {
        let Value::Object(members) = value else {
            return Err(format!("mappings must be a JSON object, found {}", value.kind()));
        };
        let mut root = ObjectMapping { dynamic: None, enabled: true, properties: Vec::new() };
        for (key, value) in members {
            match &**key {
                "dynamic" => root.dynamic = Some(parse_dynamic(value, "the mapping root")?),
                "properties" => parse_properties(value, "", &mut root.properties)?,
                // _meta, _source, _routing, dynamic_templates, date_detection...
                _ => {}
            }
        }
        Ok(Mappings { root })
    }

    /// Checks `source` (a document's members) against the mappings.
    pub fn validate(&self, source: &[Member<'_>]) -> Result<(), String> {
        validate_members(&self.root, self.root.dynamic.unwrap_or(Dynamic::True), source, None)
    }
}

// ---------------------------------------------------------------------------
// Parsing the mapping definition.

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() { name.to_owned() } else { format!("{parent}.{name}") }
}

fn parse_dynamic(value: &Value<'_>, at: &str) -> Result<Dynamic, String> {
    match value {
        Value::Bool(true) => Ok(Dynamic::True),
        Value::Bool(false) => Ok(Dynamic::False),
        Value::Str(s) if s == "true" => Ok(Dynamic::True),
        Value::Str(s) if s == "false" => Ok(Dynamic::False),
        Value::Str(s) if s == "strict" => Ok(Dynamic::Strict),
        other => {
            Err(format!("invalid [dynamic] value {} for {at}: expected true, false or \"strict\"", other.describe()))
        }
    }
}

/// A boolean mapping parameter: `true`/`false`, or their strings as OpenSearch allows.
fn parse_bool(value: &Value<'_>, param: &str, field: &str) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Str(s) if s == "true" => Ok(true),
        Value::Str(s) if s == "false" => Ok(false),
        other => Err(format!("[{param}] of field [{field}] must be true or false, found {}", other.describe())),
    }
}

/// Parses a `properties` object into `out` (sorted, dotted names expanded).
fn parse_properties(value: &Value<'_>, parent: &str, out: &mut Vec<(Box<str>, FieldMapping)>) -> Result<(), String> {
    let Value::Object(defs) = value else {
        let owner = if parent.is_empty() { "the mapping root".to_owned() } else { format!("field [{parent}]") };
        return Err(format!("[properties] of {owner} must be an object, found {}", value.kind()));
    };
    for (name, def) in defs {
        let path = join(parent, name);
        if name.split('.').any(|segment| segment.trim().is_empty()) {
            return Err(format!("invalid field name [{path}]: names and their dotted parts must not be empty"));
        }
        let Value::Object(def) = def else {
            return Err(format!("field [{path}] must be defined by an object, found {}", def.describe()));
        };
        let field = parse_field(def, &path)?;
        insert(out, name, field, &path)?;
    }
    Ok(())
}

fn parse_field(def: &[Member<'_>], path: &str) -> Result<FieldMapping, String> {
    let mut ty = None;
    let mut properties = None;
    let mut dynamic = None;
    let mut enabled = true;
    let mut coerce = true;
    let mut ignore_malformed = false;
    let mut params = Params::default();
    for (key, value) in def {
        match &**key {
            "type" => match value {
                Value::Str(s) => ty = Some(&**s),
                other => {
                    return Err(format!("[type] of field [{path}] must be a string, found {}", other.describe()));
                }
            },
            "properties" => properties = Some(value),
            "dynamic" => dynamic = Some(parse_dynamic(value, &format!("field [{path}]"))?),
            "enabled" => enabled = parse_bool(value, "enabled", path)?,
            "coerce" => coerce = parse_bool(value, "coerce", path)?,
            "ignore_malformed" => ignore_malformed = parse_bool(value, "ignore_malformed", path)?,
            "ignore_z_value" => params.ignore_z = Some(parse_bool(value, "ignore_z_value", path)?),
            "format" => match value {
                Value::Str(s) => params.format = Some(&**s),
                other => {
                    return Err(format!("[format] of field [{path}] must be a string, found {}", other.describe()));
                }
            },
            "scaling_factor" => params.scaling_factor = Some(value),
            "ignore_above" => {
                let ok = match value {
                    Value::U64(n) => *n <= i32::MAX as u64,
                    Value::Str(s) => s.parse::<u32>().is_ok_and(|n| n <= i32::MAX as u32),
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "[ignore_above] of field [{path}] must be a non-negative integer, found {}",
                        value.describe()
                    ));
                }
            }
            _ => {}
        }
    }

    let object = |properties: Option<&Value<'_>>| -> Result<ObjectMapping, String> {
        let mut object = ObjectMapping { dynamic, enabled, properties: Vec::new() };
        if let Some(properties) = properties {
            parse_properties(properties, path, &mut object.properties)?;
        }
        Ok(object)
    };
    let (name, kind) = match ty {
        None | Some("object") => return Ok(FieldMapping::Object(object(properties)?)),
        Some("nested") => return Ok(FieldMapping::Nested(object(properties)?)),
        Some(ty) => (ty, leaf_kind(ty, &params, path)?),
    };
    if properties.is_some() {
        return Err(format!("field [{path}] of type [{name}] cannot have [properties]"));
    }
    // Only these types have `ignore_malformed`; elsewhere OpenSearch has no such parameter.
    let ignore_malformed = ignore_malformed
        && matches!(kind, Kind::Integer(_) | Kind::Float(_) | Kind::Date(_) | Kind::Ip | Kind::GeoPoint { .. });
    Ok(FieldMapping::Leaf(Leaf { name: name.into(), kind, coerce, ignore_malformed }))
}

fn leaf_kind(ty: &str, params: &Params<'_>, path: &str) -> Result<Kind, String> {
    let date = |default: &str| {
        DateFormat::parse(params.format.unwrap_or(default))
            .map(Kind::Date)
            .map_err(|e| format!("invalid [format] of field [{path}]: {e}"))
    };
    Ok(match ty {
        "text" | "match_only_text" | "keyword" | "wildcard" | "constant_keyword" | "search_as_you_type"
        | "token_count" => Kind::Text,
        "byte" => Kind::Integer(IntKind::Byte),
        "short" => Kind::Integer(IntKind::Short),
        "integer" => Kind::Integer(IntKind::Integer),
        "long" => Kind::Integer(IntKind::Long),
        "unsigned_long" => Kind::Integer(IntKind::UnsignedLong),
        "half_float" => Kind::Float(FloatWidth::Half),
        "float" => Kind::Float(FloatWidth::Single),
        "double" => Kind::Float(FloatWidth::Double),
        "scaled_float" => {
            let factor = match params.scaling_factor {
                None => return Err(format!("field [{path}] of type [scaled_float] needs [scaling_factor]")),
                Some(Value::U64(n)) => Some(*n as f64),
                Some(Value::F64(f)) => Some(*f),
                Some(Value::Str(s)) => numbers::java_parse_double(s),
                Some(_) => None,
            };
            if !factor.is_some_and(|f| f.is_finite() && f > 0.0) {
                return Err(format!("[scaling_factor] of field [{path}] must be a positive number"));
            }
            Kind::Float(FloatWidth::Double)
        }
        "boolean" => Kind::Boolean,
        "date" => date(DEFAULT_DATE_FORMAT)?,
        "date_nanos" => date(DEFAULT_DATE_NANOS_FORMAT)?,
        "ip" => Kind::Ip,
        "geo_point" => Kind::GeoPoint { ignore_z: params.ignore_z.unwrap_or(true) },
        "binary" => Kind::Binary,
        "flat_object" | "flattened" => Kind::FlatObject,
        "alias" => Kind::Alias,
        ty if UNCHECKED_TYPES.contains(&ty) => Kind::Any,
        ty => {
            return Err(format!("unknown type [{ty}] for field [{path}]; supported types: {SUPPORTED_TYPES}"));
        }
    })
}

/// Inserts a parsed field under `name`, expanding dotted names into objects
/// and merging object definitions given twice (`"a.b"` and `"a"`).
fn insert(
    properties: &mut Vec<(Box<str>, FieldMapping)>,
    name: &str,
    field: FieldMapping,
    path: &str,
) -> Result<(), String> {
    let (head, rest) = match name.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (name, None),
    };
    let index = match properties.binary_search_by(|(k, _)| (**k).cmp(head)) {
        Ok(index) => index,
        Err(index) if rest.is_none() => {
            properties.insert(index, (head.into(), field));
            return Ok(());
        }
        Err(index) => {
            let implicit = ObjectMapping { dynamic: None, enabled: true, properties: Vec::new() };
            properties.insert(index, (head.into(), FieldMapping::Object(implicit)));
            index
        }
    };
    let existing = &mut properties[index].1;
    match (rest, existing, field) {
        (Some(rest), FieldMapping::Object(object) | FieldMapping::Nested(object), field) => {
            insert(&mut object.properties, rest, field, path)
        }
        (None, FieldMapping::Object(old), FieldMapping::Object(new))
        | (None, FieldMapping::Nested(old), FieldMapping::Nested(new)) => {
            match (old.dynamic, new.dynamic) {
                (Some(a), Some(b)) if a != b => {
                    return Err(format!("field [{path}] is defined twice with different [dynamic] values"));
                }
                (None, new_dynamic) => old.dynamic = new_dynamic,
                _ => {}
            }
            old.enabled &= new.enabled;
            for (name, field) in new.properties {
                let sub_path = join(path, &name);
                insert(&mut old.properties, &name, field, &sub_path)?;
            }
            Ok(())
        }
        _ => Err(format!("field [{path}] is defined more than once")),
    }
}

// ---------------------------------------------------------------------------
// Validating a document.

/// A field path, built on the stack and only formatted for error messages.
#[derive(Clone, Copy)]
struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    name: &'p str,
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            write!(f, "{parent}.")?;
        }
        write!(f, "{}", crate::json::ShownName(self.name))
    }
}

impl ObjectMapping {
    fn get(&self, name: &str) -> Option<&FieldMapping> {
        // Most objects map a few fields: a scan that compares lengths first
        // compares the bytes of about one name, where a binary search
        // compares bytes at every step (measured: 15% of a decode).
        if self.properties.len() <= 16 {
            return self.properties.iter().find(|(k, _)| k.len() == name.len() && **k == *name).map(|(_, field)| field);
        }
        let index = self.properties.binary_search_by(|(k, _)| (**k).cmp(name)).ok()?;
        Some(&self.properties[index].1)
    }
}

/// Checks the members of an object mapped by `object`, whose effective
/// `dynamic` is `dynamic`.
fn validate_members(
    object: &ObjectMapping,
    dynamic: Dynamic,
    members: &[Member<'_>],
    parent: Option<&Path<'_>>,
) -> Result<(), String> {
    members.iter().try_for_each(|(key, value)| validate_member(object, dynamic, key, value, parent))
}

/// Checks one member; a dotted key (`"user.age"`) addresses a sub-field.
fn validate_member(
    object: &ObjectMapping,
    dynamic: Dynamic,
    key: &str,
    value: &Value<'_>,
    parent: Option<&Path<'_>>,
) -> Result<(), String> {
    // (byte searches: cheaper than `split_once` and `trim` on every field)
    let (head, rest) = match key.bytes().position(|b| b == b'.') {
        Some(dot) => (&key[..dot], Some(&key[dot + 1..])),
        None => (key, None),
    };
    let blank = |s: &str| s.chars().next().is_none_or(char::is_whitespace) && s.trim().is_empty();
    if blank(head) || rest.is_some_and(str::is_empty) {
        let path = Path { parent, name: key };
        return Err(format!("field name [{path}] is invalid: names and their dotted parts must not be empty"));
    }
    let path = Path { parent, name: head };
    let Some(field) = object.get(head) else {
        return match dynamic {
            Dynamic::Strict => Err(format!("field [{path}] is not allowed: mapping has dynamic [strict]")),
            Dynamic::True | Dynamic::False => Ok(()),
        };
    };
    match (rest, field) {
        (None, field) => validate_field(field, dynamic, value, &path),
        (Some(rest), FieldMapping::Object(child) | FieldMapping::Nested(child)) => {
            if !child.enabled {
                return Ok(());
            }
            validate_member(child, child.dynamic.unwrap_or(dynamic), rest, value, Some(&path))
        }
        (Some(_), FieldMapping::Leaf(leaf)) => Err(format!(
            "field [{}] cannot be added: [{path}] is of type [{}], not an object",
            Path { parent, name: key },
            leaf.name
        )),
    }
}

fn validate_field(field: &FieldMapping, dynamic: Dynamic, value: &Value<'_>, path: &Path<'_>) -> Result<(), String> {
    match field {
        FieldMapping::Object(object) => validate_object(object, "object", dynamic, value, path),
        FieldMapping::Nested(object) => validate_object(object, "nested", dynamic, value, path),
        FieldMapping::Leaf(leaf) => validate_leaf(leaf, value, path),
    }
}

/// An `object` or `nested` field: an object, an array of objects, or null.
fn validate_object(
    object: &ObjectMapping,
    ty: &str,
    dynamic: Dynamic,
    value: &Value<'_>,
    path: &Path<'_>,
) -> Result<(), String> {
    match value {
        // A disabled object may hold anything, as in OpenSearch.
        _ if !object.enabled => Ok(()),
        Value::Null => Ok(()),
        Value::Object(members) => validate_members(object, object.dynamic.unwrap_or(dynamic), members, Some(path)),
        Value::Array(items) => items.iter().try_for_each(|item| validate_object(object, ty, dynamic, item, path)),
        scalar => Err(format!("field [{path}] of type [{ty}]: expected an object, found {}", scalar.describe())),
    }
}

/// A leaf field: a value of its type, an array of them, or null.
fn validate_leaf(leaf: &Leaf, value: &Value<'_>, path: &Path<'_>) -> Result<(), String> {
    match value {
        Value::Null => Ok(()),
        Value::Array(_) if matches!(leaf.kind, Kind::GeoPoint { .. }) && !leaf.ignore_malformed => {
            // `[lon, lat]` is one point.
            check_value(leaf, value).map_err(|detail| reason(leaf, value, path, &detail))
        }
        Value::Array(items) => items.iter().try_for_each(|item| validate_leaf(leaf, item, path)),
        _ if leaf.ignore_malformed => Ok(()),
        _ if matches!(leaf.kind, Kind::Alias) => {
            Err(format!("field [{path}] is an alias: a document cannot hold a value for it"))
        }
        _ => check_value(leaf, value).map_err(|detail| reason(leaf, value, path, &detail)),
    }
}

fn reason(leaf: &Leaf, value: &Value<'_>, path: &Path<'_>, detail: &str) -> String {
    format!("field [{path}] of type [{}]: cannot parse {}{detail}", leaf.name, value.describe())
}

/// Checks a non-null value (an array only for `geo_point`); the error is a
/// detail appended to the reason (possibly empty).
fn check_value(leaf: &Leaf, value: &Value<'_>) -> Result<(), String> {
    match &leaf.kind {
        Kind::Any | Kind::Alias => Ok(()),
        Kind::FlatObject => match value {
            Value::Object(_) => Ok(()),
            _ => Err(" (expected an object)".to_owned()),
        },
        Kind::GeoPoint { ignore_z } => geo::check_geo_point(value, *ignore_z),
        _ if matches!(value, Value::Object(_)) => Err(String::new()),
        Kind::Text => Ok(()),
        Kind::Integer(kind) => check_integer(value, *kind, leaf.coerce).map_err(str::to_owned),
        Kind::Float(width) => check_float(value, *width, leaf.coerce).map_err(str::to_owned),
        Kind::Boolean => match value {
            Value::Bool(_) => Ok(()),
            // BooleanFieldMapper reads "" as false.
            Value::Str(s) if s == "true" || s == "false" || s.is_empty() => Ok(()),
            _ => Err(" (expected true or false)".to_owned()),
        },
        Kind::Date(format) => check_date(value, format),
        Kind::Ip => match value {
            Value::Str(s) if s.parse::<std::net::IpAddr>().is_ok() => Ok(()),
            Value::Str(_) => Err(" (not an IP string literal)".to_owned()),
            _ => Err(String::new()),
        },
        Kind::Binary => match value {
            Value::Str(s) if is_base64(s) => Ok(()),
            Value::Str(_) => Err(" (not base64)".to_owned()),
            _ => Err(String::new()),
        },
    }
}

/// A date: a string, or a number read as its text (as OpenSearch reads it).
fn check_date(value: &Value<'_>, format: &DateFormat) -> Result<(), String> {
    let ok = match value {
        Value::Str(s) => format.matches(s),
        Value::U64(_) | Value::I64(_) | Value::F64(_) => value.scalar_text().is_some_and(|t| format.matches(&t)),
        _ => false,
    };
    if ok { Ok(()) } else { Err(format!(" (expected format [{}])", format.text())) }
}

/// Base64 as Jackson decodes it: the standard alphabet, padded, spaces between
/// characters ignored.
fn is_base64(text: &str) -> bool {
    let bytes: Vec<u8> = text.bytes().filter(|b| *b > b' ').collect();
    if !bytes.len().is_multiple_of(4) {
        return false;
    }
    let padding = bytes.iter().rev().take_while(|b| **b == b'=').count();
    padding <= 2 && bytes[..bytes.len() - padding].iter().all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{Object, parse};

    fn mappings(text: &str) -> Mappings {
        Mappings::parse(&parse(text).unwrap()).unwrap()
    }

    fn mapping_error(text: &str) -> String {
        Mappings::parse(&parse(text).unwrap()).unwrap_err()
    }

    fn doc(text: &str) -> Object<'_> {
        match parse(text).unwrap() {
            Value::Object(members) => members,
            other => panic!("not an object: {other:?}"),
        }
    }

    fn check(m: &Mappings, text: &str) -> Result<(), String> {
        m.validate(&doc(text))
    }

    fn accepts(m: &Mappings, text: &str) {
        if let Err(e) = check(m, text) {
            panic!("{text} rejected: {e}");
        }
    }

    #[track_caller]
    fn rejects(m: &Mappings, text: &str, expected: &str) {
        match check(m, text) {
            Ok(()) => panic!("{text} accepted"),
            Err(e) => assert!(e.contains(expected), "{text}: reason {e:?} does not contain {expected:?}"),
        }
    }

    fn typed(ty: &str) -> Mappings {
        mappings(&format!(r#"{{"properties":{{"f":{{"type":"{ty}"}}}}}}"#))
    }

    #[test]
    fn text_and_keyword_accept_scalars() {
        for ty in ["text", "keyword", "match_only_text", "wildcard"] {
            let m = typed(ty);
            for ok in [r#""s""#, "1", "-1.5", "true", "null", r#"["a",1,false,null,["b"]]"#, "[]"] {
                accepts(&m, &format!(r#"{{"f":{ok}}}"#));
            }
            rejects(&m, r#"{"f":{"a":1}}"#, &format!("field [f] of type [{ty}]: cannot parse an object"));
            rejects(&m, r#"{"f":["a",{"a":1}]}"#, "cannot parse an object");
        }
    }

    #[test]
    fn integer_types_check_ranges() {
        let cases: [(&str, &str, &str); 5] = [
            ("byte", "-128", "128"),
            ("short", "32767", "-32769"),
            ("integer", "2147483647", "2147483648"),
            ("long", "-9223372036854775808", "9223372036854775808"),
            ("unsigned_long", "18446744073709551615", "-1"),
        ];
        for (ty, edge, beyond) in cases {
            let m = typed(ty);
            accepts(&m, &format!(r#"{{"f":{edge}}}"#));
            accepts(&m, &format!(r#"{{"f":"{edge}"}}"#));
            accepts(&m, r#"{"f":0}"#);
            rejects(
                &m,
                &format!(r#"{{"f":{beyond}}}"#),
                &format!("field [f] of type [{ty}]: cannot parse {beyond} (out of range)"),
            );
            rejects(&m, &format!(r#"{{"f":"{beyond}"}}"#), "(out of range)");
        }
        rejects(&typed("unsigned_long"), r#"{"f":18446744073709551616}"#, "out of range");
    }

    #[test]
    fn integer_coercion() {
        let m = typed("integer");
        accepts(&m, r#"{"f":"42"}"#);
        accepts(&m, r#"{"f":" 42 "}"#);
        accepts(&m, r#"{"f":"-42"}"#);
        accepts(&m, r#"{"f":"4.0"}"#);
        accepts(&m, r#"{"f":"1e3"}"#);
        accepts(&m, r#"{"f":4.0}"#);
        accepts(&m, r#"{"f":""}"#);
        accepts(&m, r#"{"f":[1,"2",null]}"#);
        rejects(&m, r#"{"f":"abc"}"#, r#"field [f] of type [integer]: cannot parse "abc""#);
        // OpenSearch's default coerce truncates decimals.
        accepts(&m, r#"{"f":1.5}"#);
        accepts(&m, r#"{"f":"1.5"}"#);
        rejects(&m, r#"{"f":"NaN"}"#, "not a number");
        rejects(&m, r#"{"f":true}"#, "field [f] of type [integer]: cannot parse true");
        rejects(&m, r#"{"f":{}}"#, "field [f] of type [integer]: cannot parse an object");
        rejects(&m, r#"{"f":[1,"x"]}"#, r#"cannot parse "x""#);
        rejects(&m, r#"{"f":1e10}"#, "out of range");
    }

    #[test]
    fn coerce_false_rejects_strings_and_decimals() {
        let m =
            mappings(r#"{"properties":{"i":{"type":"long","coerce":false},"d":{"type":"double","coerce":"false"}}}"#);
        accepts(&m, r#"{"i":5,"d":5}"#);
        accepts(&m, r#"{"d":5.5}"#);
        // A whole JSON number loses nothing: OpenSearch takes it.
        accepts(&m, r#"{"i":5.0}"#);
        rejects(&m, r#"{"i":"5"}"#, r#"field [i] of type [long]: cannot parse "5" (coerce is disabled"#);
        rejects(
            &m,
            r#"{"i":5.5}"#,
            "field [i] of type [long]: cannot parse 5.5 (coerce is disabled: the value has a decimal part)",
        );
        rejects(&m, r#"{"d":"5.5"}"#, "field [d] of type [double]: cannot parse \"5.5\" (coerce is disabled");
    }

    #[test]
    fn float_types() {
        for ty in ["half_float", "float", "double"] {
            let m = typed(ty);
            for ok in ["1", "-1", "1.5", r#""2.5""#, r#""-3""#, r#""""#, "65504", "[1.5,null]"] {
                accepts(&m, &format!(r#"{{"f":{ok}}}"#));
            }
            rejects(&m, r#"{"f":"abc"}"#, &format!(r#"field [f] of type [{ty}]: cannot parse "abc""#));
            rejects(&m, r#"{"f":"Infinity"}"#, "only supports finite values");
            rejects(&m, r#"{"f":false}"#, "cannot parse false");
            rejects(&m, r#"{"f":{}}"#, "cannot parse an object");
        }
        rejects(&typed("half_float"), r#"{"f":70000}"#, "only supports finite values");
        accepts(&typed("float"), r#"{"f":70000}"#);
        rejects(&typed("float"), r#"{"f":1e39}"#, "field [f] of type [float]: cannot parse 1e+39");
        accepts(&typed("double"), r#"{"f":1e300}"#);
        rejects(&typed("double"), r#"{"f":"1e400"}"#, "only supports finite values");
    }

    #[test]
    fn booleans() {
        let m = typed("boolean");
        for ok in ["true", "false", r#""true""#, r#""false""#, r#""""#, "null", r#"[true,"false"]"#] {
            accepts(&m, &format!(r#"{{"f":{ok}}}"#));
        }
        rejects(&m, r#"{"f":"yes"}"#, r#"field [f] of type [boolean]: cannot parse "yes" (expected true or false)"#);
        rejects(&m, r#"{"f":1}"#, "cannot parse 1");
        rejects(&m, r#"{"f":"TRUE"}"#, "expected true or false");
    }

    #[test]
    fn dates_default_format() {
        let m = typed("date");
        for ok in [
            "1706745600000",
            "-1",
            r#""1706745600000""#,
            r#""2024-01-31""#,
            r#""2024-01-31T12:00""#,
            r#""2024-01-31T12:00:00Z""#,
            r#""2024-01-31T12:00:00.123+02:00""#,
            r#"["2024-02-29",0,null]"#,
        ] {
            accepts(&m, &format!(r#"{{"f":{ok}}}"#));
        }
        rejects(
            &m,
            r#"{"f":"2023-02-29"}"#,
            r#"field [f] of type [date]: cannot parse "2023-02-29" (expected format [strict_date_optional_time||epoch_millis])"#,
        );
        rejects(&m, r#"{"f":"2024-13-01"}"#, "cannot parse");
        rejects(&m, r#"{"f":"yesterday"}"#, "cannot parse \"yesterday\"");
        rejects(&m, r#"{"f":true}"#, "cannot parse true");
        rejects(&m, r#"{"f":{"a":1}}"#, "cannot parse an object");
    }

    #[test]
    fn dates_with_explicit_formats() {
        let m = mappings(
            r#"{"properties":{"iso":{"type":"date","format":"strict_date_optional_time"},"sec":{"type":"date","format":"epoch_second"},"custom":{"type":"date","format":"yyyy/MM/dd"}}}"#,
        );
        accepts(&m, r#"{"iso":"2024-01-31","sec":1706745600,"custom":"2024/01/31"}"#);
        accepts(&m, r#"{"sec":"1706745600"}"#);
        rejects(
            &m,
            r#"{"custom":12}"#,
            "field [custom] of type [date]: cannot parse 12 (expected format [yyyy/MM/dd])",
        );
        rejects(
            &m,
            r#"{"iso":1706745600000}"#,
            "field [iso] of type [date]: cannot parse 1706745600000 (expected format [strict_date_optional_time])",
        );
        rejects(&m, r#"{"sec":"2024-01-31"}"#, "expected format [epoch_second]");
    }

    #[test]
    fn nested_objects_and_paths() {
        let m = mappings(
            r#"{"properties":{"user":{"properties":{"name":{"type":"keyword"},"age":{"type":"integer"},
                "address":{"type":"object","properties":{"zip":{"type":"short"}}}}}}}"#,
        );
        accepts(&m, r#"{"user":{"name":"a","age":3,"address":{"zip":1}}}"#);
        accepts(&m, r#"{"user":[{"age":1},{"age":"2"},null]}"#);
        accepts(&m, r#"{"user":null}"#);
        rejects(&m, r#"{"user":{"age":"abc"}}"#, r#"field [user.age] of type [integer]: cannot parse "abc""#);
        rejects(
            &m,
            r#"{"user":{"address":{"zip":99999}}}"#,
            "field [user.address.zip] of type [short]: cannot parse 99999 (out of range)",
        );
        rejects(&m, r#"{"user":[{"age":1},{"age":"x"}]}"#, "field [user.age] of type [integer]");
        rejects(&m, r#"{"user":"bob"}"#, r#"field [user] of type [object]: expected an object, found "bob""#);
        rejects(&m, r#"{"user":["bob"]}"#, "field [user] of type [object]: expected an object");
    }

    #[test]
    fn nested_type() {
        let m = mappings(r#"{"properties":{"tags":{"type":"nested","properties":{"n":{"type":"long"}}}}}"#);
        accepts(&m, r#"{"tags":{"n":1}}"#);
        accepts(&m, r#"{"tags":[{"n":1},{"n":"2"}]}"#);
        accepts(&m, r#"{"tags":[]}"#);
        rejects(&m, r#"{"tags":[{"n":"x"}]}"#, r#"field [tags.n] of type [long]: cannot parse "x""#);
        rejects(&m, r#"{"tags":[1]}"#, "field [tags] of type [nested]: expected an object, found 1");
    }

    #[test]
    fn dotted_keys_in_documents_address_sub_fields() {
        let m = mappings(r#"{"dynamic":"strict","properties":{"user":{"properties":{"age":{"type":"integer"}}}}}"#);
        accepts(&m, r#"{"user.age":5}"#);
        rejects(&m, r#"{"user.age":"abc"}"#, r#"field [user.age] of type [integer]: cannot parse "abc""#);
        rejects(&m, r#"{"user.other":1}"#, "field [user.other] is not allowed: mapping has dynamic [strict]");
        rejects(
            &m,
            r#"{"user.age.x":1}"#,
            "field [user.age.x] cannot be added: [user.age] is of type [integer], not an object",
        );
        rejects(&m, r#"{"user..age":1}"#, "field name [user..age] is invalid");
        rejects(&m, r#"{"user.":1}"#, "field name [user.] is invalid");
        rejects(&m, r#"{".user":1}"#, "field name [.user] is invalid");
        rejects(&m, r#"{"":1}"#, "field name [] is invalid");
    }

    #[test]
    fn dotted_names_in_mappings_are_expanded_and_merged() {
        let m = mappings(
            r#"{"dynamic":"strict","properties":{"a.b":{"type":"integer"},"a":{"properties":{"c":{"type":"keyword"}}},"a.d.e":{"type":"boolean"}}}"#,
        );
        accepts(&m, r#"{"a":{"b":1,"c":"x","d":{"e":true}}}"#);
        rejects(&m, r#"{"a":{"b":"x"}}"#, "field [a.b] of type [integer]");
        rejects(&m, r#"{"a":{"d":{"e":"no"}}}"#, "field [a.d.e] of type [boolean]");
        rejects(&m, r#"{"a":{"z":1}}"#, "field [a.z] is not allowed");

        let err =
            mapping_error(r#"{"properties":{"a.b":{"type":"integer"},"a":{"properties":{"b":{"type":"long"}}}}}"#);
        assert!(err.contains("field [a.b] is defined more than once"), "{err}");
        let err = mapping_error(r#"{"properties":{"a":{"type":"keyword"},"a.b":{"type":"long"}}}"#);
        assert!(err.contains("field [a.b] is defined more than once"), "{err}");
        let err =
            mapping_error(r#"{"properties":{"a.b":{"dynamic":"strict"},"a":{"properties":{"b":{"dynamic":false}}}}}"#);
        assert!(err.contains("field [a.b] is defined twice with different [dynamic] values"), "{err}");
    }

    #[test]
    fn dynamic_strict_false_true() {
        let strict = mappings(r#"{"dynamic":"strict","properties":{"a":{"type":"keyword"}}}"#);
        accepts(&strict, r#"{"a":"x"}"#);
        rejects(&strict, r#"{"a":"x","extra":1}"#, "field [extra] is not allowed: mapping has dynamic [strict]");

        for off in [r#""false""#, "false"] {
            let ignore = mappings(&format!(r#"{{"dynamic":{off},"properties":{{"a":{{"type":"integer"}}}}}}"#));
            accepts(&ignore, r#"{"extra":{"anything":[1,"x"]}}"#);
            rejects(&ignore, r#"{"a":"x"}"#, "field [a] of type [integer]");
        }

        for on in [r#""true""#, "true"] {
            let open = mappings(&format!(r#"{{"dynamic":{on},"properties":{{"a":{{"type":"integer"}}}}}}"#));
            accepts(&open, r#"{"extra":{"x":1}}"#);
        }
        // The default is true.
        accepts(&mappings(r#"{"properties":{}}"#), r#"{"extra":1}"#);
        accepts(&mappings("{}"), r#"{"extra":1}"#);
    }

    #[test]
    fn dynamic_is_inherited_and_overridable() {
        let m = mappings(
            r#"{"dynamic":"strict","properties":{
                "inherits":{"properties":{"x":{"type":"long"}}},
                "loose":{"dynamic":true,"properties":{"inner":{"properties":{}},"tight":{"dynamic":"strict","properties":{}}}},
                "ignored":{"dynamic":false}}}"#,
        );
        rejects(&m, r#"{"inherits":{"y":1}}"#, "field [inherits.y] is not allowed: mapping has dynamic [strict]");
        accepts(&m, r#"{"loose":{"new":1,"inner":{"deep":{"x":1}}}}"#);
        rejects(&m, r#"{"loose":{"tight":{"new":1}}}"#, "field [loose.tight.new] is not allowed");
        accepts(&m, r#"{"ignored":{"whatever":[1]}}"#);

        let open_root = mappings(r#"{"properties":{"s":{"dynamic":"strict","properties":{"k":{"type":"keyword"}}}}}"#);
        accepts(&open_root, r#"{"other":1,"s":{"k":"v"}}"#);
        rejects(&open_root, r#"{"s":{"k":"v","j":1}}"#, "field [s.j] is not allowed");
        rejects(&open_root, r#"{"s":[{"k":"v"},{"j":1}]}"#, "field [s.j] is not allowed");
    }

    #[test]
    fn object_without_properties_and_disabled_objects() {
        let m = mappings(
            r#"{"dynamic":"strict","properties":{"empty":{"type":"object"},"open":{"type":"object","dynamic":true},"off":{"type":"object","enabled":false}}}"#,
        );
        accepts(&m, r#"{"empty":{}}"#);
        rejects(&m, r#"{"empty":{"x":1}}"#, "field [empty.x] is not allowed");
        accepts(&m, r#"{"open":{"x":1}}"#);
        accepts(&m, r#"{"off":{"x":{"y":1}}}"#);
        accepts(&m, r#"{"off":"scalar"}"#);
        accepts(&m, r#"{"off.x":1}"#);
    }

    #[test]
    fn ignore_malformed_accepts_anything() {
        let m = mappings(r#"{"properties":{"n":{"type":"integer","ignore_malformed":true}}}"#);
        accepts(&m, r#"{"n":"abc"}"#);
        accepts(&m, r#"{"n":{"a":1}}"#);
        accepts(&m, r#"{"n":[1.5,"x"]}"#);
    }

    #[test]
    fn reports_the_first_error_in_document_order() {
        let m = mappings(r#"{"properties":{"a":{"type":"integer"},"b":{"type":"integer"}}}"#);
        rejects(&m, r#"{"b":"x","a":"y"}"#, "field [b]");
    }

    #[test]
    fn deeply_nested_documents_are_fine() {
        let m = mappings(
            r#"{"dynamic":"strict","properties":{"a":{"properties":{"a":{"properties":{"v":{"type":"long"}}}}}}}"#,
        );
        accepts(&m, r#"{"a":{"a":{"v":1}}}"#);
        rejects(&m, r#"{"a":{"a":{"v":[[["x"]]]}}}"#, r#"field [a.a.v] of type [long]: cannot parse "x""#);
    }

    #[test]
    fn mapping_config_errors() {
        let err = mapping_error(r#"{"properties":{"addr":{"type":"ipv4"}}}"#);
        assert!(err.contains("unknown type [ipv4] for field [addr]"), "{err}");
        assert!(err.contains("supported types: [text,"), "{err}");
        let err = mapping_error(r#"{"properties":{"o":{"properties":{"g":{"type":"geopoint"}}}}}"#);
        assert!(err.contains("unknown type [geopoint] for field [o.g]"), "{err}");
        let err = mapping_error(r#"{"dynamic":"sometimes"}"#);
        assert!(err.contains(r#"invalid [dynamic] value "sometimes" for the mapping root"#), "{err}");
        let err = mapping_error(r#"{"properties":{"o":{"dynamic":1}}}"#);
        assert!(err.contains("invalid [dynamic] value 1 for field [o]"), "{err}");
        let err = mapping_error(r#"{"properties":[]}"#);
        assert!(err.contains("[properties] of the mapping root must be an object"), "{err}");
        let err = mapping_error(r#"{"properties":{"o":{"properties":1}}}"#);
        assert!(err.contains("[properties] of field [o] must be an object"), "{err}");
        let err = mapping_error(r#"{"properties":{"f":"keyword"}}"#);
        assert!(err.contains("field [f] must be defined by an object"), "{err}");
        let err = mapping_error(r#"{"properties":{"f":{"type":1}}}"#);
        assert!(err.contains("[type] of field [f] must be a string"), "{err}");
        let err = mapping_error(r#"{"properties":{"f":{"type":"long","coerce":"no"}}}"#);
        assert!(err.contains(r#"[coerce] of field [f] must be true or false, found "no""#), "{err}");
        let err = mapping_error(r#"{"properties":{"f":{"type":"date","format":7}}}"#);
        assert!(err.contains("[format] of field [f] must be a string"), "{err}");
        let err = mapping_error(r#"{"properties":{"f":{"type":"keyword","properties":{}}}}"#);
        assert!(err.contains("field [f] of type [keyword] cannot have [properties]"), "{err}");
        let err = mapping_error(r#"{"properties":{"a..b":{"type":"keyword"}}}"#);
        assert!(err.contains("invalid field name [a..b]"), "{err}");
        let err = mapping_error("[]");
        assert!(err.contains("mappings must be a JSON object"), "{err}");
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        let m = mappings(
            r#"{"_source":{"enabled":true},"_meta":{},"properties":{"t":{"type":"text","analyzer":"english","fields":{"raw":{"type":"keyword"}}},"k":{"type":"keyword","ignore_above":256,"index":false}}}"#,
        );
        accepts(&m, r#"{"t":"x","k":"y"}"#);
    }
}

#[cfg(test)]
mod type_tests;
