//! Connection commands: PING, ECHO, SELECT, AUTH, HELLO, RESET, QUIT and the CLIENT family.
//!
//! They read and change only the calling connection's [`Session`] (database, protocol version,
//! authentication, name), except CLIENT LIST / KILL, which reach the other connections through
//! the client registry. Replies and errors follow Redis 7.0.15's `networking.c` and `acl.c`;
//! CLIENT SETINFO and CLIENT NO-TOUCH come from Redis 7.2 because current clients send them.

use std::time::Instant;

use bytes::Bytes;

use super::args::{c_str, err, help, int_arg, is, sanitize};
use super::blocking::UNBLOCKED;
use super::tracking::{client_caching, client_getredir, client_tracking, client_trackinginfo};
use super::{acl, flags, log_entry, CommandSpec, Ctx, Session};
use crate::acl::{Context, Reason};
use crate::client::fmt_addr;
use crate::protocol::Reply;
use crate::state::PauseKind;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, flags![FAST], acl![CONNECTION], ping),
    CommandSpec::new("echo", 2, flags![LOADING, STALE, FAST], acl![CONNECTION], echo),
    CommandSpec::new("select", 2, flags![LOADING, STALE, FAST], acl![CONNECTION], select),
    CommandSpec::new("auth", -2, flags![NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY], acl![CONNECTION], auth),
    CommandSpec::new("hello", -1, flags![NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY], acl![CONNECTION], hello),
    CommandSpec::new("reset", 1, flags![NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY], acl![CONNECTION], reset),
    // Dispatch answers QUIT before looking commands up; the entry is for COMMAND INFO.
    CommandSpec::new("quit", -1, flags![NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY], acl![CONNECTION], quit),
    CommandSpec::new("client", -2, flags![], acl![], client_help).with_subcommands(CLIENT),
];

#[rustfmt::skip]
static CLIENT: &[CommandSpec] = &[
    CommandSpec::new("client|id", 2, flags![NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_id),
    CommandSpec::new("client|info", 2, flags![NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_info),
    CommandSpec::new("client|list", -2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_list),
    CommandSpec::new("client|kill", -3, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_kill),
    CommandSpec::new("client|setname", 3, flags![NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_setname),
    CommandSpec::new("client|getname", 2, flags![NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_getname),
    CommandSpec::new("client|setinfo", 4, flags![NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_setinfo),
    CommandSpec::new("client|no-evict", 3, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_no_evict),
    CommandSpec::new("client|pause", -3, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_pause),
    CommandSpec::new("client|unpause", 2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_unpause),
    CommandSpec::new("client|no-touch", 3, flags![NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_no_touch),
    CommandSpec::new("client|reply", 3, flags![NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_reply),
    CommandSpec::new("client|unblock", -3, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_unblock),
    CommandSpec::new("client|help", 2, flags![LOADING, STALE], acl![CONNECTION], client_help),
    CommandSpec::new("client|tracking", -3, flags![NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_tracking),
    CommandSpec::new("client|caching", 3, flags![NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_caching),
    CommandSpec::new("client|getredir", 2, flags![NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_getredir),
    CommandSpec::new("client|trackinginfo", 2, flags![NOSCRIPT, LOADING, STALE], acl![CONNECTION], client_trackinginfo),
];

const NO_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
const BAD_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

/// PING [message]
fn ping(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if ctx.session.in_subscribed_mode() && args.len() <= 2 {
        // A RESP2 subscriber gets a push-shaped answer.
        let message = args.get(1).cloned().unwrap_or_default();
        return Ok(Reply::Array(vec![
            Reply::bulk("pong"),
            Reply::Bulk(message),
        ]));
    }
    match args.len() {
        1 => Ok(Reply::status("PONG")),
        2 => Ok(Reply::Bulk(args[1].clone())),
        _ => Err(Reply::error(
            "ERR wrong number of arguments for 'ping' command",
        )),
    }
}

/// ECHO message
fn echo(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Bulk(args[1].clone()))
}

/// QUIT
fn quit(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    ctx.effects.close = true;
    Ok(Reply::Ok)
}

/// SELECT index
fn select(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    // Redis reads the index as a C int.
    let index = i32::try_from(int_arg(&args[1])?).map_err(|_| {
        Reply::error("ERR value is out of range, value must between -2147483648 and 2147483647")
    })?;
    if index < 0 || index as usize >= ctx.databases() {
        return Err(Reply::error(err::DB_INDEX));
    }
    ctx.session.db = index as usize;
    Ok(Reply::Ok)
}

/// AUTH [username] password
fn auth(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() > 3 {
        return Err(Reply::error(err::SYNTAX));
    }
    let (user, pass) = if args.len() == 2 {
        let nopass = ctx
            .shared
            .acl()
            .read()
            .get(b"default")
            .is_some_and(|d| d.nopass);
        if nopass {
            return Err(Reply::error(NO_PASSWORD));
        }
        (&b"default"[..], &args[1][..])
    } else {
        (&args[1][..], &args[2][..])
    };
    if authenticate(ctx, &args[0], user, pass) {
        Ok(Reply::Ok)
    } else {
        Err(Reply::error(err::WRONGPASS))
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
fn hello(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let mut version = None;
    if let Some(arg) = args.get(1) {
        let Some(v) = crate::number::parse_i64(arg) else {
            return Err(Reply::error(
                "ERR Protocol version is not an integer or out of range",
            ));
        };
        if !(2..=3).contains(&v) {
            return Err(Reply::error("NOPROTO unsupported protocol version"));
        }
        version = Some(v as u8);
    }
    let mut j = 2;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "auth") && more >= 2 {
            if !authenticate(ctx, &args[0], &args[j + 1], &args[j + 2]) {
                return Err(Reply::error(err::WRONGPASS));
            }
            j += 3;
        } else if is(&args[j], "setname") && more >= 1 {
            set_name(ctx.session, &args[j + 1])?;
            j += 2;
        } else {
            return Err(Reply::error(sanitize(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[j])
            ))));
        }
    }
    if !ctx.session.authenticated {
        return Err(Reply::error(HELLO_NOAUTH));
    }
    if let Some(v) = version {
        ctx.session.set_resp(v);
    }
    let text = |s: &'static str| Reply::bulk(s);
    Ok(Reply::Map(vec![
        (text("server"), text("redis")),
        (text("version"), text(crate::config::REDIS_VERSION)),
        (text("proto"), Reply::Integer(ctx.session.resp.into())),
        (text("id"), Reply::Integer(ctx.session.id() as i64)),
        (text("mode"), text("standalone")),
        (
            text("role"),
            text(match ctx.shared.replication().is_replica() {
                true => "replica",
                false => "master",
            }),
        ),
        (text("modules"), Reply::Array(Vec::new())),
    ]))
}

/// RESET: back to the state of a new connection.
fn reset(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    ctx.session.multi = None;
    ctx.forget_watches();
    ctx.session.unsubscribe_all(&mut ctx.shared.pubsub());
    ctx.shared.tracking().disable(ctx.session.id());
    super::observe::stop_monitoring(ctx.shared, ctx.session);
    let authenticated = !ctx.shared.acl().auth_required();
    let session = &mut *ctx.session;
    session.db = 0;
    session.set_resp(2);
    session.authenticated = authenticated;
    session.set_user(b"default");
    session.name = None;
    Ok(Reply::status("RESET"))
}

/// Redis's `ACLAuthenticateUser`: right credentials bind the session to `user`; wrong ones
/// are recorded in the ACL LOG (the object being the command as sent, AUTH or HELLO).
fn authenticate(ctx: &mut Ctx, command: &Bytes, user: &[u8], pass: &[u8]) -> bool {
    let ok = ctx.shared.acl().read().authenticate(user, pass);
    if ok {
        ctx.session.authenticated = true;
        ctx.session.set_user(user);
    } else {
        let context = match ctx.session.in_multi() {
            true => Context::Multi,
            false => Context::Toplevel,
        };
        let user = Bytes::copy_from_slice(user);
        // The entry's client-info names the command being run, as Redis's does.
        ctx.session
            .publish(&String::from_utf8_lossy(command).to_ascii_lowercase());
        log_entry(
            ctx.shared,
            ctx.session,
            Reason::Auth,
            context,
            command.clone(),
            user,
        );
    }
    ok
}

/// Client names and library attributes must survive CLIENT LIST's space-separated format.
fn printable(value: &[u8]) -> bool {
    value.iter().all(|b| (b'!'..=b'~').contains(b))
}

fn set_name(session: &mut Session, name: &Bytes) -> Result<(), Reply> {
    if !printable(name) {
        return Err(Reply::error(BAD_NAME));
    }
    session.name = (!name.is_empty()).then(|| name.clone());
    Ok(())
}

/// CLIENT ID
fn client_id(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Integer(ctx.session.id() as i64))
}

/// CLIENT SETNAME name
fn client_setname(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    set_name(ctx.session, &args[2])?;
    Ok(Reply::Ok)
}

/// CLIENT GETNAME
fn client_getname(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::opt_bulk(ctx.session.name.clone()))
}

/// CLIENT SETINFO LIB-NAME|LIB-VER value (Redis 7.2)
fn client_setinfo(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let (attr, value) = (&args[2], &args[3]);
    let slot = if is(attr, "lib-name") {
        &mut ctx.session.lib_name
    } else if is(attr, "lib-ver") {
        &mut ctx.session.lib_ver
    } else {
        return Err(Reply::error(sanitize(format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(attr)
        ))));
    };
    if !printable(value) {
        return Err(Reply::error(sanitize(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(attr)
        ))));
    }
    *slot = (!value.is_empty()).then(|| value.clone());
    Ok(Reply::Ok)
}

/// The client types CLIENT LIST / KILL filter on. A kvstore connection is `replica` once a
/// replica synced through it, `pubsub` while subscribed, `normal` otherwise; none is a
/// `master` (kvstore is never a replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Pubsub,
    Replica,
    Master,
}

impl ClientType {
    fn matches(self, client: &crate::client::ClientHandle) -> bool {
        match self {
            ClientType::Normal => {
                let info = client.info.lock();
                !info.is_pubsub() && !info.replica && !info.master
            }
            ClientType::Pubsub => {
                let info = client.info.lock();
                info.is_pubsub() && !info.replica
            }
            ClientType::Replica => client.info.lock().replica,
            ClientType::Master => client.info.lock().master,
        }
    }
}

fn client_type(arg: &[u8]) -> Result<ClientType, Reply> {
    if is(arg, "normal") {
        Ok(ClientType::Normal)
    } else if is(arg, "pubsub") {
        Ok(ClientType::Pubsub)
    } else if is(arg, "slave") || is(arg, "replica") {
        Ok(ClientType::Replica)
    } else if is(arg, "master") {
        Ok(ClientType::Master)
    } else {
        Err(Reply::error(sanitize(format!(
            "ERR Unknown client type '{}'",
            String::from_utf8_lossy(arg)
        ))))
    }
}

/// CLIENT INFO
fn client_info(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    ctx.session.publish("client|info");
    let mut line = ctx.session.handle.describe(Instant::now());
    line.push('\n');
    Ok(Reply::Verbatim(line.into()))
}

/// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID client-id ...]
fn client_list(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let clients = ctx.shared.clients().all();
    ctx.session.publish("client|list");
    let selected: Vec<_> = if args.len() == 4 && is(&args[2], "type") {
        let kind = client_type(&args[3])?;
        clients.into_iter().filter(|c| kind.matches(c)).collect()
    } else if args.len() > 3 && is(&args[2], "id") {
        let mut selected = Vec::new();
        for arg in &args[3..] {
            let id = crate::number::parse_i64(arg)
                .ok_or_else(|| Reply::error("ERR Invalid client ID"))?;
            selected.extend(clients.iter().filter(|c| c.id as i64 == id).cloned());
        }
        selected
    } else if args.len() == 2 {
        clients
    } else {
        return Err(Reply::error(err::SYNTAX));
    };
    let now = Instant::now();
    let mut out = String::new();
    for client in selected {
        out.push_str(&client.describe(now));
        out.push('\n');
    }
    Ok(Reply::Verbatim(out.into()))
}

/// CLIENT KILL ip:port, or CLIENT KILL [ID id] [TYPE type] [USER user] [ADDR ip:port]
/// [LADDR ip:port] [SKIPME yes|no] ...
fn client_kill(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let mut filter = KillFilter {
        skipme: true,
        ..KillFilter::default()
    };
    let old_form = args.len() == 3;
    if old_form {
        filter.addr = Some(args[2].clone());
        // With the old form a client may kill itself.
        filter.skipme = false;
    } else {
        let users = ctx.shared.acl().read();
        for pair in args[2..].chunks(2) {
            let [option, value] = pair else {
                return Err(Reply::error(err::SYNTAX));
            };
            filter.parse(option, value, &users)?;
        }
    }
    let me = ctx.session.id();
    let mut killed = 0;
    for client in ctx.shared.clients().all() {
        let addr_is = |want: &Option<Bytes>, addr| {
            want.as_ref()
                .map_or(true, |w| w[..] == *fmt_addr(addr).as_bytes())
        };
        let selected = addr_is(&filter.addr, client.addr)
            && addr_is(&filter.laddr, client.laddr)
            && filter.kind.map_or(true, |k| k.matches(&client))
            && filter.id.map_or(true, |id| client.id == id)
            && filter.user.as_ref().map_or(true, |user| {
                let info = client.info.lock();
                info.user.as_deref().unwrap_or(b"default") == &user[..]
            })
            && !(filter.skipme && client.id == me);
        if !selected {
            continue;
        }
        if client.id == me {
            ctx.effects.close = true;
        } else {
            client.kill();
        }
        killed += 1;
    }
    match (old_form, killed) {
        (true, 0) => Err(Reply::error("ERR No such client")),
        (true, _) => Ok(Reply::Ok),
        (false, n) => Ok(Reply::Integer(n)),
    }
}

/// The filters of CLIENT KILL's option form.
#[derive(Debug, Default)]
struct KillFilter {
    addr: Option<Bytes>,
    laddr: Option<Bytes>,
    id: Option<u64>,
    kind: Option<ClientType>,
    /// The ACL user the clients are authenticated as.
    user: Option<Bytes>,
    skipme: bool,
}

impl KillFilter {
    fn parse(
        &mut self,
        option: &[u8],
        value: &Bytes,
        users: &crate::acl::Users,
    ) -> Result<(), Reply> {
        if is(option, "id") {
            let id = crate::number::parse_i64(value)
                .filter(|id| *id >= 1)
                .ok_or_else(|| Reply::error("ERR client-id should be greater than 0"))?;
            self.id = Some(id as u64);
        } else if is(option, "type") {
            self.kind = Some(client_type(value)?);
        } else if is(option, "addr") {
            self.addr = Some(value.clone());
        } else if is(option, "laddr") {
            self.laddr = Some(value.clone());
        } else if is(option, "user") {
            if users.get(value).is_none() {
                return Err(Reply::error(sanitize(format!(
                    "ERR No such user '{}'",
                    String::from_utf8_lossy(value)
                ))));
            }
            self.user = Some(value.clone());
        } else if is(option, "skipme") {
            self.skipme = match () {
                _ if is(value, "yes") => true,
                _ if is(value, "no") => false,
                _ => return Err(Reply::error(err::SYNTAX)),
            };
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        Ok(())
    }
}

/// `ON` / `OFF` switches that kvstore accepts but that change nothing: there is no eviction,
/// and no LRU/LFU bookkeeping for NO-TOUCH to suspend.
fn on_off(arg: &[u8]) -> Reply {
    if is(arg, "on") || is(arg, "off") {
        Reply::Ok
    } else {
        Reply::error(err::SYNTAX)
    }
}

/// CLIENT NO-EVICT ON|OFF
fn client_no_evict(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(on_off(&args[2]))
}

/// CLIENT PAUSE timeout [WRITE | ALL]: holds back every command, or those that may write,
/// for `timeout` milliseconds (dispatch postpones them; see `state::ClientPause`).
fn client_pause(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() > 4 {
        return Err(super::args::subcommand_syntax_error(args));
    }
    let kind = match args.get(3) {
        None => PauseKind::All,
        Some(mode) if super::args::c_is(mode, "write") => PauseKind::Write,
        Some(mode) if super::args::c_is(mode, "all") => PauseKind::All,
        Some(_) => return Err(Reply::error("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let ms = crate::number::parse_i64(&args[2]).ok_or(Reply::error(
        "ERR timeout is not an integer or out of range",
    ))?;
    let ms = u64::try_from(ms).map_err(|_| Reply::error("ERR timeout is negative"))?;
    let until = Instant::now() + std::time::Duration::from_millis(ms);
    ctx.shared.pause().pause(until, kind);
    Ok(Reply::Ok)
}

/// CLIENT UNPAUSE
fn client_unpause(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    ctx.shared.pause().unpause();
    Ok(Reply::Ok)
}

/// CLIENT UNBLOCK client-id [TIMEOUT | ERROR]: releases a client blocked in BLPOP & co. as
/// if it timed out, or with an error. 1 if it was blocked.
fn client_unblock(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() > 4 {
        return Err(Reply::error(
            "ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.",
        ));
    }
    let with_error = match args.get(3) {
        None => false,
        Some(a) if is(c_str(a), "timeout") => false,
        Some(a) if is(c_str(a), "error") => true,
        Some(_) => {
            return Err(Reply::error(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let id = int_arg(&args[2])?;
    let released = if with_error {
        Reply::error(UNBLOCKED)
    } else {
        Reply::NilArray
    };
    let shared = ctx.shared;
    let unblocked =
        u64::try_from(id).is_ok_and(|id| shared.blocked().release(ctx.keyspace(), id, released));
    Ok(Reply::Integer(unblocked as i64))
}

/// CLIENT NO-TOUCH ON|OFF (Redis 7.2)
fn client_no_touch(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(on_off(&args[2]))
}

/// CLIENT REPLY ON. OFF and SKIP, which silence replies, are refused rather than ignored:
/// a client that believes its replies are off would misread every reply after it.
fn client_reply(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if is(&args[2], "on") {
        Ok(Reply::Ok)
    } else if is(&args[2], "off") || is(&args[2], "skip") {
        Err(Reply::error(
            "ERR CLIENT REPLY OFF|SKIP is not supported by kvstore",
        ))
    } else {
        Err(Reply::error(err::SYNTAX))
    }
}

/// CLIENT HELP
fn client_help(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(help(
        &args[0],
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "REPLY ON",
            "    Replies are always on: OFF and SKIP are not supported.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    ))
}
