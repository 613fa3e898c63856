//! The ACL command family: SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, GENPASS,
//! LOG, DRYRUN, LOAD, SAVE, HELP (Redis 7.0.15's `aclCommand`), over the users in
//! `state::Shared` (see `crate::acl`). The permission check itself is dispatch's
//! (`cmd::permission`); this file also holds the refusal text dispatch sends.

use bytes::Bytes;

use super::args::{help, int_arg, is, sanitize, truncated};
use super::{acl, catalog, flags, permission, CommandSpec, Ctx};
use crate::acl::{channel_in, has_spaces, Denial, User, CATEGORIES};
use crate::protocol::Reply;
use crate::state::{now_ms, Shared};

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("acl", -2, flags![], acl![], acl_help).with_subcommands(ACL),
];

#[rustfmt::skip]
static ACL: &[CommandSpec] = &[
    CommandSpec::new("acl|cat", -2, flags![NOSCRIPT, LOADING, STALE], acl![], acl_cat),
    CommandSpec::new("acl|deluser", -3, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], acl_deluser),
    CommandSpec::new("acl|dryrun", -4, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], acl_dryrun),
    CommandSpec::new("acl|genpass", -2, flags![NOSCRIPT, LOADING, STALE], acl![], acl_genpass),
    CommandSpec::new("acl|getuser", 3, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], acl_getuser),
    CommandSpec::new("acl|help", 2, flags![LOADING, STALE], acl![], acl_help),
    CommandSpec::new("acl|list", 2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], acl_list),
    CommandSpec::new("acl|load", 2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], acl_load),
    CommandSpec::new("acl|log", -2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], acl_log),
    CommandSpec::new("acl|save", 2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], acl_save),
    CommandSpec::new("acl|setuser", -3, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], acl_setuser),
    CommandSpec::new("acl|users", 2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], acl_users),
    CommandSpec::new("acl|whoami", 2, flags![NOSCRIPT, LOADING, STALE], acl![], acl_whoami),
];

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// The error dispatch sends for a command the client's user may not run (`processCommand`).
pub(super) fn refusal(spec: &CommandSpec, denial: Denial) -> Reply {
    Reply::error(match denial {
        Denial::Command => format!(
            "NOPERM this user has no permissions to run the '{}' command",
            spec.name
        ),
        Denial::Key => {
            "NOPERM this user has no permissions to access one of the keys used as arguments".into()
        }
        Denial::Channel => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .into()
        }
    })
}

/// ACL SETUSER username [rule ...]
fn acl_setuser(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let name = &args[2];
    if has_spaces(name) {
        return Err(Reply::error(
            "ERR Usernames can't contain spaces or null characters",
        ));
    }
    let rules: Vec<Vec<u8>> = args[3..].iter().map(|r| r.to_vec()).collect();
    let catalog = catalog();
    let allchannels = pubsub_default(ctx.shared);
    let result = ctx.shared.acl().update(|users| {
        users.allchannels_default = allchannels;
        users.set_user(catalog, name, &rules)
    });
    match result {
        Ok(old) => {
            let new = ctx.shared.acl().read().get(name).cloned();
            if let (Some(old), Some(new)) = (old, new) {
                if let Some(allowed) = new.revoked_channels(&old) {
                    disconnect_subscribers(ctx, name, &allowed);
                }
            }
            Ok(Reply::Ok)
        }
        Err(e) => Err(Reply::error(sanitize(format!("ERR {e}")))),
    }
}

/// Closes the subscribed connections of user `name` that hold a subscription no longer in
/// `allowed` (patterns compared literally, channels matched), as ACL SETUSER does in Redis.
fn disconnect_subscribers(ctx: &mut Ctx, name: &[u8], allowed: &[Vec<u8>]) {
    let me = ctx.session.id();
    for client in ctx.shared.clients().all() {
        let user = client.info.lock().user.clone();
        let user = user.as_deref().unwrap_or(b"default");
        if user != name {
            continue;
        }
        let subscriptions = ctx.shared.pubsub().subscriptions_of(client.id);
        let revoked = (subscriptions.iter())
            .any(|(channel, pattern)| !channel_in(allowed, channel, *pattern));
        if !revoked {
            continue;
        }
        if client.id == me {
            ctx.effects.close = true;
        } else {
            client.kill();
        }
    }
}

/// ACL DELUSER username [username ...]: the connections of a deleted user are closed.
fn acl_deluser(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args[2..].iter().any(|name| &name[..] == b"default") {
        return Err(Reply::error("ERR The 'default' user cannot be removed"));
    }
    let mut deleted = Vec::new();
    ctx.shared.acl().update(|users| {
        for name in &args[2..] {
            if users.remove(name) {
                deleted.push(name.to_vec());
            }
        }
    });
    disconnect_users(ctx, &deleted);
    Ok(Reply::Integer(deleted.len() as i64))
}

/// The fields ACL GETUSER shows for one selector.
fn selector_fields(s: &crate::acl::Selector, out: &mut Vec<(Reply, Reply)>) {
    let catalog = catalog();
    out.push((
        Reply::bulk("commands"),
        Reply::bulk(s.describe_commands(catalog)),
    ));
    out.push((Reply::bulk("keys"), Reply::Bulk(s.describe_keys().into())));
    out.push((
        Reply::bulk("channels"),
        Reply::Bulk(s.describe_channels().into()),
    ));
}

/// ACL GETUSER username
fn acl_getuser(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let users = ctx.shared.acl().read();
    let Some(user) = users.get(&args[2]) else {
        return Ok(Reply::Nil);
    };
    let mut fields = vec![
        (
            Reply::bulk("flags"),
            Reply::Set(user.flag_names().into_iter().map(Reply::bulk).collect()),
        ),
        (
            Reply::bulk("passwords"),
            Reply::Array(
                user.passwords
                    .iter()
                    .map(|p| Reply::bulk(p.clone()))
                    .collect(),
            ),
        ),
    ];
    selector_fields(user.root(), &mut fields);
    let selectors = user.selectors[1..]
        .iter()
        .map(|s| {
            let mut map = Vec::new();
            selector_fields(s, &mut map);
            Reply::Map(map)
        })
        .collect();
    fields.push((Reply::bulk("selectors"), Reply::Array(selectors)));
    Ok(Reply::Map(fields))
}

/// ACL LIST
fn acl_list(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let users = ctx.shared.acl().read();
    Ok(Reply::Array(
        users
            .iter()
            .map(|(name, user)| Reply::Bulk(user_line(name, user).into()))
            .collect(),
    ))
}

/// `user <name> <rules>`: ACL LIST's and the ACL file's line for a user.
fn user_line(name: &[u8], user: &User) -> Vec<u8> {
    let mut line = b"user ".to_vec();
    line.extend_from_slice(name);
    line.push(b' ');
    line.extend_from_slice(&user.describe(catalog()));
    line
}

/// ACL USERS
fn acl_users(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let users = ctx.shared.acl().read();
    Ok(Reply::Array(
        users
            .iter()
            .map(|(name, _)| Reply::Bulk(Bytes::copy_from_slice(name)))
            .collect(),
    ))
}

/// ACL WHOAMI
fn acl_whoami(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Bulk(ctx.session.user.clone()))
}

/// ACL CAT [category]
fn acl_cat(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    match args.len() {
        2 => Ok(Reply::Array(
            CATEGORIES.iter().map(|c| Reply::bulk(*c)).collect(),
        )),
        3 => {
            let Some(flag) = crate::acl::category_flag(&args[2]) else {
                return Err(Reply::error(sanitize(format!(
                    "ERR Unknown category '{}'",
                    truncated(&args[2], 128)
                ))));
            };
            let catalog = catalog();
            Ok(Reply::Array(
                (0..catalog.len())
                    .map(|id| catalog.entry(id))
                    .filter(|e| e.categories & flag != 0)
                    .map(|e| Reply::bulk(e.name))
                    .collect(),
            ))
        }
        _ => Err(subcommand_syntax(args)),
    }
}

/// `addReplySubcommandSyntaxError`.
fn subcommand_syntax(args: &[Bytes]) -> Reply {
    Reply::error(sanitize(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
        truncated(&args[1], 128)
    )))
}

/// ACL GENPASS [bits]
fn acl_genpass(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    const MAX_BITS: i64 = 4096;
    let bits = match args.len() {
        2 => 256,
        3 => int_arg(&args[2])?,
        _ => return Err(subcommand_syntax(args)),
    };
    if bits <= 0 || bits > MAX_BITS {
        return Err(Reply::error(format!(
            "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to {MAX_BITS}"
        )));
    }
    let chars = (bits as usize).div_ceil(4);
    let hex: String = (0..chars)
        .map(|_| char::from(b"0123456789abcdef"[rand::random::<u8>() as usize % 16]))
        .collect();
    Ok(Reply::bulk(hex))
}

/// ACL LOG [count | RESET]
fn acl_log(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let mut count = 10;
    match args.len() {
        2 => {}
        3 if is(&args[2], "reset") => {
            ctx.shared.acl().update(|users| users.log.reset());
            return Ok(Reply::Ok);
        }
        3 => count = int_arg(&args[2])?.max(0),
        _ => return Err(subcommand_syntax(args)),
    }
    let users = ctx.shared.acl().read();
    let now = now_ms();
    let entries = users
        .log
        .entries()
        .take(count as usize)
        .map(|e| {
            let age = now.saturating_sub(e.time_ms) as f64 / 1000.0;
            Reply::Map(vec![
                (Reply::bulk("count"), Reply::Integer(e.count as i64)),
                (Reply::bulk("reason"), Reply::bulk(e.reason.name())),
                (Reply::bulk("context"), Reply::bulk(e.context.name())),
                (Reply::bulk("object"), Reply::Bulk(e.object.clone())),
                (Reply::bulk("username"), Reply::Bulk(e.username.clone())),
                (Reply::bulk("age-seconds"), Reply::Double(age)),
                (
                    Reply::bulk("client-info"),
                    Reply::bulk(e.client_info.clone()),
                ),
            ])
        })
        .collect();
    Ok(Reply::Array(entries))
}

/// ACL DRYRUN username command [arg ...]
fn acl_dryrun(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if ctx.shared.acl().read().get(&args[2]).is_none() {
        return Err(Reply::error(sanitize(format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(&args[2])
        ))));
    }
    let target = &args[3..];
    let spec = super::lookup(&target[0]).and_then(|container| {
        if container.subcommands.is_empty() || target.len() == 1 {
            Some(container)
        } else {
            container.subcommands.iter().find(|s| {
                s.name.as_bytes()[container.name.len() + 1..].eq_ignore_ascii_case(&target[1])
            })
        }
    });
    let Some(spec) = spec else {
        return Err(Reply::error(sanitize(format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(&target[0])
        ))));
    };
    if !spec.arity_ok(target.len()) {
        return Err(Reply::error(format!(
            "ERR wrong number of arguments for '{}' command",
            spec.name
        )));
    }
    match permission(ctx.shared, &args[2], spec, target) {
        Ok(()) => Ok(Reply::Ok),
        Err((Denial::Command, _)) => Ok(Reply::bulk(format!(
            "This user has no permissions to run the '{}' command",
            spec.name
        ))),
        Err((Denial::Key, at)) => Ok(Reply::Bulk(
            [
                &b"This user has no permissions to access the '"[..],
                &target[at],
                b"' key",
            ]
            .concat()
            .into(),
        )),
        Err((Denial::Channel, at)) => Ok(Reply::Bulk(
            [
                &b"This user has no permissions to access the '"[..],
                &target[at],
                b"' channel",
            ]
            .concat()
            .into(),
        )),
    }
}

/// The `aclfile` configured, if any.
fn acl_file(shared: &Shared) -> Option<String> {
    let config = shared.config();
    let value = config.get(b"aclfile").into_iter().next();
    value.map(|(_, v)| v).filter(|v| !v.is_empty())
}

/// `acl-pubsub-default`: whether new users and selectors start with every channel.
fn pubsub_default(shared: &Shared) -> bool {
    let config = shared.config();
    let value = config.get(b"acl-pubsub-default").into_iter().next();
    value.is_some_and(|(_, v)| v == "allchannels")
}

/// An I/O error as C's `strerror` words it (Rust appends the errno).
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Closes the connections authenticated as one of `names` (the calling one after its
/// reply), as Redis does when it frees their user.
fn disconnect_users(ctx: &mut Ctx, names: &[Vec<u8>]) {
    if names.is_empty() {
        return;
    }
    let me = ctx.session.id();
    for client in ctx.shared.clients().all() {
        let user = client.info.lock().user.clone();
        if !user.is_some_and(|u| names.iter().any(|n| n[..] == u[..])) {
            continue;
        }
        if client.id == me {
            ctx.session.authenticated = false;
            ctx.session.set_user(b"default");
            ctx.effects.close = true;
        } else {
            client.kill();
        }
    }
}

/// ACL LOAD: every user is replaced by the file's, or nothing changes if it has an error.
fn acl_load(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let Some(path) = acl_file(ctx.shared) else {
        return Err(Reply::error(NO_ACL_FILE));
    };
    let replaced =
        load_file(ctx.shared, &path).map_err(|e| Reply::error(sanitize(format!("ERR {e}"))))?;
    disconnect_users(ctx, &replaced);
    Ok(Reply::Ok)
}

/// Loads `path` in place of every user; the names of the users replaced.
fn load_file(shared: &Shared, path: &str) -> Result<Vec<Vec<u8>>, String> {
    let text = std::fs::read(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{path}': {}",
            strerror(&e)
        )
    })?;
    let allchannels = pubsub_default(shared);
    let catalog = catalog();
    shared.acl().update(|users| {
        users.allchannels_default = allchannels;
        let loaded = users.parse_file(catalog, path, &text)?;
        Ok(users.replace_all(loaded))
    })
}

/// ACL SAVE: every user as ACL LIST shows it, written to a temporary file then renamed.
fn acl_save(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let Some(path) = acl_file(ctx.shared) else {
        return Err(Reply::error(NO_ACL_FILE));
    };
    let mut text = Vec::new();
    for (name, user) in ctx.shared.acl().read().iter() {
        text.extend_from_slice(&user_line(name, user));
        text.push(b'\n');
    }
    let tmp = format!("{path}.tmp-{}-{}", std::process::id(), now_ms());
    let written = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        tracing::warn!("Writing ACL file for ACL SAVE: {}", strerror(&e));
        let _ = std::fs::remove_file(&tmp);
        return Err(Reply::error(
            "ERR There was an error trying to save the ACLs. Please check the server logs for more information",
        ));
    }
    Ok(Reply::Ok)
}

/// Redis's `ACLLoadUsersAtStartup`: the `user` directives of the configuration, or the
/// `aclfile` (not both). The error is the reason to refuse to start.
pub(crate) fn load_users_at_startup(shared: &Shared) -> Result<(), String> {
    let definitions: Vec<Vec<Vec<u8>>> = (shared.config().unused.iter())
        .filter(|(name, _)| name == "user")
        .map(|(_, args)| args.iter().map(|a| a.as_bytes().to_vec()).collect())
        .collect();
    let file = acl_file(shared);
    if file.is_some() && !definitions.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    let allchannels = pubsub_default(shared);
    let catalog = catalog();
    shared.acl().update(|users| {
        users.allchannels_default = allchannels;
        users.load_configured(catalog, &definitions)
    })?;
    if let Some(path) = file {
        load_file(shared, &path)
            .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
    }
    Ok(())
}

/// ACL HELP
fn acl_help(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(help(
        &args[0],
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    ))
}
