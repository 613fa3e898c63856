//! kvstore: a Redis-protocol server whose durable copy lives in sled.
//!
//! Dependencies point one way: [`protocol`] and [`connection`] (the wire) → [`cmd`] (commands)
//! → [`keyspace`] (data in memory) ← [`persistence`] (sled). The keyspace knows no wire format
//! and persistence knows no commands.

pub mod busy_poll;
pub mod client;
pub mod cmd;
pub mod config;
pub mod connection;
pub mod glob;
pub mod keyspace;
pub mod number;
pub mod persistence;
pub mod protocol;
pub mod pubsub;
pub mod scripting;
pub mod server;
