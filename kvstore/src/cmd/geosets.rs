//! Geo commands: GEOADD, GEODIST, GEOHASH, GEOPOS, GEORADIUS, GEORADIUSBYMEMBER (and their
//! `_RO` forms), GEOSEARCH and GEOSEARCHSTORE, wiring [`crate::geo`] (Redis 7.0's `geo.c`
//! arithmetic) to sorted sets.
//!
//! A geo set *is* a sorted set whose scores are 52-bit geohashes: TYPE says zset and every
//! sorted set command works on it. GEOADD is Redis's rewrite into ZADD (the encoded scores
//! go through the ZADD handler found in the command table, so both share one code path and
//! one set of rules). The search commands share [`search_generic`], which follows Redis's
//! `georadiusGeneric` step by step — source lookup, the command's fixed arguments, options
//! left to right, then the compatibility checks — because that order decides which error a
//! client sees. Results stored with STORE / STOREDIST replace the destination (TTL dropped)
//! or delete it when nothing was found.

use std::sync::Arc;

use bytes::Bytes;

use super::args::{c_is, err, int_arg};
use super::{acl, flags, lookup, CommandSpec, Ctx};
use crate::geo::{self, GeoError, GeoPoint, GeoShape, Order, ShapeKind};
use crate::keyspace::{Value, ZSet};
use crate::protocol::Reply;
use crate::state::notify;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("geoadd", -5, flags![WRITE, DENYOOM], acl![GEO], geoadd).keys(1, 1, 1),
    CommandSpec::new("geodist", -4, flags![READONLY], acl![GEO], geodist).keys(1, 1, 1),
    CommandSpec::new("geohash", -2, flags![READONLY], acl![GEO], geohash).keys(1, 1, 1),
    CommandSpec::new("geopos", -2, flags![READONLY], acl![GEO], geopos).keys(1, 1, 1),
    CommandSpec::new("georadius", -6, flags![WRITE, DENYOOM, MOVABLEKEYS], acl![GEO], georadius).keys(1, 1, 1),
    CommandSpec::new("georadius_ro", -6, flags![READONLY], acl![GEO], georadius_ro).keys(1, 1, 1),
    CommandSpec::new("georadiusbymember", -5, flags![WRITE, DENYOOM, MOVABLEKEYS], acl![GEO], georadiusbymember).keys(1, 1, 1),
    CommandSpec::new("georadiusbymember_ro", -5, flags![READONLY], acl![GEO], georadiusbymember_ro).keys(1, 1, 1),
    CommandSpec::new("geosearch", -7, flags![READONLY], acl![GEO], geosearch).keys(1, 1, 1),
    CommandSpec::new("geosearchstore", -8, flags![WRITE, DENYOOM], acl![GEO], geosearchstore).keys(1, 2, 1),
];

const NO_MEMBER: &str = "ERR could not decode requested zset member";

fn geo_error(e: GeoError) -> Reply {
    Reply::error(e.to_string())
}

/// The sorted set at `key` for a read (counts a hit or miss), shared so the command can
/// keep reading it while it writes elsewhere; another type is WRONGTYPE.
fn read(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Arc<ZSet>>, Reply> {
    let now = ctx.now;
    match ctx.db().get(key, now) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z.clone())),
        Some(_) => Err(Reply::error(err::WRONGTYPE)),
    }
}

/// A coordinate as Redis's `addReplyHumanLongDouble` sends it: a bulk string in RESP2, a
/// double in RESP3, the same text in both.
fn coordinate(value: f64, resp: u8) -> Reply {
    let text = geo::format_coordinate(value);
    if resp >= 3 {
        Reply::Encoded(Bytes::from(format!(",{text}\r\n")))
    } else {
        Reply::Bulk(Bytes::from(text))
    }
}

fn distance_reply(meters_in_unit: f64) -> Reply {
    Reply::Bulk(Bytes::from(geo::format_distance(meters_in_unit)))
}

/// GEOADD key [NX | XX] [CH] longitude latitude member [longitude latitude member ...]
fn geoadd(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while first < args.len() {
        let opt = &args[first];
        if c_is(opt, "nx") {
            nx = true;
        } else if c_is(opt, "xx") {
            xx = true;
        } else if !c_is(opt, "ch") {
            break;
        }
        first += 1;
    }
    if (args.len() - first) % 3 != 0 || (nx && xx) {
        return Err(Reply::error(err::SYNTAX));
    }
    // Redis rewrites the command into ZADD key [options] score member ... and runs ZADD.
    let mut zadd_args: Vec<Bytes> = Vec::with_capacity(first + (args.len() - first) / 3 * 2);
    zadd_args.push(Bytes::from_static(b"zadd"));
    zadd_args.extend(args[1..first].iter().cloned());
    for triple in args[first..].chunks(3) {
        let (lon, lat) = geo::parse_lon_lat(&triple[0], &triple[1]).map_err(geo_error)?;
        let score = geo::encode_score(lon, lat) as u64;
        zadd_args.push(Bytes::from(score.to_string()));
        zadd_args.push(triple[2].clone());
    }
    let zadd = lookup(b"zadd").expect("ZADD is in the command table");
    (zadd.handler)(ctx, &zadd_args)
}

/// GEODIST key member1 member2 [M | KM | FT | MI]
fn geodist(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let unit = match args.len() {
        5 => geo::parse_unit(&args[4]).map_err(geo_error)?,
        n if n > 5 => return Err(Reply::error(err::SYNTAX)),
        _ => 1.0,
    };
    let Some(z) = read(ctx, &args[1])? else {
        return Ok(Reply::Nil);
    };
    let (Some(a), Some(b)) = (z.score(&args[2]), z.score(&args[3])) else {
        return Ok(Reply::Nil);
    };
    let (lon1, lat1) = geo::decode_score(a);
    let (lon2, lat2) = geo::decode_score(b);
    Ok(distance_reply(geo::distance(lon1, lat1, lon2, lat2) / unit))
}

/// GEOHASH key [member [member ...]]
fn geohash(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let z = read(ctx, &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| match z.as_ref().and_then(|z| z.score(m)) {
                Some(score) => Reply::Bulk(Bytes::from(geo::geohash_string(score))),
                None => Reply::Nil,
            })
            .collect(),
    ))
}

/// GEOPOS key [member [member ...]]
fn geopos(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let z = read(ctx, &args[1])?;
    let resp = ctx.session.resp;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| match z.as_ref().and_then(|z| z.score(m)) {
                Some(score) => {
                    let (lon, lat) = geo::decode_score(score);
                    Reply::Array(vec![coordinate(lon, resp), coordinate(lat, resp)])
                }
                None => Reply::NilArray,
            })
            .collect(),
    ))
}

/// Which search command runs (Redis's `RADIUS_*` / `GEOSEARCH*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Search {
    /// GEORADIUS / GEORADIUS_RO: centre and radius are fixed arguments.
    Coords { store: bool },
    /// GEORADIUSBYMEMBER / _RO: a member is the centre.
    Member { store: bool },
    /// GEOSEARCH / GEOSEARCHSTORE: FROM... and BY... options.
    Options { store: bool },
}

/// GEORADIUS key longitude latitude radius M | KM | FT | MI [WITHCOORD] [WITHDIST]
/// [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]
fn georadius(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    search_generic(ctx, args, Search::Coords { store: true })
}

/// GEORADIUS_RO: GEORADIUS without STORE.
fn georadius_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    search_generic(ctx, args, Search::Coords { store: false })
}

/// GEORADIUSBYMEMBER key member radius unit [options as GEORADIUS]
fn georadiusbymember(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    search_generic(ctx, args, Search::Member { store: true })
}

/// GEORADIUSBYMEMBER_RO: GEORADIUSBYMEMBER without STORE.
fn georadiusbymember_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    search_generic(ctx, args, Search::Member { store: false })
}

/// GEOSEARCH key FROMMEMBER member | FROMLONLAT longitude latitude
/// BYRADIUS radius unit | BYBOX width height unit [ASC | DESC] [COUNT count [ANY]]
/// [WITHCOORD] [WITHDIST] [WITHHASH]
fn geosearch(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    search_generic(ctx, args, Search::Options { store: false })
}

/// GEOSEARCHSTORE destination source [GEOSEARCH's options] [STOREDIST]
fn geosearchstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    search_generic(ctx, args, Search::Options { store: true })
}

/// Redis's `georadiusGeneric`.
fn search_generic(ctx: &mut Ctx, args: &[Bytes], kind: Search) -> Result<Reply, Reply> {
    let search_options = matches!(kind, Search::Options { .. });
    let src = if kind == (Search::Options { store: true }) {
        2
    } else {
        1
    };
    let zset = read(ctx, &args[src])?;

    // The command's fixed arguments.
    let mut centre: Option<(f64, f64)> = None;
    let mut shape: Option<(ShapeKind, f64)> = None;
    let mut store_key: Option<&Bytes> = None;
    let base = match kind {
        Search::Coords { .. } => {
            centre = Some(geo::parse_lon_lat(&args[2], &args[3]).map_err(geo_error)?);
            let (r, unit) = geo::parse_radius(&args[4], &args[5]).map_err(geo_error)?;
            shape = Some((ShapeKind::Radius(r), unit));
            6
        }
        Search::Member { .. } => {
            if let Some(z) = &zset {
                let score = z.score(&args[2]).ok_or(Reply::error(NO_MEMBER))?;
                centre = Some(geo::decode_score(score));
                let (r, unit) = geo::parse_radius(&args[3], &args[4]).map_err(geo_error)?;
                shape = Some((ShapeKind::Radius(r), unit));
            }
            5
        }
        Search::Options { store: true } => {
            store_key = Some(&args[1]);
            3
        }
        Search::Options { store: false } => 2,
    };
    let can_store = matches!(
        kind,
        Search::Coords { store: true } | Search::Member { store: true }
    );

    // Options, left to right.
    let (mut withdist, mut withhash, mut withcoord) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut order: Option<Order> = None;
    let mut any = false;
    let mut count: usize = 0;
    let mut storedist = false;
    let opts = &args[base..];
    let mut i = 0;
    while i < opts.len() {
        let arg = &opts[i];
        let left = opts.len() - i - 1;
        if c_is(arg, "withdist") {
            withdist = true;
        } else if c_is(arg, "withhash") {
            withhash = true;
        } else if c_is(arg, "withcoord") {
            withcoord = true;
        } else if c_is(arg, "any") {
            any = true;
        } else if c_is(arg, "asc") {
            order = Some(Order::Asc);
        } else if c_is(arg, "desc") {
            order = Some(Order::Desc);
        } else if c_is(arg, "count") && left >= 1 {
            let n = int_arg(&opts[i + 1])?;
            if n <= 0 {
                return Err(Reply::error("ERR COUNT must be > 0"));
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
            i += 1;
        } else if (c_is(arg, "store") || c_is(arg, "storedist")) && left >= 1 && can_store {
            store_key = Some(&opts[i + 1]);
            storedist = c_is(arg, "storedist");
            i += 1;
        } else if c_is(arg, "storedist") && kind == (Search::Options { store: true }) {
            storedist = true;
        } else if c_is(arg, "frommember") && left >= 1 && search_options && !fromloc {
            if let Some(z) = &zset {
                let score = z.score(&opts[i + 1]).ok_or(Reply::error(NO_MEMBER))?;
                centre = Some(geo::decode_score(score));
            }
            frommember = true;
            i += 1;
        } else if c_is(arg, "fromlonlat") && left >= 2 && search_options && !frommember {
            centre = Some(geo::parse_lon_lat(&opts[i + 1], &opts[i + 2]).map_err(geo_error)?);
            fromloc = true;
            i += 2;
        } else if c_is(arg, "byradius") && left >= 2 && search_options && !bybox {
            let (r, unit) = geo::parse_radius(&opts[i + 1], &opts[i + 2]).map_err(geo_error)?;
            shape = Some((ShapeKind::Radius(r), unit));
            byradius = true;
            i += 2;
        } else if c_is(arg, "bybox") && left >= 3 && search_options && !byradius {
            let (width, height, unit) =
                geo::parse_box(&opts[i + 1], &opts[i + 2], &opts[i + 3]).map_err(geo_error)?;
            shape = Some((ShapeKind::Box { width, height }, unit));
            bybox = true;
            i += 3;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        i += 1;
    }

    // Options that do not go together.
    if store_key.is_some() && (withdist || withhash || withcoord) {
        return Err(Reply::error(format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if search_options {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    let name = String::from_utf8_lossy(&args[0]);
    if search_options && !(frommember || fromloc) {
        return Err(Reply::error(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if search_options && !(byradius || bybox) {
        return Err(Reply::error(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(Reply::error("ERR the ANY argument requires COUNT argument"));
    }

    let (Some(z), Some((lon, lat)), Some((kind, unit))) = (zset, centre, shape) else {
        // The source key does not exist.
        return Ok(match store_key {
            Some(dst) => {
                let now = ctx.now;
                if ctx.db().delete(dst, now) {
                    ctx.notify(notify::GENERIC, "del", dst);
                }
                Reply::Integer(0)
            }
            None => Reply::Array(Vec::new()),
        });
    };
    if count != 0 && order.is_none() && !any {
        order = Some(Order::Asc);
    }
    let shape = GeoShape {
        lon,
        lat,
        kind,
        unit,
    };
    let mut points = geo::search(
        &shape,
        |min, max| {
            let start = z.partition_point(|item| item.0 < min);
            z.iter_from(start)
                .take_while(move |item| item.0 < max)
                .map(|(score, member)| (member.clone(), *score))
        },
        if any { count } else { 0 },
    );
    if let Some(order) = order {
        geo::sort_points(&mut points, order, count);
    }
    if count != 0 {
        points.truncate(count);
    }

    let Some(dst) = store_key else {
        let resp = ctx.session.resp;
        return Ok(Reply::Array(
            points
                .into_iter()
                .map(|p| point_reply(p, unit, withdist, withhash, withcoord, resp))
                .collect(),
        ));
    };
    let now = ctx.now;
    let limits = ctx.shared.limits().zset();
    let found = points.len() as i64;
    let db = ctx.db();
    if points.is_empty() {
        if db.delete(dst, now) {
            db.notify(notify::GENERIC, "del", dst);
        }
    } else {
        let items = points.into_iter().map(|p| {
            let score = if storedist { p.dist / unit } else { p.score };
            (score, p.member)
        });
        let result = ZSet::from_items(items, limits);
        db.insert(dst.clone(), Value::ZSet(Arc::new(result)), None);
        let event = if search_options {
            "geosearchstore"
        } else {
            "georadiusstore"
        };
        db.notify(notify::ZSET, event, dst);
    }
    Ok(Reply::Integer(found))
}

/// One search result: the member alone, or `[member, dist?, hash?, [lon, lat]?]`.
fn point_reply(
    p: GeoPoint<Bytes>,
    unit: f64,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    resp: u8,
) -> Reply {
    if !(withdist || withhash || withcoord) {
        return Reply::Bulk(p.member);
    }
    let mut out = vec![Reply::Bulk(p.member)];
    if withdist {
        out.push(distance_reply(p.dist / unit));
    }
    if withhash {
        out.push(Reply::Integer(p.score as i64));
    }
    if withcoord {
        out.push(Reply::Array(vec![
            coordinate(p.lon, resp),
            coordinate(p.lat, resp),
        ]));
    }
    Reply::Array(out)
}
