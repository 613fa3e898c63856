//! Replication commands, the master's side (Redis's `replication.c`): the replica's handshake
//! (REPLCONF, PSYNC, SYNC), ROLE and WAIT.
//!
//! A replica connects as a client: `REPLCONF listening-port / ip-address / capa` record what
//! it announces, then `PSYNC <replid> <offset>` either continues from the backlog
//! (`+CONTINUE`) or starts over with `+FULLRESYNC <replid> <offset>` and an RDB snapshot of
//! every database, taken under the same keyspace lock that registers the replica, so the
//! stream that follows starts exactly where the snapshot ends. The connection then carries
//! the stream (`Effects::replica_feed`) and reads the replica's `REPLCONF ACK`s.
//!
//! WAIT answers how many replicas acknowledged the client's last write; asked for more, it
//! asks them for an acknowledgement (`REPLCONF GETACK *`) and waits until they are enough or
//! its timeout passes. Without any replica it blocks like Redis until its timeout (0: for
//! ever) or CLIENT UNBLOCK, then answers 0; inside MULTI it answers at once.
//!
//! FAILOVER hands the master role to a replica without losing a write: writes are held
//! until a replica acknowledged the whole stream, then this server follows it with `PSYNC
//! <replid> <offset> FAILOVER`, which makes that replica a master (its answer is the usual
//! `+CONTINUE`, as the promoted replica keeps this history as its second id).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::args::int_arg;
use super::context::WaitReplicas;
use super::process::used_memory;
use super::{acl, flags, CommandSpec, Ctx};
use crate::keyspace::Db;
use crate::protocol::Reply;
use crate::rdb::file::FileWriter;
use crate::state::{LinkState, MasterAddr, ReplicaInfo};

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("wait", 3, flags![NOSCRIPT], acl![CONNECTION], wait),
    CommandSpec::new("psync", -3, flags![NO_ASYNC_LOADING, ADMIN, NO_MULTI, NOSCRIPT], acl![], psync),
    CommandSpec::new("replconf", -1, flags![ADMIN, NOSCRIPT, LOADING, STALE, ALLOW_BUSY], acl![], replconf),
    CommandSpec::new("sync", 1, flags![NO_ASYNC_LOADING, ADMIN, NO_MULTI, NOSCRIPT], acl![], sync),
    CommandSpec::new("role", 1, flags![NOSCRIPT, LOADING, STALE, FAST], acl![ADMIN, DANGEROUS], role),
    CommandSpec::new("replicaof", 3, flags![ADMIN, NOSCRIPT, STALE, NO_ASYNC_LOADING], acl![], replicaof),
    CommandSpec::new("failover", -1, flags![ADMIN, NOSCRIPT, STALE], acl![], failover),
    CommandSpec::new("slaveof", 3, flags![ADMIN, NOSCRIPT, STALE, NO_ASYNC_LOADING], acl![], replicaof),
];

/// REPLICAOF host port | REPLICAOF NO ONE (and its old name SLAVEOF): follow a master, or
/// become a master again keeping the data. The link itself is `master_link.rs`'s task,
/// which watches the target this sets.
fn replicaof(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let is = |a: &Bytes, word: &str| a.eq_ignore_ascii_case(word.as_bytes());
    let replication = ctx.shared.replication();
    if replication.failing_over() {
        return Err(Reply::error(
            "ERR REPLICAOF not allowed while failing over.",
        ));
    }
    if is(&args[1], "no") && is(&args[2], "one") {
        if replication.unfollow() {
            tracing::info!(
                "MASTER MODE enabled (user request from 'id={}')",
                ctx.session.id()
            );
        }
        return Ok(Reply::Ok);
    }
    if ctx.session.handle.info.lock().replica {
        return Err(Reply::error(
            "ERR Command is not valid when client is a replica.",
        ));
    }
    let port = crate::number::parse_i64(&args[2])
        .filter(|p| (0..=65535).contains(p))
        .ok_or(Reply::error("ERR Invalid master port"))?;
    let master = MasterAddr {
        host: String::from_utf8_lossy(&args[1]).into_owned(),
        port: port as u16,
    };
    if !replication.follow(master.clone()) {
        tracing::info!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
        return Ok(Reply::status("OK Already connected to specified master"));
    }
    tracing::info!(
        "REPLICAOF {}:{} enabled (user request from 'id={}')",
        master.host,
        master.port,
        ctx.session.id()
    );
    Ok(Reply::Ok)
}

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds]
fn failover(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let is = |a: &Bytes, word: &str| a.eq_ignore_ascii_case(word.as_bytes());
    let replication = ctx.shared.replication();
    if args.len() == 2 && is(&args[1], "abort") {
        if !replication.abort_failover("Failover manually aborted", ctx.shared.pause()) {
            return Err(Reply::error("ERR No failover in progress."));
        }
        return Ok(Reply::Ok);
    }
    let (mut timeout, mut force, mut target) = (None, false, None);
    let mut j = 1;
    while j < args.len() {
        if is(&args[j], "timeout") && j + 1 < args.len() && timeout.is_none() {
            let ms = int_arg(&args[j + 1])?;
            if ms <= 0 {
                return Err(Reply::error("ERR FAILOVER timeout must be greater than 0"));
            }
            timeout = Some(ms as u64);
            j += 2;
        } else if is(&args[j], "to") && j + 2 < args.len() && target.is_none() {
            let port = int_arg(&args[j + 2])?;
            target = Some(MasterAddr {
                host: String::from_utf8_lossy(&args[j + 1]).into_owned(),
                // Redis keeps the number as given; no replica listens on a port out of range.
                port: u16::try_from(port).unwrap_or(0),
            });
            j += 3;
        } else if is(&args[j], "force") && !force {
            force = true;
            j += 1;
        } else {
            return Err(Reply::error(super::args::err::SYNTAX));
        }
    }
    replication
        .start_failover(target, timeout, force, ctx.shared.pause())
        .map_err(Reply::error)?;
    Ok(Reply::Ok)
}

/// WAIT numreplicas timeout
fn wait(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let numreplicas = int_arg(&args[1])?;
    // Redis's `getTimeoutFromObjectOrReply` in milliseconds.
    let timeout = crate::number::parse_i64(&args[2]).ok_or(Reply::error(
        "ERR timeout is not an integer or out of range",
    ))?;
    if timeout < 0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    let replication = ctx.shared.replication();
    let acked = replication.acked_at_least(ctx.session.woff);
    if acked as i64 >= numreplicas || ctx.in_multi() {
        return Ok(Reply::Integer(acked as i64));
    }
    if replication.replica_count() == 0 {
        // No key will ever serve it: only the timeout or CLIENT UNBLOCK releases it, and the
        // release answers 0 (`observe::unblocked`).
        return Ok(ctx.block(&[], timeout as u64, args, never_served));
    }
    // Redis's `replicationRequestAckFromSlaves`: the replicas answer with REPLCONF ACK.
    let getack = [
        Bytes::from_static(b"REPLCONF"),
        Bytes::from_static(b"GETACK"),
        Bytes::from_static(b"*"),
    ];
    replication.feed([(None, &getack[..])]);
    ctx.effects.wait_replicas = Some(WaitReplicas {
        offset: ctx.session.woff,
        numreplicas: numreplicas as usize,
        deadline: (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64)),
    });
    Ok(Reply::Nil)
}

fn never_served(_: &mut Db, _: u64, _: &[Bytes], _: &Bytes) -> Option<Reply> {
    None
}

/// REPLCONF <option> <value> [<option> <value> ...]
fn replconf(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() % 2 == 0 {
        return Err(Reply::error(super::args::err::SYNTAX));
    }
    let is = |a: &Bytes, name: &str| a.eq_ignore_ascii_case(name.as_bytes());
    let mut info = ctx.session.replica.clone().unwrap_or_else(|| ReplicaInfo {
        ip: ctx.session.handle.addr.ip().to_string(),
        ..ReplicaInfo::default()
    });
    for pair in args[1..].chunks(2) {
        let (option, value) = (&pair[0], &pair[1]);
        if is(option, "listening-port") {
            let port = int_arg(value)?;
            info.port = u16::try_from(port).unwrap_or(0);
        } else if is(option, "ip-address") {
            info.ip = String::from_utf8_lossy(value).into_owned();
        } else if is(option, "capa") {
            info.capa_eof |= is(value, "eof");
            info.capa_psync2 |= is(value, "psync2");
        } else if is(option, "ack") {
            // From a replica: no reply, ever.
            if let Some(replica) = ctx.session.replica.as_mut() {
                replica.acked = true;
            }
            if let Some(offset) = crate::number::parse_i64(value) {
                let id = ctx.session.id();
                ctx.shared.replication().ack(id, offset.max(0) as u64);
            }
            return Ok(Reply::Frames(Vec::new()));
        } else if is(option, "getack") {
            // Only a replica answers it (to its master).
            return Ok(Reply::Frames(Vec::new()));
        } else if is(option, "rdb-only") {
            let only = int_arg(value)?;
            if !(0..=1).contains(&only) {
                return Err(Reply::error(
                    "ERR value is out of range, value must between 0 and 1",
                ));
            }
            info.rdb_only = only == 1;
        } else if is(option, "rdb-filter-only") {
            let Some(filters) = crate::protocol::split_args(value) else {
                return Err(Reply::error("ERR Missing rdb-filter-only values"));
            };
            // Everything is left out but what the filters include.
            info.exclude_data = true;
            info.exclude_functions = true;
            for filter in filters {
                if filter.eq_ignore_ascii_case(b"functions") {
                    info.exclude_functions = false;
                } else {
                    return Err(Reply::error(format!(
                        "ERR Unsupported rdb-filter-only option: {}",
                        String::from_utf8_lossy(&filter)
                    )));
                }
            }
        } else {
            return Err(Reply::error(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(option)
            )));
        }
    }
    ctx.session.replica = Some(info);
    Ok(Reply::Ok)
}

/// PSYNC <replid> <offset> [FAILOVER]
fn psync(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    // A master handing over to this replica (its FAILOVER): become a master first, keeping
    // its history as the second id, so its PSYNC continues from the backlog.
    if args.len() > 3 && args[3].eq_ignore_ascii_case(b"failover") {
        let replication = ctx.shared.replication();
        tracing::warn!(
            "Failover request received for replid {}.",
            String::from_utf8_lossy(&args[1])
        );
        if !replication.is_replica() {
            return Err(Reply::error(
                "ERR PSYNC FAILOVER can't be sent to a master.",
            ));
        }
        if !args[1].eq_ignore_ascii_case(replication.view().replid.as_bytes()) {
            return Err(Reply::error(
                "ERR PSYNC FAILOVER replid must match my replid.",
            ));
        }
        replication.unfollow();
        tracing::info!(
            "MASTER MODE enabled (failover request from 'id={}')",
            ctx.session.id()
        );
    }
    let offset = crate::number::parse_i64(&args[2])
        .ok_or(Reply::error("ERR value is not an integer or out of range"))?;
    start_sync(ctx, Some((&args[1], offset)))
}

/// SYNC: the pre-PSYNC protocol, a snapshot without the FULLRESYNC line.
fn sync(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    start_sync(ctx, None)
}

fn start_sync(ctx: &mut Ctx, psync: Option<(&Bytes, i64)>) -> Result<Reply, Reply> {
    if ctx.effects.replica_feed.is_some() {
        return Ok(Reply::Frames(Vec::new()));
    }
    // Replicas do not sync with a master handing over.
    if ctx.shared.replication().failing_over() {
        return Err(Reply::error("NOMASTERLINK Can't SYNC while failing over"));
    }
    let info = ctx.session.replica.clone().unwrap_or_else(|| ReplicaInfo {
        ip: ctx.session.handle.addr.ip().to_string(),
        ..ReplicaInfo::default()
    });
    if (info.exclude_data || info.exclude_functions) && !info.capa_eof {
        return Err(Reply::error("ERR Filtered replica requires EOF capability"));
    }
    let id = ctx.session.id();
    // The keyspace is locked before anything is registered: the stream after the
    // registration is exactly what follows the snapshot.
    ctx.keyspace();
    let replication = ctx.shared.replication();
    // `redis-cli --rdb`: a snapshot and nothing after it, so no place among the replicas.
    if info.rdb_only {
        let view = replication.view();
        tracing::info!(
            "Replica {}:{} asks for an RDB snapshot only",
            info.ip,
            info.port
        );
        let (out, _) = full_sync_reply(ctx, &info, psync.is_some(), &view.replid, view.offset)?;
        ctx.effects.close = true;
        return Ok(Reply::Encoded(Bytes::from(out)));
    }
    if let Some((replid, offset)) = psync {
        if let Some((replid, missing, feed)) = replication.resume(id, &info, replid, offset) {
            tracing::info!(
                "Partial resynchronization request from {}:{} accepted. Sending {} bytes of backlog starting from offset {offset}.",
                info.ip,
                info.port,
                missing.len()
            );
            let head = match info.capa_psync2 {
                true => format!("+CONTINUE {replid}\r\n"),
                false => "+CONTINUE\r\n".to_owned(),
            };
            let mut out = head.into_bytes();
            out.extend_from_slice(&missing);
            ctx.effects.replica_feed = Some(feed);
            return Ok(Reply::Encoded(Bytes::from(out)));
        }
    }
    let (replid, offset, feed) = replication.attach(id, &info);
    tracing::info!(
        "Replica {}:{} asks for synchronization; full resync to offset {offset}",
        info.ip,
        info.port
    );
    let (out, diskless) = full_sync_reply(ctx, &info, psync.is_some(), &replid, offset)?;
    if let Some(replica) = ctx.session.replica.as_mut() {
        replica.acked = false;
    }
    ctx.effects.replica_feed = Some(feed);
    ctx.effects.replica_hold_until_ack = diskless;
    Ok(Reply::Encoded(Bytes::from(out)))
}

/// `+FULLRESYNC <replid> <offset>` (to PSYNC) and the snapshot: diskless (`$EOF:<mark>`) to
/// a PSYNC replica that announced `capa eof` or wants a filtered snapshot, else `$<length>`.
/// Also says whether it is diskless.
fn full_sync_reply(
    ctx: &mut Ctx,
    info: &ReplicaInfo,
    psync: bool,
    replid: &str,
    offset: u64,
) -> Result<(Vec<u8>, bool), Reply> {
    let rdb = snapshot(ctx, replid, offset, info)
        .map_err(|e| Reply::error(format!("ERR snapshot failed: {e}")))?;
    let mut out = Vec::with_capacity(rdb.len() + 128);
    if psync {
        out.extend_from_slice(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes());
    }
    let filtered = info.exclude_data || info.exclude_functions;
    let diskless = info.capa_eof && (psync || filtered);
    if diskless {
        let mark = eof_mark();
        out.extend_from_slice(b"$EOF:");
        out.extend_from_slice(&mark);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&rdb);
        out.extend_from_slice(&mark);
    } else {
        out.extend_from_slice(format!("${}\r\n", rdb.len()).as_bytes());
        out.extend_from_slice(&rdb);
    }
    Ok((out, diskless))
}

/// 40 random bytes ending a diskless snapshot (Redis's `RDB_EOF_MARK_SIZE`): printable, as
/// Redis's `getRandomHexChars`.
fn eof_mark() -> [u8; 40] {
    let hex = crate::state::random_replid();
    let mut mark = [0u8; 40];
    mark.copy_from_slice(hex.as_bytes());
    mark
}

/// The RDB file of every database, with the aux fields Redis writes for a replica and the
/// function libraries.
fn snapshot(
    ctx: &mut Ctx,
    replid: &str,
    offset: u64,
    filter: &ReplicaInfo,
) -> std::io::Result<Vec<u8>> {
    let limits = ctx.rdb_limits();
    let now = ctx.now;
    let used = used_memory();
    let mut w = FileWriter::new(Vec::new(), limits)?;
    w.aux(b"redis-ver", crate::config::REDIS_VERSION.as_bytes())?;
    w.aux(b"redis-bits", b"64")?;
    w.aux(b"ctime", (now / 1000).to_string().as_bytes())?;
    w.aux(b"used-mem", used.to_string().as_bytes())?;
    let stream_db = ctx.shared.replication().snapshot_stream_db();
    w.aux(b"repl-stream-db", stream_db.to_string().as_bytes())?;
    w.aux(b"repl-id", replid.as_bytes())?;
    w.aux(b"repl-offset", offset.to_string().as_bytes())?;
    w.aux(b"aof-base", b"0")?;
    // Lock order: the keyspace first, then the engine.
    ctx.keyspace();
    if !filter.exclude_functions {
        let libraries = ctx.shared.scripting().functions.lock().codes();
        for code in &libraries {
            w.function(code)?;
        }
    }
    if filter.exclude_data {
        return w.finish();
    }
    for (index, db) in ctx.keyspace().dbs().iter().enumerate() {
        let live = |at: &Option<u64>| at.map_or(true, |at| at > now);
        let keys = db.iter().filter(|(_, e)| live(&e.expire_at)).count();
        if keys == 0 {
            continue;
        }
        let expires = (db.iter())
            .filter(|(_, e)| e.expire_at.is_some_and(|at| at > now))
            .count();
        w.select_db(index, keys, expires)?;
        for (key, entry) in db.iter() {
            if live(&entry.expire_at) {
                w.key(key, &entry.value, entry.expire_at)?;
            }
        }
    }
    w.finish()
}

/// ROLE: a master's offset and the online replicas with what they acknowledged; or a
/// replica's master, link state and offset.
fn role(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let view = ctx.shared.replication().view();
    let bulk = |s: String| Reply::Bulk(Bytes::from(s));
    if let Some(up) = &view.upstream {
        let offset = match up.has_master_client && up.state == LinkState::Connected {
            true => view.offset as i64,
            false => -1,
        };
        return Ok(Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"slave")),
            bulk(up.master.host.clone()),
            Reply::Integer(i64::from(up.master.port)),
            bulk(up.state.name().to_owned()),
            Reply::Integer(offset),
        ]));
    }
    let replicas = (view.replicas.into_iter())
        .filter(|r| r.online)
        .map(|r| {
            Reply::Array(vec![
                bulk(r.ip),
                bulk(r.port.to_string()),
                bulk(r.offset.to_string()),
            ])
        })
        .collect();
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from_static(b"master")),
        Reply::Integer(view.offset as i64),
        Reply::Array(replicas),
    ]))
}
