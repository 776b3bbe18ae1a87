//! sluice's integration tests: one test binary, one module per area.

mod support;

mod cli;
mod cli_errors;
mod cluster;
mod conventions;
mod corpus;
mod decoders;
mod druid;
mod faults;
mod file_rotation;
mod grpc;
mod hotswap;
mod http;
mod http_druid;
mod kafka;
mod kinesis;
mod mapping_types;
mod pipeline;
mod plugin_guide;
mod plugins_any_language;
mod redis_backend;
mod reuse;
mod sandbox;
mod state_records;
mod supervisors;
mod takeover;
