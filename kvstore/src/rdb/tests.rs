//! The codec against a real redis-server 7.0: values are built there with commands, DUMPed,
//! and checked three ways — our `restore` of Redis's payload reads back as Redis reads the
//! value, our `dump` of it is Redis's very bytes where Redis's choice is deterministic, and
//! Redis RESTOREs our payload into the same value.

use bytes::Bytes;

use super::file::{FileError, FileReader, FileWriter, KeyRecord, Record};
use super::listpack::tests::ziplist;
use super::*;
use crate::keyspace::Hash;
use crate::number::write_double;
use crate::redis_oracle::{RedisOracle, Resp};

/// The shared redis-server oracle, with binary-argument commands and the codec's round trips.
struct Redis(RedisOracle);

impl Redis {
    fn start() -> Option<Redis> {
        RedisOracle::start().map(Redis)
    }

    /// Starts one with more configuration (`--dir`, `--dbfilename`...).
    fn start_with(extra: &[&str]) -> Option<Redis> {
        RedisOracle::start_with(extra).map(Redis)
    }

    fn cmd(&mut self, args: &[&[u8]]) -> Resp {
        self.0.cmd(args)
    }

    fn run(&mut self, line: &str) -> Resp {
        self.0.run(line)
    }

    fn dump(&mut self, key: &str) -> Vec<u8> {
        self.cmd(&[b"DUMP", key.as_bytes()]).bulk()
    }

    fn restore(&mut self, key: &str, payload: &[u8]) -> Resp {
        self.cmd(&[b"RESTORE", key.as_bytes(), b"0", payload, b"REPLACE"])
    }

    /// The key as commands see it: type, encoding, and contents in reply order (sorted
    /// where the encoding's order is a hash table's).
    fn snapshot(&mut self, key: &str) -> Snapshot {
        let k = key.as_bytes();
        let kind = self.cmd(&[b"TYPE", k]).status();
        let encoding = String::from_utf8(self.cmd(&[b"OBJECT", b"ENCODING", k]).bulk()).unwrap();
        let mut items = match kind.as_str() {
            "string" => vec![self.cmd(&[b"GET", k]).bulk()],
            "list" => self.cmd(&[b"LRANGE", k, b"0", b"-1"]).bulks(),
            "hash" => self.cmd(&[b"HGETALL", k]).bulks(),
            "set" => self.cmd(&[b"SMEMBERS", k]).bulks(),
            "zset" => self
                .cmd(&[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"])
                .bulks(),
            // A stream's replies nest; its payload is compared instead.
            "stream" => vec![self.dump(key)],
            other => panic!("type {other}"),
        };
        unordered(&kind, &encoding, &mut items);
        Snapshot {
            kind,
            encoding,
            items,
        }
    }
}

/// Redis's `+OK`.
fn ok() -> Resp {
    Resp::Simple(b"OK".to_vec())
}

#[derive(Debug, PartialEq)]
struct Snapshot {
    kind: String,
    encoding: String,
    items: Vec<Vec<u8>>,
}

/// Sorts contents whose order is a hash table's (pairs kept together for hashes).
fn unordered(kind: &str, encoding: &str, items: &mut Vec<Vec<u8>>) {
    if encoding != "hashtable" {
        return;
    }
    if kind == "hash" {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = items
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect();
        pairs.sort();
        *items = pairs.into_iter().flat_map(|(f, v)| [f, v]).collect();
    } else {
        items.sort();
    }
}

/// Our value as the snapshot commands would show it.
fn describe(value: &Value) -> Snapshot {
    let bytes = |b: &[u8]| b.to_vec();
    let mut items: Vec<Vec<u8>> = match value {
        Value::Str(s) | Value::RawStr(s) => vec![s.to_vec()],
        Value::List(l) => l.iter().map(|b| b.to_vec()).collect(),
        Value::Hash(h) => h.iter().flat_map(|(f, v)| [bytes(f), bytes(v)]).collect(),
        Value::Set(s) => s.iter().map(|b| b.to_vec()).collect(),
        Value::ZSet(z) => z
            .iter()
            .flat_map(|(score, member)| {
                let mut text = Vec::new();
                write_double(&mut text, *score);
                [member.to_vec(), text]
            })
            .collect(),
        Value::Stream(_) => vec![dump(value, &Limits::default())],
    };
    let (kind, encoding) = (value.type_name(), value.encoding());
    unordered(kind, encoding, &mut items);
    Snapshot {
        kind: kind.to_string(),
        encoding: encoding.to_string(),
        items,
    }
}

/// Checks the value at `key` in Redis three ways (see the module doc); `exact` says whether
/// Redis's bytes are a function of the value, so ours must equal them.
fn check(redis: &mut Redis, key: &str, limits: &Limits, exact: bool) -> Value {
    let payload = redis.dump(key);
    let expected = redis.snapshot(key);
    let value = restore(&payload, limits).expect("our restore accepts Redis's payload");
    assert_eq!(describe(&value), expected, "restore of {key}");
    let ours = dump(&value, limits);
    if exact {
        assert_eq!(ours, payload, "dump of {key}");
    }
    assert_eq!(redis.restore("copy", &ours), ok(), "{key}");
    assert_eq!(
        redis.snapshot("copy"),
        expected,
        "Redis's restore of our dump of {key}"
    );
    value
}

/// Sends one command per element, e.g. `RPUSH key <item>` for each item.
fn push_each(redis: &mut Redis, prefix: &[&[u8]], items: &[Vec<u8>]) {
    for item in items {
        let mut args = prefix.to_vec();
        args.push(item);
        redis.cmd(&args);
    }
}

/// Deterministic pseudo-random bytes that LZF cannot shrink.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn payload_with_footer(body: &[u8], version: u16) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn crc64_matches_redis_check_value() {
    assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
}

#[test]
fn strings_of_every_encoding() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let limits = Limits::default();
    let mut values: Vec<Vec<u8>> = [
        "",
        "0",
        "-1",
        "127",
        "128",
        "-129",
        "-32768",
        "65535",
        "2147483647",
        "-2147483648",
        "2147483648",
        "12345678901",
        "9223372036854775807",
        "-9223372036854775808",
        "007",
        "+1",
        "-0",
        "1.5",
        "abc",
        "aaaaaaaaaaaaaaaaaaaa",
        "aaaaaaaaaaaaaaaaaaaaa",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    values.push(b"hello world ".repeat(10));
    values.push(vec![b'x'; 1000]);
    values.push(noise(100, 1));
    values.push(noise(30, 2));
    values.push(b"abcabcabcabcabcabcabcabcabcabcab\x00\xff".repeat(300));
    for (i, v) in values.iter().enumerate() {
        let key = format!("s{i}");
        redis.cmd(&[b"SET", key.as_bytes(), v]);
        check(&mut redis, &key, &limits, true);
        // A value built here dumps as Redis dumps it, whatever its encoding there.
        assert_eq!(
            dump(&Value::Str(Bytes::from(v.clone())), &limits),
            redis.dump(&key)
        );
    }
    // APPEND leaves a raw-encoded string there; its payload is the same, and restoring it
    // gives a plain string, as RESTORE in Redis re-encodes it.
    redis.run("SET r 12");
    redis.run("APPEND r 3");
    let payload = redis.dump("r");
    assert_eq!(dump(&Value::RawStr(Bytes::from("123")), &limits), payload);
    assert_eq!(
        restore(&payload, &limits),
        Ok(Value::Str(Bytes::from("123")))
    );
    redis.restore("copy", &payload);
    assert_eq!(redis.snapshot("copy").encoding, "int");
}

/// Strings of many shapes, from barely to highly compressible: LZF's output must be
/// liblzf's byte for byte, including where it gives up for lack of room.
#[test]
fn compressed_strings_match_liblzf() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let limits = Limits::default();
    let mut compressed = 0;
    for seed in 0..400u64 {
        let len = 21 + (seed as usize * 37) % 3000;
        let alphabet = 2 + (seed % 254) as u8;
        let source = noise(len, seed);
        let mut v: Vec<u8> = Vec::with_capacity(len);
        for (i, &b) in source.iter().enumerate() {
            // Now and then copy a run from earlier on, as real data repeats itself.
            if i % (3 + seed as usize % 97) == 0 && v.len() > 10 && b % 3 == 0 {
                let from = usize::from(b) % v.len();
                let run = (usize::from(source[(i + 1) % len]) % 40).min(v.len() - from);
                let copied = v[from..from + run].to_vec();
                v.extend_from_slice(&copied);
            }
            v.push(b % alphabet);
        }
        redis.cmd(&[b"SET", b"k", &v]);
        let ours = dump(&Value::Str(Bytes::from(v.clone())), &limits);
        assert_eq!(ours, redis.dump("k"), "string {seed} of {} bytes", v.len());
        compressed += usize::from(ours[1] == 0xc3);
    }
    // Both outcomes were exercised.
    assert!(
        (20..380).contains(&compressed),
        "{compressed} of 400 compressed"
    );
}

#[test]
fn strings_without_rdbcompression() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    redis.run("CONFIG SET rdbcompression no");
    let limits = Limits {
        rdbcompression: false,
        ..Limits::default()
    };
    redis.cmd(&[b"SET", b"k", &vec![b'y'; 500]]);
    let value = check(&mut redis, "k", &limits, true);
    assert_eq!(dump(&value, &limits).len(), 1 + 2 + 500 + 10);
}

#[test]
fn lists_small_large_and_compressed() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let limits = Limits::default();
    redis.run("RPUSH small a 1 -5 100000 4611686018427387904 -0 x");
    redis.cmd(&[b"RPUSH", b"small", b""]);
    check(&mut redis, "small", &limits, true);

    // Thousands of mixed elements: several 8 KB nodes.
    let items: Vec<Vec<u8>> = (0..3000)
        .map(|i| match i % 4 {
            0 => i.to_string().into_bytes(),
            1 => format!("element-{i}").into_bytes(),
            2 => (-(i as i64) * 1000).to_string().into_bytes(),
            _ => noise(i % 90, i as u64),
        })
        .collect();
    push_each(&mut redis, &[b"RPUSH", b"big"], &items);
    let v = check(&mut redis, "big", &limits, true);
    assert_eq!(v.as_list().map(|l| l.len()), Some(3000));

    // Big elements: a node of their own, compressible or not.
    push_each(
        &mut redis,
        &[b"RPUSH", b"wide"],
        &[
            vec![b'a'; 5000],
            noise(9000, 3),
            b"tail".to_vec(),
            vec![b'q'; 70000],
        ],
    );
    check(&mut redis, "wide", &limits, true);

    // Count-limited nodes and compressed interior nodes.
    redis.run("CONFIG SET list-max-listpack-size 5");
    redis.run("CONFIG SET list-compress-depth 1");
    let limits = Limits {
        list_max_listpack_size: 5,
        list_compress_depth: 1,
        ..Limits::default()
    };
    let items: Vec<Vec<u8>> = (0..40)
        .map(|i| format!("compressible value number {i:04} ......").into_bytes())
        .collect();
    push_each(&mut redis, &[b"RPUSH", b"counted"], &items);
    check(&mut redis, "counted", &limits, true);
}

#[test]
fn hashes_listpack_and_hashtable() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let limits = Limits::default();
    redis.run("HSET small f1 v1 num 12345 neg -7 big 99999999999 empty x");
    redis.cmd(&[b"HSET", b"small", b"", b""]);
    redis.run("HSET small f1 changed-value");
    redis.run("HDEL small neg");
    let v = check(&mut redis, "small", &limits, true);
    // The keyspace's own hash, built by the same commands, dumps to the same bytes.
    let mut h = Hash::default();
    for (f, val) in [
        ("f1", "v1"),
        ("num", "12345"),
        ("neg", "-7"),
        ("big", "99999999999"),
        ("empty", "x"),
        ("", ""),
    ] {
        h.set(Bytes::from(f), Bytes::from(val), limits.hash);
    }
    h.set(Bytes::from("f1"), Bytes::from("changed-value"), limits.hash);
    h.remove(b"neg");
    assert_eq!(
        dump(&Value::Hash(std::sync::Arc::new(h)), &limits),
        dump(&v, &limits)
    );

    // A long value: a hash table (dict order, so no byte comparison).
    redis.cmd(&[b"HSET", b"long", b"a", b"1", b"b", &[b'v'; 100]]);
    check(&mut redis, "long", &limits, false);

    let fields: Vec<Vec<u8>> = (0..600)
        .map(|i| format!("field:{i}").into_bytes())
        .collect();
    for f in &fields {
        redis.cmd(&[b"HSET", b"many", f, f]);
    }
    check(&mut redis, "many", &limits, false);

    // A listpack hash with a long value stays a listpack through RESTORE, as in Redis.
    redis.run("CONFIG SET hash-max-listpack-value 1000");
    redis.cmd(&[b"HSET", b"lp", b"a", &vec![b'v'; 500], b"n", b"-300"]);
    redis.run("CONFIG SET hash-max-listpack-value 64");
    check(&mut redis, "lp", &limits, true);
}

#[test]
fn sets_intset_and_hashtable() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let limits = Limits::default();
    redis.run("SADD i16 5 -3 100 0");
    check(&mut redis, "i16", &limits, true);
    redis.run("SADD i32 5 -3 100000");
    check(&mut redis, "i32", &limits, true);
    redis.run("SADD i64 1 -9223372036854775808 9223372036854775807");
    check(&mut redis, "i64", &limits, true);
    redis.run("SADD strings a b c 1");
    check(&mut redis, "strings", &limits, false);
    let members: Vec<Vec<u8>> = (0..600).map(|i| (i * 7).to_string().into_bytes()).collect();
    push_each(&mut redis, &[b"SADD", b"bigints"], &members);
    check(&mut redis, "bigints", &limits, false);
}

#[test]
fn sorted_sets_listpack_and_skiplist() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let limits = Limits::default();
    redis
        .run("ZADD small 1 a -2.5 b inf c -inf d 0 e -0 f 1e300 g 0.1 h 4611686018427387904 i 3 5");
    redis.run("ZADD small 4611686018427387903 j -1e-300 k 123456789012 l");
    redis.cmd(&[b"ZADD", b"small", b"7", b""]);
    check(&mut redis, "small", &limits, true);

    let mut args: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"big".to_vec()];
    for i in 0..300 {
        args.push(format!("{}", (i as f64 * 1.37) % 50.0 - 10.0).into_bytes());
        args.push(format!("m{i}").into_bytes());
    }
    args.extend([
        b"-0".to_vec(),
        b"negzero".to_vec(),
        b"inf".to_vec(),
        b"top".to_vec(),
    ]);
    let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    redis.cmd(&refs);
    check(&mut redis, "big", &limits, true);

    redis.cmd(&[b"ZADD", b"longmember", b"1", &[b'm'; 100], b"2", b"x"]);
    check(&mut redis, "longmember", &limits, true);
}

#[test]
fn bad_payloads_get_redis_errors() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let limits = Limits::default();
    redis.run("RPUSH l a b c");
    let good = redis.dump("l");
    let body = &good[..good.len() - 10];

    let mut flipped = good.clone();
    flipped[3] ^= 0x20;
    let mut new_version = body.to_vec();
    new_version.extend_from_slice(&11u16.to_le_bytes());
    let crc = crc64(&new_version);
    new_version.extend_from_slice(&crc.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad checksum", flipped),
        ("cut footer", good[..good.len() - 1].to_vec()),
        ("too short", good[..9].to_vec()),
        ("empty", Vec::new()),
        ("newer version", new_version),
        (
            "truncated body",
            payload_with_footer(&body[..body.len() - 3], 10),
        ),
        ("unknown type", payload_with_footer(&[200, 1, b'a'], 10)),
        (
            "empty list",
            payload_with_footer(&[object::TYPE_LIST, 0], 10),
        ),
        ("empty body", payload_with_footer(&[], 10)),
        (
            "stream length without nodes",
            payload_with_footer(&[15, 0], 10),
        ),
    ];
    for (what, payload) in cases {
        let ours = restore(&payload, &limits).expect_err(what);
        assert_eq!(
            redis.restore("x", &payload),
            Resp::Error(ours.to_string().into_bytes()),
            "{what}"
        );
    }
    // An older version with a good checksum is fine.
    let v9 = payload_with_footer(body, 9);
    assert!(restore(&v9, &limits).is_ok());
    assert_eq!(redis.restore("x", &v9), ok());
}

/// Checks a hand-built RDB 9 payload: Redis accepts it, and our restore reads back as
/// Redis's copy does.
fn check_rdb9(redis: &mut Redis, body: &[u8], limits: &Limits) -> Value {
    let payload = payload_with_footer(body, 9);
    assert_eq!(redis.restore("old", &payload), ok());
    let value = restore(&payload, limits).expect("our restore accepts an RDB 9 payload");
    assert_eq!(describe(&value), redis.snapshot("old"));
    value
}

fn string(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encoding::write_string(&mut out, s, false);
    out
}

#[test]
fn rdb9_payloads_with_ziplists() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let limits = Limits::default();
    let long = vec![b'L'; 300];

    // A quicklist of two ziplist nodes.
    let mut body = vec![object::TYPE_LIST_QUICKLIST, 2];
    body.extend(string(&ziplist(&[
        b"a",
        b"12",
        b"-70000",
        b"9223372036854775807",
    ])));
    body.extend(string(&ziplist(&[b"", &long, b"13"])));
    let v = check_rdb9(&mut redis, &body, &limits);
    assert_eq!(v.as_list().map(|l| l.len()), Some(7));

    let mut body = vec![object::TYPE_LIST_ZIPLIST];
    body.extend(string(&ziplist(&[b"x", b"-1"])));
    check_rdb9(&mut redis, &body, &limits);

    let mut body = vec![object::TYPE_HASH_ZIPLIST];
    body.extend(string(&ziplist(&[b"f", b"1", b"g", &long, b"200", b"v"])));
    check_rdb9(&mut redis, &body, &limits);

    let mut body = vec![object::TYPE_ZSET_ZIPLIST];
    body.extend(string(&ziplist(&[b"a", b"-3", b"b", b"1.5", b"c", b"inf"])));
    check_rdb9(&mut redis, &body, &limits);

    // The plain forms, including the textual doubles of RDB_TYPE_ZSET.
    let mut body = vec![object::TYPE_ZSET, 3];
    for (member, score) in [(&b"m1"[..], &b"2.5"[..]), (b"m2", b"-1"), (b"m3", b"100")] {
        body.extend(string(member));
        body.push(score.len() as u8);
        body.extend_from_slice(score);
    }
    check_rdb9(&mut redis, &body, &limits);

    let mut body = vec![object::TYPE_LIST, 2];
    body.extend(string(b"one"));
    body.extend(string(b"2"));
    check_rdb9(&mut redis, &body, &limits);

    let mut body = vec![object::TYPE_SET_INTSET];
    body.extend(string(&intset::encode(&[-5, 3, 70000])));
    check_rdb9(&mut redis, &body, &limits);

    // A ziplist with a duplicate hash field is refused by both.
    let mut body = vec![object::TYPE_HASH_ZIPLIST];
    body.extend(string(&ziplist(&[b"f", b"1", b"f", b"2"])));
    let payload = payload_with_footer(&body, 9);
    assert_eq!(restore(&payload, &limits), Err(RestoreError::BadFormat));
    let refused = Resp::Error(RestoreError::BadFormat.to_string().into_bytes());
    assert_eq!(redis.restore("old", &payload), refused);
}

/// Builds one key of each kind in Redis, some with an expiry, in databases 0 and 2.
fn populate(redis: &mut Redis) -> Vec<(usize, String)> {
    redis.run("SET str hello");
    redis.run("SET num 12345");
    redis.run("PEXPIREAT num 4102444800000");
    redis.run("RPUSH list a b 3");
    redis.run("HSET hash f v n 1");
    redis.run("SADD set 1 2 3");
    redis.run("SADD strset x y");
    redis.run("ZADD zset 1 a 2.5 b");
    redis.cmd(&[b"SET", b"long", &b"compress me ".repeat(20)]);
    redis.run("XADD stream 1-0 f v");
    redis.run("XADD stream 2-0 f w g 7");
    redis.run("XGROUP CREATE stream g 0");
    redis.run("XREADGROUP GROUP g c COUNT 1 STREAMS stream >");
    redis.run("SELECT 2");
    redis.run("SET other value");
    redis.run("PEXPIREAT other 4102444800123");
    redis.run("SELECT 0");
    [
        "str", "num", "list", "hash", "set", "strset", "zset", "long", "stream",
    ]
    .iter()
    .map(|k| (0, k.to_string()))
    .chain([(2, "other".to_string())])
    .collect()
}

fn expire_of(redis: &mut Redis, db: usize, key: &str) -> Option<u64> {
    redis.cmd(&[b"SELECT", db.to_string().as_bytes()]);
    let reply = redis.cmd(&[b"PEXPIRETIME", key.as_bytes()]);
    redis.run("SELECT 0");
    match reply {
        Resp::Int(-1) => None,
        Resp::Int(at) => Some(at as u64),
        other => panic!("PEXPIRETIME: {other:?}"),
    }
}

fn snapshot_in(redis: &mut Redis, db: usize, key: &str) -> Snapshot {
    redis.cmd(&[b"SELECT", db.to_string().as_bytes()]);
    let s = redis.snapshot(key);
    redis.run("SELECT 0");
    s
}

#[test]
fn reads_the_rdb_file_redis_saves() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut redis) = Redis::start_with(&["--dir", dir.path().to_str().unwrap()]) else {
        return;
    };
    let keys = populate(&mut redis);
    assert_eq!(redis.run("SAVE"), ok());
    let bytes = std::fs::read(dir.path().join("dump.rdb")).unwrap();

    let limits = Limits::default();
    let mut reader = FileReader::new(&bytes, limits).unwrap();
    assert_eq!(reader.version(), 10);
    let mut aux = Vec::new();
    let mut loaded: Vec<KeyRecord> = Vec::new();
    while let Some(record) = reader.next().unwrap() {
        match record {
            Record::Aux { key, value } => aux.push((key, value)),
            Record::Key(k) => loaded.push(k),
            _ => {}
        }
    }
    assert!(aux.contains(&(Bytes::from("redis-ver"), Bytes::from("7.0.15"))));
    assert_eq!(loaded.len(), keys.len());
    for (db, key) in keys {
        let record = loaded
            .iter()
            .find(|r| r.key == key.as_bytes())
            .expect("key in file");
        assert_eq!(record.db, db, "{key}");
        assert_eq!(
            describe(&record.value),
            snapshot_in(&mut redis, db, &key),
            "{key}"
        );
        assert_eq!(
            record.expire_at_ms,
            expire_of(&mut redis, db, &key),
            "{key}"
        );
    }

    // A flipped byte fails the checksum; a cut file is corrupt.
    let mut flipped = bytes.clone();
    let at = flipped.len() - 20;
    flipped[at] ^= 1;
    let mut reader = FileReader::new(&flipped, limits).unwrap();
    let outcome = std::iter::from_fn(|| reader.next().transpose()).find_map(Result::err);
    assert!(outcome.is_some(), "a damaged file reads to the end");
    let mut reader = FileReader::new(&bytes[..bytes.len() - 12], limits).unwrap();
    let outcome = std::iter::from_fn(|| reader.next().transpose()).find_map(Result::err);
    assert!(
        matches!(outcome, Some(FileError::Corrupt(_))),
        "{outcome:?}"
    );
    assert_eq!(
        FileReader::new(b"REDIS0011", limits).err(),
        Some(FileError::Version(11))
    );
    assert_eq!(
        FileReader::new(b"RODIS0010", limits).err(),
        Some(FileError::BadMagic)
    );
}

#[test]
fn redis_loads_the_rdb_file_we_write() {
    // Take the values from one Redis, write them to a file, start a second Redis on it.
    let Some(mut source) = Redis::start() else {
        return;
    };
    let keys = populate(&mut source);
    let limits = Limits::default();
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("dump.rdb")).unwrap();
    let mut w = FileWriter::new(std::io::BufWriter::new(file), limits).unwrap();
    w.aux(b"redis-ver", b"7.0.15").unwrap();
    for db in [0usize, 2] {
        let in_db: Vec<&String> = keys
            .iter()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k)
            .collect();
        let expiring = in_db
            .iter()
            .filter(|k| expire_of(&mut source, db, k).is_some())
            .count();
        w.select_db(db, in_db.len(), expiring).unwrap();
        for key in in_db {
            source.cmd(&[b"SELECT", db.to_string().as_bytes()]);
            let value = restore(&source.dump(key), &limits).unwrap();
            source.run("SELECT 0");
            w.key(key.as_bytes(), &value, expire_of(&mut source, db, key))
                .unwrap();
        }
    }
    w.finish().unwrap();

    let Some(mut loaded) = Redis::start_with(&["--dir", dir.path().to_str().unwrap()]) else {
        return;
    };
    assert_eq!(loaded.run("DBSIZE"), Resp::Int(9));
    for (db, key) in keys {
        assert_eq!(
            snapshot_in(&mut loaded, db, &key),
            snapshot_in(&mut source, db, &key),
            "{key}"
        );
        assert_eq!(
            expire_of(&mut loaded, db, &key),
            expire_of(&mut source, db, &key),
            "{key}"
        );
    }
}

/// Every `list-max-listpack-size` and a few `list-compress-depth`s: nodes split and compress
/// where Redis's do.
#[test]
fn list_node_splits_follow_every_fill() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let items: Vec<Vec<u8>> = (0..700)
        .map(|i| match i % 3 {
            0 => format!("item {i} of a list that repeats itself a little").into_bytes(),
            1 => (i * 31).to_string().into_bytes(),
            _ => noise(i % 50, i as u64),
        })
        .collect();
    for fill in [-1i64, -3, -4, -5, 1, 7, 128] {
        for depth in [0u32, 2, 3] {
            redis.cmd(&[
                b"CONFIG",
                b"SET",
                b"list-max-listpack-size",
                fill.to_string().as_bytes(),
            ]);
            redis.cmd(&[
                b"CONFIG",
                b"SET",
                b"list-compress-depth",
                depth.to_string().as_bytes(),
            ]);
            redis.run("DEL l");
            push_each(&mut redis, &[b"RPUSH", b"l"], &items);
            let limits = Limits {
                list_max_listpack_size: fill,
                list_compress_depth: depth,
                ..Limits::default()
            };
            let payload = redis.dump("l");
            let value = restore(&payload, &limits).unwrap();
            assert_eq!(dump(&value, &limits), payload, "fill {fill} depth {depth}");
        }
    }
}

/// Collections Redis never converts back to their compact encoding after shrinking are
/// converted by RESTORE, in Redis and here alike.
#[test]
fn restore_converts_shrunk_collections_back() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let limits = Limits::default();
    let members: Vec<Vec<u8>> = (0..200).map(|i| format!("m{i}").into_bytes()).collect();
    push_each(&mut redis, &[b"ZADD", b"z", b"1"], &members);
    redis.run("ZREMRANGEBYRANK z 0 194");
    redis.run("ZADD z -0 zero");
    let payload = redis.dump("z");
    assert_eq!(payload[0], object::TYPE_ZSET_2);
    let value = restore(&payload, &limits).unwrap();
    assert_eq!(value.encoding(), "listpack");
    redis.restore("z2", &payload);
    assert_eq!(describe(&value), redis.snapshot("z2"));

    redis.cmd(&[b"HSET", b"h", b"big", &[b'x'; 100], b"small", b"1"]);
    redis.run("HDEL h big");
    let payload = redis.dump("h");
    assert_eq!(payload[0], object::TYPE_HASH);
    let value = restore(&payload, &limits).unwrap();
    assert_eq!(value.encoding(), "listpack");
    redis.restore("h2", &payload);
    assert_eq!(describe(&value), redis.snapshot("h2"));
}

/// Damaged bodies behind a valid footer are refused, never a panic.
#[test]
fn damaged_bodies_never_panic() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let limits = Limits::default();
    redis.run("RPUSH l a 1 -300 100000 x");
    redis.run("HSET h f v n 5");
    redis.run("SADD s 1 2 70000");
    redis.run("ZADD z 1 a 2.5 b");
    redis.cmd(&[b"SET", b"c", &b"compress me ".repeat(20)]);
    let members: Vec<Vec<u8>> = (0..150).map(|i| format!("m{i}").into_bytes()).collect();
    push_each(&mut redis, &[b"ZADD", b"big", b"1"], &members);
    redis.run("XADD x 1-0 f v n 5");
    redis.run("XADD x 2-0 f w n -300");
    redis.run("XADD x 3-0 other 1");
    redis.run("XDEL x 2-0");
    redis.run("XGROUP CREATE x g 0");
    redis.run("XREADGROUP GROUP g c COUNT 1 STREAMS x >");
    redis.run("XREADGROUP GROUP g d STREAMS x >");
    let mut refused = 0;
    for key in ["l", "h", "s", "z", "c", "big", "x"] {
        let payload = redis.dump(key);
        let body = &payload[..payload.len() - 10];
        for i in 0..body.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut damaged = body.to_vec();
                damaged[i] ^= flip;
                refused +=
                    usize::from(restore(&payload_with_footer(&damaged, 10), &limits).is_err());
            }
            refused += usize::from(restore(&payload_with_footer(&body[..i], 10), &limits).is_err());
        }
    }
    assert!(refused > 1000, "{refused}");
}

/// Values built by the keyspace's own types with the same operations as the Redis commands
/// dump to Redis's bytes: the keyspace's encoding choices and the codec agree.
#[test]
fn keyspace_built_values_dump_as_redis() {
    use crate::keyspace::{Set, ZSet};
    use std::sync::Arc;

    let Some(mut redis) = Redis::start() else {
        return;
    };
    let limits = Limits::default();

    redis.run("SADD s 10 -3 70000 5");
    let mut set = Set::for_member(b"10");
    for m in ["10", "-3", "70000", "5"] {
        set.add(Bytes::from(m), limits.set_max_intset_entries);
    }
    assert_eq!(dump(&Value::Set(Arc::new(set)), &limits), redis.dump("s"));

    let pairs = [
        (1.5, "a"),
        (-2.0, "b"),
        (f64::INFINITY, "c"),
        (0.1, "d"),
        (-0.0, "e"),
    ];
    redis.run("ZADD z 1.5 a -2 b inf c 0.1 d -0 e");
    let mut z = ZSet::for_first_member(1, limits.zset);
    for (score, member) in pairs {
        z.insert(Bytes::from(member), score, limits.zset);
    }
    assert_eq!(dump(&Value::ZSet(Arc::new(z)), &limits), redis.dump("z"));

    let members: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("member-{i}").into_bytes())
        .collect();
    let mut big = ZSet::for_first_member(members[0].len(), limits.zset);
    for (i, m) in members.iter().enumerate() {
        let score = (i % 17) as f64 * 0.5 - 3.0;
        redis.cmd(&[b"ZADD", b"big", score.to_string().as_bytes(), m]);
        big.insert(Bytes::from(m.clone()), score, limits.zset);
    }
    assert_eq!(big.encoding(), "skiplist");
    assert_eq!(
        dump(&Value::ZSet(Arc::new(big)), &limits),
        redis.dump("big")
    );

    let items: Vec<Vec<u8>> = (0..2000)
        .map(|i| format!("{}", i * 7 - 5000).into_bytes())
        .collect();
    push_each(&mut redis, &[b"RPUSH", b"l"], &items);
    let list = Value::list(items.into_iter().map(Bytes::from).collect());
    assert_eq!(dump(&list, &limits), redis.dump("l"));
}
