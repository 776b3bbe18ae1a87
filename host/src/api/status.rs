//! Manager errors as gRPC statuses, and the blocking-call bridge.

use crate::manager::ManagerError;
use tonic::{Code, Status};

/// Each [`ManagerError`] variant is one gRPC code; the message (which names
/// what was wrong) is kept as it is.
pub fn to_status(e: ManagerError) -> Status {
    let code = match &e {
        ManagerError::NotFound(_) => Code::NotFound,
        ManagerError::AlreadyExists(_) => Code::AlreadyExists,
        ManagerError::InvalidArgument(_) => Code::InvalidArgument,
        ManagerError::FailedPrecondition(_) => Code::FailedPrecondition,
        ManagerError::Internal(_) => Code::Internal,
    };
    Status::new(code, e.to_string())
}

/// Runs a blocking manager call (they join threads, touch disks and wait
/// for resets) on tokio's blocking pool.
pub async fn blocking<T, F>(f: F) -> Result<T, Status>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ManagerError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("the request's task failed: {e}")))?
        .map_err(to_status)
}

/// A request's JSON text, or INVALID_ARGUMENT naming the field. The error
/// names the position, never the text (it may hold secrets).
pub fn parse_json(field: &str, text: &str) -> Result<serde_json::Value, Status> {
    serde_json::from_str(text).map_err(|e| Status::invalid_argument(format!("{field} is not valid JSON: {e}")))
}

/// A required string field.
pub fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, Status> {
    if value.is_empty() { Err(Status::invalid_argument(format!("{field} is required"))) } else { Ok(value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_manager_error_maps_to_its_code_with_its_message() {
        let cases = [
            (ManagerError::NotFound("no ingestion named x".into()), Code::NotFound),
            (ManagerError::AlreadyExists("ingestion x already exists".into()), Code::AlreadyExists),
            (ManagerError::InvalidArgument("invalid spec: y".into()), Code::InvalidArgument),
            (ManagerError::FailedPrecondition("setting [z] is static".into()), Code::FailedPrecondition),
            (ManagerError::Internal("disk".into()), Code::Internal),
        ];
        for (e, code) in cases {
            let message = e.to_string();
            let s = to_status(e);
            assert_eq!((s.code(), s.message()), (code, message.as_str()));
        }
    }

    #[test]
    fn bad_json_names_the_field_but_not_the_text() {
        let s = parse_json("spec_json", r#"{"secret_key": "hunter2"#).unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().starts_with("spec_json is not valid JSON"), "{}", s.message());
        assert!(!s.message().contains("hunter2"), "{}", s.message());
        assert_eq!(required("name", "").unwrap_err().message(), "name is required");
    }
}
