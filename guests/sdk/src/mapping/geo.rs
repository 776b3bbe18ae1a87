//! `geo_point` values, in the forms OpenSearch's GeoPointFieldMapper and
//! GeoUtils accept: `{"lat": .., "lon": ..}` (numbers or numeric strings),
//! `{"geohash": ".."}`, GeoJSON `{"type": "Point", "coordinates": [lon, lat]}`,
//! `"lat,lon"`, a geohash string, WKT `"POINT (lon lat)"`, `[lon, lat]`, each
//! with an optional third (z) coordinate, and arrays of these. Latitude must
//! be within [-90, 90] and longitude within [-180, 180].

use super::numbers::java_parse_double;
use crate::json::Value;

const GEOHASH_ALPHABET: &str = "0123456789bcdefghjkmnpqrstuvwxyz";

/// Checks a non-null value of a `geo_point` field (a point, or an array of
/// points); the error is a detail for the reason.
pub(super) fn check_geo_point(value: &Value<'_>, ignore_z: bool) -> Result<(), String> {
    match value {
        // [lon, lat] is one point; any other array holds points.
        Value::Array(items) if items.first().is_some_and(is_number) => point(value, ignore_z),
        Value::Array(items) => items.iter().filter(|i| !matches!(i, Value::Null)).try_for_each(|i| point(i, ignore_z)),
        _ => point(value, ignore_z),
    }
}

fn is_number(value: &Value<'_>) -> bool {
    matches!(value, Value::U64(_) | Value::I64(_) | Value::F64(_))
}

fn number(value: &Value<'_>) -> Option<f64> {
    match value {
        Value::U64(n) => Some(*n as f64),
        Value::I64(n) => Some(*n as f64),
        Value::F64(f) => Some(*f),
        _ => None,
    }
}

fn point(value: &Value<'_>, ignore_z: bool) -> Result<(), String> {
    let (lat, lon, z) = parse(value)?;
    if let Some(z) = z.filter(|_| !ignore_z) {
        return Err(format!(" (found a z value [{z}] but [ignore_z_value] parameter is [false])"));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!(" (illegal latitude value [{lat}])"));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(format!(" (illegal longitude value [{lon}])"));
    }
    Ok(())
}

/// (lat, lon, z): NaN where the value did not give one.
fn parse(value: &Value<'_>) -> Result<(f64, f64, Option<f64>), String> {
    match value {
        Value::Object(members) => object(members),
        Value::Array(items) => coordinates(items),
        Value::Str(s) if s.to_ascii_lowercase().contains("point") => wkt(s),
        Value::Str(s) if s.contains(',') => lat_lon(s),
        Value::Str(s) => geohash(s).map(|()| (0.0, 0.0, None)),
        _ => Err(" (geo_point expected)".into()),
    }
}

fn object(members: &[(std::borrow::Cow<'_, str>, Value<'_>)]) -> Result<(f64, f64, Option<f64>), String> {
    let (mut lat, mut lon, mut hash, mut kind, mut coords) = (None, None, None, None, None);
    let mut malformed = false;
    // A number, or a string Java reads as one (else `malformed`).
    let mut coordinate = |value: &Value<'_>, name: &str| match value {
        Value::Str(s) => Ok(Some(java_parse_double(s).unwrap_or_else(|| {
            malformed = true;
            f64::NAN
        }))),
        v => number(v).map(Some).ok_or_else(|| format!(" ({name} must be a number)")),
    };
    for (key, value) in members {
        match &**key {
            "lat" => lat = coordinate(value, "latitude")?,
            "lon" => lon = coordinate(value, "longitude")?,
            "geohash" => match value {
                Value::Str(s) => hash = Some(s),
                _ => return Err(" (geohash must be a string)".into()),
            },
            "type" => kind = Some(value),
            "coordinates" => coords = Some(value),
            _ => return Err(" (field must be either [lat], [lon] or [geohash])".into()),
        }
    }
    if kind.is_some() || coords.is_some() {
        if lat.is_some() || lon.is_some() || hash.is_some() {
            return Err(" (field must be either lat/lon, geohash or type/coordinates)".into());
        }
        match (kind, coords) {
            (Some(Value::Str(t)), Some(Value::Array(items))) if t.eq_ignore_ascii_case("point") => {
                return coordinates(items);
            }
            _ => return Err(" (a GeoJSON geo_point is {\"type\": \"Point\", \"coordinates\": [lon, lat]})".into()),
        }
    }
    if let Some(hash) = hash {
        if lat.is_some() || lon.is_some() {
            return Err(" (field must be either lat/lon or geohash)".into());
        }
        return geohash(hash).map(|()| (0.0, 0.0, None));
    }
    if malformed {
        return Err(" ([lat] and [lon] must be valid double values)".into());
    }
    match (lat, lon) {
        (None, _) => Err(" (field [lat] missing)".into()),
        (_, None) => Err(" (field [lon] missing)".into()),
        (Some(lat), Some(lon)) => Ok((lat, lon, None)),
    }
}

/// `[lon, lat]` or `[lon, lat, z]`.
fn coordinates(items: &[Value<'_>]) -> Result<(f64, f64, Option<f64>), String> {
    if items.len() > 3 {
        return Err(" ([geo_point] field type does not accept > 3 dimensions)".into());
    }
    let mut values = [f64::NAN; 3];
    for (slot, item) in values.iter_mut().zip(items) {
        *slot = number(item).ok_or(" (numeric value expected)")?;
    }
    Ok((values[1], values[0], (items.len() == 3).then_some(values[2])))
}

/// `"lat,lon"` or `"lat,lon,z"`, each part trimmed.
fn lat_lon(text: &str) -> Result<(f64, f64, Option<f64>), String> {
    let parts: Vec<&str> = text.split(',').collect();
    if parts.len() > 3 {
        return Err(format!(" (expected 2 or 3 coordinates but found: [{}])", parts.len()));
    }
    let part = |i: usize, name: &str| {
        parts.get(i).and_then(|p| java_parse_double(p)).ok_or_else(|| format!(" ({name} must be a number)"))
    };
    Ok((part(0, "latitude")?, part(1, "longitude")?, if parts.len() == 3 { Some(part(2, "z")?) } else { None }))
}

/// WKT `POINT (lon lat)` or `POINT (lon lat z)`.
fn wkt(text: &str) -> Result<(f64, f64, Option<f64>), String> {
    let bad = || format!(" (expected a WKT point such as \"POINT (-74.0 40.7)\", found {text:?})");
    let t = text.trim();
    if t.len() < 5 || !t[..5].eq_ignore_ascii_case("point") {
        return Err(bad());
    }
    let inner = t[5..].trim().strip_prefix('(').and_then(|r| r.strip_suffix(')')).ok_or_else(bad)?;
    let numbers: Vec<f64> =
        inner.split_whitespace().map(|n| java_parse_double(n).ok_or_else(bad)).collect::<Result<_, _>>()?;
    match numbers[..] {
        [lon, lat] => Ok((lat, lon, None)),
        [lon, lat, z] => Ok((lat, lon, Some(z))),
        _ => Err(bad()),
    }
}

fn geohash(hash: &str) -> Result<(), String> {
    if hash.is_empty() {
        return Err(" (empty geohash)".into());
    }
    match hash.chars().find(|c| !GEOHASH_ALPHABET.contains(*c)) {
        Some(c) => Err(format!(" (unsupported symbol [{c}] in geohash [{hash}])")),
        None => Ok(()),
    }
}
