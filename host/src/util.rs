//! Small helpers with no dependency on any other module of the crate: the
//! clock, hashing, and the redaction of secrets in what sluice shows.
//!
//! A leaf: everything may use it, it uses nothing of the crate.

use serde_json::Value;

/// SHA-256 of bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Does a parameter name say it holds a secret? (`secret_key`, `sasl.password`,
/// `access_key`, `token`, ...)
pub fn is_secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["secret", "password", "key", "token", "credential"].iter().any(|w| n.contains(w))
}

/// The placeholder that replaces a secret in anything sluice shows or exports.
pub const REDACTED: &str = "<redacted>";

/// A copy of a spec body with every secret parameter replaced by [`REDACTED`],
/// in nested and flat setting forms alike.
pub fn redact_secrets(spec: &Value) -> Value {
    fn walk(v: &mut Value, in_param: bool) {
        if let Value::Object(map) = v {
            for (k, v) in map.iter_mut() {
                // `param.secret_key` (flat) or `{"param": {"secret_key": ..}}` (nested).
                let flat_param = k.split('.').collect::<Vec<_>>();
                let param_name = flat_param.iter().position(|p| *p == "param").map(|i| flat_param[i + 1..].join("."));
                let secret = match (&param_name, in_param) {
                    (Some(name), _) if !name.is_empty() => is_secret_param(name),
                    (_, true) => is_secret_param(k),
                    _ => false,
                };
                if secret && !v.is_object() {
                    *v = Value::String(REDACTED.into());
                } else if k == "url" {
                    if let Value::String(url) = v {
                        *url = redact_url_password(url);
                    }
                } else {
                    let inner_param = in_param || k == "param" || k.ends_with(".param");
                    walk(v, inner_param);
                }
            }
        }
    }
    let mut out = spec.clone();
    walk(&mut out, false);
    out
}

/// `redis://user:pw@host/0` -> `redis://user:<redacted>@host/0`.
pub fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!("{}{}:{REDACTED}{}", &url[..scheme_end], &rest[..colon], &rest[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_in_nested_and_flat_forms() {
        let spec = json!({
            "name": "k",
            "settings": {
                "ingestion_source": {"type": "kinesis", "param": {
                    "stream": "s", "region": "eu-west-1", "access_key": "AKIA", "secret_key": "shh", "sasl.password": "pw"
                }},
                "index.ingestion_source.param.session_token": "tok"
            }
        });
        let r = redact_secrets(&spec);
        let p = &r["settings"]["ingestion_source"]["param"];
        assert_eq!(
            (p["access_key"].as_str(), p["secret_key"].as_str(), p["sasl.password"].as_str()),
            (Some(REDACTED), Some(REDACTED), Some(REDACTED))
        );
        assert_eq!(p["stream"], "s");
        assert_eq!(p["region"], "eu-west-1");
        assert_eq!(r["settings"]["index.ingestion_source.param.session_token"], REDACTED);
        assert!(!r.to_string().contains("shh") && !r.to_string().contains("AKIA") && !r.to_string().contains("tok\""));
        let with_sink = json!({"sluice": {"sink": {"type": "redis", "url": "redis://u:hunter2@h:6379/0"}}});
        assert_eq!(redact_secrets(&with_sink)["sluice"]["sink"]["url"], "redis://u:<redacted>@h:6379/0");
        assert_eq!(redact_url_password("redis://h:6379/0"), "redis://h:6379/0");
    }
}
