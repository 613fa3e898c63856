//! Replies and their encoding in RESP2 or RESP3.
//!
//! Commands build a [`Reply`] once; the connection encodes it for the protocol version the
//! client negotiated with `HELLO`. The RESP3-only types degrade the way Redis 7 degrades them
//! (maps flatten to arrays, doubles become bulk strings, booleans integers, the null type
//! `$-1` or `*-1` depending on what was absent).

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};

/// A reply to one command, independent of the wire version.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Ok,
    /// A simple string (`+PONG`, `+QUEUED`).
    Status(Cow<'static, str>),
    /// A complete error line, code included: `ERR syntax error`, `WRONGTYPE ...`.
    Error(Cow<'static, str>),
    Integer(i64),
    Bulk(Bytes),
    /// Absent string: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// Absent aggregate: `*-1` in RESP2, `_` in RESP3.
    NilArray,
    Array(Vec<Reply>),
    /// A map in RESP3, a flat array of alternating keys and values in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// A set in RESP3, an array in RESP2.
    Set(Vec<Reply>),
    /// A double in RESP3, a bulk string in RESP2, both formatted as Redis formats doubles.
    Double(f64),
    /// A boolean in RESP3, `:1`/`:0` in RESP2.
    #[allow(dead_code)] // no command answers with a boolean yet
    Bool(bool),
    /// A verbatim `txt` string in RESP3 (INFO, CLIENT LIST), a bulk string in RESP2.
    Verbatim(Bytes),
    /// An out-of-band push (pub/sub): `>` in RESP3, an array in RESP2.
    Push(Vec<Reply>),
    /// Several replies to one command, sent one after the other (SUBSCRIBE a b).
    Frames(Vec<Reply>),
    /// Frames already encoded for this connection (pub/sub messages inside EXEC's reply), or
    /// bytes that are the same in RESP2 and RESP3 ([`Reply::bulk_array`]).
    Encoded(Bytes),
}

impl Reply {
    pub fn error(msg: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(msg.into())
    }

    pub fn status(msg: &'static str) -> Reply {
        Reply::Status(Cow::Borrowed(msg))
    }

    /// An array of bulk strings (the same bytes in RESP2 and RESP3). Small elements are
    /// encoded right away: one buffer instead of a `Reply` and a shared reference per
    /// element, which is most of LRANGE's cost; big ones are shared, not copied twice.
    pub fn bulk_array<'a, I>(items: I) -> Reply
    where
        I: IntoIterator<Item = &'a Bytes>,
        I::IntoIter: ExactSizeIterator + Clone,
    {
        /// Past this many bytes of elements, sharing them beats copying them twice.
        const ENCODE_UP_TO: usize = 64 * 1024;
        let items = items.into_iter();
        let size: usize = items.clone().map(|item| item.len() + 16).sum();
        if size > ENCODE_UP_TO {
            return Reply::Array(items.cloned().map(Reply::Bulk).collect());
        }
        let mut out = BytesMut::with_capacity(size + 16);
        integer(&mut out, b'*', items.len() as i64);
        items.for_each(|item| bulk(&mut out, item));
        Reply::Encoded(out.freeze())
    }

    pub fn bulk(data: impl Into<Bytes>) -> Reply {
        Reply::Bulk(data.into())
    }

    /// A bulk string, or `Nil` when absent.
    pub fn opt_bulk(data: Option<Bytes>) -> Reply {
        data.map_or(Reply::Nil, Reply::Bulk)
    }

    /// Appends the encoding of this reply for protocol version `resp` (2 or 3) to `out`.
    pub fn encode(&self, resp: u8, out: &mut BytesMut) {
        match self {
            Reply::Ok => out.put_slice(b"+OK\r\n"),
            Reply::Status(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(e) => line(out, b'-', e.as_bytes()),
            Reply::Integer(n) => integer(out, b':', *n),
            Reply::Bulk(data) => bulk(out, data),
            Reply::Nil if resp >= 3 => out.put_slice(b"_\r\n"),
            Reply::Nil => out.put_slice(b"$-1\r\n"),
            Reply::NilArray if resp >= 3 => out.put_slice(b"_\r\n"),
            Reply::NilArray => out.put_slice(b"*-1\r\n"),
            Reply::Array(items) => {
                integer(out, b'*', items.len() as i64);
                items.iter().for_each(|item| item.encode(resp, out));
            }
            Reply::Set(items) => {
                integer(out, if resp >= 3 { b'~' } else { b'*' }, items.len() as i64);
                items.iter().for_each(|item| item.encode(resp, out));
            }
            Reply::Map(pairs) => {
                if resp >= 3 {
                    integer(out, b'%', pairs.len() as i64);
                } else {
                    integer(out, b'*', 2 * pairs.len() as i64);
                }
                for (k, v) in pairs {
                    k.encode(resp, out);
                    v.encode(resp, out);
                }
            }
            Reply::Double(d) => {
                let text = crate::number::format_double(*d);
                if resp >= 3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Reply::Bool(b) if resp >= 3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Reply::Bool(b) => integer(out, b':', *b as i64),
            Reply::Verbatim(data) if resp >= 3 => {
                integer(out, b'=', data.len() as i64 + 4);
                out.put_slice(b"txt:");
                out.put_slice(data);
                out.put_slice(b"\r\n");
            }
            Reply::Verbatim(data) => bulk(out, data),
            Reply::Push(items) => {
                integer(out, if resp >= 3 { b'>' } else { b'*' }, items.len() as i64);
                items.iter().for_each(|item| item.encode(resp, out));
            }
            Reply::Frames(replies) => replies.iter().for_each(|r| r.encode(resp, out)),
            Reply::Encoded(bytes) => out.put_slice(bytes),
        }
    }
}

impl From<i64> for Reply {
    fn from(n: i64) -> Reply {
        Reply::Integer(n)
    }
}

impl From<Bytes> for Reply {
    fn from(b: Bytes) -> Reply {
        Reply::Bulk(b)
    }
}

fn line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(prefix);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

fn integer(out: &mut BytesMut, prefix: u8, n: i64) {
    let mut digits = itoa::Buffer::new();
    line(out, prefix, digits.format(n).as_bytes());
}

fn bulk(out: &mut BytesMut, data: &[u8]) {
    integer(out, b'$', data.len() as i64);
    out.reserve(data.len() + 2);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply, resp: u8) -> Vec<u8> {
        let mut out = BytesMut::new();
        r.encode(resp, &mut out);
        out.to_vec()
    }

    #[test]
    fn resp2_and_resp3_differ_where_redis_differs() {
        assert_eq!(enc(&Reply::Nil, 2), b"$-1\r\n");
        assert_eq!(enc(&Reply::NilArray, 2), b"*-1\r\n");
        assert_eq!(enc(&Reply::Nil, 3), b"_\r\n");
        let map = Reply::Map(vec![(Reply::bulk("a"), Reply::Integer(1))]);
        assert_eq!(enc(&map, 2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&map, 3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::Bool(true), 2), b":1\r\n");
        assert_eq!(
            enc(&Reply::Verbatim(Bytes::from("x")), 3),
            b"=5\r\ntxt:x\r\n"
        );
        let push = Reply::Push(vec![Reply::bulk("a"), Reply::Nil]);
        assert_eq!(enc(&push, 2), b"*2\r\n$1\r\na\r\n$-1\r\n");
        assert_eq!(enc(&push, 3), b">2\r\n$1\r\na\r\n_\r\n");
    }
}
