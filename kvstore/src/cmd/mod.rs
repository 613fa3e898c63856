//! Commands: the table of every command kvstore knows, and how one is dispatched.
//!
//! Each family lives in its own file and exports a `COMMANDS` table of [`CommandSpec`]s: the
//! name, Redis's arity convention (positive = exact, negative = at least), flags and key
//! positions as COMMAND INFO reports them, and the handler. Dispatch follows Redis's
//! `processCommand` order: QUIT, lookup (unknown command / subcommand), arity, then
//! authentication, so clients see the same error for the same mistake.

pub mod blocking;
pub mod connection;
pub mod functions;
pub mod hashes;
pub mod keys;
pub mod lists;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod strings;
pub mod transactions;
pub mod zsets;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use parking_lot::MutexGuard;

use crate::client::Session;
use crate::keyspace::{Db, Keyspace};
use crate::protocol::Reply;
use crate::server::{now_ms, Shared};

/// What Redis writes to a non-loopback client in protected mode before closing it.
pub const DENIED_MESSAGE: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Error replies shared by many commands, byte for byte as Redis sends them.
pub mod err {
    pub const SYNTAX: &str = "ERR syntax error";
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const NOAUTH: &str = "NOAUTH Authentication required.";
    pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    pub const DB_INDEX: &str = "ERR DB index is out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
}

/// How a command's handler is called: with the execution context and the full argument
/// vector (`args[0]` is the command name as the client sent it).
pub type Handler = fn(&mut Ctx<'_, '_>, &[Bytes]) -> Reply;

/// One entry of the command table.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lower-case name; `container|sub` for subcommands.
    pub name: &'static str,
    /// Redis convention: `n` exactly n arguments (name included), `-n` at least n.
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub handler: Handler,
    /// Subcommands for container commands (CLIENT, CONFIG, COMMAND, OBJECT).
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// A command that takes no keys.
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: &'static [&'static str],
        handler: Handler,
    ) -> Self {
        CommandSpec {
            name,
            arity,
            flags,
            first_key: 0,
            last_key: 0,
            step: 0,
            handler,
            subcommands: &[],
        }
    }

    /// Sets the key positions (first, last, step) COMMAND INFO reports.
    pub const fn keys(mut self, first: i32, last: i32, step: i32) -> Self {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self
    }

    pub const fn with_subcommands(mut self, subcommands: &'static [CommandSpec]) -> Self {
        self.subcommands = subcommands;
        self
    }

    fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity > 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
}

/// Every top-level command.
pub fn table() -> impl Iterator<Item = &'static CommandSpec> {
    connection::COMMANDS
        .iter()
        .chain(server::COMMANDS)
        .chain(strings::COMMANDS)
        .chain(keys::COMMANDS)
        .chain(lists::COMMANDS)
        .chain(hashes::COMMANDS)
        .chain(sets::COMMANDS)
        .chain(zsets::COMMANDS)
        .chain(transactions::COMMANDS)
        .chain(pubsub::COMMANDS)
        .chain(scripting::COMMANDS)
}

fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    type Index = HashMap<&'static str, &'static CommandSpec, foldhash::fast::FixedState>;
    static INDEX: OnceLock<Index> = OnceLock::new();
    let index = INDEX.get_or_init(|| table().map(|c| (c.name, c)).collect());
    let mut lower = [0u8; 32];
    let lower = lower.get_mut(..name.len())?;
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index.get(std::str::from_utf8(lower).ok()?).copied()
}

/// Side effects a batch asks the connection to carry out after writing its replies.
#[derive(Debug, Default)]
pub struct Effects {
    /// Close the connection once the replies are written (QUIT, protocol error).
    pub close: bool,
    /// Stop the server (SHUTDOWN).
    pub shutdown: bool,
    /// Make everything durable before replying (SAVE).
    pub save: bool,
    /// Under `appendfsync always`: the write count that must be durable before replying.
    pub wait_for_durable: Option<u64>,
    /// The last command blocked (BLPOP & co.): execution stops there and the connection
    /// awaits the release; the rest of its input waits too.
    pub block: Option<blocking::Blocked>,
}

/// The commands of one read batch, executed under one acquisition of the keyspace lock.
pub struct Batch<'a> {
    shared: &'a Shared,
    session: &'a mut Session,
    keyspace: Option<MutexGuard<'a, Keyspace>>,
    writes_at_lock: u64,
    effects: Effects,
    last_cmd: &'static str,
    /// The time the last command ran at, if it was a `fast` one (O(1) or O(log n) in Redis's
    /// command table): the next command may take its time from it instead of the clock, which
    /// was the largest user-space cost of a pipelined PING or GET. After any other command
    /// the clock is read again, so a slow command never makes later ones see an old time.
    recent_now: Option<u64>,
}

impl<'a> Batch<'a> {
    pub fn new(shared: &'a Shared, session: &'a mut Session) -> Batch<'a> {
        Batch {
            shared,
            session,
            keyspace: None,
            writes_at_lock: 0,
            effects: Effects::default(),
            last_cmd: "",
            recent_now: None,
        }
    }

    pub fn session(&self) -> &Session {
        self.session
    }

    pub fn effects(&self) -> &Effects {
        &self.effects
    }

    pub fn effects_mut(&mut self) -> &mut Effects {
        &mut self.effects
    }

    /// Runs one command (or queues it inside MULTI) and returns its reply.
    pub fn execute(&mut self, args: Vec<Bytes>) -> Reply {
        if args[0].eq_ignore_ascii_case(b"quit") {
            self.effects.close = true;
            return Reply::Ok;
        }
        let spec = match self.check(&args) {
            Ok(spec) => spec,
            Err((spec, error)) => return transactions::refuse(self.session, spec, error),
        };
        if let Some(busy) = scripting::busy_refusal(self.shared, spec) {
            return transactions::refuse(self.session, Some(spec), busy);
        }
        if let Some(tx) = &mut self.session.multi {
            if !transactions::runs_inside_multi(spec) {
                self.last_cmd = spec.name;
                tx.queue.push((spec, args));
                return Reply::status("QUEUED");
            }
        }
        self.last_cmd = spec.name;
        let now = self.recent_now.take().unwrap_or_else(now_ms);
        let mut ctx = Ctx {
            shared: self.shared,
            session: self.session,
            keyspace: &mut self.keyspace,
            writes_at_lock: &mut self.writes_at_lock,
            effects: &mut self.effects,
            now,
        };
        let reply = (spec.handler)(&mut ctx, &args);
        if spec.has_flag("fast") {
            self.recent_now = Some(now);
        }
        // Like Redis's `handleClientsBlockedOnKeys` after each command: clients blocked on
        // keys this command created are served before anything else runs.
        if !self.shared.blocked.is_empty() {
            if let Some(ks) = self.keyspace.as_mut() {
                blocking::serve_ready(self.shared, ks);
            }
        }
        reply
    }

    /// Redis's checks before running or queuing a command, in its order: lookup, arity,
    /// authentication, MULTI-compatibility, subscribed mode. A refusal carries the command
    /// it refused, when known.
    #[allow(clippy::type_complexity)]
    fn check(
        &self,
        args: &[Bytes],
    ) -> Result<&'static CommandSpec, (Option<&'static CommandSpec>, Reply)> {
        let name = &args[0];
        let Some(mut spec) = lookup(name) else {
            return Err((None, unknown_command(args)));
        };
        if !spec.subcommands.is_empty() && args.len() >= 2 {
            match spec.subcommands.iter().find(|s| {
                let sub = &s.name[spec.name.len() + 1..];
                sub.as_bytes().eq_ignore_ascii_case(&args[1])
            }) {
                Some(sub) => spec = sub,
                None => {
                    let error = Reply::error(sanitize(format!(
                        "ERR unknown subcommand '{}'. Try {} HELP.",
                        truncated(&args[1], 128),
                        spec.name.to_ascii_uppercase()
                    )));
                    return Err((None, error));
                }
            }
        }
        if !spec.arity_ok(args.len()) {
            let error = Reply::error(format!(
                "ERR wrong number of arguments for '{}' command",
                spec.name
            ));
            return Err((Some(spec), error));
        }
        if !self.session.authenticated && !spec.has_flag("no_auth") {
            return Err((Some(spec), Reply::error(err::NOAUTH)));
        }
        if self.session.multi.is_some() && spec.has_flag("no_multi") {
            return Err((Some(spec), Reply::error(transactions::NOT_IN_MULTI)));
        }
        if self.session.in_subscribed_mode() && !pubsub::allowed_when_subscribed(spec) {
            return Err((Some(spec), pubsub::subscribed_mode_error(spec)));
        }
        Ok(spec)
    }

    /// Releases the keyspace lock and reports what the connection must do next.
    pub fn finish(mut self) -> Effects {
        if let Some(ks) = self.keyspace.take() {
            let writes = ks.writes();
            drop(ks);
            if writes != self.writes_at_lock
                && self.shared.commit.policy() == crate::persistence::Durability::Always
            {
                self.effects.wait_for_durable = Some(writes);
            }
        }
        if !self.last_cmd.is_empty() {
            self.session.publish(self.last_cmd);
        }
        self.effects
    }
}

/// What a command handler works with.
pub struct Ctx<'b, 'a> {
    pub shared: &'a Shared,
    pub session: &'b mut Session,
    keyspace: &'b mut Option<MutexGuard<'a, Keyspace>>,
    writes_at_lock: &'b mut u64,
    pub effects: &'b mut Effects,
    /// Unix milliseconds at the start of this command, or of the `fast` command just before it
    /// in the same batch (Redis caches the time per command too).
    pub now: u64,
}

impl Ctx<'_, '_> {
    /// The keyspace, locked for the rest of the batch on first use.
    pub fn keyspace(&mut self) -> &mut Keyspace {
        let shared = self.shared;
        let writes_at_lock = &mut *self.writes_at_lock;
        self.keyspace.get_or_insert_with(|| {
            let ks = shared.keyspace.lock();
            *writes_at_lock = ks.writes();
            ks
        })
    }

    /// The client's selected database.
    pub fn db(&mut self) -> &mut Db {
        let index = self.session.db;
        self.keyspace().db(index)
    }

    /// Number of databases configured.
    pub fn databases(&mut self) -> usize {
        self.keyspace().dbs().len()
    }
}

fn unknown_command(args: &[Bytes]) -> Reply {
    let mut rest = String::new();
    for arg in &args[1..] {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        rest.push('\'');
        rest.push_str(&truncated(arg, room));
        rest.push_str("' ");
    }
    Reply::error(sanitize(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        truncated(&args[0], 128),
        rest
    )))
}

/// At most `max` bytes of `b`, as text (Redis's `%.128s`).
pub fn truncated(b: &[u8], max: usize) -> Cow<'_, str> {
    String::from_utf8_lossy(&b[..b.len().min(max)])
}

/// Errors must stay on one line: Redis replaces CR and LF in them with spaces.
pub fn sanitize(msg: String) -> String {
    if msg.contains(['\r', '\n']) {
        msg.replace(['\r', '\n'], " ")
    } else {
        msg
    }
}

/// Parses an integer argument the way Redis's `getLongLongFromObject` does.
pub fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    crate::number::parse_i64(arg).ok_or(Reply::error(err::NOT_INTEGER))
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// Case-insensitive keyword comparison of an argument up to its first NUL (C's `strcasecmp`).
pub fn c_is(arg: &[u8], keyword: &str) -> bool {
    let text = arg.split(|&b| b == 0).next().unwrap_or_default();
    text.eq_ignore_ascii_case(keyword.as_bytes())
}

/// The shared tail of LMPOP / BLMPOP / ZMPOP / BZMPOP: `numkeys key... SIDE [COUNT count]`,
/// checked in Redis's order with its errors; `side` reads LEFT|RIGHT or MIN|MAX.
pub struct MultiPop<'a, S> {
    pub keys: &'a [Bytes],
    pub side: S,
    pub count: usize,
}

impl<'a, S> MultiPop<'a, S> {
    /// Parses from `args[at]` (numkeys) on.
    pub fn parse(
        args: &'a [Bytes],
        at: usize,
        side: fn(&[u8]) -> Result<S, Reply>,
    ) -> Result<MultiPop<'a, S>, Reply> {
        const NUMKEYS: &str = "ERR numkeys should be greater than 0";
        const COUNT: &str = "ERR count should be greater than 0";
        let numkeys = crate::number::parse_i64(&args[at])
            .filter(|n| *n >= 1)
            .ok_or(Reply::error(NUMKEYS))?;
        let side_at = usize::try_from(numkeys)
            .ok()
            .and_then(|n| n.checked_add(at + 1))
            .filter(|i| *i < args.len())
            .ok_or(Reply::error(err::SYNTAX))?;
        let side = side(&args[side_at])?;
        let mut count = None;
        let mut i = side_at + 1;
        while i < args.len() {
            if count.is_none() && c_is(&args[i], "count") && i + 1 < args.len() {
                let n = crate::number::parse_i64(&args[i + 1])
                    .filter(|n| *n >= 1)
                    .ok_or(Reply::error(COUNT))?;
                count = Some(n as usize);
                i += 2;
            } else {
                return Err(Reply::error(err::SYNTAX));
            }
        }
        Ok(MultiPop {
            keys: &args[at + 1..side_at],
            side,
            count: count.unwrap_or(1),
        })
    }
}

/// Lets handlers use `?` on `Result<_, Reply>`.
pub fn reply(result: Result<Reply, Reply>) -> Reply {
    result.unwrap_or_else(|e| e)
}
