//! What happens around every command call besides the call itself (the end of Redis's
//! `call()`): its statistics (INFO commandstats, latencystats, errorstats), the latency
//! monitor's `command` / `fast-command` events, the slow log and the MONITOR feed. Dispatch,
//! EXEC's queue and scripts' `redis.call` all go through [`after_call`]; refusals before a
//! call through [`rejected`].
//!
//! The per-command counters live in `state::Introspection` in table order; a command finds
//! its slot by the address of its table entry (one hash of a pointer).

use std::collections::HashMap;
use std::sync::OnceLock;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::{CommandSpec, Flags};
use crate::client::fmt_addr;
use crate::protocol::Reply;
use crate::pubsub::Outbox;
use crate::state::{CommandStat, Shared};

type SlotIndex = HashMap<usize, usize, foldhash::fast::FixedState>;

/// Every command and subcommand, in the table's order (the order their counters are kept).
fn all_specs() -> impl Iterator<Item = &'static CommandSpec> {
    super::table().flat_map(|c| std::iter::once(c).chain(c.subcommands.iter()))
}

/// The counters of `spec`.
pub(crate) fn stat<'s>(shared: &'s Shared, spec: &'static CommandSpec) -> Option<&'s CommandStat> {
    static SLOTS: OnceLock<SlotIndex> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        all_specs()
            .enumerate()
            .map(|(i, s)| (s as *const CommandSpec as usize, i))
            .collect()
    });
    let slot = *slots.get(&(spec as *const CommandSpec as usize))?;
    let stats = shared
        .introspection()
        .commands(|| all_specs().map(|s| s.name).collect());
    stats.get(slot)
}

/// A call that blocked (BLPOP & co.): what Redis records once the client is released
/// (`updateStatsOnUnblock`), kept in the client's session meanwhile.
#[derive(Debug)]
pub(crate) struct BlockedCall {
    spec: &'static CommandSpec,
    args: Vec<Bytes>,
    nanos: u64,
}

impl BlockedCall {
    pub(crate) fn new(spec: &'static CommandSpec, args: Vec<Bytes>, nanos: u64) -> BlockedCall {
        BlockedCall { spec, args, nanos }
    }
}

/// A blocked client was released with `reply`; returns what it is sent. When a key `served`
/// it, like Redis, its call's time is added again, its latency sample and slow log entry are
/// recorded now, and an error reply counts as a failed call; a timeout or CLIENT UNBLOCK
/// records nothing more. WAIT, released without replicas to count, answers 0.
pub(crate) fn unblocked(
    shared: &Shared,
    session: &mut super::Session,
    reply: Reply,
    served: bool,
) -> Reply {
    let Some(call) = session.blocked_call.take() else {
        return reply;
    };
    if call.spec.name == "wait" && matches!(reply, Reply::NilArray) {
        return Reply::Integer(0);
    }
    if !served {
        return reply;
    }
    let reply = &reply;
    let introspection = shared.introspection();
    let stat = stat(shared, call.spec);
    if let Reply::Error(message) = reply {
        introspection.record_error(message);
        if let Some(stat) = stat {
            introspection.record_failed(stat);
        }
    }
    if let Some(stat) = stat {
        introspection.record_unblocked(stat, call.nanos);
    }
    let usec = call.nanos / 1000;
    if !call.spec.has_flag(Flags::SKIP_SLOWLOG) && introspection.is_slow(usec) {
        let peer = fmt_addr(session.handle.addr);
        let name = session.name.clone().unwrap_or_default();
        let args = redact(call.spec, &call.args);
        introspection.slowlog_push(args.as_deref().unwrap_or(&call.args), usec, peer, name);
    }
    reply.clone()
}

/// Who ran a command, for the slow log and MONITOR.
pub(crate) enum Caller<'a> {
    /// A client: its address, name and selected database after the command, and its own
    /// outbox when it is a monitor that takes its own lines after the reply (as Redis
    /// appends them to its output buffer after the reply).
    Client {
        addr: std::net::SocketAddr,
        name: Option<&'a Bytes>,
        db: usize,
        own: Option<&'a Arc<Outbox>>,
    },
    /// A script's `redis.call`, in the script's database.
    Script { db: usize },
}

/// Records a call of `spec` that took `nanos` and answered `reply`; `errors_before` is what
/// [`before_call`] returned. Returns the MONITOR line the caller must send after its reply
/// when it is a monitor itself (`own`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn after_call(
    shared: &Shared,
    spec: &'static CommandSpec,
    args: &[Bytes],
    nanos: u64,
    reply: &Reply,
    caller: Caller,
    blocked: bool,
    errors_before: u64,
) -> Option<Bytes> {
    let introspection = shared.introspection();
    let stat = stat(shared, spec);
    if let Reply::Error(message) = reply {
        // A script failing with the error of a command it called: Redis counted that error
        // when the command answered it (`ignore_error_stats_update`), not again.
        let counted = is_script(spec) && introspection.total_error_replies() > errors_before;
        if !counted {
            introspection.record_error(message);
        }
        if let Some(stat) = stat {
            introspection.record_failed(stat);
        }
    }
    let usec = nanos / 1000;
    let event = if spec.has_flag(Flags::FAST) {
        "fast-command"
    } else {
        "command"
    };
    introspection.latency_sample_if_needed(event, usec / 1000);
    if !blocked && !spec.has_flag(Flags::SKIP_SLOWLOG) && introspection.is_slow(usec) {
        let (peer, name) = match &caller {
            Caller::Client { addr, name, .. } => {
                (fmt_addr(*addr), name.cloned().unwrap_or_default())
            }
            // Redis logs the script client, which has no connection.
            Caller::Script { .. } => ("?:0".to_owned(), Bytes::new()),
        };
        let redacted = redact(spec, args);
        introspection.slowlog_push(redacted.as_deref().unwrap_or(args), usec, peer, name);
    }
    let mut own_line = None;
    if introspection.has_monitors() && !spec.flags.intersects(Flags::SKIP_MONITOR | Flags::ADMIN) {
        let redacted = redact(spec, args);
        let line = monitor_line(redacted.as_deref().unwrap_or(args), &caller);
        let own = match caller {
            Caller::Client { own, .. } => own,
            Caller::Script { .. } => None,
        };
        introspection.feed_monitors(line.clone(), own);
        own_line = own.map(|_| line);
    }
    if let Some(stat) = stat {
        introspection.record_call(stat, nanos, !blocked);
    }
    own_line
}

/// EVAL, EVALSHA, FCALL and their `_RO` forms.
fn is_script(spec: &CommandSpec) -> bool {
    spec.has_flag(Flags::SKIP_MONITOR)
        && (spec.name.starts_with("eval") || spec.name.starts_with("fcall"))
}

/// Before a call: a script command (see [`is_script`]) is fed to MONITOR first, as Redis
/// does, so that the commands the script calls follow it (these commands are flagged
/// `skip_monitor`, so [`after_call`] does not feed them again). Returns the error count so
/// far, for [`after_call`].
pub(crate) fn before_call(
    shared: &Shared,
    spec: &'static CommandSpec,
    args: &[Bytes],
    caller: Caller,
) -> u64 {
    let introspection = shared.introspection();
    if introspection.has_monitors() && is_script(spec) {
        introspection.feed_monitors(monitor_line(args, &caller), None);
    }
    introspection.total_error_replies()
}

/// The arguments the slow log and MONITOR show: secrets replaced with `(redacted)`, as
/// Redis's `redactClientCommandArgument` does for AUTH, HELLO ... AUTH, ACL SETUSER and the
/// sensitive parameters of CONFIG SET. `None` when nothing is hidden; computed only for a
/// command that is logged or monitored.
fn redact(spec: &CommandSpec, args: &[Bytes]) -> Option<Vec<Bytes>> {
    let hidden: Vec<usize> = match spec.name {
        "auth" if args.len() <= 3 => (1..args.len()).collect(),
        "hello" => {
            let mut hidden = Vec::new();
            let mut j = 2;
            while j < args.len() {
                let more = args.len() - 1 - j;
                if args[j].eq_ignore_ascii_case(b"auth") && more >= 2 {
                    hidden.extend([j + 1, j + 2]);
                    j += 3;
                } else if args[j].eq_ignore_ascii_case(b"setname") && more >= 1 {
                    j += 2;
                } else {
                    break;
                }
            }
            hidden
        }
        // Every argument, the user's name included (Redis's aclCommand).
        "acl|setuser" => (2..args.len()).collect(),
        "config|set" => (2..args.len())
            .step_by(2)
            .filter(|&i| {
                ["requirepass", "masterauth", "masteruser"]
                    .iter()
                    .any(|p| args[i].eq_ignore_ascii_case(p.as_bytes()))
            })
            .map(|i| i + 1)
            .filter(|&i| i < args.len())
            .collect(),
        _ => return None,
    };
    if hidden.is_empty() {
        return None;
    }
    let mut args = args.to_vec();
    for i in hidden {
        args[i] = Bytes::from_static(b"(redacted)");
    }
    Some(args)
}

/// RESET: the client leaves MONITOR mode.
pub(crate) fn stop_monitoring(shared: &Shared, session: &mut super::Session) {
    if !std::mem::take(&mut session.monitoring) {
        return;
    }
    if let Some(outbox) = &session.subscriptions.outbox {
        shared.introspection().remove_monitor(outbox);
    }
}

/// A command refused before it ran (arity, authentication, MULTI, subscribed mode, BUSY):
/// its `rejected_calls` and the error's count.
pub(crate) fn rejected(shared: &Shared, spec: Option<&'static CommandSpec>, error: &Reply) {
    if let Reply::Error(message) = error {
        shared.introspection().record_error(message);
    }
    if let Some(stat) = spec.and_then(|spec| stat(shared, spec)) {
        shared.introspection().record_rejected(stat);
    }
}

/// A MONITOR line (Redis's `replicationFeedMonitors`): `+<sec>.<usec> [<db> <addr>]` and
/// each argument quoted as `sdscatrepr` does.
fn monitor_line(args: &[Bytes], caller: &Caller) -> Bytes {
    use std::fmt::Write;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = String::with_capacity(64);
    let _ = write!(line, "+{}.{:06} ", now.as_secs(), now.subsec_micros());
    let _ = match caller {
        Caller::Client { addr, db, .. } => write!(line, "[{db} {}] ", fmt_addr(*addr)),
        Caller::Script { db } => write!(line, "[{db} lua] "),
    };
    let mut out = BytesMut::from(line.as_bytes());
    for (j, arg) in args.iter().enumerate() {
        repr(arg, &mut out);
        if j + 1 != args.len() {
            out.extend_from_slice(b" ");
        }
    }
    out.extend_from_slice(b"\r\n");
    out.freeze()
}

/// Redis's `sdscatrepr`: a quoted string with C escapes and `\xNN` for other bytes.
pub(crate) fn repr(s: &[u8], out: &mut BytesMut) {
    out.extend_from_slice(b"\"");
    for &b in s {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.extend_from_slice(&[b]),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.extend_from_slice(b"\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_escapes_like_sdscatrepr() {
        let mut out = BytesMut::new();
        repr(b"a\"b\\c\n\r\t\x07\x08\x00\xff ", &mut out);
        assert_eq!(&out[..], b"\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x00\\xff \"");
    }
}
