//! Target `vectors_json` (design §8): the JSON the vector files are read with.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON values equal up to the last bit of floating-point numbers (serde_json
/// parses floats fast, not always to the nearest double).
fn json_close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => match (x.as_f64(), y.as_f64()) {
            _ if x == y => true,
            (Some(p), Some(q)) => (p - q).abs() <= p.abs().max(q.abs()) * 1e-15,
            _ => false,
        },
        (V::Array(x), V::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_close(p, q)),
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_close(v, w)))
        }
        _ => a == b,
    }
}

/// Target `vectors_json` (untyped part): any bytes either fail to parse as
/// JSON or parse to a value that serialises and parses back to itself.
/// The `fuzz/` wrapper also runs [`json_roundtrip`] with e2eb's vector
/// schema (`e2eb::vectors::VectorFile`).
pub fn vectors_json(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let text = match serde_json::to_vec(&v) {
        Ok(t) => t,
        Err(e) => panic!("a parsed JSON value does not serialise: {e}"),
    };
    match serde_json::from_slice::<serde_json::Value>(&text) {
        Ok(back) => assert!(json_close(&v, &back), "JSON does not survive a round trip"),
        Err(e) => panic!("serialised JSON does not parse: {e}"),
    }
}

/// Parses `data` as a `T` (never panics); a parsed `T` serialises to JSON
/// that parses back to an equal `T`.
///
/// Not asserted: that `data` was valid JSON. serde skips the values of
/// unknown fields without validating them (invalid UTF-8 inside an ignored
/// string passes), so a schema without `deny_unknown_fields` accepts some
/// bytes that `serde_json::Value` rejects.
pub fn json_roundtrip<T: Serialize + DeserializeOwned + PartialEq + Debug>(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<T>(data) else { return };
    let text = match serde_json::to_vec(&value) {
        Ok(t) => t,
        Err(e) => panic!("a parsed value does not serialise: {e}"),
    };
    match serde_json::from_slice::<T>(&text) {
        Ok(back) => assert_eq!(back, value, "the schema does not survive a round trip"),
        Err(e) => panic!("serialised value does not parse: {e}"),
    }
}
