//! The generated `sluice.v1` messages, clients and servers (from
//! `proto/sluice/v1/*.proto`, by `host/build.rs`).

#![allow(clippy::all, clippy::pedantic, missing_docs)]

tonic::include_proto!("sluice.v1");

/// The encoded file descriptor set of `sluice.v1`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/sluice_v1_descriptor.bin"));

/// A proto enum, named without its type prefix (`POLLER_STATE_POLLING` -> `POLLING`).
pub trait ProtoEnum: TryFrom<i32> {
    const PREFIX: &'static str;
    fn proto_name(&self) -> &'static str;

    /// The short name of a value, or the number if it is not a known value.
    fn short_name(value: i32) -> String {
        match Self::try_from(value) {
            Ok(v) => v.proto_name().strip_prefix(Self::PREFIX).unwrap_or(v.proto_name()).to_string(),
            Err(_) => value.to_string(),
        }
    }
}

macro_rules! proto_enum {
    ($($t:ty => $prefix:literal),* $(,)?) => {$(
        impl ProtoEnum for $t {
            const PREFIX: &'static str = $prefix;
            fn proto_name(&self) -> &'static str {
                self.as_str_name()
            }
        }
    )*};
}

proto_enum!(
    PollerState => "POLLER_STATE_",
    ErrorPolicy => "ERROR_POLICY_",
    ResetMode => "RESET_MODE_",
    SupervisorState => "SUPERVISOR_STATE_",
    SubmitOutcome => "SUBMIT_OUTCOME_",
);

/// Serializes an enum field (an `i32` in prost) by its short name, for JSON output.
pub fn serialize_enum<E: ProtoEnum, S: serde::Serializer>(value: &i32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&E::short_name(*value))
}
