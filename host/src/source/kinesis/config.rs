//! `param.*` of the kinesis source, the credentials, and the SDK client
//! (with its timeouts and without SDK retries) on the source's runtime.

use super::client::block;
use super::{CONNECT_TIMEOUT, KinesisSource, OPERATION_TIMEOUT};
use crate::source::SourceError;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::timeout::TimeoutConfig;
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use std::collections::BTreeMap;

/// The parameters `param.*` may hold.
const PARAMS: &[&str] = &["stream", "region", "access_key", "secret_key", "endpoint_override"];

impl KinesisSource {
    /// Validates `param.*` and builds the client. No network call is made
    /// here (the default credential chain resolves lazily, on first use).
    pub fn from_params(params: &BTreeMap<String, String>) -> Result<Self, SourceError> {
        for key in params.keys() {
            if !PARAMS.contains(&key.as_str()) {
                return Err(SourceError::Config(format!(
                    "unknown kinesis source parameter [param.{key}]; allowed: {}",
                    PARAMS.join(", ")
                )));
            }
        }
        let get = |k: &str| params.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let stream =
            get("stream").ok_or_else(|| SourceError::Config("the kinesis source needs [param.stream]".into()))?;
        // Only the key's name goes into errors, never a value.
        let credentials = match (get("access_key"), get("secret_key")) {
            (Some(access), Some(secret)) => Some(Credentials::new(access, secret, None, None, "sluice-spec")),
            (None, None) => None,
            (Some(_), None) => {
                return Err(SourceError::Config(
                    "[param.access_key] is set but [param.secret_key] is not; give both, or neither to use the AWS default credential chain".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(SourceError::Config(
                    "[param.secret_key] is set but [param.access_key] is not; give both, or neither to use the AWS default credential chain".into(),
                ));
            }
        };
        let region = get("region");
        let endpoint = get("endpoint_override");
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(SourceError::Config(format!(
                "[param.endpoint_override] must be an http:// or https:// URL, got {e:?}"
            )));
        }

        // One worker thread drives every SDK call of this source: the calls
        // are few (at most 5 a second per shard) and mostly waiting on I/O.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sluice-kinesis")
            .enable_all()
            .build()
            .map_err(|e| SourceError::Unavailable(format!("cannot start the kinesis client runtime: {e}")))?;
        let handle = runtime.handle().clone();

        tracing::info!(
            stream = %stream,
            region = region.as_deref().unwrap_or("(default chain)"),
            endpoint = endpoint.as_deref().unwrap_or("(AWS)"),
            credentials = if credentials.is_some() { "static (from the spec)" } else { "default chain" },
            "kinesis source"
        );
        let config = block(&handle, async move {
            let timeouts = TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(OPERATION_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build();
            // No SDK retries: throttling is backed off by the reader with its
            // iterator kept, and other failures restart the session from the
            // checkpoint with the supervisor's backoff, where they are shown.
            let mut loader = aws_config::defaults(BehaviorVersion::latest())
                .timeout_config(timeouts)
                .retry_config(RetryConfig::disabled());
            if let Some(r) = region {
                loader = loader.region(Region::new(r));
            }
            if let Some(c) = credentials {
                loader = loader.credentials_provider(c);
            }
            if let Some(e) = endpoint {
                loader = loader.endpoint_url(e);
            }
            Ok(loader.load().await)
        })?;
        if config.region().is_none() {
            return Err(SourceError::Config(
                "no AWS region: set [param.region] (or AWS_REGION / a profile's region)".into(),
            ));
        }
        let client = Client::new(&config);
        Ok(KinesisSource { stream, client, runtime: Some(runtime), handle })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn unknown_and_missing_params_are_config_errors_that_name_the_key() {
        let err = KinesisSource::from_params(&params(&[("stream", "s"), ("regon", "x")])).err().unwrap();
        let text = err.to_string();
        assert!(
            text.contains("param.regon") && text.contains("stream, region, access_key, secret_key, endpoint_override"),
            "{text}"
        );
        let err = KinesisSource::from_params(&params(&[("region", "eu-west-1")])).err().unwrap();
        assert!(err.to_string().contains("param.stream"), "{err}");
        let err = KinesisSource::from_params(&params(&[("stream", "s"), ("endpoint_override", "localhost:4567")]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("endpoint_override"), "{err}");
    }

    #[test]
    fn a_lone_key_is_refused_and_no_error_shows_a_secret() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let err =
            KinesisSource::from_params(&params(&[("stream", "s"), ("region", "eu-west-1"), ("secret_key", secret)]))
                .err()
                .unwrap();
        let text = err.to_string();
        assert!(text.contains("param.access_key") && !text.contains(secret), "{text}");
        let err = KinesisSource::from_params(&params(&[
            ("stream", "s"),
            ("region", "eu-west-1"),
            ("access_key", "AKIDEXAMPLE"),
        ]))
        .err()
        .unwrap();
        assert!(!err.to_string().contains("AKIDEXAMPLE"), "{err}");
        // Building the client makes no call: this works offline.
        let source = KinesisSource::from_params(&params(&[
            ("stream", "s"),
            ("region", "eu-west-1"),
            ("access_key", "AKIDEXAMPLE"),
            ("secret_key", secret),
            ("endpoint_override", "http://127.0.0.1:9"),
        ]))
        .unwrap();
        // Port 9 (discard) is closed here: unreachable is a transient error
        // that names the stream and never the credentials.
        let err = source.partition_count().err().unwrap();
        assert!(matches!(err, SourceError::Unavailable(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains("\"s\"") && !text.contains(secret) && !text.contains("AKIDEXAMPLE"), "{text}");
    }
}
