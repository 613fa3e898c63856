//! Lua scripting as Redis 7.0 has it: EVAL scripts (cached per run of the server, by SHA1)
//! and FUNCTION libraries, each in its own Lua 5.1 state with Redis's environment.
//!
//! The engine knows no command table and no keyspace: a script reaches the data only through
//! the [`Host`] it is run with (`redis.call` hands the host an argument vector and gets the
//! reply back already encoded in RESP, exactly what Redis's script client sees). The command
//! layer (`cmd::scripting`) implements the host over its execution context, so a script's
//! commands take the same path as a client's and run under the keyspace lock the calling
//! command holds: a script is atomic by construction.
//!
//! Invariants:
//! - One [`Scripting`] per server, a field of `state::Shared`; its states are only used under its mutexes, which are
//!   always taken after the keyspace lock, never before.
//! - A script that was loaded is compiled in the state; SCRIPT FLUSH replaces the state.

mod bit;
mod capi;
mod cjson;
mod cmsgpack;
pub mod functions;
mod libs;
pub mod lua;
mod structlib;

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::atomic::AtomicBool;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::protocol::Reply;

pub use functions::Functions;
pub use lua::{Kind, Run};

/// Error replies stay on one line: as Redis does, CR and LF in them become spaces.
fn one_line(msg: String) -> String {
    if msg.contains(['\r', '\n']) {
        msg.replace(['\r', '\n'], " ")
    } else {
        msg
    }
}

/// The error for a library or function name [`valid_name`] refuses.
pub const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// Redis's `functionsVerifyName` (libraries and functions): letters, digits and `_`, at least one.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// What a running script calls back into.
pub trait Host {
    /// Runs one command for `redis.call` / `redis.pcall` and returns its reply encoded in
    /// protocol `resp`; refusals (unknown command, write from a read-only script, ...) are
    /// error replies (`-ERR ...\r\n`).
    fn call(&mut self, args: Vec<Bytes>, resp: u8, read_only: bool) -> Vec<u8>;
    /// Whether `args` name a known command (`redis.acl_check_cmd`).
    fn command_exists(&self, args: &[Bytes]) -> bool;
    /// Whether the script's user may run `args`, a known command (`redis.acl_check_cmd`).
    fn permitted(&self, args: &[Bytes]) -> bool;
    /// Called from the script's instruction hook (every 100,000 Lua instructions) while it
    /// runs: where a host lets the rest of the server go on beside a long script.
    fn still_running(&mut self) {}
}

/// The lower-case hex SHA1 of `data` (`redis.sha1hex`, script names).
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// Script flags from a `#!lua flags=...` shebang.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// No shebang: Redis's backward-compatible mode (writes allowed unless *_RO).
    pub compat: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
}

impl ScriptFlags {
    /// Sets the flag called `name`; false for an unknown name.
    pub fn set(&mut self, name: &[u8]) -> bool {
        match name {
            b"no-writes" => self.no_writes = true,
            b"allow-oom" => self.allow_oom = true,
            b"allow-stale" => self.allow_stale = true,
            b"no-cluster" => self.no_cluster = true,
            b"allow-cross-slot-keys" => self.allow_cross_slot_keys = true,
            _ => return false,
        }
        true
    }

    /// The flag names FUNCTION LIST reports, in Redis's order.
    pub fn names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (on, name) in [
            (self.no_writes, "no-writes"),
            (self.allow_oom, "allow-oom"),
            (self.allow_stale, "allow-stale"),
            (self.no_cluster, "no-cluster"),
            (self.allow_cross_slot_keys, "allow-cross-slot-keys"),
        ] {
            if on {
                out.push(name);
            }
        }
        out
    }
}

/// Reads an EVAL script's shebang line: the flags and the length of the line (the code
/// compiled starts there, so line numbers stay right). Errors are Redis's messages.
pub fn parse_shebang(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
    let mut flags = ScriptFlags {
        compat: true,
        ..ScriptFlags::default()
    };
    if !body.starts_with(b"#!") {
        return Ok((flags, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let parts = match crate::protocol::split_args(&body[..end]) {
        Some(parts) if !parts.is_empty() => parts,
        _ => return Err("Invalid engine in script shebang".into()),
    };
    if parts[0] != b"#!lua" {
        return Err(format!(
            "Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(&parts[0])
        ));
    }
    flags.compat = false;
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(format!(
                "Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            ));
        };
        if list.is_empty() {
            continue;
        }
        for name in list.split(|&b| b == b',') {
            if !flags.set(name) {
                return Err(format!(
                    "Unexpected flag in script shebang: {}",
                    String::from_utf8_lossy(name)
                ));
            }
        }
    }
    Ok((flags, end))
}

/// A cached EVAL script.
#[derive(Debug, Clone)]
pub struct Script {
    pub flags: ScriptFlags,
}

/// The EVAL engine: the script cache and the state the scripts are compiled into.
pub struct Scripts {
    vm: lua::Vm,
    cache: HashMap<String, Script>,
    /// The cached scripts' bodies, in bytes (INFO's `used_memory_scripts_eval`).
    body_bytes: usize,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            vm: lua::Vm::new(Kind::Eval),
            cache: HashMap::new(),
            body_bytes: 0,
        }
    }
}

fn registry_key(sha: &str) -> CString {
    CString::new(format!("f_{sha}")).expect("a SHA1 has no NUL")
}

impl Scripts {
    /// Compiles and caches `body` unless cached (`luaCreateFunction`); returns its SHA1.
    /// The error is the reply Redis sends.
    pub fn load(&mut self, body: &Bytes) -> Result<String, Reply> {
        let sha = sha1_hex(body);
        if self.cache.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, shebang_len) =
            parse_shebang(body).map_err(|e| Reply::error(format!("ERR {e}")))?;
        let mut code = Vec::with_capacity(body.len());
        // The shebang line is left out but its newline kept, so lines keep their numbers.
        code.extend_from_slice(&body[shebang_len..]);
        self.vm
            .compile(&registry_key(&sha), &code, c"@user_script")
            .map_err(|msg| {
                Reply::error(one_line(format!(
                    "ERR Error compiling script (new function): {}",
                    String::from_utf8_lossy(&msg)
                )))
            })?;
        self.cache.insert(sha.clone(), Script { flags });
        self.body_bytes += body.len();
        Ok(sha)
    }

    /// How many scripts are cached.
    pub fn count(&self) -> usize {
        self.cache.len()
    }

    /// What INFO reports of the EVAL engine: the Lua state's bytes and the cache's (its
    /// bodies and names; Redis counts its dictionary's allocations, so the number differs).
    pub fn memory(&self) -> (usize, usize) {
        (self.vm.memory(), self.body_bytes + self.cache.len() * 64)
    }

    /// The cached script with this SHA1 (any case).
    pub fn get(&self, sha: &[u8]) -> Option<&Script> {
        let sha = std::str::from_utf8(sha).ok()?.to_ascii_lowercase();
        self.cache.get(&sha)
    }

    pub fn exists(&self, sha: &[u8]) -> bool {
        self.get(sha).is_some()
    }

    /// SCRIPT FLUSH: forgets every script and starts a fresh state.
    pub fn flush(&mut self) {
        *self = Scripts::default();
    }

    /// Runs the cached script `sha` (lower case).
    pub fn run(&mut self, sha: &str, keys: &[Bytes], args: &[Bytes], run: &mut Run) -> Reply {
        self.vm
            .call(lua::FnRef::Named(&registry_key(sha)), keys, args, run)
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}

/// A server's scripting state: the EVAL engine, the function libraries, and what SCRIPT KILL
/// / FUNCTION KILL / FUNCTION STATS see of the script running right now.
///
/// `scripts` and `functions` stay locked for a whole run; `running` and the counters are
/// what other clients may read meanwhile (their commands do not need the keyspace lock).
#[derive(Default)]
pub struct Scripting {
    pub scripts: Mutex<Scripts>,
    pub functions: Mutex<Functions>,
    /// Set to stop the running script at its next hook.
    pub kill: AtomicBool,
    /// The saved functions were read back (done once, at first use).
    pub functions_restored: AtomicBool,
    /// The script running now, if any.
    pub running: Mutex<Option<Running>>,
    /// Set when the running script has executed a write (it can no longer be killed).
    pub dirty: AtomicBool,
    /// Libraries and functions loaded, for FUNCTION STATS while a function runs.
    pub library_count: std::sync::atomic::AtomicUsize,
    pub function_count: std::sync::atomic::AtomicUsize,
}

/// Scripts running now in this process, all servers together: lets dispatch skip every
/// busy check with one atomic load while none runs.
pub static RUNNING_SCRIPTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// What other clients can know about a running script.
#[derive(Debug, Clone)]
pub struct Running {
    /// EVAL / EVALSHA (true) or FCALL (false).
    pub eval: bool,
    /// The SHA1 of the script or the name of the function.
    pub name: String,
    /// The command that runs it, as FUNCTION STATS reports it.
    pub command: Vec<Bytes>,
    pub started: std::time::Instant,
}

/// The replies of SCRIPT KILL / FUNCTION KILL and of commands refused while a script is busy,
/// byte for byte as Redis sends them.
pub mod busy {
    pub const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";
    pub const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";
    /// A script (EVAL) is running.
    pub const BUSY_EVAL: &str =
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
    /// A function (FCALL) is running.
    pub const BUSY_FUNCTION: &str =
        "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
}

impl Scripting {
    /// SCRIPT KILL (`eval`) or FUNCTION KILL: Redis's `scriptKill`. `Ok` asks the running
    /// script to stop; the error is the reply.
    pub fn kill_running(&self, eval: bool) -> Result<(), &'static str> {
        let running = self.running.lock();
        let Some(r) = running.as_ref() else {
            return Err(busy::NOTBUSY);
        };
        if self.dirty.load(std::sync::atomic::Ordering::Acquire) {
            return Err(busy::UNKILLABLE);
        }
        if eval && !r.eval {
            return Err(busy::BUSY_FUNCTION);
        }
        if !eval && r.eval {
            return Err(busy::BUSY_EVAL);
        }
        self.kill.store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
