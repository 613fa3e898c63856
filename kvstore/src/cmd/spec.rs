//! The command table's entry: what kvstore knows about a command besides its code.
//!
//! Flags and ACL categories are bit sets ([`Flags`], [`Acl`]) defined once, here, in the
//! order `COMMAND INFO` lists them; a family's table spells them out with [`flags!`] and
//! [`acl!`] on each entry, so no abbreviation can mean two things. Dispatch tests a flag with
//! one AND. `acl!` holds only the categories Redis's command JSON declares; the ones Redis
//! derives from the flags (`@write`, `@read`, `@fast` or `@slow`, ...) are added by
//! [`CommandSpec::acl_categories`], as Redis's `setImplicitACLCategories` does.

use bytes::Bytes;

use super::Ctx;
use crate::protocol::Reply;

/// How a command's handler is called: with the execution context and the full argument
/// vector (`args[0]` is the command name as the client sent it). Both sides of the result are
/// sent to the client as they are; `Err` lets a handler stop at the first bad argument with
/// `?`. An error reply is `Reply::error` with Redis's exact text (see `cmd::args::err`).
pub(crate) type Handler = fn(&mut Ctx<'_, '_>, &[Bytes]) -> Result<Reply, Reply>;

bitflags::bitflags! {
    /// Redis's command flags (`COMMAND INFO`'s third field), in Redis's order.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Flags: u32 {
        const WRITE = 1 << 0;
        const READONLY = 1 << 1;
        const DENYOOM = 1 << 2;
        const MODULE = 1 << 3;
        const ADMIN = 1 << 4;
        const PUBSUB = 1 << 5;
        const NOSCRIPT = 1 << 6;
        const BLOCKING = 1 << 7;
        const LOADING = 1 << 8;
        const STALE = 1 << 9;
        const SKIP_MONITOR = 1 << 10;
        const SKIP_SLOWLOG = 1 << 11;
        const ASKING = 1 << 12;
        const FAST = 1 << 13;
        const NO_AUTH = 1 << 14;
        const NO_MANDATORY_KEYS = 1 << 15;
        const NO_ASYNC_LOADING = 1 << 16;
        const NO_MULTI = 1 << 17;
        const MOVABLEKEYS = 1 << 18;
        const ALLOW_BUSY = 1 << 19;
    }
}

bitflags::bitflags! {
    /// Redis's ACL categories (`COMMAND INFO`'s seventh field, `ACL CAT`), in Redis's order.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Acl: u32 {
        const KEYSPACE = 1 << 0;
        const READ = 1 << 1;
        const WRITE = 1 << 2;
        const SET = 1 << 3;
        const SORTEDSET = 1 << 4;
        const LIST = 1 << 5;
        const HASH = 1 << 6;
        const STRING = 1 << 7;
        const BITMAP = 1 << 8;
        const HYPERLOGLOG = 1 << 9;
        const GEO = 1 << 10;
        const STREAM = 1 << 11;
        const PUBSUB = 1 << 12;
        const ADMIN = 1 << 13;
        const FAST = 1 << 14;
        const SLOW = 1 << 15;
        const BLOCKING = 1 << 16;
        const DANGEROUS = 1 << 17;
        const CONNECTION = 1 << 18;
        const TRANSACTION = 1 << 19;
        const SCRIPTING = 1 << 20;
    }
}

/// `flags![WRITE, FAST]`: a [`Flags`] constant, usable in a `static` table.
macro_rules! flags {
    ($($flag:ident),* $(,)?) => {
        $crate::cmd::spec::Flags::from_bits_retain(0 $(| $crate::cmd::spec::Flags::$flag.bits())*)
    };
}

/// `acl![KEYSPACE, DANGEROUS]`: an [`Acl`] constant, usable in a `static` table.
macro_rules! acl {
    ($($category:ident),* $(,)?) => {
        $crate::cmd::spec::Acl::from_bits_retain(0 $(| $crate::cmd::spec::Acl::$category.bits())*)
    };
}

pub(crate) use {acl, flags};

/// The lower-case name of each flag of `flags`, in Redis's order.
pub(crate) fn flag_names(flags: Flags) -> impl Iterator<Item = String> {
    flags
        .iter_names()
        .map(|(name, _)| name.to_ascii_lowercase())
}

/// The lower-case name of each category of `acl`, in Redis's order.
pub(crate) fn acl_names(acl: Acl) -> impl Iterator<Item = String> {
    acl.iter_names().map(|(name, _)| name.to_ascii_lowercase())
}

/// One entry of the command table.
#[derive(Debug)]
pub(crate) struct CommandSpec {
    /// Lower-case name; `container|sub` for subcommands.
    pub(crate) name: &'static str,
    /// Redis convention: `n` exactly n arguments (name included), `-n` at least n.
    pub(crate) arity: i32,
    pub(crate) flags: Flags,
    /// The ACL categories Redis declares beyond those implied by the flags.
    acl: Acl,
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
        flags: Flags,
        acl: Acl,
        handler: Handler,
    ) -> Self {
        CommandSpec {
            name,
            arity,
            flags,
            acl,
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

    pub(crate) fn has_flag(&self, flag: Flags) -> bool {
        self.flags.contains(flag)
    }

    /// Every ACL category of the command: the declared ones and those its flags imply
    /// (Redis's `setImplicitACLCategories`).
    pub(crate) fn acl_categories(&self) -> Acl {
        let mut acl = self.acl;
        for (flag, implied) in [
            (Flags::WRITE, Acl::WRITE),
            (Flags::ADMIN, Acl::ADMIN.union(Acl::DANGEROUS)),
            (Flags::PUBSUB, Acl::PUBSUB),
            (Flags::FAST, Acl::FAST),
            (Flags::BLOCKING, Acl::BLOCKING),
        ] {
            if self.flags.contains(flag) {
                acl |= implied;
            }
        }
        // Scripting commands are not in @read (Redis excludes them explicitly).
        if self.flags.contains(Flags::READONLY) && !acl.contains(Acl::SCRIPTING) {
            acl |= Acl::READ;
        }
        if !acl.contains(Acl::FAST) {
            acl |= Acl::SLOW;
        }
        acl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_redis_names_in_redis_order() {
        let names: Vec<String> = flag_names(flags![NO_AUTH, WRITE, FAST]).collect();
        assert_eq!(names, ["write", "fast", "no_auth"]);
        let names: Vec<String> = acl_names(acl![SLOW, KEYSPACE]).collect();
        assert_eq!(names, ["keyspace", "slow"]);
    }
}
