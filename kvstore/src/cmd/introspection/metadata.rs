//! What Redis 7.0.15 says about its commands beyond name, arity, flags and key positions: ACL
//! categories, tips, key specs and the documentation `COMMAND DOCS` returns.
//!
//! Clients read these (`redis-cli` builds its help and hints from `COMMAND DOCS`; cluster
//! clients read key specs), so kvstore answers with Redis's own data rather than a lookalike.
//! `redis-7.0.15-commands.resp` holds redis-server 7.0.15's RESP3 replies to `COMMAND DOCS`
//! followed by `COMMAND INFO`, captured by the ignored test
//! `regenerate_command_metadata` in `tests/tests/server.rs`. What describes kvstore's own
//! behaviour (arity, flags, first/last/step, which subcommands exist) still comes from the
//! command table, and so do the ACL categories; commands Redis 7.0 does not have get a
//! [`CommandMeta::fallback`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::protocol::Reply;

const CAPTURE: &[u8] = include_bytes!("redis-7.0.15-commands.resp");

/// Documentation for commands newer than Redis 7.0 that kvstore accepts because current
/// clients send them: (full name, summary, since, group, complexity).
const NEWER: &[(&str, &str, &str, &str, &str)] = &[
    (
        "client|setinfo",
        "Sets information specific to the client or connection.",
        "7.2.0",
        "connection",
        "O(1)",
    ),
    (
        "client|no-touch",
        "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        "7.2.0",
        "connection",
        "O(1)",
    ),
];

/// One command's (or subcommand's) description.
#[derive(Debug, Clone)]
pub struct CommandMeta {
    /// Arity, flags and legacy (first, last, step) as Redis declares them. COMMAND INFO reports
    /// kvstore's own; these are what the command table is tested against.
    #[cfg_attr(not(test), allow(dead_code))]
    pub arity: i64,
    #[cfg_attr(not(test), allow(dead_code))]
    pub flags: Vec<String>,
    #[cfg_attr(not(test), allow(dead_code))]
    pub legacy_keys: (i64, i64, i64),
    /// ACL category names without the `@`, as Redis lists them: what the command table's
    /// categories are tested against.
    #[cfg_attr(not(test), allow(dead_code))]
    pub categories: Vec<String>,
    pub tips: Vec<Reply>,
    pub key_specs: Vec<Reply>,
    /// The `COMMAND DOCS` map without its `subcommands` entry.
    pub docs: Vec<(Reply, Reply)>,
}

impl CommandMeta {
    /// A description for a command Redis 7.0 does not know: documentation only (Redis 7.2's
    /// for the few newer commands kvstore accepts).
    pub fn fallback(fullname: &str) -> CommandMeta {
        let newer = NEWER.iter().find(|n| n.0 == fullname);
        let text = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
        let (summary, since, group, complexity) =
            newer.map_or(("", "", "generic", ""), |n| (n.1, n.2, n.3, n.4));
        CommandMeta {
            arity: 0,
            flags: Vec::new(),
            legacy_keys: (0, 0, 0),
            categories: Vec::new(),
            tips: Vec::new(),
            key_specs: Vec::new(),
            docs: vec![
                (text("summary"), text(summary)),
                (text("since"), text(since)),
                (text("group"), text(group)),
                (text("complexity"), text(complexity)),
            ],
        }
    }
}

/// A key found by [`CommandMeta::find_keys`]: its index in the arguments and the flags of the
/// key spec that found it.
pub type KeyRef<'a> = (usize, &'a [Reply]);

impl CommandMeta {
    /// Redis's `getKeysUsingKeySpecs`: where the keys are in `args` (`args[0]` being the
    /// command name). `None` when the arguments do not fit the key specs.
    pub fn find_keys(&self, args: &[Bytes]) -> Option<Vec<KeyRef<'_>>> {
        let argc = args.len() as i64;
        let mut keys = Vec::new();
        for spec in &self.key_specs {
            let flags = match field(spec, "flags") {
                Some(Reply::Set(flags)) => &flags[..],
                _ => &[][..],
            };
            let has_flag = |name: &str| {
                flags
                    .iter()
                    .any(|f| matches!(f, Reply::Status(s) if s == name))
            };
            if has_flag("not_key") {
                continue;
            }
            let begin = field(spec, "begin_search")?;
            let begin_spec = field(begin, "spec")?;
            let first = match text(field(begin, "type")?)? {
                "index" => int(field(begin_spec, "index")?)?,
                "keyword" => {
                    let keyword = text(field(begin_spec, "keyword")?)?;
                    let startfrom = int(field(begin_spec, "startfrom")?)?;
                    let (start, end) = if startfrom > 0 {
                        (startfrom, argc - 1)
                    } else {
                        (argc + startfrom, 1)
                    };
                    let mut found = 0;
                    let mut i = start;
                    while i != end && (1..argc).contains(&i) {
                        if args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                            found = i + 1;
                            break;
                        }
                        i += if start <= end { 1 } else { -1 };
                    }
                    if found == 0 {
                        continue;
                    }
                    found
                }
                _ => return None,
            };
            let find = field(spec, "find_keys")?;
            let find_spec = field(find, "spec")?;
            let (first, last, step) = match text(field(find, "type")?)? {
                "range" => {
                    let lastkey = int(field(find_spec, "lastkey")?)?;
                    let limit = int(field(find_spec, "limit")?)?;
                    let last = if lastkey >= 0 {
                        first + lastkey
                    } else if limit == 0 {
                        argc + lastkey
                    } else {
                        first + ((argc - first) / limit + lastkey)
                    };
                    (first, last, int(field(find_spec, "keystep")?)?)
                }
                "keynum" => {
                    let keynumidx = int(field(find_spec, "keynumidx")?)?;
                    let numkeys = args
                        .get(usize::try_from(first + keynumidx).ok()?)
                        .and_then(|n| crate::number::parse_i64(n))
                        .filter(|n| *n >= 0)?;
                    let first = first + int(field(find_spec, "firstkey")?)?;
                    (
                        first,
                        first + numkeys - 1,
                        int(field(find_spec, "keystep")?)?,
                    )
                }
                _ => return None,
            };
            if last >= argc || last < first || first >= argc {
                return None;
            }
            let mut i = first;
            while i <= last {
                keys.push((i as usize, flags));
                i += step.max(1);
            }
            if has_flag("incomplete") {
                return None;
            }
        }
        Some(keys)
    }
}

/// The value under `key` in a RESP map.
fn field<'a>(map: &'a Reply, key: &str) -> Option<&'a Reply> {
    let Reply::Map(pairs) = map else { return None };
    pairs
        .iter()
        .find(|(k, _)| matches!(k, Reply::Bulk(b) if b[..] == *key.as_bytes()))
        .map(|(_, v)| v)
}

fn text(reply: &Reply) -> Option<&str> {
    match reply {
        Reply::Bulk(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

fn int(reply: &Reply) -> Option<i64> {
    match reply {
        Reply::Integer(n) => Some(*n),
        _ => None,
    }
}

/// Redis's description of the command with this full name (`get`, `client|list`).
pub fn lookup(fullname: &str) -> Option<&'static CommandMeta> {
    static INDEX: OnceLock<HashMap<String, CommandMeta>> = OnceLock::new();
    INDEX
        .get_or_init(|| index(CAPTURE).expect("the captured command metadata is well-formed"))
        .get(fullname)
}

fn index(capture: &[u8]) -> Option<HashMap<String, CommandMeta>> {
    let mut pos = 0;
    let docs = parse(capture, &mut pos)?;
    let info = parse(capture, &mut pos)?;
    let mut out = HashMap::new();
    let Reply::Array(commands) = info else {
        return None;
    };
    add_info(&commands, &mut out)?;
    let Reply::Map(docs) = docs else { return None };
    add_docs(docs, &mut out)?;
    Some(out)
}

fn add_info(commands: &[Reply], out: &mut HashMap<String, CommandMeta>) -> Option<()> {
    for command in commands {
        let Reply::Array(fields) = command else {
            return None;
        };
        let [Reply::Bulk(name), Reply::Integer(arity), Reply::Set(flags), Reply::Integer(first), Reply::Integer(last), Reply::Integer(step), Reply::Set(categories), Reply::Set(tips), Reply::Set(key_specs), subcommands] =
            &fields[..]
        else {
            return None;
        };
        let status_texts = |items: &[Reply]| {
            items
                .iter()
                .map(|c| match c {
                    Reply::Status(s) => Some(s.trim_start_matches('@').to_owned()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
        };
        out.insert(
            String::from_utf8(name.to_vec()).ok()?,
            CommandMeta {
                arity: *arity,
                flags: status_texts(flags)?,
                legacy_keys: (*first, *last, *step),
                categories: status_texts(categories)?,
                tips: tips.clone(),
                key_specs: key_specs.clone(),
                docs: Vec::new(),
            },
        );
        if let Reply::Array(subcommands) = subcommands {
            add_info(subcommands, out)?;
        }
    }
    Some(())
}

fn add_docs(docs: Vec<(Reply, Reply)>, out: &mut HashMap<String, CommandMeta>) -> Option<()> {
    for (name, doc) in docs {
        let (Reply::Bulk(name), Reply::Map(fields)) = (name, doc) else {
            return None;
        };
        let name = String::from_utf8(name.to_vec()).ok()?;
        let mut own = Vec::with_capacity(fields.len());
        for (key, value) in fields {
            match value {
                Reply::Map(subcommands) if key == Reply::bulk("subcommands") => {
                    add_docs(subcommands, out)?;
                }
                value => own.push((key, value)),
            }
        }
        out.get_mut(&name)?.docs = own;
    }
    Some(())
}

/// Reads one RESP3 value (only the types `COMMAND DOCS` / `COMMAND INFO` use).
fn parse(buf: &[u8], pos: &mut usize) -> Option<Reply> {
    let kind = *buf.get(*pos)?;
    let end = *pos + buf.get(*pos..)?.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[*pos + 1..end]).ok()?;
    *pos = end + 2;
    let len = || line.parse::<usize>().ok();
    let items =
        |pos: &mut usize, n: usize| (0..n).map(|_| parse(buf, pos)).collect::<Option<Vec<_>>>();
    Some(match kind {
        b'+' => Reply::Status(Cow::Owned(line.to_owned())),
        b':' => Reply::Integer(line.parse().ok()?),
        b'_' => Reply::Nil,
        b'$' => {
            let n = len()?;
            let data = Bytes::copy_from_slice(buf.get(*pos..*pos + n)?);
            *pos += n + 2;
            Reply::Bulk(data)
        }
        b'*' => Reply::Array(items(pos, len()?)?),
        b'~' => Reply::Set(items(pos, len()?)?),
        b'%' => {
            let n = len()?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                pairs.push((parse(buf, pos)?, parse(buf, pos)?));
            }
            Reply::Map(pairs)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_describes_every_redis_command() {
        let get = lookup("get").expect("get");
        assert_eq!(get.categories, ["read", "string", "fast"]);
        assert_eq!(get.key_specs.len(), 1);
        assert!(get.docs.iter().any(|(k, _)| *k == Reply::bulk("summary")));
        let list = lookup("client|list").expect("client|list");
        assert!(list.categories.contains(&"connection".to_owned()));
        assert!(lookup("client|nosuch").is_none());
    }

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn key_positions(command: &str, line: &str) -> Option<Vec<usize>> {
        let meta = lookup(command).expect("known command");
        meta.find_keys(&args(line))
            .map(|keys| keys.into_iter().map(|(pos, _)| pos).collect())
    }

    #[test]
    fn key_specs_find_keys_like_redis() {
        assert_eq!(key_positions("get", "get k"), Some(vec![1]));
        assert_eq!(key_positions("mset", "mset a 1 b 2"), Some(vec![1, 3]));
        assert_eq!(key_positions("del", "del a b c"), Some(vec![1, 2, 3]));
        assert_eq!(key_positions("eval", "eval s 2 a b x"), Some(vec![3, 4]));
        assert_eq!(key_positions("eval", "eval s 0"), None);
        assert_eq!(key_positions("copy", "copy a b"), Some(vec![1, 2]));
        assert_eq!(
            key_positions("xread", "xread count 2 streams a b 0 0"),
            Some(vec![4, 5])
        );
    }
}
