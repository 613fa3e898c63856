//! `maxmemory` at dispatch: Redis's `processCommand` step that evicts before every command
//! and refuses the ones that could use more memory when nothing more can be evicted.

use bytes::Bytes;

use super::{scripting, CommandSpec, Flags, Session};
use crate::keyspace::evict::Outcome;
use crate::keyspace::Keyspace;
use crate::state::Shared;

/// Whether memory is limited and eviction may run now: not while another client's script
/// holds the keyspace (Redis does not evict while a busy script yields either).
pub(super) fn applies(shared: &Shared) -> bool {
    shared.limits().memory().maxmemory() != 0 && !scripting::script_running()
}

/// Evicts as needed before `spec` runs (or is queued) and says whether it must be refused
/// with `err::OOM`: out of memory with nothing left to evict, and the command is `denyoom`
/// (EXEC: one of its queued commands is) or is being queued in MULTI.
pub(super) fn refuses(
    shared: &Shared,
    ks: &mut Keyspace,
    session: &Session,
    spec: &CommandSpec,
    args: &[Bytes],
) -> bool {
    let out_of_memory = shared.perform_evictions(ks) == Outcome::Fail;
    let queuing =
        session.multi.is_some() && !matches!(spec.name, "exec" | "discard" | "quit" | "reset");
    if out_of_memory && (queuing || denyoom(shared, session, spec, args)) {
        return true;
    }
    shared.limits().memory().set_pre_command_oom(out_of_memory);
    false
}

/// Redis's `is_denyoom_command`: the command's flag, a script's declared flags, or for
/// EXEC any queued command's.
fn denyoom(shared: &Shared, session: &Session, spec: &CommandSpec, args: &[Bytes]) -> bool {
    let one = |spec: &CommandSpec, args: &[Bytes]| {
        scripting::script_denyoom(shared, spec, args)
            .unwrap_or_else(|| spec.has_flag(Flags::DENYOOM))
    };
    if spec.name == "exec" {
        return session
            .multi
            .as_ref()
            .is_some_and(|tx| tx.queue.iter().any(|(s, a)| one(s, a)));
    }
    one(spec, args)
}
