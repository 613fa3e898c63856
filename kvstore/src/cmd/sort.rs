//! SORT and SORT_RO: the elements of a list, set or sorted set, ordered numerically or
//! lexically, by themselves or by other keys (`BY weight_*`, `BY h_*->field`), optionally
//! replaced by other keys' values (`GET`), windowed (`LIMIT`) and stored as a list (`STORE`).
//!
//! The order of work is Redis's `sortCommandGeneric`, so the same mistakes get the same
//! errors: every option is parsed first (a bad LIMIT number or an unknown word stops there),
//! then the key's type is checked, then scores are computed; a score that is not a number
//! fails the whole command only after everything was loaded. Comparison is Redis's
//! `sortCompare`: numeric ties are broken by the elements' bytes; ALPHA compares C strings
//! (`strcoll` in the C locale, up to the first NUL) unless STORE asks for the binary-safe
//! comparison. The sort is stable, like glibc's `qsort`.
//!
//! Invariant: patterns are read as C strings where Redis reads them with `strchr`/`strstr`
//! (the first `*`, the `->` after it), while the substituted key uses the whole argument.

use std::cmp::Ordering;
use std::collections::VecDeque;

use bytes::Bytes;

use super::args::{c_is, c_str, err};
use super::{acl, flags, CommandSpec, Ctx};
use crate::keyspace::Value;
use crate::protocol::Reply;
use crate::state::notify;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sort", -2, flags![WRITE, DENYOOM, MOVABLEKEYS], acl![SET, SORTEDSET, LIST, DANGEROUS], sort).keys(1, 1, 1),
    CommandSpec::new("sort_ro", -2, flags![READONLY, MOVABLEKEYS], acl![SET, SORTEDSET, LIST, DANGEROUS], sort_ro).keys(1, 1, 1),
];

/// The error a score that is not a number gives, after the whole vector was loaded.
const NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC | DESC] [ALPHA]
/// [STORE destination]
fn sort(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    sort_generic(ctx, args, false)
}

/// SORT_RO: SORT without STORE.
fn sort_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    sort_generic(ctx, args, true)
}

/// SORT's options, as parsed.
#[derive(Debug, Default)]
struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    store: Option<&'a Bytes>,
    by: Option<&'a Bytes>,
    /// BY a pattern without `*`: keep the elements' own order.
    dont_sort: bool,
    gets: Vec<&'a Bytes>,
}

impl<'a> Options<'a> {
    fn parse(args: &'a [Bytes], readonly: bool) -> Result<Options<'a>, Reply> {
        let mut o = Options::default();
        let mut j = 2;
        while j < args.len() {
            let left = args.len() - j - 1;
            let word = &args[j];
            if c_is(word, "asc") {
                o.desc = false;
            } else if c_is(word, "desc") {
                o.desc = true;
            } else if c_is(word, "alpha") {
                o.alpha = true;
            } else if c_is(word, "limit") && left >= 2 {
                let number =
                    |a: &[u8]| crate::number::parse_i64(a).ok_or(Reply::error(err::NOT_INTEGER));
                o.limit = Some((number(&args[j + 1])?, number(&args[j + 2])?));
                j += 2;
            } else if !readonly && c_is(word, "store") && left >= 1 {
                o.store = Some(&args[j + 1]);
                j += 1;
            } else if c_is(word, "by") && left >= 1 {
                o.by = Some(&args[j + 1]);
                o.dont_sort = !c_str(&args[j + 1]).contains(&b'*');
                j += 1;
            } else if c_is(word, "get") && left >= 1 {
                o.gets.push(&args[j + 1]);
                j += 1;
            } else {
                return Err(Reply::error(err::SYNTAX));
            }
            j += 1;
        }
        Ok(o)
    }
}

/// What the sorted key holds, loaded for sorting.
enum Source {
    List(Vec<Bytes>),
    Set(Vec<Bytes>),
    /// A sorted set's members in score order.
    ZSet(Vec<Bytes>),
}

fn sort_generic(ctx: &mut Ctx, args: &[Bytes], readonly: bool) -> Result<Reply, Reply> {
    let mut o = Options::parse(args, readonly)?;
    let now = ctx.now;
    let source = match ctx.db().get(&args[1], now) {
        None => Source::List(Vec::new()),
        Some(value @ Value::List(_)) => {
            Source::List(value.as_list().expect("a list").iter().cloned().collect())
        }
        Some(Value::Set(set)) => Source::Set(set.iter().collect()),
        Some(Value::ZSet(z)) => Source::ZSet(z.iter().map(|(_, m)| m.clone()).collect()),
        Some(_) => return Err(Reply::error(err::WRONGTYPE)),
    };
    // A set has no order of its own: stored (or scripted) results are sorted anyway.
    if o.dont_sort && matches!(source, Source::Set(_)) && o.store.is_some() {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = match &source {
        Source::List(v) | Source::Set(v) | Source::ZSet(v) => v.len() as i64,
    };
    let (limit_start, limit_count) = o.limit.unwrap_or((0, -1));
    let mut start = limit_start.max(0).min(len);
    let limit_count = limit_count.max(-1).min(len);
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start + limit_count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);

    let mut elements: Vec<Bytes> = match source {
        Source::List(items) | Source::ZSet(items) if o.dont_sort => {
            // The requested window in the key's own order, read from the far end for DESC.
            let window = if end >= start {
                let (s, e) = (start as usize, end as usize);
                if o.desc {
                    items
                        .iter()
                        .rev()
                        .skip(s)
                        .take(e - s + 1)
                        .cloned()
                        .collect()
                } else {
                    items[s..=e].to_vec()
                }
            } else {
                Vec::new()
            };
            end -= start;
            start = 0;
            window
        }
        Source::List(items) | Source::Set(items) | Source::ZSet(items) => items,
    };

    if !o.dont_sort {
        let mut keyed: Vec<(SortKey, Bytes)> = Vec::with_capacity(elements.len());
        let mut not_double = false;
        for element in elements.drain(..) {
            let by_value = match o.by {
                Some(pattern) => lookup_by_pattern(ctx, pattern, &element),
                None => Some(element.clone()),
            };
            let key = match by_value {
                _ if o.alpha && o.by.is_none() => SortKey::Element,
                v if o.alpha => SortKey::By(v),
                None => SortKey::Score(0.0),
                Some(v) => SortKey::Score(sort_score(&v).unwrap_or_else(|| {
                    not_double = true;
                    0.0
                })),
            };
            keyed.push((key, element));
        }
        if not_double {
            return Err(Reply::error(NOT_DOUBLE));
        }
        let binary = o.store.is_some();
        let compare = |a: &(SortKey, Bytes), b: &(SortKey, Bytes)| {
            let cmp = compare(a, b, binary);
            if o.desc {
                cmp.reverse()
            } else {
                cmp
            }
        };
        keyed.sort_by(compare);
        elements = keyed.into_iter().map(|(_, e)| e).collect();
    }

    let window: &[Bytes] = if end >= start {
        &elements[start as usize..=end as usize]
    } else {
        &[]
    };
    let mut output: Vec<Option<Bytes>> = Vec::new();
    for element in window {
        if o.gets.is_empty() {
            output.push(Some(element.clone()));
        }
        for pattern in &o.gets {
            output.push(lookup_by_pattern(ctx, pattern, element));
        }
    }
    let Some(store) = o.store else {
        return Ok(Reply::Array(
            output
                .into_iter()
                .map(|v| v.map_or(Reply::Nil, Reply::Bulk))
                .collect(),
        ));
    };
    let count = output.len() as i64;
    let db = ctx.db();
    if output.is_empty() {
        if db.delete(store, now) {
            db.notify(notify::GENERIC, "del", store);
        }
    } else {
        let items: VecDeque<Bytes> = output.into_iter().map(Option::unwrap_or_default).collect();
        db.insert(store.clone(), Value::list(items), None);
        db.notify(notify::LIST, "sortstore", store);
    }
    Ok(Reply::Integer(count))
}

/// What an element is ordered by.
enum SortKey {
    Score(f64),
    /// ALPHA without BY: the element itself.
    Element,
    /// ALPHA BY: the BY key's value, `None` when it is missing.
    By(Option<Bytes>),
}

/// Redis's `sortCompare` (before DESC reverses it).
fn compare(a: &(SortKey, Bytes), b: &(SortKey, Bytes), binary: bool) -> Ordering {
    let strings = |x: &[u8], y: &[u8]| {
        if binary {
            x.cmp(y)
        } else {
            c_str(x).cmp(c_str(y))
        }
    };
    match (&a.0, &b.0) {
        (SortKey::Score(x), SortKey::Score(y)) => x
            .partial_cmp(y)
            .filter(|o| o.is_ne())
            .unwrap_or_else(|| a.1.cmp(&b.1)),
        (SortKey::By(x), SortKey::By(y)) => match (x, y) {
            (Some(x), Some(y)) => strings(x, y),
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
        },
        _ => strings(&a.1, &b.1),
    }
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*` is
/// replaced by the element and the key read as a string, or, with `->field` after the `*`,
/// as a hash's field. Anything missing or of another type is `None`.
fn lookup_by_pattern(ctx: &mut Ctx, pattern: &[u8], element: &Bytes) -> Option<Bytes> {
    let text = c_str(pattern);
    if text == b"#" {
        return Some(element.clone());
    }
    let star = text.iter().position(|&b| b == b'*')?;
    let arrow = text[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&i| i + 2 < text.len());
    let (key_end, field) = match arrow {
        Some(i) => (i, Some(&pattern[i + 2..])),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(key_end + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let now = ctx.now;
    match (ctx.db().get(&key, now)?, field) {
        (Value::Hash(h), Some(field)) => h.get(field).map(Bytes::copy_from_slice),
        (value @ (Value::Str(_) | Value::RawStr(_)), None) => value.as_str().cloned(),
        _ => None,
    }
}

/// A numeric sort score as Redis reads one: C `strtod` that must consume the whole string
/// (up to a NUL), refusing NaN and results out of range (overflow to infinity, underflow of a
/// nonzero number to zero or a subnormal).
fn sort_score(s: &[u8]) -> Option<f64> {
    let v = crate::number::parse_strtod(s)?;
    let text = c_str(s).trim_ascii_start();
    let unsigned = text
        .strip_prefix(b"-")
        .or(text.strip_prefix(b"+"))
        .unwrap_or(text);
    let literal_inf = unsigned.len() >= 3 && unsigned[..3].eq_ignore_ascii_case(b"inf");
    if v.is_nan() || (v.is_infinite() && !literal_inf) {
        return None;
    }
    if v == 0.0 || v.is_subnormal() {
        let hex = unsigned.len() > 1 && unsigned[0] == b'0' && unsigned[1] | 0x20 == b'x';
        let mantissa: &[u8] = if hex {
            let digits = &unsigned[2..];
            let end = digits
                .iter()
                .position(|b| b | 0x20 == b'p')
                .unwrap_or(digits.len());
            &digits[..end]
        } else {
            let end = unsigned
                .iter()
                .position(|b| b | 0x20 == b'e')
                .unwrap_or(unsigned.len());
            &unsigned[..end]
        };
        let nonzero = mantissa.iter().any(|b| b.is_ascii_hexdigit() && *b != b'0');
        if nonzero {
            return None;
        }
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_refuse_what_strtod_flags() {
        assert_eq!(sort_score(b"1.5"), Some(1.5));
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b" 0x10"), Some(16.0));
        assert_eq!(sort_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(sort_score(b"0e5"), Some(0.0));
        assert_eq!(sort_score(b"1e999"), None);
        assert_eq!(sort_score(b"1e-400"), None);
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b"1x"), None);
    }
}
