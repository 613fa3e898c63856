//! Value serialization commands: DUMP and RESTORE, Redis's way of moving one key between
//! servers (`redis-cli --rdb`, MIGRATE, backup tools) as an opaque RDB payload.
//!
//! The payload codec lives in `crate::rdb` and knows no commands; this family only parses the
//! arguments in Redis's order and builds the codec's [`rdb::Limits`] from the live
//! configuration, so a payload encodes (and a restored value converts to) exactly what
//! redis-server with the same settings would produce.
//!
//! Invariants: RESTORE checks its arguments in `restoreCommand`'s order (options, existing
//! key, TTL, payload footer, payload body) so the same mistake gets the same error; a value
//! enters the keyspace only through `Db::insert` / `Db::remove`, so persistence journals it.

use bytes::Bytes;

use super::args::{c_is, err, int_arg};
use super::{acl, flags, CommandSpec, Ctx};
use crate::protocol::Reply;
use crate::rdb;
use crate::state::notify;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dump", 2, flags![READONLY], acl![KEYSPACE], dump).keys(1, 1, 1),
    CommandSpec::new("restore", -4, flags![WRITE, DENYOOM], acl![KEYSPACE, DANGEROUS], restore).keys(1, 1, 1),
];

/// Error replies only RESTORE sends, byte for byte as Redis 7.0 sends them.
mod restore_err {
    pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
    pub const IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
    pub const FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
    pub const TTL: &str = "ERR Invalid TTL value, must be >= 0";
}

/// DUMP key: the value's RDB payload, nil for a missing key.
fn dump(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let limits = ctx.rdb_limits();
    let now = ctx.now;
    Ok(match ctx.db().get(&args[1], now) {
        Some(value) => Reply::bulk(rdb::dump(value, &limits)),
        None => Reply::Nil,
    })
}

/// RESTORE's options after the payload, as `restoreCommand` parses them.
#[derive(Debug, Default, PartialEq)]
struct RestoreOptions {
    replace: bool,
    absttl: bool,
    /// IDLETIME seconds / FREQ counter: the restored key's access clock.
    idletime: Option<u64>,
    freq: Option<u8>,
}

impl RestoreOptions {
    /// REPLACE, ABSTTL, IDLETIME n (n >= 0) and FREQ n (0..=255), IDLETIME and FREQ
    /// excluding each other.
    fn parse(options: &[Bytes]) -> Result<RestoreOptions, Reply> {
        let mut parsed = RestoreOptions::default();
        let (mut idletime, mut freq) = (false, false);
        let mut i = 0;
        while i < options.len() {
            let (word, has_value) = (&options[i], i + 1 < options.len());
            if c_is(word, "replace") {
                parsed.replace = true;
            } else if c_is(word, "absttl") {
                parsed.absttl = true;
            } else if c_is(word, "idletime") && has_value && !freq {
                let seconds = int_arg(&options[i + 1])?;
                if seconds < 0 {
                    return Err(Reply::error(restore_err::IDLETIME));
                }
                parsed.idletime = Some(seconds as u64);
                idletime = true;
                i += 1;
            } else if c_is(word, "freq") && has_value && !idletime {
                let counter = int_arg(&options[i + 1])?;
                if !(0..=255).contains(&counter) {
                    return Err(Reply::error(restore_err::FREQ));
                }
                parsed.freq = Some(counter as u8);
                freq = true;
                i += 1;
            } else {
                return Err(Reply::error(err::SYNTAX));
            }
            i += 1;
        }
        Ok(parsed)
    }
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
fn restore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let options = RestoreOptions::parse(&args[4..])?;
    let key = &args[1];
    let now = ctx.now;
    if !options.replace && ctx.db().contains(key, now) {
        return Err(Reply::error(restore_err::BUSYKEY));
    }
    let ttl = int_arg(&args[2])?;
    if ttl < 0 {
        return Err(Reply::error(restore_err::TTL));
    }
    let limits = ctx.rdb_limits();
    let value = rdb::restore(&args[3], &limits).map_err(|e| Reply::error(e.to_string()))?;
    let db = ctx.db();
    let deleted = options.replace && db.delete(key, now);
    let expire_at = match ttl {
        0 => None,
        ttl if options.absttl => Some(ttl),
        // Redis adds without checking overflow; a wrapped time is in the past.
        ttl => Some(ttl.wrapping_add(now as i64)),
    };
    match expire_at {
        Some(at) if at <= now as i64 => {
            if deleted {
                db.notify(notify::GENERIC, "del", key);
                ctx.propagate_as(vec![Bytes::from_static(b"DEL"), key.clone()]);
            }
        }
        at => {
            // A relative TTL goes to replicas as the absolute time it gave (Redis 7.0).
            if let (Some(at), false) = (at, options.absttl) {
                if ctx.replicating() {
                    let mut argv = args.to_vec();
                    argv[2] = Bytes::from(at.to_string());
                    argv.push(Bytes::from_static(b"ABSTTL"));
                    ctx.propagate_as(argv);
                }
            }
            let db = ctx.db();
            db.insert(key.clone(), value, at.map(|at| at as u64));
            db.notify(notify::GENERIC, "restore", key);
            let access = ctx.shared.limits().memory().access();
            if let Some(field) = access.restored(options.idletime, options.freq, now) {
                ctx.db().set_access(key, field);
            }
        }
    }
    Ok(Reply::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(words: &[&str]) -> Result<RestoreOptions, Reply> {
        let words: Vec<Bytes> = words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        RestoreOptions::parse(&words)
    }

    #[test]
    fn restore_options_are_checked_in_redis_order() {
        let both = RestoreOptions {
            replace: true,
            absttl: true,
            idletime: Some(0),
            freq: None,
        };
        assert_eq!(options(&["absttl", "REPLACE", "idletime", "0"]), Ok(both));
        assert!(options(&["FREQ", "255", "freq", "0"]).is_ok());
        let error = |e: &'static str| Err(Reply::error(e));
        assert_eq!(options(&["idletime", "-1"]), error(restore_err::IDLETIME));
        assert_eq!(options(&["freq", "256"]), error(restore_err::FREQ));
        assert_eq!(options(&["freq", "x"]), error(err::NOT_INTEGER));
        assert_eq!(options(&["idletime", "1", "freq", "1"]), error(err::SYNTAX));
        assert_eq!(options(&["freq", "1", "idletime", "1"]), error(err::SYNTAX));
        assert_eq!(options(&["idletime"]), error(err::SYNTAX));
        assert_eq!(options(&["replace", "nx"]), error(err::SYNTAX));
    }
}
