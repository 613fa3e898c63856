//! Request decoding: RESP multibulk arrays and inline commands, exactly as Redis reads them.
//!
//! The parser is written against Redis's own `processMultibulkBuffer` / `processInlineBuffer`
//! rather than a general RESP decoder because clients depend on the precise failure modes:
//! which bytes produce `invalid multibulk length` vs `invalid bulk length`, that a bulk longer
//! than `proto-max-bulk-len` is refused from its header alone (before any byte of it is
//! buffered), and that unauthenticated clients may not announce large requests. Arguments are
//! split off the read buffer without copying.

use bytes::{Buf, Bytes, BytesMut};

/// Longest inline request, or `*`/`$` header line, Redis accepts (`PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;
/// Bulks at least this large get a buffer of their exact size, as Redis does.
const BIG_ARG: usize = 32 * 1024;

/// A violation of the protocol; the connection replies with the message and closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("ERR Protocol error: too big inline request")]
    TooBigInline,
    #[error("ERR Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    #[error("ERR Protocol error: too big bulk count string")]
    TooBigBulkCount,
    #[error("ERR Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("ERR Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("ERR Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    #[error("ERR Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// Redis's error replies turn line breaks into spaces.
    #[error("ERR Protocol error: expected '$', got '{}'", char::from(match *.0 { b'\r' | b'\n' => b' ', c => c }))]
    ExpectedDollar(u8),
    #[error("ERR Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
}

/// Incremental request parser; keeps its place across reads so a huge multibulk arriving in
/// small pieces is parsed once, not re-scanned on every read.
#[derive(Debug, Default)]
pub struct RequestParser {
    args: Vec<Bytes>,
    /// Arguments still expected by the multibulk being read; 0 when between requests.
    remaining: usize,
    /// Length of the bulk whose header was read but whose payload is not complete yet.
    bulk_len: Option<usize>,
}

impl RequestParser {
    /// Bytes the parser still needs to finish the bulk in progress, if it knows; used to size
    /// the next read.
    pub fn pending_bulk(&self) -> Option<usize> {
        self.bulk_len
    }

    /// Pulls the next complete command out of `buf`. Empty requests (`*0`, blank inline lines)
    /// are skipped. `Ok(None)` means more bytes are needed.
    pub fn next(
        &mut self,
        buf: &mut BytesMut,
        max_bulk_len: u64,
        authenticated: bool,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if self.remaining == 0 {
                let Some(&first) = buf.first() else {
                    return Ok(None);
                };
                if first != b'*' {
                    match parse_inline(buf)? {
                        None => return Ok(None),
                        Some(args) if args.is_empty() => continue,
                        Some(args) => return Ok(Some(args)),
                    }
                }
                let Some((_, count)) = header_line(buf, ProtocolError::TooBigMultibulkCount)?
                else {
                    return Ok(None);
                };
                let count = count
                    .filter(|&n| n <= i32::MAX as i64)
                    .ok_or(ProtocolError::InvalidMultibulkLength)?;
                if !authenticated && count > 10 {
                    return Err(ProtocolError::UnauthenticatedMultibulkLength);
                }
                if count <= 0 {
                    continue;
                }
                self.remaining = count as usize;
                // Trust the announced count only up to a point: it is client-controlled.
                self.args = Vec::with_capacity(self.remaining.min(1024));
            }
            while self.remaining > 0 {
                let len = match self.bulk_len {
                    Some(len) => len,
                    None => {
                        let Some((kind, len)) = header_line(buf, ProtocolError::TooBigBulkCount)?
                        else {
                            return Ok(None);
                        };
                        if kind != b'$' {
                            return Err(ProtocolError::ExpectedDollar(kind));
                        }
                        let len = len
                            .filter(|&n| n >= 0 && n as u64 <= max_bulk_len)
                            .ok_or(ProtocolError::InvalidBulkLength)?;
                        if !authenticated && len > 16384 {
                            return Err(ProtocolError::UnauthenticatedBulkLength);
                        }
                        self.bulk_len = Some(len as usize);
                        len as usize
                    }
                };
                if buf.len() < len + 2 {
                    if len >= BIG_ARG {
                        buf.reserve(len + 2 - buf.len());
                    }
                    return Ok(None);
                }
                let arg = buf.split_to(len).freeze();
                // Like Redis, the two bytes after the payload are skipped, not checked.
                buf.advance(2);
                self.args.push(arg);
                self.bulk_len = None;
                self.remaining -= 1;
            }
            return Ok(Some(std::mem::take(&mut self.args)));
        }
    }
}

/// Consumes a complete `\r\n`-terminated header line from `buf`: its first byte and the
/// number after it (`None` if that is not one). Parsed in place: a header needs no `Bytes`.
fn header_line(
    buf: &mut BytesMut,
    too_big: ProtocolError,
) -> Result<Option<(u8, Option<i64>)>, ProtocolError> {
    match memchr(b'\r', buf) {
        Some(cr) if cr + 1 < buf.len() => {
            let number = buf.get(1..cr).and_then(crate::number::parse_i64);
            let header = (buf[0], number);
            buf.advance(cr + 2);
            Ok(Some(header))
        }
        Some(_) => Ok(None),
        None if buf.len() > INLINE_MAX => Err(too_big),
        None => Ok(None),
    }
}

fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = memchr(b'\n', buf) else {
        return if buf.len() > INLINE_MAX {
            Err(ProtocolError::TooBigInline)
        } else {
            Ok(None)
        };
    };
    let line = buf.split_to(nl + 1);
    let mut line = &line[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    split_args(line)
        .map(|args| Some(args.into_iter().map(Bytes::from).collect()))
        .ok_or(ProtocolError::UnbalancedQuotes)
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// Splits a line into arguments with Redis's `sdssplitargs` rules: blanks separate arguments,
/// `"..."` understands `\n \r \t \b \a \\ \"` and `\xHH`, `'...'` only `\'`. A closing quote must
/// be followed by a blank or the end. Returns `None` on unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // Redis splits a C string: a NUL byte ends the line.
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    current.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    current.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    current.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    current.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => current.push(c),
                }
            }
            i += 1;
        }
        args.push(current);
    }
}

/// C's `isspace`: also vertical tab, which `u8::is_ascii_whitespace` leaves out.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex(c: u8) -> u8 {
    (c as char).to_digit(16).unwrap_or(0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> (Vec<Vec<Bytes>>, Option<ProtocolError>) {
        let mut parser = RequestParser::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match parser.next(&mut buf, 512 * 1024 * 1024, true) {
                Ok(Some(cmd)) => out.push(cmd),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn multibulk_and_inline_interleave() {
        let (cmds, err) =
            parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n\r\n*0\r\nset a \"b c\"\n");
        assert_eq!(err, None);
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(cmds[1], vec![Bytes::from("PING")]);
        assert_eq!(
            cmds[2],
            vec![Bytes::from("set"), Bytes::from("a"), Bytes::from("b c")]
        );
    }

    #[test]
    fn partial_frames_resume() {
        let mut parser = RequestParser::default();
        let mut buf = BytesMut::new();
        let whole = b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n";
        for (i, b) in whole.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            let got = parser.next(&mut buf, 1 << 29, true).unwrap();
            assert_eq!(got.is_some(), i == whole.len() - 1, "byte {i}");
        }
    }

    #[test]
    fn errors_match_redis() {
        let e = |input: &[u8]| parse_all(input).1.unwrap().to_string();
        assert_eq!(e(b"*x\r\n"), "ERR Protocol error: invalid multibulk length");
        assert_eq!(
            e(b"*1\r\n$-1\r\n"),
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            e(b"*1\r\nfoo\r\n"),
            "ERR Protocol error: expected '$', got 'f'"
        );
        assert_eq!(
            e(b"set \"a\n"),
            "ERR Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            e(&[b'a'; INLINE_MAX + 1]),
            "ERR Protocol error: too big inline request"
        );
        assert_eq!(
            e(b"*1\r\n$536870913\r\n"),
            "ERR Protocol error: invalid bulk length"
        );
    }

    #[test]
    fn unauthenticated_limits() {
        let mut parser = RequestParser::default();
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            parser.next(&mut buf, 1 << 29, false),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
    }

    #[test]
    fn split_args_quotes() {
        assert_eq!(
            split_args(b"a 'b c' \"\\x41\\n\"").unwrap(),
            vec![b"a".to_vec(), b"b c".to_vec(), b"A\n".to_vec()]
        );
        assert!(split_args(b"\"a\"b").is_none());
        assert!(split_args(b"'abc").is_none());
        assert_eq!(split_args(b"a\0b c").unwrap(), vec![b"a".to_vec()]);
        // Like C's isspace, vertical tab separates words but, as in sdssplitargs, does not end one.
        assert_eq!(split_args(b"\x0ba\x0b").unwrap(), vec![b"a\x0b".to_vec()]);
    }
}
