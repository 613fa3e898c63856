//! COMMAND and its subcommands: what kvstore tells clients about the commands it knows.
//!
//! Name, arity, flags, key positions and ACL categories come from the command table; tips,
//! key specs and documentation come from Redis 7.0.15's own replies (see [`metadata`]), so
//! that `COMMAND INFO` and `COMMAND DOCS` are byte-identical to redis-server's for every
//! command both know.

pub(super) mod metadata;

use std::borrow::Cow;

use bytes::Bytes;

use super::args::{c_str, err, help, is};
use super::spec::{acl_names, flag_names};
use super::{acl, flags, lookup, table, CommandSpec, Ctx, Flags};
use crate::protocol::Reply;
use metadata::CommandMeta;

pub(crate) static COMMANDS: &[CommandSpec] = &[CommandSpec::new(
    "command",
    -1,
    flags![LOADING, STALE],
    acl![CONNECTION],
    command_all,
)
.with_subcommands(COMMAND)];

#[rustfmt::skip]
static COMMAND: &[CommandSpec] = &[
    CommandSpec::new("command|count", 2, flags![LOADING, STALE], acl![CONNECTION], command_count),
    CommandSpec::new("command|list", -2, flags![LOADING, STALE], acl![CONNECTION], command_list),
    CommandSpec::new("command|info", -2, flags![LOADING, STALE], acl![CONNECTION], command_info),
    CommandSpec::new("command|docs", -2, flags![LOADING, STALE], acl![CONNECTION], command_docs),
    CommandSpec::new("command|getkeys", -4, flags![LOADING, STALE], acl![CONNECTION], command_getkeys),
    CommandSpec::new("command|getkeysandflags", -4, flags![LOADING, STALE], acl![CONNECTION], command_getkeysandflags),
    CommandSpec::new("command|help", 2, flags![LOADING, STALE], acl![CONNECTION], command_help),
];

fn meta(spec: &CommandSpec) -> Cow<'static, CommandMeta> {
    metadata::lookup(spec.name).map_or_else(
        || Cow::Owned(CommandMeta::fallback(spec.name)),
        Cow::Borrowed,
    )
}

/// A command, or `container|sub`, by the name a client gives (any case).
fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut parts = name.splitn(2, |b| *b == b'|');
    let container = lookup(parts.next()?)?;
    match parts.next() {
        None => Some(container),
        Some(sub) => subcommand(container, sub),
    }
}

/// A container's subcommand by the name a client gives (any case).
fn subcommand(container: &'static CommandSpec, name: &[u8]) -> Option<&'static CommandSpec> {
    container
        .subcommands
        .iter()
        .find(|s| s.name.as_bytes()[container.name.len() + 1..].eq_ignore_ascii_case(name))
}

/// One command as COMMAND INFO describes it.
fn describe(spec: &CommandSpec) -> Reply {
    let meta = meta(spec);
    let flags = flag_names(spec.flags).map(|f| Reply::Status(Cow::Owned(f)));
    let categories =
        acl_names(spec.acl_categories()).map(|c| Reply::Status(Cow::Owned(format!("@{c}"))));
    let subcommands = if spec.subcommands.is_empty() {
        Reply::Set(Vec::new())
    } else {
        Reply::Array(spec.subcommands.iter().map(describe).collect())
    };
    Reply::Array(vec![
        Reply::bulk(spec.name),
        Reply::Integer(spec.arity.into()),
        Reply::Set(flags.collect()),
        Reply::Integer(spec.first_key.into()),
        Reply::Integer(spec.last_key.into()),
        Reply::Integer(spec.step.into()),
        Reply::Set(categories.collect()),
        Reply::Set(meta.tips.clone()),
        Reply::Set(meta.key_specs.clone()),
        subcommands,
    ])
}

/// One command's COMMAND DOCS map.
fn docs(spec: &CommandSpec) -> Reply {
    let mut pairs = meta(spec).docs.clone();
    if !spec.subcommands.is_empty() {
        let subcommands = spec
            .subcommands
            .iter()
            .map(|s| (Reply::bulk(s.name), docs(s)))
            .collect();
        pairs.push((Reply::bulk("subcommands"), Reply::Map(subcommands)));
    }
    Reply::Map(pairs)
}

/// COMMAND
fn command_all(_: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Array(table().map(describe).collect()))
}

/// COMMAND COUNT
fn command_count(_: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Integer(table().count() as i64))
}

/// COMMAND INFO [command-name ...]
fn command_info(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() == 2 {
        return Ok(Reply::Array(table().map(describe).collect()));
    }
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|name| find(name).map_or(Reply::Nil, describe))
            .collect(),
    ))
}

/// COMMAND DOCS [command-name ...]
fn command_docs(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let specs: Vec<&CommandSpec> = if args.len() == 2 {
        table().collect()
    } else {
        args[2..].iter().filter_map(|name| find(name)).collect()
    };
    Ok(Reply::Map(
        specs
            .into_iter()
            .map(|s| (Reply::bulk(s.name), docs(s)))
            .collect(),
    ))
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]
fn command_list(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let keep: Box<dyn Fn(&CommandSpec) -> bool> = match args.len() {
        2 => Box::new(|_| true),
        5 if is(&args[2], "filterby") => {
            let arg = args[4].clone();
            if is(&args[3], "module") {
                Box::new(|_| false)
            } else if is(&args[3], "aclcat") {
                Box::new(move |s| {
                    acl_names(s.acl_categories()).any(|c| c.as_bytes().eq_ignore_ascii_case(&arg))
                })
            } else if is(&args[3], "pattern") {
                Box::new(move |s| crate::glob::glob_match(&arg, s.name.as_bytes(), true))
            } else {
                return Err(Reply::error(err::SYNTAX));
            }
        }
        _ => return Err(Reply::error(err::SYNTAX)),
    };
    let mut names = Vec::new();
    for spec in table() {
        for s in std::iter::once(spec).chain(spec.subcommands) {
            if keep(s) {
                names.push(Reply::bulk(s.name));
            }
        }
    }
    Ok(Reply::Array(names))
}

/// The keys of a full command line (`COMMAND GETKEYS` / `GETKEYSANDFLAGS`), each with its key
/// spec's flags when Redis's metadata has them.
fn command_keys(args: &[Bytes]) -> Result<Vec<(Bytes, Reply)>, Reply> {
    let target = &args[2..];
    let spec = lookup(&target[0]).and_then(|container| {
        if container.subcommands.is_empty() || target.len() == 1 {
            Some(container)
        } else {
            subcommand(container, &target[1])
        }
    });
    let Some(spec) = spec else {
        return Err(Reply::error("ERR Invalid command specified"));
    };
    let meta = meta(spec);
    if spec.first_key == 0 && meta.key_specs.is_empty() {
        return Err(Reply::error("ERR The command has no key arguments"));
    }
    let argc = target.len() as i32;
    if (spec.arity > 0 && spec.arity != argc) || argc < -spec.arity {
        return Err(Reply::error(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let found = if let Some(keys) = sort_keys(spec, target) {
        Some(keys)
    } else if meta.key_specs.is_empty() {
        legacy_keys(spec, target.len()).map(|keys| {
            keys.into_iter()
                .map(|i| (i, Reply::Set(Vec::new())))
                .collect()
        })
    } else {
        meta.find_keys(target).map(|keys| {
            keys.into_iter()
                .map(|(i, flags)| (i, Reply::Set(flags.to_vec())))
                .collect::<Vec<_>>()
        })
    };
    match found {
        Some(keys) if !keys.is_empty() => Ok(keys
            .into_iter()
            .map(|(i, flags)| (target[i].clone(), flags))
            .collect()),
        _ if spec.has_flag(Flags::NO_MANDATORY_KEYS) => Ok(Vec::new()),
        _ => Err(Reply::error("ERR Invalid arguments specified for command")),
    }
}

/// Redis's `sortGetKeys` / `sortROGetKeys`: SORT's key specs cannot say where STORE's key
/// is, so Redis scans the options (skipping LIMIT's, GET's and BY's arguments) and keeps the
/// last STORE. `None` for every other command.
fn sort_keys(spec: &CommandSpec, target: &[Bytes]) -> Option<Vec<(usize, Reply)>> {
    let flags =
        |names: [&'static str; 2]| Reply::Set(names.into_iter().map(Reply::status).collect());
    let mut keys = vec![(1, flags(["RO", "access"]))];
    match spec.name {
        "sort_ro" => return Some(keys),
        "sort" => {}
        _ => return None,
    }
    let mut store = None;
    let mut i = 2;
    while i < target.len() {
        let word = super::args::c_str(&target[i]);
        if is(word, "limit") {
            i += 2;
        } else if is(word, "get") || is(word, "by") {
            i += 1;
        } else if is(word, "store") && i + 1 < target.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    keys.extend(store.map(|at| (at, flags(["OW", "update"]))));
    Some(keys)
}

/// Key positions from (first, last, step), for commands Redis's metadata does not cover.
fn legacy_keys(spec: &CommandSpec, argc: usize) -> Option<Vec<usize>> {
    let argc = argc as i32;
    let first = spec.first_key;
    let last = if spec.last_key < 0 {
        argc + spec.last_key
    } else {
        spec.last_key
    };
    if first <= 0 || last >= argc || last < first {
        return None;
    }
    Some(
        (first..=last)
            .step_by(spec.step.max(1) as usize)
            .map(|i| i as usize)
            .collect(),
    )
}

/// The keys of a command line (`args[0]` the command) with the access each needs, as ACL
/// checks see them: `READ` for a key spec flagged `access`, `WRITE` for `insert`, `delete` or
/// `update` (Redis's `ACLSelectorCheckKey`). Arguments that do not fit the key specs have no
/// keys, as in Redis.
pub(crate) fn key_access(spec: &CommandSpec, args: &[Bytes]) -> Vec<(usize, u8)> {
    let access = |flags: &[Reply]| {
        let has = |name: &str| {
            flags
                .iter()
                .any(|f| matches!(f, Reply::Status(s) if s == name))
        };
        let mut access = 0;
        if has("access") {
            access |= READ;
        }
        if has("insert") || has("delete") || has("update") {
            access |= WRITE;
        }
        access
    };
    use crate::acl::{READ, WRITE};
    // Key specs flagged `variable_flags`: Redis asks `setGetKeys` / `bitfieldGetKeys`.
    match spec.name {
        "set" if args.len() > 1 => {
            let get = args[3.min(args.len())..]
                .iter()
                .any(|a| is(c_str(a), "get"));
            return vec![(1, if get { READ | WRITE } else { WRITE })];
        }
        "bitfield" if args.len() > 1 => {
            let mut read_only = true;
            let mut i = 2;
            while i < args.len() {
                let more = args.len() - i - 1;
                let arg = &args[i];
                if is(arg, "get") && more >= 2 {
                    i += 2;
                } else if (is(arg, "set") || is(arg, "incrby")) && more >= 3 {
                    read_only = false;
                    break;
                } else if is(arg, "overflow") && more >= 1 {
                    i += 1;
                } else {
                    read_only = false;
                    break;
                }
                i += 1;
            }
            return vec![(1, if read_only { READ } else { READ | WRITE })];
        }
        _ => {}
    }
    if let Some(keys) = sort_keys(spec, args) {
        return keys
            .into_iter()
            .map(|(i, flags)| match flags {
                Reply::Set(flags) => (i, access(&flags)),
                _ => (i, 0),
            })
            .collect();
    }
    match metadata::lookup(spec.name) {
        Some(meta) if !meta.key_specs.is_empty() => meta
            .find_keys(args)
            .unwrap_or_default()
            .into_iter()
            .map(|(i, flags)| (i, access(flags)))
            .collect(),
        _ => legacy_keys(spec, args.len())
            .unwrap_or_default()
            .into_iter()
            .map(|i| (i, 0))
            .collect(),
    }
}

/// COMMAND GETKEYS command [arg ...]
fn command_getkeys(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let keys = command_keys(args)?;
    Ok(Reply::Array(
        keys.into_iter().map(|(k, _)| Reply::Bulk(k)).collect(),
    ))
}

/// COMMAND GETKEYSANDFLAGS command [arg ...]
fn command_getkeysandflags(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let keys = command_keys(args)?;
    Ok(Reply::Array(
        keys.into_iter()
            .map(|(k, flags)| Reply::Array(vec![Reply::Bulk(k), flags]))
            .collect(),
    ))
}

/// COMMAND HELP
fn command_help(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(help(
        &args[0],
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connection, server, transaction, pub/sub and sorted set families declare what
    /// Redis 7.0.15 declares.
    #[test]
    fn specs_match_redis() {
        let families = crate::cmd::session::COMMANDS
            .iter()
            .chain(COMMANDS)
            .chain(crate::cmd::admin::COMMANDS)
            .chain(crate::cmd::transactions::COMMANDS)
            .chain(crate::cmd::channels::COMMANDS)
            .chain(crate::cmd::zsets::COMMANDS);
        for spec in families.flat_map(|s| std::iter::once(s).chain(s.subcommands)) {
            let Some(redis) = metadata::lookup(spec.name) else {
                continue;
            };
            assert_eq!(spec.arity as i64, redis.arity, "arity of {}", spec.name);
            let ours: Vec<String> = flag_names(spec.flags).collect();
            assert_eq!(ours, redis.flags, "flags of {}", spec.name);
            let keys = (
                spec.first_key.into(),
                spec.last_key.into(),
                spec.step.into(),
            );
            assert_eq!(keys, redis.legacy_keys, "keys of {}", spec.name);
        }
    }

    /// Every command's ACL categories, declared and implied, are Redis's (COMMAND INFO
    /// prints them, ACL CAT will list them).
    #[test]
    fn categories_match_redis() {
        let mut checked = 0;
        for spec in table().flat_map(|s| std::iter::once(s).chain(s.subcommands)) {
            let ours: Vec<String> = acl_names(spec.acl_categories()).collect();
            if let Some(redis) = metadata::lookup(spec.name) {
                assert_eq!(ours, redis.categories, "categories of {}", spec.name);
                checked += 1;
            }
        }
        assert!(checked > 150, "{checked}");
    }
}
