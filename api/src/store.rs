//! The visit counter in the Redis-protocol store, reached only over RESP.
//!
//! One [`redis::aio::MultiplexedConnection`] carries every request: concurrent `INCR`s are
//! pipelined on it, so thousands of in-flight HTTP requests share one TCP connection and the
//! store sees them in batches. Because it speaks plain RESP, kvstore and the official Redis
//! image are interchangeable.
//!
//! Failure handling is the point of this module. Every wait is bounded (connect and command
//! timeouts), a failure is an error value the handler turns into a 503, and a broken
//! connection is dropped and re-established on demand: one request at a time tries to
//! connect (the others fail fast instead of piling onto a dead store), and after a failed
//! attempt the next one waits an exponentially growing delay, capped by
//! `REDIS_RECONNECT_MAX_MS`. No restart is ever needed.
//!
//! With `REDIS_SENTINELS`, each connection attempt first asks the Sentinels (redis-rs's
//! `SentinelClient`) for the master's address and checks with `ROLE` that it is one. After a
//! failover the old master is gone (a connection error) or answers writes with `READONLY`
//! once Sentinel made it a replica; either drops the connection, so the next request finds
//! the new master through the Sentinels.

use std::future::Future;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use redis::aio::MultiplexedConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, RedisConnectionInfo};

use crate::config::Config;

/// The key the original counts visits in.
pub const VISITS_KEY: &str = "total_visits";

/// First delay after a failed connection attempt; doubles per further failure.
const BACKOFF_START: Duration = Duration::from_millis(50);

/// What the handlers need from a store; a trait so handler tests can run without one.
pub trait VisitStore: Send + Sync + 'static {
    /// `INCR total_visits`: the new count.
    fn incr_visits(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// A round trip (`PING`), for readiness.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Why the store could not give an answer. The `Display` text is the short reason sent to
/// clients in the 503 body's `error` key.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("store unreachable: {0}")]
    Unreachable(String),
    #[error("store did not answer within {0} ms")]
    Timeout(u128),
    #[error("store error: {0}")]
    Server(String),
    /// `REDIS_WAIT_REPLICAS` not met: the visit is counted on the master only.
    #[error("visit {count} reached {acknowledged} of {wanted} replicas in time")]
    NotReplicated {
        count: i64,
        acknowledged: u32,
        wanted: u32,
    },
}

impl StoreError {
    /// Metric label.
    fn kind(&self) -> &'static str {
        match self {
            StoreError::Unreachable(_) => "unreachable",
            StoreError::Timeout(_) => "timeout",
            StoreError::Server(_) => "server",
            StoreError::NotReplicated { .. } => "not_replicated",
        }
    }
}

/// Store counters exported on `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct StoreMetrics {
    /// Failed store operations by kind (`unreachable`, `timeout`, `server`,
    /// `not_replicated`).
    pub errors: Family<ErrorLabel, Counter>,
    /// Connections established after the first one.
    pub reconnects: Counter,
    /// 1 while a connection is believed healthy.
    pub connected: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct ErrorLabel {
    pub kind: &'static str,
}

/// Where connections go.
enum Target {
    /// `REDIS_HOST`:`REDIS_PORT`.
    Direct(redis::Client),
    /// The master the Sentinels name (`REDIS_SENTINELS`, `REDIS_MASTER_NAME`), asked again
    /// at every connection attempt.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

/// The store client: a lazily (re)established multiplexed connection.
pub struct Store {
    target: Target,
    connect_timeout: Duration,
    command_timeout: Duration,
    reconnect_max: Duration,
    /// `REDIS_WAIT_REPLICAS` and `REDIS_WAIT_TIMEOUT_MS`.
    wait_replicas: u32,
    wait_timeout: Duration,
    /// The live connection with its generation, so a failure only drops the connection that
    /// failed, never a newer one another request just made.
    current: RwLock<Option<(u64, MultiplexedConnection)>>,
    /// Held by the one request that is connecting.
    connecting: tokio::sync::Mutex<Reconnect>,
    metrics: StoreMetrics,
}

/// Back-off state, guarded by `Store::connecting`.
#[derive(Default)]
struct Reconnect {
    generation: u64,
    failures: u32,
    retry_at: Option<Instant>,
    /// Repeated to the requests that arrive during the back-off delay.
    last_error: Option<StoreError>,
}

impl Store {
    pub fn new(config: &Config, metrics: StoreMetrics) -> Result<Store, redis::RedisError> {
        let redis = RedisConnectionInfo {
            db: config.redis_db,
            username: None,
            password: config.redis_password.as_ref().map(|p| p.0.clone()),
            ..Default::default()
        };
        let target = if config.redis_sentinels.is_empty() {
            Target::Direct(redis::Client::open(ConnectionInfo {
                addr: ConnectionAddr::Tcp(config.redis_host.clone(), config.redis_port),
                redis,
            })?)
        } else {
            let sentinels = config
                .redis_sentinels
                .iter()
                .map(|s| ConnectionInfo {
                    addr: ConnectionAddr::Tcp(s.host.clone(), s.port),
                    redis: RedisConnectionInfo::default(),
                })
                .collect();
            Target::Sentinel(tokio::sync::Mutex::new(SentinelClient::build(
                sentinels,
                config.redis_master_name.clone(),
                Some(SentinelNodeConnectionInfo {
                    tls_mode: None,
                    redis_connection_info: Some(redis),
                }),
                SentinelServerType::Master,
            )?))
        };
        Ok(Store {
            target,
            connect_timeout: config.connect_timeout(),
            command_timeout: config.command_timeout(),
            reconnect_max: config.reconnect_max(),
            wait_replicas: config.redis_wait_replicas,
            wait_timeout: config.wait_timeout(),
            current: RwLock::new(None),
            connecting: tokio::sync::Mutex::new(Reconnect::default()),
            metrics,
        })
    }

    /// The live connection, connecting first when there is none (unless a recent attempt
    /// failed and the back-off delay has not passed).
    async fn connection(&self) -> Result<(u64, MultiplexedConnection), StoreError> {
        if let Some(live) = self.current.read().clone() {
            return Ok(live);
        }
        let mut state = self.connecting.lock().await;
        // Another request may have connected while this one waited for the lock.
        if let Some(live) = self.current.read().clone() {
            return Ok(live);
        }
        if let (Some(at), Some(error)) = (state.retry_at, &state.last_error) {
            if Instant::now() < at {
                return Err(error.clone());
            }
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(self.connect_timeout)
            .set_response_timeout(self.command_timeout);
        // TCP connect, then AUTH/SELECT/CLIENT SETINFO round trips; through Sentinel, as many
        // again first (SENTINEL MASTERS, then ROLE on the master it names).
        let mut limit = self.connect_timeout + self.command_timeout;
        let attempt = match &self.target {
            Target::Direct(client) => {
                let connect = client.get_multiplexed_async_connection_with_config(&config);
                tokio::time::timeout(limit, connect).await
            }
            Target::Sentinel(sentinel) => {
                limit *= 2;
                let mut sentinel = sentinel.lock().await;
                let connect = sentinel.get_async_connection_with_config(&config);
                tokio::time::timeout(limit, connect).await
            }
        };
        let error = match attempt {
            Ok(Ok(conn)) => {
                state.generation += 1;
                if state.generation > 1 {
                    self.metrics.reconnects.inc();
                }
                if state.failures > 0 {
                    tracing::info!(after_failures = state.failures, "store connection restored");
                } else {
                    tracing::debug!("connected to the store");
                }
                state.failures = 0;
                state.retry_at = None;
                state.last_error = None;
                self.metrics.connected.set(1);
                let live = (state.generation, conn);
                *self.current.write() = Some(live.clone());
                return Ok(live);
            }
            Ok(Err(e))
                if e.kind() == redis::ErrorKind::ResponseError
                    || e.kind() == redis::ErrorKind::AuthenticationFailed =>
            {
                StoreError::Server(e.to_string())
            }
            Ok(Err(e)) => StoreError::Unreachable(e.to_string()),
            Err(_) => StoreError::Timeout(limit.as_millis()),
        };
        let delay = BACKOFF_START
            .saturating_mul(1 << state.failures.min(16))
            .min(self.reconnect_max);
        state.failures = state.failures.saturating_add(1);
        state.retry_at = Some(Instant::now() + delay);
        state.last_error = Some(error.clone());
        tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "cannot connect to the store");
        Err(error)
    }

    /// Forgets connection `generation` after it failed, so the next request reconnects.
    fn drop_connection(&self, generation: u64) {
        let mut current = self.current.write();
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
            self.metrics.connected.set(0);
        }
    }

    /// Runs one command (or a pipeline) on the live connection within `timeout`.
    async fn run<T: redis::FromRedisValue>(
        &self,
        cmd: &impl Query,
        timeout: Duration,
    ) -> Result<T, StoreError> {
        let result = self.run_inner(cmd, timeout).await;
        if let Err(e) = &result {
            self.count(e);
        }
        result
    }

    /// Counts a failure on `/metrics`.
    fn count(&self, error: &StoreError) {
        self.metrics
            .errors
            .get_or_create(&ErrorLabel { kind: error.kind() })
            .inc();
    }

    async fn run_inner<T: redis::FromRedisValue>(
        &self,
        cmd: &impl Query,
        timeout: Duration,
    ) -> Result<T, StoreError> {
        let (generation, mut conn) = self.connection().await?;
        match tokio::time::timeout(timeout, cmd.query(&mut conn)).await {
            Ok(Ok(value)) => Ok(value),
            // A master that a failover made a replica: find the new one.
            Ok(Err(e)) if e.kind() == redis::ErrorKind::ReadOnly => {
                self.drop_connection(generation);
                Err(StoreError::Server(e.to_string()))
            }
            // A reply the store chose to send (WRONGTYPE, NOAUTH, LOADING...): the connection
            // itself is fine.
            Ok(Err(e))
                if e.kind() == redis::ErrorKind::ResponseError
                    || e.kind() == redis::ErrorKind::TypeError
                    || e.kind() == redis::ErrorKind::ExtensionError
                    || e.kind() == redis::ErrorKind::BusyLoadingError =>
            {
                Err(StoreError::Server(e.to_string()))
            }
            Ok(Err(e)) if e.is_timeout() => {
                self.drop_connection(generation);
                Err(StoreError::Timeout(timeout.as_millis()))
            }
            Ok(Err(e)) => {
                self.drop_connection(generation);
                Err(StoreError::Unreachable(e.to_string()))
            }
            Err(_) => {
                // A store that stopped answering: start over on a fresh connection rather
                // than queue more requests behind the silent one.
                self.drop_connection(generation);
                Err(StoreError::Timeout(timeout.as_millis()))
            }
        }
    }
}

/// A command or a pipeline, sent on the multiplexed connection.
trait Query: Sync {
    fn query<T: redis::FromRedisValue>(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> impl Future<Output = redis::RedisResult<T>> + Send;
}

impl Query for redis::Cmd {
    fn query<T: redis::FromRedisValue>(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> impl Future<Output = redis::RedisResult<T>> + Send {
        self.query_async(conn)
    }
}

impl Query for redis::Pipeline {
    fn query<T: redis::FromRedisValue>(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> impl Future<Output = redis::RedisResult<T>> + Send {
        self.query_async(conn)
    }
}

impl VisitStore for Store {
    async fn incr_visits(&self) -> Result<i64, StoreError> {
        let incr = redis::cmd("INCR").arg(VISITS_KEY).to_owned();
        if self.wait_replicas == 0 {
            return self.run(&incr, self.command_timeout).await;
        }
        // INCR and WAIT in one pipeline: WAIT waits for this connection's last write, and
        // the store runs the connection's commands in order.
        let mut pipe = redis::pipe();
        pipe.add_command(incr)
            .cmd("WAIT")
            .arg(self.wait_replicas)
            .arg(self.wait_timeout.as_millis() as u64);
        let (count, acknowledged): (i64, u32) = self
            .run(&pipe, self.command_timeout + self.wait_timeout)
            .await?;
        if acknowledged < self.wait_replicas {
            let error = StoreError::NotReplicated {
                count,
                acknowledged,
                wanted: self.wait_replicas,
            };
            self.count(&error);
            return Err(error);
        }
        Ok(count)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run::<String>(&redis::cmd("PING"), self.command_timeout)
            .await
            .map(drop)
    }
}
