//! PLACEHOLDER until the config module lands.
use std::path::PathBuf;
pub const REDIS_VERSION: &str = "7.0.15";
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendFsync {
    Always,
    EverySec,
    No,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
    Nothing,
}
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub bind: Vec<String>,
    pub dir: PathBuf,
    pub appendonly: bool,
    pub appendfsync: AppendFsync,
    pub save: String,
    pub requirepass: Option<String>,
    pub protected_mode: bool,
    pub maxclients: u32,
    pub databases: u32,
    pub loglevel: LogLevel,
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub unused: Vec<(String, Vec<String>)>,
}
pub enum Invocation {
    Run(Config),
    Help,
    Version,
}
#[derive(Debug)]
pub struct ConfigError(pub String);
impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ConfigError {}
pub fn parse_args(args: &[String]) -> Result<Invocation, ConfigError> {
    let mut c = Config {
        port: 6379,
        bind: vec!["127.0.0.1".into(), "::1".into()],
        dir: ".".into(),
        appendonly: false,
        appendfsync: AppendFsync::EverySec,
        save: "3600 1 300 100 60 10000".into(),
        requirepass: None,
        protected_mode: true,
        maxclients: 10000,
        databases: 16,
        loglevel: LogLevel::Notice,
        timeout: 0,
        tcp_keepalive: 300,
        proto_max_bulk_len: 512 << 20,
        client_query_buffer_limit: 1 << 30,
        unused: vec![],
    };
    let mut i = 0;
    while i + 1 < args.len() {
        match args[i].as_str() {
            "--port" => c.port = args[i + 1].parse().unwrap(),
            "--dir" => c.dir = args[i + 1].clone().into(),
            "--appendonly" => c.appendonly = args[i + 1] == "yes",
            "--appendfsync" => {
                c.appendfsync = match args[i + 1].as_str() {
                    "always" => AppendFsync::Always,
                    "no" => AppendFsync::No,
                    _ => AppendFsync::EverySec,
                }
            }
            "--requirepass" => c.requirepass = Some(args[i + 1].clone()),
            _ => {}
        }
        i += 2;
    }
    Ok(Invocation::Run(c))
}
impl Config {
    pub fn get(&self, _pattern: &[u8]) -> Vec<(String, String)> {
        vec![]
    }
    pub fn set(&mut self, _pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<String>, String> {
        Err("ERR placeholder".into())
    }
    pub fn summary(&self) -> String {
        format!("{self:?}")
    }
}
