//! Combining a partial document into the stored one: the `update` op
//! (OpenSearch's partial-document update) and the `merge` op (Druid's
//! rollup: a partial row combined field by field with an aggregator).
//!
//! Pure functions over JSON text, shared by every sink through
//! [`super::plan_writes`], so a row means the same in each and the tests'
//! reference model can call them too.

use serde_json::{Map, Value};

/// How a merged field combines with the stored value (Druid's aggregators).
/// A missing or null value on either side leaves the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aggregator {
    /// Adds, like `LongSum` (a partial row carries its own event count).
    Count,
    LongSum,
    DoubleSum,
    FloatSum,
    LongMin,
    LongMax,
    DoubleMin,
    DoubleMax,
    FloatMin,
    FloatMax,
    LongFirst,
    LongLast,
    DoubleFirst,
    DoubleLast,
    StringFirst,
    StringLast,
}

/// The first/last aggregators' event times of a stored row, by field: kept
/// in the stored record beside the row (not in its `_source`).
pub type FieldTimes = Map<String, Value>;

/// `update`: `partial` merged into `stored` (objects member by member,
/// recursively; any other value replaces). No stored document: `partial`.
pub fn update(stored: Option<&[u8]>, partial: &str) -> Result<String, String> {
    let partial = parse_object(partial.as_bytes(), "the update's partial document")?;
    let Some(stored) = stored else { return Ok(Value::Object(partial).to_string()) };
    let mut doc = parse_object(stored, "the stored document")?;
    merge_objects(&mut doc, partial);
    Ok(Value::Object(doc).to_string())
}

fn merge_objects(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge_objects(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// `merge`: the partial row combined into the stored row. Fields named in
/// `aggregators` combine with theirs; the others take the partial row's
/// value. Returns the row and the first/last event times to store with it.
pub fn merge(
    stored: Option<(&[u8], Option<&[u8]>)>,
    partial: &str,
    aggregators: &[(String, Aggregator)],
    event_time_ms: Option<i64>,
) -> Result<(String, Option<String>), String> {
    let partial = parse_object(partial.as_bytes(), "the merge's partial row")?;
    let (mut row, mut times) = match stored {
        None => (Map::new(), Map::new()),
        Some((doc, times)) => (
            parse_object(doc, "the stored row")?,
            match times {
                Some(t) => parse_object(t, "the stored row's event times")?,
                None => Map::new(),
            },
        ),
    };
    for (field, value) in partial {
        match aggregators.iter().find(|(f, _)| *f == field) {
            None => {
                row.insert(field, value);
            }
            Some((_, agg)) => {
                let old = row.remove(&field).unwrap_or(Value::Null);
                let new = combine(*agg, &field, old, value, event_time_ms, &mut times);
                row.insert(field, new);
            }
        }
    }
    let times = (!times.is_empty()).then(|| Value::Object(times).to_string());
    Ok((Value::Object(row).to_string(), times))
}

/// One field: `old` (stored) with `new` (partial).
fn combine(agg: Aggregator, field: &str, old: Value, new: Value, at: Option<i64>, times: &mut FieldTimes) -> Value {
    use Aggregator::*;
    if new.is_null() {
        return old;
    }
    match agg {
        LongFirst | LongLast | DoubleFirst | DoubleLast | StringFirst | StringLast => {
            let last = matches!(agg, LongLast | DoubleLast | StringLast);
            let stored_at = times.get(field).and_then(Value::as_i64);
            let take = match (old.is_null(), stored_at, at) {
                (true, _, _) => true,
                (false, Some(s), Some(t)) => {
                    if last {
                        t >= s
                    } else {
                        t < s
                    }
                }
                // No time to order by on one side: keep what is stored.
                _ => false,
            };
            if !take {
                return old;
            }
            match at {
                Some(t) => times.insert(field.to_string(), Value::from(t)),
                None => times.remove(field),
            };
            new
        }
        _ if old.is_null() => new,
        Count | LongSum => Value::from(as_i64(&old).wrapping_add(as_i64(&new))),
        LongMin => Value::from(as_i64(&old).min(as_i64(&new))),
        LongMax => Value::from(as_i64(&old).max(as_i64(&new))),
        DoubleSum => float(as_f64(&old) + as_f64(&new)),
        DoubleMin => float(as_f64(&old).min(as_f64(&new))),
        DoubleMax => float(as_f64(&old).max(as_f64(&new))),
        // Float aggregators keep 32-bit precision, as Druid stores them.
        FloatSum => float((as_f64(&old) as f32 + as_f64(&new) as f32) as f64),
        FloatMin => float((as_f64(&old) as f32).min(as_f64(&new) as f32) as f64),
        FloatMax => float((as_f64(&old) as f32).max(as_f64(&new) as f32) as f64),
    }
}

fn as_i64(v: &Value) -> i64 {
    v.as_i64().or_else(|| v.as_u64().map(|u| u as i64)).or_else(|| v.as_f64().map(|f| f as i64)).unwrap_or(0)
}

fn as_f64(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// A JSON number for `f`; JSON has no NaN or infinity: those become null.
fn float(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn parse_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!("{what} is not a JSON object")),
        Err(e) => Err(format!("{what} is not valid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn update_merges_objects_and_replaces_other_values() {
        let stored = json!({"a": {"b": 1, "c": [1]}, "d": 1, "e": "x"}).to_string();
        let out = update(Some(stored.as_bytes()), r#"{"a": {"c": [2], "z": null}, "d": {"n": 1}}"#).unwrap();
        assert_eq!(row(&out), json!({"a": {"b": 1, "c": [2], "z": null}, "d": {"n": 1}, "e": "x"}));
        assert_eq!(row(&update(None, r#"{"k": 1}"#).unwrap()), json!({"k": 1}));
        assert!(update(None, "[1]").unwrap_err().contains("not a JSON object"));
    }

    #[test]
    fn sums_min_max_and_count_combine_and_nulls_leave_the_other_side() {
        use Aggregator::*;
        let aggs: Vec<(String, Aggregator)> = [
            ("count", Count),
            ("ls", LongSum),
            ("ds", DoubleSum),
            ("fs", FloatSum),
            ("lmin", LongMin),
            ("lmax", LongMax),
            ("dmin", DoubleMin),
            ("dmax", DoubleMax),
            ("fmin", FloatMin),
            ("fmax", FloatMax),
        ]
        .into_iter()
        .map(|(f, a)| (f.to_string(), a))
        .collect();
        let first = r#"{"__time": "t", "dim": "a", "count": 1, "ls": 5, "ds": 0.5, "fs": 0.1, "lmin": 3, "lmax": 3,
            "dmin": 2.5, "dmax": 2.5, "fmin": 1.5, "fmax": 1.5}"#;
        let (r1, t1) = merge(None, first, &aggs, Some(10)).unwrap();
        assert_eq!(t1, None, "no first/last fields: no times");
        let second = r#"{"__time": "t", "dim": "a", "count": 1, "ls": 7, "ds": 0.25, "fs": 0.2, "lmin": 1, "lmax": 1,
            "dmin": null, "fmax": 9.5}"#;
        let (r2, _) = merge(Some((r1.as_bytes(), None)), second, &aggs, Some(11)).unwrap();
        assert_eq!(
            row(&r2),
            json!({"__time": "t", "dim": "a", "count": 2, "ls": 12, "ds": 0.75, "fs": (0.1f32 + 0.2f32) as f64,
                "lmin": 1, "lmax": 3, "dmin": 2.5, "dmax": 2.5, "fmin": 1.5, "fmax": 9.5})
        );
        // A field missing from the stored row takes the new value.
        let (r3, _) = merge(Some((br#"{"ls": null}"#, None)), r#"{"ls": 4, "x": 1}"#, &aggs, None).unwrap();
        assert_eq!(row(&r3), json!({"ls": 4, "x": 1}));
    }

    #[test]
    fn first_and_last_order_by_event_time_whatever_the_arrival_order() {
        use Aggregator::*;
        let aggs = vec![("f".to_string(), LongFirst), ("l".to_string(), StringLast)];
        let (r, t) = merge(None, r#"{"f": 5, "l": "five"}"#, &aggs, Some(500)).unwrap();
        let (r, t) =
            merge(Some((r.as_bytes(), t.as_deref().map(str::as_bytes))), r#"{"f": 3, "l": "three"}"#, &aggs, Some(300))
                .unwrap();
        assert_eq!(row(&r), json!({"f": 3, "l": "five"}), "an earlier event is first, not last");
        let (r, t) =
            merge(Some((r.as_bytes(), t.as_deref().map(str::as_bytes))), r#"{"f": 9, "l": "nine"}"#, &aggs, Some(900))
                .unwrap();
        assert_eq!(row(&r), json!({"f": 3, "l": "nine"}));
        assert_eq!(row(t.as_deref().unwrap()), json!({"f": 300, "l": 900}));
        // Ties: first keeps the stored value, last takes the new one.
        let (r, _) =
            merge(Some((r.as_bytes(), t.as_deref().map(str::as_bytes))), r#"{"f": 1, "l": "tie"}"#, &aggs, Some(900))
                .unwrap();
        assert_eq!(row(&r), json!({"f": 3, "l": "tie"}));
        // A null value never replaces.
        let (r, _) = merge(Some((r.as_bytes(), None)), r#"{"f": null, "l": null}"#, &aggs, Some(1)).unwrap();
        assert_eq!(row(&r), json!({"f": 3, "l": "tie"}));
    }
}
