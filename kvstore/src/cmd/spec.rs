//! The command table's entry: what kvstore knows about a command besides its code.

use bytes::Bytes;

use super::Ctx;
use crate::protocol::Reply;

/// How a command's handler is called: with the execution context and the full argument
/// vector (`args[0]` is the command name as the client sent it).
pub(crate) type Handler = fn(&mut Ctx<'_, '_>, &[Bytes]) -> Reply;

/// One entry of the command table.
#[derive(Debug)]
pub(crate) struct CommandSpec {
    /// Lower-case name; `container|sub` for subcommands.
    pub(crate) name: &'static str,
    /// Redis convention: `n` exactly n arguments (name included), `-n` at least n.
    pub(crate) arity: i32,
    pub(crate) flags: &'static [&'static str],
    pub(crate) first_key: i32,
    pub(crate) last_key: i32,
    pub(crate) step: i32,
    pub(crate) handler: Handler,
    /// Subcommands for container commands (CLIENT, CONFIG, COMMAND, OBJECT).
    pub(crate) subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// A command that takes no keys.
    pub(crate) const fn new(
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
    pub(crate) const fn keys(mut self, first: i32, last: i32, step: i32) -> Self {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self
    }

    pub(crate) const fn with_subcommands(mut self, subcommands: &'static [CommandSpec]) -> Self {
        self.subcommands = subcommands;
        self
    }

    pub(crate) fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity > 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    pub(crate) fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
}
