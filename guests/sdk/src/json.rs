//! A borrowed JSON document tree that rejects duplicate keys.
//!
//! Payloads are parsed once, by serde_json, into [`Value`]: strings without
//! escapes are borrowed from the input, objects keep their members in document
//! order in a `Vec` (no hashing), and duplicate keys are rejected at every
//! level (serde_json's own `Value` silently keeps the last one, while
//! OpenSearch's parser rejects them). A tree serialises back to compact JSON
//! with [`to_json`].
//!
//! serde_json's recursion limit (128 levels) applies: deeper input is a
//! [`ParseError::TooDeep`], never a stack overflow. [`Skip`] passes over a
//! value under the same limit, and [`Key`], [`first_duplicate`] and
//! [`duplicate_key_error`] are the parts to write a visitor that picks a few
//! members out of a large object without building the rest.
//!
//! ```
//! use sluice_plugin_sdk::json::{self, Value};
//!
//! let text = r#"{"id": 7, "name": "caf\u00e9", "tags": ["a"], "v": "12"}"#;
//! let doc = json::parse_object(text, "payload").unwrap();
//! let value = Value::Object(doc);
//! assert_eq!(value.get("id"), Some(&Value::U64(7)));
//! assert_eq!(value.get("name").and_then(Value::as_str), Some("café"));
//! // A JSON integer or a string of decimal digits, as versions come.
//! assert_eq!(value.get("v").and_then(Value::as_unsigned), Some(12));
//! assert_eq!(json::to_json(value.as_object().unwrap(), 0).unwrap(),
//!            r#"{"id":7,"name":"café","tags":["a"],"v":"12"}"#);
//!
//! // Duplicate keys and non-objects are errors with a one-line reason.
//! let err = json::parse_object(r#"{"a": 1, "a": 2}"#, "payload").unwrap_err();
//! assert_eq!(err, "payload is invalid: duplicate key [a] at line 1 column 16");
//! let err = json::parse_object("[1]", "payload").unwrap_err();
//! assert_eq!(err, "payload must be a JSON object, found an array");
//! ```

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// One object member: key and value.
pub type Member<'a> = (Cow<'a, str>, Value<'a>);
/// An object's members, in document order, keys unique.
pub type Object<'a> = Vec<Member<'a>>;

/// A JSON value borrowing its strings from the parsed text where it can.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// A non-negative integer that fits in a `u64`.
    U64(u64),
    /// A negative integer that fits in an `i64`.
    I64(i64),
    /// Any other number: with a fraction or an exponent, or an integer beyond 64 bits.
    F64(f64),
    Str(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Object<'a>),
}

/// Longest string shown verbatim in an error message.
const MAX_SHOWN_CHARS: usize = 64;

impl<'a> Value<'a> {
    /// The kind of value, with an article: "a string", "an object", "null".
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::U64(_) | Value::I64(_) | Value::F64(_) => "a number",
            Value::Str(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// A short rendering for error messages: scalars as JSON (long strings
    /// cut), arrays and objects by kind.
    pub fn describe(&self) -> String {
        match self {
            Value::Str(s) => quote(s),
            Value::Null | Value::Array(_) | Value::Object(_) => self.kind().to_owned(),
            scalar => scalar.scalar_text().map(Cow::into_owned).unwrap_or_default(),
        }
    }

    /// The text of a scalar (string, number, boolean), as a Java `String.valueOf`
    /// would give it for strings, integers and booleans; `None` for null,
    /// arrays and objects.
    pub fn scalar_text(&self) -> Option<Cow<'_, str>> {
        Some(match self {
            Value::Str(s) => Cow::Borrowed(&**s),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::U64(n) => Cow::Owned(n.to_string()),
            Value::I64(n) => Cow::Owned(n.to_string()),
            Value::F64(f) => Cow::Owned(format_f64(*f)),
            Value::Null | Value::Array(_) | Value::Object(_) => return None,
        })
    }

    /// The members of an object; `None` for other kinds.
    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }

    /// A member of an object by its exact key; `None` for other kinds or a
    /// missing key. For dotted paths (`meta.id`) see [`crate::path`].
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        member(self.as_object()?, key)
    }

    /// The text of a string; `None` for other kinds.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A non-negative integer: a JSON integer from 0 to `u64::MAX`, or a
    /// string of its ASCII decimal digits (`7`, `"0042"`), as external
    /// versions are written. `-1`, `1.0`, `" 7"`, `"+7"` and `""` are not.
    pub fn as_unsigned(&self) -> Option<u64> {
        match self {
            Value::U64(n) => Some(*n),
            Value::Str(s) => parse_unsigned(s),
            _ => None,
        }
    }

    /// [`Value::as_unsigned`] as an external version, or the reason naming
    /// it as `label` (`"_version"`, `"version in field [f]"`).
    pub fn as_version(&self, label: &str) -> Result<u64, String> {
        self.as_unsigned().ok_or_else(|| self.not_a_version(label))
    }

    /// Why this value is not an external version.
    pub fn not_a_version(&self, label: &str) -> String {
        format!(
            "invalid {label}: {} is not an integer from 0 to {} or a string of its decimal digits",
            self.describe(),
            u64::MAX
        )
    }
}

/// The value of the member named `key` in `members`.
pub fn member<'v, 'a>(members: &'v [Member<'a>], key: &str) -> Option<&'v Value<'a>> {
    members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// A non-empty string of ASCII digits whose value fits in a `u64`.
pub fn parse_unsigned(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// serde_json's (ryu's) shortest round-trip rendering, e.g. `1.5`, `1e20`.
fn format_f64(f: f64) -> String {
    serde_json::to_string(&f).unwrap_or_else(|_| f.to_string())
}

/// `s` as a JSON string literal, cut after [`MAX_SHOWN_CHARS`] characters.
fn quote(s: &str) -> String {
    match s.char_indices().nth(MAX_SHOWN_CHARS) {
        None => serde_json::to_string(s).unwrap_or_default(),
        Some((cut, _)) => {
            let mut quoted = serde_json::to_string(&s[..cut]).unwrap_or_default();
            quoted.insert_str(quoted.len() - 1, "...");
            quoted
        }
    }
}

/// The first key that occurs twice, if any.
pub fn first_duplicate<'b, T>(items: &'b [T], key: impl Fn(&'b T) -> &'b str) -> Option<&'b str> {
    // Documents are mostly small objects: a quadratic scan of a few keys beats
    // hashing or sorting, and allocates nothing.
    const SCAN_LIMIT: usize = 16;
    if items.len() <= SCAN_LIMIT {
        for (i, item) in items.iter().enumerate().skip(1) {
            let k = key(item);
            if items[..i].iter().any(|earlier| key(earlier) == k) {
                return Some(k);
            }
        }
        None
    } else {
        let mut keys: Vec<&str> = items.iter().map(key).collect();
        keys.sort_unstable();
        keys.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
    }
}

/// Why a text did not parse.
#[derive(Debug)]
pub enum ParseError {
    /// Not JSON: syntax error, truncation, invalid escape, trailing characters...
    Syntax(serde_json::Error),
    /// More than serde_json's 128 levels of nesting.
    TooDeep(serde_json::Error),
    /// Valid JSON that the visitor refused (a duplicate key).
    Data(serde_json::Error),
}

impl ParseError {
    /// A one-line reason about `what` ("payload", "config").
    pub fn describe(&self, what: &str) -> String {
        match self {
            ParseError::Syntax(e) => format!("{what} is not valid JSON: {e}"),
            ParseError::TooDeep(e) => {
                format!("{what} is nested too deeply (the limit is 128 levels): {e}")
            }
            ParseError::Data(e) => format!("{what} is invalid: {e}"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("input"))
    }
}

/// Parses the whole of `text` (trailing characters are an error).
pub fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, ParseError> {
    serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ParseError::Data(e),
        _ if e.to_string().starts_with("recursion limit exceeded") => ParseError::TooDeep(e),
        _ => ParseError::Syntax(explain_syntax_error(text, e)),
    })
}

/// serde_json's own words for two inputs that look fine or empty to a
/// person ("expected value at line 1 column 1", "EOF while parsing a value")
/// do not say what is wrong; these get a reason that does. Only on the error
/// path: valid input pays nothing.
fn explain_syntax_error(text: &str, e: serde_json::Error) -> serde_json::Error {
    use serde::de::Error;
    if text.starts_with('\u{feff}') {
        serde_json::Error::custom("it starts with a UTF-8 byte order mark (U+FEFF), which JSON text must not have")
    } else if !text.is_empty() && text.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
        serde_json::Error::custom("it holds only whitespace, no JSON value")
    } else {
        e
    }
}

/// Parses `text` as a JSON object; the error is a one-line reason about
/// `what` ("payload", "config", "message key").
pub fn parse_object<'a>(text: &'a str, what: &str) -> Result<Object<'a>, String> {
    match parse(text).map_err(|e| e.describe(what))? {
        Value::Object(members) => Ok(members),
        other => Err(format!("{what} must be a JSON object, found {}", other.kind())),
    }
}

/// Serialises an object's members as compact JSON.
///
/// The same text as `serde_json::to_string` of the object, written directly:
/// a string with nothing to escape (the usual case) is copied as it is, and
/// numbers go through serde_json's own formatter. This is the hot path of a
/// plugin that re-serialises each document.
pub fn to_json(members: &[Member<'_>], capacity: usize) -> Result<String, String> {
    let mut buf = Vec::with_capacity(capacity);
    write_object(&mut buf, members).map_err(|e| format!("cannot serialize _source: {e}"))?;
    String::from_utf8(buf).map_err(|e| format!("cannot serialize _source: {e}"))
}

/// Where `members`, an object as [`parse`] read it from `text`, stands in
/// `text`, if that text is byte for byte what [`to_json`] writes for it: no
/// whitespace, no escape in any string, every number as serde_json writes
/// it back, and nothing taken out or put in since the parse. A plugin then
/// hands the range over ([`crate::DocSource::Payload`]) instead of a
/// serialised copy. `None`: serialise it (also for `{}`, and for an object
/// whose first key has escapes).
pub fn compact_span(text: &str, members: &[Member<'_>]) -> Option<std::ops::Range<usize>> {
    let Some((Cow::Borrowed(first_key), _)) = members.first() else { return None };
    // A borrowed key points into `text`; the object opens just before it.
    let key_at = (first_key.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    if key_at + first_key.len() > text.len() {
        return None;
    }
    let start = key_at.checked_sub(2)?;
    let mut written = WrittenAt { text: text.as_bytes(), base: text.as_ptr() as usize, at: start, number: Vec::new() };
    written.object(members)?;
    Some(start..written.at)
}

/// Follows what [`to_json`] would write through `text` from `at`, checking
/// that `text` holds it there, piece by piece. A string is checked by where
/// it was borrowed from (so its bytes are not compared), a number by
/// writing it.
struct WrittenAt<'t> {
    text: &'t [u8],
    base: usize,
    at: usize,
    number: Vec<u8>,
}

impl WrittenAt<'_> {
    fn bytes(&mut self, expected: &[u8]) -> Option<()> {
        let end = self.at + expected.len();
        (self.text.get(self.at..end) == Some(expected)).then(|| self.at = end)
    }

    #[expect(clippy::ptr_arg, reason = "whether the string is borrowed is what counts")]
    fn string(&mut self, s: &Cow<'_, str>) -> Option<()> {
        // An owned string had escapes, which to_json writes another way.
        let Cow::Borrowed(s) = s else { return None };
        self.bytes(b"\"")?;
        if s.as_ptr() as usize != self.base + self.at {
            return None;
        }
        self.at += s.len();
        self.bytes(b"\"")
    }

    fn object(&mut self, members: &[Member<'_>]) -> Option<()> {
        self.bytes(b"{")?;
        for (i, (key, value)) in members.iter().enumerate() {
            if i > 0 {
                self.bytes(b",")?;
            }
            self.string(key)?;
            self.bytes(b":")?;
            self.value(value)?;
        }
        self.bytes(b"}")
    }

    fn value(&mut self, value: &Value<'_>) -> Option<()> {
        match value {
            Value::Str(s) => self.string(s),
            Value::Object(members) => self.object(members),
            Value::Array(items) => {
                self.bytes(b"[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.bytes(b",")?;
                    }
                    self.value(item)?;
                }
                self.bytes(b"]")
            }
            // Numbers (1.50, 1e5, -0 are written otherwise) and literals.
            scalar => {
                let mut written = std::mem::take(&mut self.number);
                written.clear();
                write_value(&mut written, scalar).ok()?;
                let matched = self.bytes(&written);
                self.number = written;
                matched
            }
        }
    }
}

fn write_object(out: &mut Vec<u8>, members: &[Member<'_>]) -> std::io::Result<()> {
    out.push(b'{');
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key)?;
        out.push(b':');
        write_value(out, value)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_value(out: &mut Vec<u8>, value: &Value<'_>) -> std::io::Result<()> {
    use serde_json::ser::{CompactFormatter, Formatter};
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::U64(n) => CompactFormatter.write_u64(out, *n)?,
        Value::I64(n) => CompactFormatter.write_i64(out, *n)?,
        // serde_json writes non-finite numbers as null.
        Value::F64(f) if !f.is_finite() => out.extend_from_slice(b"null"),
        Value::F64(f) => CompactFormatter.write_f64(out, *f)?,
        Value::Str(s) => write_str(out, s)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(members) => write_object(out, members)?,
    }
    Ok(())
}

/// Whether `bytes` holds a `"`, a `\\` or a control character, eight bytes
/// at a time (the same word trick as serde_json's reader): wasm guests have
/// no vectorised byte search, and strings are most of a document.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let special = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        // A byte of `x` is zero <=> the byte of the result has its high bit
        // set (no false negatives; false positives only next to a real hit,
        // which the exact check below settles).
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
        if (zero(w ^ (ONES * b'"' as u64)) | zero(w ^ (ONES * b'\\' as u64)) | control) != 0
            && chunk.iter().any(|&b| special(b))
        {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| special(b))
}

/// A JSON string literal: copied when nothing needs escaping (no `"`, no
/// `\`, no control character), else escaped by serde_json.
fn write_str(out: &mut Vec<u8>, s: &str) -> std::io::Result<()> {
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(&mut *out, s).map_err(std::io::Error::other)
    }
}

/// An object key, borrowed from the input unless it contains escapes.
pub struct Key<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Skips a value of any kind without building it.
///
/// Unlike [`IgnoredAny`], which serde_json skips iteratively at any depth,
/// this stays under serde_json's recursion limit, so that a document nested
/// too deeply is refused wherever the nesting is.
pub struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SkipVisitor;
        impl<'de> Visitor<'de> for SkipVisitor {
            type Value = Skip;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(Skip)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
                while map.next_key::<IgnoredAny>()?.is_some() {
                    map.next_value::<Skip>()?;
                }
                Ok(Skip)
            }
        }
        deserializer.deserialize_any(SkipVisitor)
    }
}

/// The error for a key seen twice in one object.
pub fn duplicate_key_error<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("duplicate key [{}]", ShownName(key)))
}

/// A field name from a message, for a reason: control characters escaped (a
/// reason stays on one line) and cut after [`MAX_SHOWN_CHARS`] characters.
/// Unlike [`Value::describe`] it is not quoted, so ordinary names read as
/// OpenSearch writes them (`field [a.b]`).
pub struct ShownName<'a>(pub &'a str);

impl fmt::Display for ShownName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.chars().any(char::is_control) && self.0.len() <= MAX_SHOWN_CHARS {
            return f.write_str(self.0);
        }
        for (i, c) in self.0.chars().enumerate() {
            if i == MAX_SHOWN_CHARS {
                return write!(f, "...({} bytes)", self.0.len());
            }
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value<'de>, E> {
        Ok(Value::U64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value<'de>, E> {
        Ok(if v >= 0 { Value::U64(v as u64) } else { Value::I64(v) })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value<'de>, E> {
        Ok(Value::F64(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        // JSON gives no size hint; starting at 8 members saves the 4-member
        // step of the usual growth for a typical document.
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Key(key)) = map.next_key()? {
            let value = map.next_value()?;
            members.push((key, value));
        }
        if let Some(key) = first_duplicate(&members, |m| &m.0) {
            return Err(duplicate_key_error(key));
        }
        Ok(Value::Object(members))
    }
}

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::U64(n) => serializer.serialize_u64(*n),
            Value::I64(n) => serializer.serialize_i64(*n),
            Value::F64(f) => serializer.serialize_f64(*f),
            Value::Str(s) => serializer.serialize_str(s),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(members) => ObjectRef(members).serialize(serializer),
        }
    }
}

/// Serialises a borrowed member slice as a JSON object.
struct ObjectRef<'o, 'a>(&'o [Member<'a>]);

impl Serialize for ObjectRef<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(&**key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Value<'_> {
        parse(text).unwrap()
    }

    fn object(text: &str) -> Object<'_> {
        match value(text) {
            Value::Object(members) => members,
            other => panic!("not an object: {other:?}"),
        }
    }

    /// compact_span is Some exactly when the span is what to_json writes.
    #[track_caller]
    fn span_of(text: &str) -> Option<&str> {
        let members = object(text);
        let span = compact_span(text, &members).map(|r| &text[r]);
        let written = to_json(&members, 0).unwrap();
        if let Some(span) = span {
            assert_eq!(span, written, "a span must be what to_json writes");
        }
        span
    }

    #[test]
    fn compact_span_is_the_text_when_to_json_would_write_it_back_unchanged() {
        let doc = r#"{"a":"x","n":[1,-2,0,18446744073709551615,-9223372036854775808],"f":12.5,"g":1e-7,"h":1e+300,"k":1e+21,"o":{"t":true,"u":false,"v":null,"w":{},"z":[]},"é":"ü","e":""}"#;
        assert_eq!(span_of(doc), Some(doc));
        // Inside another object: the span is the inner one.
        let outer = format!(r#"{{"_id":"1","_source":{doc},"x":2}}"#);
        let Value::Object(top) = value(&outer) else { unreachable!() };
        let Some(Value::Object(inner)) = member(&top, "_source") else { unreachable!() };
        assert_eq!(compact_span(&outer, inner).map(|r| &outer[r]), Some(doc));
        // Anything to_json writes differently: serialise instead.
        for text in [
            r#"{"a": 1}"#,
            r#"{ "a":1}"#,
            r#"{"a":1 }"#,
            r#"{"a":[1, 2]}"#,
            "{\"a\":\n1}",
            r#"{"a":"\u00e9"}"#,
            r#"{"a":"\n"}"#,
            r#"{"\u0061":1}"#,
            r#"{"a":1.50}"#,
            r#"{"a":1E5}"#,
            r#"{"a":1e5}"#,
            r#"{"a":1e300}"#,
            r#"{"a":1e21}"#,
            r#"{"a":-0}"#,
            r#"{"a":-0.0e0}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":-9223372036854775809}"#,
            r#"{}"#,
        ] {
            assert_eq!(span_of(text), None, "{text}");
        }
        // Edited since the parse: a member taken out, a value replaced.
        let text = r#"{"a":1,"id":"x","b":{"c":2,"d":3}}"#;
        for edit in [
            (|m: &mut Object<'_>| drop(m.remove(1))) as fn(&mut Object<'_>),
            |m| drop(m.pop()),
            |m| m[0].1 = Value::U64(2),
            |m| m[1].1 = Value::Str("x".into()),
            |m| m[2].1 = Value::Object(vec![("c".into(), Value::U64(2))]),
        ] {
            let mut members = object(text);
            edit(&mut members);
            assert_eq!(compact_span(text, &members), None, "{members:?}");
        }
        // Members not parsed from this text (an equal one elsewhere).
        let other = object(r#"{"a":1}"#);
        assert_eq!(compact_span(&String::from(r#"{"a":1}"#), &other), None);
    }

    #[test]
    fn parses_every_kind() {
        let members =
            object(r#"{"n":null,"t":true,"f":false,"u":7,"i":-7,"x":1.5,"e":1e3,"s":"str","a":[1,"2"],"o":{"k":[]}}"#);
        let values: Vec<&Value> = members.iter().map(|m| &m.1).collect();
        assert_eq!(values[0], &Value::Null);
        assert_eq!(values[1], &Value::Bool(true));
        assert_eq!(values[2], &Value::Bool(false));
        assert_eq!(values[3], &Value::U64(7));
        assert_eq!(values[4], &Value::I64(-7));
        assert_eq!(values[5], &Value::F64(1.5));
        assert_eq!(values[6], &Value::F64(1000.0));
        assert_eq!(values[7], &Value::Str("str".into()));
        assert_eq!(values[8], &Value::Array(vec![Value::U64(1), Value::Str("2".into())]));
        assert_eq!(values[9], &Value::Object(vec![("k".into(), Value::Array(vec![]))]));
    }

    #[test]
    fn integers_beyond_64_bits_become_floats() {
        assert_eq!(value("18446744073709551615"), Value::U64(u64::MAX));
        assert!(matches!(value("18446744073709551616"), Value::F64(_)));
        assert_eq!(value("-9223372036854775808"), Value::I64(i64::MIN));
        assert!(matches!(value("-9223372036854775809"), Value::F64(_)));
    }

    #[test]
    fn borrows_unescaped_strings_and_keys() {
        let members = object(r#"{"plain":"text","esc\"aped":"a\nb"}"#);
        assert!(matches!(members[0].0, Cow::Borrowed("plain")));
        assert!(matches!(&members[0].1, Value::Str(Cow::Borrowed("text"))));
        assert!(matches!(&members[1].0, Cow::Owned(k) if k == "esc\"aped"));
        assert!(matches!(&members[1].1, Value::Str(Cow::Owned(s)) if s == "a\nb"));
    }

    #[test]
    fn rejects_duplicate_keys_at_any_level() {
        let err = parse::<Value>(r#"{"a":1,"b":2,"a":3}"#).unwrap_err();
        assert!(matches!(err, ParseError::Data(_)));
        assert!(err.describe("payload").contains("duplicate key [a]"), "{err}");

        let err = parse::<Value>(r#"{"o":{"x":{"k":1,"k":1}}}"#).unwrap_err();
        assert!(err.describe("payload").contains("duplicate key [k]"), "{err}");

        let err = parse::<Value>(r#"[{"k":1,"k":1}]"#).unwrap_err();
        assert!(err.describe("payload").contains("duplicate key [k]"), "{err}");
    }

    #[test]
    fn duplicate_detection_in_large_objects() {
        let mut text = String::from("{");
        for i in 0..40 {
            text.push_str(&format!("\"k{i}\":{i},"));
        }
        text.push_str("\"k17\":0}");
        let err = parse::<Value>(&text).unwrap_err();
        assert!(err.describe("payload").contains("duplicate key [k17]"), "{err}");

        text.truncate(text.len() - "\"k17\":0}".len());
        text.push_str("\"k40\":0}");
        assert_eq!(object(&text).len(), 41);
    }

    #[test]
    fn first_duplicate_small_and_large() {
        let small = ["a", "b", "c", "b"];
        assert_eq!(first_duplicate(&small, |k| k), Some("b"));
        assert_eq!(first_duplicate(&small[..3], |k| k), None);
        let large: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
        assert_eq!(first_duplicate(&large, |k| k), None);
        let mut dup = large.clone();
        dup.push("k42".into());
        assert_eq!(first_duplicate(&dup, |k| k), Some("k42"));
    }

    #[test]
    fn shown_names_stay_on_one_line_and_short() {
        assert_eq!(ShownName("a.b").to_string(), "a.b");
        assert_eq!(ShownName("line\nbreak\u{1}").to_string(), "line\\nbreak\\u{1}");
        let long = "x".repeat(10_000);
        assert_eq!(ShownName(&long).to_string(), format!("{}...(10000 bytes)", "x".repeat(MAX_SHOWN_CHARS)));
        assert_eq!(first_duplicate::<&str>(&[], |k| k), None);
    }

    #[test]
    fn syntax_errors_are_classified() {
        let err = parse::<Value>(r#"{"_id":"1","_source":{"a":1"#).unwrap_err();
        assert!(matches!(err, ParseError::Syntax(_)));
        assert_eq!(
            err.describe("payload"),
            "payload is not valid JSON: EOF while parsing an object at line 1 column 27"
        );
        let err = parse::<Value>("{} x").unwrap_err();
        assert!(err.describe("payload").contains("trailing characters"), "{err}");
        let err = parse::<Value>("").unwrap_err();
        assert!(err.describe("payload").contains("EOF while parsing a value"), "{err}");
        let err = parse::<Value>(r#"{"a":"\ud800"}"#).unwrap_err();
        assert!(matches!(err, ParseError::Syntax(_)), "{err}");
    }

    #[test]
    fn a_byte_order_mark_or_only_whitespace_is_named() {
        for text in ["\u{feff}{}", "\u{feff}", "\u{feff} {\"a\":1}"] {
            let err = parse::<Value>(text).unwrap_err();
            assert!(matches!(err, ParseError::Syntax(_)), "{text:?}");
            assert_eq!(
                err.describe("payload"),
                "payload is not valid JSON: it starts with a UTF-8 byte order mark (U+FEFF), which JSON text must not have"
            );
        }
        for text in [" ", " \t\r\n "] {
            let err = parse::<Value>(text).unwrap_err();
            assert!(matches!(err, ParseError::Syntax(_)), "{text:?}");
            assert_eq!(err.describe("config"), "config is not valid JSON: it holds only whitespace, no JSON value");
        }
        // Anything else keeps serde_json's words and position.
        let err = parse::<Value>(" \u{a0} ").unwrap_err();
        assert_eq!(err.describe("payload"), "payload is not valid JSON: expected value at line 1 column 2");
        assert!(parse::<Skip>("\u{feff}[]").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let depth = 10_000;
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let err = parse::<Value>(&text).unwrap_err();
        assert!(matches!(err, ParseError::TooDeep(_)));
        assert!(err.describe("payload").contains("nested too deeply"), "{err}");

        let text = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        assert!(matches!(parse::<Value>(&text), Err(ParseError::TooDeep(_))));

        // serde_json allows 127 levels of nesting.
        let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert!(parse::<Value>(&ok).is_ok());
        let too_deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert!(matches!(parse::<Value>(&too_deep), Err(ParseError::TooDeep(_))));

        // Skipped values are held to the same limit.
        assert!(parse::<Skip>(&ok).is_ok());
        assert!(matches!(parse::<Skip>(&too_deep), Err(ParseError::TooDeep(_))));
        let text = format!(r#"{{"a":[1,"x",{{"k":null}}],"b":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
        assert!(matches!(parse::<Skip>(&text), Err(ParseError::TooDeep(_))));
        assert!(parse::<Skip>(r#"{"a":[1,"x\n",{"k":null,"t":true,"f":-1.5}]}"#).is_ok());
    }

    #[test]
    fn serializes_compactly_and_round_trips() {
        let text = r#" { "a" : [ 1 , -2 , 1.5 , 1e300 , true , null ] , "s" : "q\"\\\n\u0001é" , "o" : { } } "#;
        let members = object(text);
        let json = to_json(&members, 0).unwrap();
        assert_eq!(json, r#"{"a":[1,-2,1.5,1e+300,true,null],"s":"q\"\\\n\u0001é","o":{}}"#);
        assert_eq!(object(&json), members);
    }

    #[test]
    fn decimals_round_trip_exactly() {
        // Found by fuzz/ (opensearch_decode): serde_json's default float
        // parser can land one ULP off, so a number written back read as
        // another; the workspace enables serde_json's `float_roundtrip`.
        let members = object(r#"{"u":18446737099.9551615,"v":0.1,"w":1.7976931348623157e308}"#);
        let json = to_json(&members, 0).unwrap();
        assert_eq!(json, r#"{"u":18446737099.955162,"v":0.1,"w":1.7976931348623157e+308}"#);
        assert_eq!(to_json(&object(&json), 0).unwrap(), json);
    }

    #[test]
    fn preserves_member_order() {
        let members = object(r#"{"z":1,"a":2,"m":3}"#);
        assert_eq!(to_json(&members, 16).unwrap(), r#"{"z":1,"a":2,"m":3}"#);
    }

    #[test]
    fn describes_values_briefly() {
        assert_eq!(Value::Null.describe(), "null");
        assert_eq!(Value::Bool(true).describe(), "true");
        assert_eq!(Value::U64(42).describe(), "42");
        assert_eq!(Value::I64(-1).describe(), "-1");
        assert_eq!(Value::F64(1.5).describe(), "1.5");
        assert_eq!(Value::Str("a\"b".into()).describe(), r#""a\"b""#);
        assert_eq!(Value::Array(vec![]).describe(), "an array");
        assert_eq!(Value::Object(vec![]).describe(), "an object");
        let long = "é".repeat(100);
        let shown = Value::Str(long.into()).describe();
        assert_eq!(shown, format!("\"{}...\"", "é".repeat(MAX_SHOWN_CHARS)));
    }

    #[test]
    fn accessors_and_parse_object() {
        let doc = value(r#"{"s":"x","n":5,"o":{"k":null},"a":[]}"#);
        assert_eq!(doc.get("s").and_then(Value::as_str), Some("x"));
        assert_eq!(doc.get("n").and_then(Value::as_str), None);
        assert_eq!(doc.get("o").and_then(|o| o.get("k")), Some(&Value::Null));
        assert_eq!(doc.get("missing"), None);
        assert_eq!(doc.get("a").and_then(Value::as_object), None);
        assert_eq!(Value::U64(1).get("s"), None);
        assert_eq!(member(doc.as_object().unwrap(), "n"), Some(&Value::U64(5)));

        assert_eq!(parse_object(r#" {"a":1} "#, "config").unwrap().len(), 1);
        for (text, reason) in [
            ("null", "config must be a JSON object, found null"),
            ("{", "config is not valid JSON: EOF while parsing an object"),
            (r#"{"a":1,"a":1}"#, "config is invalid: duplicate key [a]"),
        ] {
            let err = parse_object(text, "config").unwrap_err();
            assert!(err.starts_with(reason), "{text}: {err}");
        }
    }

    #[test]
    fn unsigned_integers_and_digit_strings() {
        for (text, expected) in [
            ("0", Some(0)),
            ("18446744073709551615", Some(u64::MAX)),
            (r#""0042""#, Some(42)),
            (r#""18446744073709551615""#, Some(u64::MAX)),
            (r#""18446744073709551616""#, None),
            ("18446744073709551616", None),
            ("-1", None),
            ("1.0", None),
            ("1e3", None),
            (r#""""#, None),
            (r#"" 7""#, None),
            (r#""+7""#, None),
            (r#""-7""#, None),
            ("true", None),
            ("null", None),
            ("[1]", None),
        ] {
            assert_eq!(value(text).as_unsigned(), expected, "{text}");
        }
        assert_eq!(parse_unsigned("123"), Some(123));
        assert_eq!(parse_unsigned("１"), None);
    }

    #[test]
    fn scalar_text_like_java_string_value_of() {
        assert_eq!(Value::Str("x".into()).scalar_text().unwrap(), "x");
        assert_eq!(Value::U64(42).scalar_text().unwrap(), "42");
        assert_eq!(Value::I64(-42).scalar_text().unwrap(), "-42");
        assert_eq!(Value::F64(42.0).scalar_text().unwrap(), "42.0");
        assert_eq!(Value::Bool(false).scalar_text().unwrap(), "false");
        assert_eq!(Value::Null.scalar_text(), None);
        assert_eq!(Value::Array(vec![]).scalar_text(), None);
        assert_eq!(Value::Object(vec![]).scalar_text(), None);
    }

    #[test]
    fn needs_escape_finds_every_special_byte_at_every_position() {
        for len in 0..20 {
            let plain = vec![b'a'; len];
            assert!(!needs_escape(&plain));
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = plain.clone();
                    bytes[pos] = b;
                    let expected = b < 0x20 || b == b'"' || b == b'\\';
                    assert_eq!(needs_escape(&bytes), expected, "byte {b:#x} at {pos} of {len}");
                }
            }
        }
        // Bytes around the thresholds next to each other (borrows across lanes).
        assert!(!needs_escape(&[0x21, 0x20, 0x80, 0xff, 0x7f, 0x23, 0x5b, 0x5d, 0x20]));
        assert!(needs_escape(&[0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x1f]));
    }

    #[test]
    fn to_json_writes_what_serde_json_writes() {
        for text in [
            r#"{}"#,
            r#"{"a":"plain","b":"caf\u00e9 \"q\" \\ \n\t\u0001\u001f\u007f","c":"é€😀"}"#,
            r#"{"n":null,"t":true,"f":false,"u":18446744073709551615,"i":-9223372036854775808}"#,
            r#"{"x":1.5,"y":-0.0,"z":1e300,"w":1.0e-7,"v":123.45,"big":123456789012345678901234567890}"#,
            r#"{"a":[],"o":{},"nested":{"k":[1,[2,{"d":"e\/f"}],"s"]}}"#,
            r#"{"k\"ey":1,"ké":2,"\u0000":3}"#,
        ] {
            let members = object(text);
            let expected = serde_json::to_string(&Value::Object(members.clone())).unwrap();
            assert_eq!(to_json(&members, 0).unwrap(), expected, "{text}");
        }
        // Values built by hand (borrowed strings that need escaping, non-finite numbers).
        let members: Object = vec![
            ("q".into(), Value::Str(Cow::Borrowed("say \"hi\"\n"))),
            ("nan".into(), Value::F64(f64::NAN)),
            ("inf".into(), Value::F64(f64::NEG_INFINITY)),
        ];
        let expected = serde_json::to_string(&Value::Object(members.clone())).unwrap();
        assert_eq!(to_json(&members, 0).unwrap(), expected);
        assert_eq!(expected, r#"{"q":"say \"hi\"\n","nan":null,"inf":null}"#);
    }
}
