//! sluice's integration tests: one test binary, one module per area.

mod support;

mod cli;
mod kafka;
mod kinesalite;
mod kinesis;
mod pipeline;
