//! Shared helpers: streams on disk, specs, an in-process engine, a
//! reference model that applies every message exactly once, the crash rig,
//! and the servers some tests run (gRPC host, kinesalite, redis-server).
//!
//! Test files import from here, never from each other.

#![allow(dead_code)]

pub mod crash;
pub mod engine;
pub mod grpc_server;
pub mod hotswap_rig;
pub mod kafka;
pub mod kinesalite;
pub mod model;
pub mod redis_server;
pub mod stream;

pub use crash::*;
pub use engine::*;
pub use model::*;
pub use stream::*;
