//! Helpers shared by the unit tests of the `config` modules: loading a
//! configuration text, reading one value, running `CONFIG SET`, and a
//! scratch directory.

use super::grammar::LoadState;
use super::{Config, ConfigError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

pub(super) const BANNER: &str = "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n";

pub(super) fn fatal_at(line: usize, text: &str, reason: &str) -> String {
    format!("{BANNER}Reading the configuration file, at line {line}\n>>> '{text}'\n{reason}\n")
}

pub(super) fn err_text(result: Result<Config, ConfigError>) -> String {
    result
        .expect_err("configuration should be rejected")
        .to_string()
}

/// The defaults, then `text` loaded as a configuration file.
pub(super) fn conf(text: &str) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    config.load_text(text.as_bytes(), &mut LoadState::default())?;
    Ok(config)
}

pub(super) fn value(config: &Config, name: &str) -> String {
    let got = config.get(name.as_bytes());
    assert_eq!(got.len(), 1, "exactly one value for {name}");
    got[0].1.clone()
}

pub(super) fn set(config: &mut Config, kv: &[&str]) -> Result<Vec<String>, String> {
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = kv
        .chunks(2)
        .map(|c| (c[0].as_bytes().to_vec(), c[1].as_bytes().to_vec()))
        .collect();
    config.set(&pairs)
}

/// A scratch directory under the system temp dir, removed on drop.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "kvstore-config-test-{}-{tag}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(std::fs::canonicalize(&path).unwrap())
    }

    pub(super) fn file(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_string_lossy().into_owned()
    }

    pub(super) fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
