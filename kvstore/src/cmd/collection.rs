//! What the collection families (keys, hashes, sets, sorted sets) share: SCAN-style cursors,
//! options and replies, and random sampling for the *RANDMEMBER / HRANDFIELD commands.

use bytes::Bytes;

use super::args::{c_is, c_str, err, int_arg};
use crate::glob::glob_match;
use crate::protocol::Reply;

const INVALID_CURSOR: &str = "ERR invalid cursor";

/// Replies with repetitions (negative counts) stop growing here. Redis streams such a reply
/// into the client's output buffer and would exhaust memory on an absurd count; kvstore
/// builds the reply first, so it bounds it (about 2 million members).
pub(crate) const MAX_RANDOM_REPLY: u64 = 1 << 21;

/// `count` distinct indices below `len` (count < len), sorted.
pub(crate) fn distinct_sample(len: usize, count: usize, rng: &mut impl rand::Rng) -> Vec<usize> {
    let mut chosen = rand::seq::index::sample(rng, len, count).into_vec();
    chosen.sort_unstable();
    chosen
}

/// The reply of every SCAN-like command: the next cursor (as a bulk string) and the items.
pub(crate) fn scan_reply(next: u64, items: Vec<Bytes>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
    ])
}

/// A SCAN / HSCAN / SSCAN cursor argument, or Redis's error for it.
pub(crate) fn scan_cursor(arg: &[u8]) -> Result<u64, Reply> {
    parse_cursor(arg).ok_or(Reply::error(INVALID_CURSOR))
}

/// The options of SCAN, each allowed any number of times (the last one wins).
#[derive(Debug, PartialEq)]
pub(crate) struct ScanOptions<'a> {
    pub(crate) count: usize,
    pub(crate) pattern: Option<&'a [u8]>,
    pub(crate) type_name: Option<&'a [u8]>,
}

impl<'a> ScanOptions<'a> {
    /// Parses the options; TYPE only for SCAN (`allow_type`), as Redis's
    /// `scanGenericCommand` accepts it only without a key.
    pub(crate) fn parse(args: &'a [Bytes], allow_type: bool) -> Result<ScanOptions<'a>, Reply> {
        let mut options = ScanOptions {
            count: 10,
            pattern: None,
            type_name: None,
        };
        let mut rest = args;
        while let [option, value, tail @ ..] = rest {
            if c_is(option, "count") {
                let count = int_arg(value)?;
                if count < 1 {
                    return Err(Reply::error(err::SYNTAX));
                }
                options.count = count as usize;
            } else if c_is(option, "match") {
                options.pattern = Some(value);
            } else if allow_type && c_is(option, "type") {
                options.type_name = Some(value);
            } else {
                return Err(Reply::error(err::SYNTAX));
            }
            rest = tail;
        }
        if rest.is_empty() {
            Ok(options)
        } else {
            Err(Reply::error(err::SYNTAX))
        }
    }

    /// Whether an item passes MATCH.
    pub(crate) fn matches(&self, item: &[u8]) -> bool {
        match self.pattern {
            Some(p) => p[..] == b"*"[..] || glob_match(p, item, false),
            None => true,
        }
    }
}

/// Parses a SCAN cursor as Redis does with C's `strtoul`: an optional sign (a negative value
/// wraps around), decimal digits, nothing after them; no leading space; the text ends at the
/// first NUL, so an empty cursor is 0.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let text = c_str(arg);
    if text.is_empty() {
        return Some(0);
    }
    let (negative, digits) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    Some(if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn cursor_follows_strtoul() {
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+0"), Some(0));
        assert_eq!(parse_cursor(b"-0"), Some(0));
        assert_eq!(parse_cursor(b"42"), Some(42));
        assert_eq!(parse_cursor(b"42\0junk"), Some(42));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b"18446744073709551616"[..],
            b" 1",
            b"1 ",
            b"0x1",
            b"-",
            b"+",
            b"a",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn scan_options_take_pairs_and_reject_leftovers() {
        let a = args(&["MATCH", "k*", "count", "3", "TYPE", "string"]);
        let o = ScanOptions::parse(&a, true).unwrap();
        assert_eq!(o.count, 3);
        assert_eq!(o.pattern, Some(&b"k*"[..]));
        assert_eq!(o.type_name, Some(&b"string"[..]));
        for bad in [
            &["count", "0"][..],
            &["match"],
            &["count", "1", "x"],
            &["x", "y"],
        ] {
            assert_eq!(
                ScanOptions::parse(&args(bad), true),
                Err(Reply::error(err::SYNTAX))
            );
        }
        assert_eq!(
            ScanOptions::parse(&args(&["count", "x"]), true),
            Err(Reply::error(err::NOT_INTEGER))
        );
    }
}
