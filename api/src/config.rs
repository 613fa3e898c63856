//! Configuration from the environment, the twelve-factor way.
//!
//! Every setting is an environment variable (the names the original stack used where it had
//! one, `REDIS_HOST` first); each also has a `--flag` for running by hand. The value name in
//! clap's messages *is* the variable name, so a bad value stops start-up with a message such as
//! `invalid value 'abc' for '--redis-port <REDIS_PORT>'`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use clap::Args;

/// Settings of one api process.
#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Host name or address of the Redis-protocol store.
    #[arg(
        long,
        env = "REDIS_HOST",
        value_name = "REDIS_HOST",
        default_value = "redis"
    )]
    pub redis_host: String,

    /// TCP port of the store.
    #[arg(long, env = "REDIS_PORT", value_name = "REDIS_PORT", default_value_t = 6379,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub redis_port: u16,

    /// Password sent with AUTH when connecting (none: no AUTH).
    #[arg(
        long,
        env = "REDIS_PASSWORD",
        value_name = "REDIS_PASSWORD",
        hide_env_values = true
    )]
    pub redis_password: Option<Password>,

    /// Redis Sentinels to ask where the store's master is (`host:port,host:port,...`); when
    /// set, `REDIS_HOST` / `REDIS_PORT` are not used, and every reconnection (after an error,
    /// or a `READONLY` reply from a master a failover demoted) asks the Sentinels again.
    #[arg(long, env = "REDIS_SENTINELS", value_name = "REDIS_SENTINELS",
          value_delimiter = ',', num_args = 1..)]
    pub redis_sentinels: Vec<HostPort>,

    /// The master name the Sentinels monitor (`sentinel monitor <name> ...`).
    #[arg(
        long,
        env = "REDIS_MASTER_NAME",
        value_name = "REDIS_MASTER_NAME",
        default_value = "mymaster"
    )]
    pub redis_master_name: String,

    /// Replicas that must have a visit before it is answered: after `INCR` the api sends
    /// Redis's `WAIT <n> <REDIS_WAIT_TIMEOUT_MS>` and answers 503 when fewer acknowledged it
    /// (the visit stays counted, unacknowledged). 0 (default): no WAIT. With 1 and one
    /// replica, a failover loses no acknowledged visit, and no visit is acknowledged while
    /// the replica is away.
    #[arg(
        long,
        env = "REDIS_WAIT_REPLICAS",
        value_name = "REDIS_WAIT_REPLICAS",
        default_value_t = 0
    )]
    pub redis_wait_replicas: u32,

    /// `WAIT`'s timeout, in milliseconds (added to the command timeout for that round trip).
    #[arg(long, env = "REDIS_WAIT_TIMEOUT_MS", value_name = "REDIS_WAIT_TIMEOUT_MS",
          default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_wait_timeout_ms: u64,

    /// Database number selected after connecting.
    #[arg(long, env = "REDIS_DB", value_name = "REDIS_DB", default_value_t = 0,
          value_parser = clap::value_parser!(i64).range(0..))]
    pub redis_db: i64,

    /// Longest wait for a TCP connection (and AUTH/SELECT) to the store, in milliseconds.
    #[arg(long, env = "REDIS_CONNECT_TIMEOUT_MS", value_name = "REDIS_CONNECT_TIMEOUT_MS",
          default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_connect_timeout_ms: u64,

    /// Longest wait for the store's reply to one command, in milliseconds.
    #[arg(long, env = "REDIS_COMMAND_TIMEOUT_MS", value_name = "REDIS_COMMAND_TIMEOUT_MS",
          default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_command_timeout_ms: u64,

    /// Upper bound of the delay between reconnection attempts, in milliseconds (the delay
    /// starts at 50 ms and doubles after each failed attempt).
    #[arg(long, env = "REDIS_RECONNECT_MAX_MS", value_name = "REDIS_RECONNECT_MAX_MS",
          default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_reconnect_max_ms: u64,

    /// HTTP port to listen on.
    #[arg(long, env = "PORT", value_name = "PORT", default_value_t = 5000)]
    pub port: u16,

    /// Address to listen on (`0.0.0.0` = every IPv4 interface, `::` = every interface).
    #[arg(long, env = "BIND", value_name = "BIND", default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    pub bind: IpAddr,

    /// The `container_id` reported in responses; default: the host name, as the original's
    /// `socket.gethostname()` (in Docker, the short container id).
    #[arg(long, env = "CONTAINER_ID", value_name = "CONTAINER_ID")]
    pub container_id: Option<String>,

    /// Longest wait for a client's request headers (slow or silent clients are closed), in
    /// milliseconds; also how long an idle keep-alive connection is kept.
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_MS", value_name = "HTTP_HEADER_TIMEOUT_MS",
          default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_header_timeout_ms: u64,

    /// Longest wait for in-flight requests after SIGTERM before exiting anyway, in
    /// milliseconds.
    #[arg(
        long,
        env = "SHUTDOWN_TIMEOUT_MS",
        value_name = "SHUTDOWN_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub shutdown_timeout_ms: u64,
}

impl Config {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_connect_timeout_ms)
    }

    pub fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_command_timeout_ms)
    }

    pub fn wait_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_wait_timeout_ms)
    }

    pub fn reconnect_max(&self) -> Duration {
        Duration::from_millis(self.redis_reconnect_max_ms)
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.http_header_timeout_ms)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// Where `api healthcheck` finds this process: the bound address, or loopback when bound
    /// to every interface.
    pub fn local_addr(&self) -> SocketAddr {
        let ip = match self.bind {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.port)
    }

    /// `CONTAINER_ID`, else the host name read like Python's `socket.gethostname()` (libc
    /// `gethostname`, i.e. the uname nodename).
    pub fn resolve_container_id(&self) -> String {
        match &self.container_id {
            Some(id) => id.clone(),
            None => hostname::get()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "unknown".to_string()),
        }
    }
}

/// Printed once at start-up, one `NAME=value` per setting, the password masked.
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "REDIS_HOST={} REDIS_PORT={} REDIS_SENTINELS={} REDIS_MASTER_NAME={} \
             REDIS_WAIT_REPLICAS={} REDIS_WAIT_TIMEOUT_MS={} \
             REDIS_PASSWORD={} REDIS_DB={} REDIS_CONNECT_TIMEOUT_MS={} REDIS_COMMAND_TIMEOUT_MS={} REDIS_RECONNECT_MAX_MS={} \
             PORT={} BIND={} CONTAINER_ID={} HTTP_HEADER_TIMEOUT_MS={} SHUTDOWN_TIMEOUT_MS={}",
            self.redis_host,
            self.redis_port,
            if self.redis_sentinels.is_empty() {
                "(none)".to_string()
            } else {
                self.redis_sentinels
                    .iter()
                    .map(HostPort::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            },
            self.redis_master_name,
            self.redis_wait_replicas,
            self.redis_wait_timeout_ms,
            if self.redis_password.is_some() {
                "****"
            } else {
                "(none)"
            },
            self.redis_db,
            self.redis_connect_timeout_ms,
            self.redis_command_timeout_ms,
            self.redis_reconnect_max_ms,
            self.port,
            self.bind,
            self.container_id.as_deref().unwrap_or("(hostname)"),
            self.http_header_timeout_ms,
            self.shutdown_timeout_ms,
        )
    }
}

/// A `host:port` pair (a Sentinel's address); IPv6 addresses in brackets (`[::1]:26379`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (host, port) = s
            .trim()
            .rsplit_once(':')
            .ok_or_else(|| format!("'{s}' is not host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("'{port}' is not a TCP port"))?;
        if host.is_empty() {
            return Err(format!("'{s}' has no host"));
        }
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A secret that never shows up in `Debug` output or logs.
#[derive(Clone)]
pub struct Password(pub String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(****)")
    }
}

impl FromStr for Password {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Password(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn defaults_match_the_original_compose_file() {
        let cli = Cli::try_parse_from(["api"]).unwrap();
        let c = cli.config;
        // The test process may have these variables set; only check when it does not.
        if std::env::var_os("REDIS_HOST").is_none() {
            assert_eq!(c.redis_host, "redis");
        }
        if std::env::var_os("PORT").is_none() {
            assert_eq!(c.port, 5000);
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Cli::try_parse_from(["api", "--redis-port", "abc"])
            .err()
            .expect("abc is not a port")
            .to_string();
        assert!(err.contains("REDIS_PORT"), "{err}");
        let err = Cli::try_parse_from(["api", "--redis-connect-timeout-ms", "0"])
            .err()
            .expect("0 ms is refused")
            .to_string();
        assert!(err.contains("REDIS_CONNECT_TIMEOUT_MS"), "{err}");
    }

    #[test]
    fn display_masks_the_password() {
        let cli = Cli::try_parse_from(["api", "--redis-password", "hunter2"]).unwrap();
        let shown = format!("{} {:?}", cli.config, cli.config);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("REDIS_PASSWORD=****"), "{shown}");
    }

    #[test]
    fn sentinels_are_a_comma_separated_list_of_host_port() {
        let cli = Cli::try_parse_from([
            "api",
            "--redis-sentinels",
            "sentinel-1:26379,[::1]:26380,10.0.0.3:1",
        ])
        .unwrap();
        let shown: Vec<String> = cli
            .config
            .redis_sentinels
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["sentinel-1:26379", "[::1]:26380", "10.0.0.3:1"]);
        assert_eq!(cli.config.redis_sentinels[1].host, "::1");
        for bad in ["sentinel", "sentinel:0", ":26379", "sentinel:x"] {
            let err = Cli::try_parse_from(["api", "--redis-sentinels", bad])
                .err()
                .unwrap_or_else(|| panic!("{bad} is refused"))
                .to_string();
            assert!(err.contains("REDIS_SENTINELS"), "{err}");
        }
    }

    #[test]
    fn healthcheck_uses_loopback_for_wildcard_binds() {
        let cli = Cli::try_parse_from(["api", "--bind", "::", "--port", "8000"]).unwrap();
        assert_eq!(cli.config.local_addr().to_string(), "[::1]:8000");
    }
}
