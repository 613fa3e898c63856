//! kvstore: a Redis-protocol server whose durable copy lives in sled.
//!
//! The binary (`main.rs`) installs [`CountingAllocator`] (INFO's `used_memory`), parses the
//! command line with [`parse_args`], then calls [`run`]; that is the whole public surface. Everything else is private to the crate, so the
//! dead-code lint sees what nothing uses.
//!
//! Dependencies point one way, from the top: [`run`] → `server` (listeners, sweeps) →
//! `connection` (one socket: read, execute a batch, write) → `cmd` (the command table,
//! dispatch, the families) → `state` (what connections share: keyspace lock, configuration,
//! limits, registries, blocked clients, the clock) → `tracking`, `pubsub`, `client` (registries),
//! `scripting` (the Lua engines) and `persistence` (sled) → `keyspace` (data in memory), `protocol` (RESP), `config`, `glob`,
//! `number`. The keyspace knows no wire format and persistence knows no commands;
//! `tests/module_graph.rs` fails on an import cycle.

// Algorithms and codecs built and tested against redis-server ahead of the commands that
// use them (BITCOUNT & co., PF*, GEO*, DUMP/RESTORE): the lint wakes once they are wired.
mod acl;
mod allocator;
mod bitops;
mod busy_poll;
mod client;
mod cmd;
mod config;
mod connection;
mod geo;
mod glob;
mod hyperloglog;
mod keyspace;
mod master_link;
mod number;
mod persistence;
mod protocol;
mod pubsub;
mod rdb;
#[cfg(test)]
mod redis_oracle;
mod scripting;
mod server;
mod state;
mod tracking;

pub use allocator::CountingAllocator;
pub use config::{
    parse_args, usage_text, version_text, Config, ConfigError, Invocation, LogLevel, REDIS_VERSION,
};

/// For the tokio runtime builder's `on_thread_unpark`: tells the busy poller (enabled by
/// `KVSTORE_BUSY_POLL_US`) that a worker woke up because work arrived.
pub fn on_thread_unpark() {
    busy_poll::unparked();
}

/// Opens the data directory in `config.dir`, loads it, binds every configured address and
/// serves until `stop` resolves or a client sends SHUTDOWN; then drains the connections and
/// makes everything durable. Must run inside a multi-threaded tokio runtime.
pub async fn run(
    config: Config,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let server = server::Server::bind(config).await?;
    for addr in server.local_addrs() {
        tracing::info!("Ready to accept connections tcp {addr}");
    }
    server.run(stop).await
}
