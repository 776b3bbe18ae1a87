//! sluice: a pull-based stream ingestion engine with WebAssembly plugins.
//!
//! Data flows one way: [`source`] -> [`engine`] (poller, queue, processor
//! calling the [`plugin`]) -> [`sink`] (documents + checkpoint, atomically).
//! [`state`] remembers the ingestions; [`spec`] describes one. [`manager`]
//! runs a host's ingestions and [`api`] serves it over gRPC and HTTP.

pub mod api;
pub mod cluster;
pub mod engine;
pub mod manager;
pub mod plugin;
pub mod pointer;
pub mod sink;
pub mod source;
pub mod spec;
pub mod state;
pub mod stats;
pub mod util;
pub mod wiring;

#[cfg(test)]
mod testing;

#[cfg(test)]
mod architecture_tests;
