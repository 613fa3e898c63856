//! HTTP/1.x heads and body framing, as the forwarding loop ([`crate::forward`]) needs them:
//! parse a head with `httparse` and write the head to forward in the same pass, and find where
//! a body ends without copying it.
//!
//! What goes upstream is what nginx's `proxy_pass` sends with configs/nginx.conf: the request
//! line with `HTTP/1.1` (an absolute-form target reduced to its path), the client's headers
//! (Host kept) minus the hop-by-hop ones (`Connection`, `Keep-Alive`, `Proxy-Connection`,
//! `TE`, `Upgrade`, `Expect`) and the forwarding headers this proxy sets itself, then
//! `X-Real-IP`, `X-Forwarded-For` (appended to the client's) and `X-Forwarded-Proto`. What
//! goes back to the client is the upstream's status line and headers minus the hop-by-hop
//! ones, with `Server` replaced when one is configured and `Connection` saying whether the
//! connection stays open.
//!
//! This is the one place where a parsing mistake is a security hole (request smuggling,
//! response splitting, a kept-alive connection left mid-message), so framing is strict:
//! - The framing headers are rewritten canonical (`Content-Length: <digits>`,
//!   `Transfer-Encoding: chunked`): the next hop never sees the sender's spelling.
//! - Bodies are forwarded as they came, so the chunked syntax accepted is exactly the one
//!   every reader agrees on ([`BodyEnd`]), where nginx, which re-frames bodies, is lenient.
//! - A response whose length readers could disagree on is refused (502), never relayed.
//!
//! Requests are refused as nginx refuses them: 400 for a malformed head, a method other
//! than upper-case letters, `_` and `-`, a target neither origin- nor absolute-form, an
//! HTTP/1.1 request without `Host`, a repeated `Host`, `Content-Length` or
//! `Transfer-Encoding`, both lengths, or `Transfer-Encoding` in HTTP/1.0; 501 for a transfer
//! coding other than `chunked`; 431 for a head over the size limit (nginx says 400 there).
//! (A body over `client_max_body_size` gets 413 from [`crate::forward`].)
//!
//! Checked by the smuggling corpus against nginx (tests/tests/framing.rs) and by the fuzz
//! target (proxy/tests/fuzz_http1.rs, which includes this file: it must stay self-contained).

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (a request without length, HEAD's response, 1xx/204/304).
    Empty,
    Length(u64),
    Chunked,
    /// A response without length: the body ends when the upstream closes.
    UntilClose,
}

/// A request refused before it is forwarded, with the status the client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    BadRequest,
    HeadTooLarge,
    NotImplemented,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::BadRequest => 400,
            Refusal::HeadTooLarge => 431,
            Refusal::NotImplemented => 501,
        }
    }
}

/// Headers per head; more is a malformed (or hostile) request.
const MAX_HEADERS: usize = 128;

/// What the forwarding loop needs to know about a request whose upstream head was written.
#[derive(Debug)]
pub struct Request {
    /// Bytes of the client's head (request line, headers, blank line).
    pub head_len: usize,
    pub framing: Framing,
    /// The client wants the connection kept open after the response.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before it sends the body.
    pub expect_continue: bool,
    /// nginx's rule for `proxy_next_upstream`: everything but POST, LOCK and PATCH may be
    /// sent to a second upstream after the first one failed.
    pub idempotent: bool,
    pub head_method: bool,
    /// The client speaks HTTP/1.0 (and cannot read a chunked response).
    pub http10: bool,
    /// Request line fields and headers for the access log, filled only when asked for.
    pub log: Option<LogFields>,
}

/// The parts of a request that nginx's `combined` log format shows.
#[derive(Debug, Default)]
pub struct LogFields {
    pub request_line: String,
    pub referer: String,
    pub user_agent: String,
}

/// Names this proxy never forwards in either direction (hop-by-hop), plus the forwarding
/// headers it sets itself.
fn dropped_request_header(name: &str) -> bool {
    const DROPPED: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
        "expect",
        "x-real-ip",
        "x-forwarded-for",
        "x-forwarded-proto",
    ];
    DROPPED.iter().any(|d| d.eq_ignore_ascii_case(name))
}

fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// A `Content-Length` value: decimal digits only (leading zeros allowed, as nginx allows
/// them), at most 18 significant ones.
fn parse_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let significant = &digits[digits.iter().take_while(|&&d| d == b'0').count()..];
    if significant.len() > 18 {
        return None;
    }
    Some(
        significant
            .iter()
            .fold(0, |n, &d| n * 10 + u64::from(d - b'0')),
    )
}

/// nginx's `ignore_invalid_headers on` with `underscores_in_headers off` (its defaults):
/// a request header whose name has anything but letters, digits and `-` is dropped, not
/// forwarded. Backends that map names to CGI/WSGI variables read `Transfer_Encoding` as
/// `Transfer-Encoding`, which would frame the body differently than we did.
fn plain_header_name(name: &str) -> bool {
    name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// nginx accepts only upper-case letters, `_` and `-` in a method.
fn valid_method(method: &str) -> bool {
    !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
}

/// Writes the request target as it goes upstream: origin-form as it came, absolute-form
/// reduced to its path and query (the backend must not take the client's authority over
/// `Host`, which is what nginx forwards). Anything else (`*`, authority-form, a relative
/// path) is refused, as nginx refuses it. `false`: refused.
fn put_target(out: &mut Vec<u8>, target: &str) -> bool {
    if target.starts_with('/') {
        out.extend_from_slice(target.as_bytes());
        return true;
    }
    let Some((scheme, rest)) = target.split_once("://") else {
        return false;
    };
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphabetic()) {
        return false;
    }
    let path_at = rest.find(['/', '?']).unwrap_or(rest.len());
    if path_at == 0 {
        return false;
    }
    let path = &rest[path_at..];
    if !path.starts_with('/') {
        out.push(b'/');
    }
    out.extend_from_slice(path.as_bytes());
    true
}

fn put_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Parses the request head at the start of `buf` and writes the head to send upstream into
/// `out`. `Ok(None)`: the head is not complete yet.
pub fn parse_request(
    buf: &[u8],
    client_ip: &[u8],
    want_log: bool,
    out: &mut Vec<u8>,
) -> Result<Option<Request>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::HeadTooLarge),
        Err(_) => return Err(Refusal::BadRequest),
    };
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(Refusal::BadRequest);
    };
    out.clear();
    if !valid_method(method) {
        return Err(Refusal::BadRequest);
    }
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    if !put_target(out, target) {
        return Err(Refusal::BadRequest);
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");

    let mut keep_alive = minor == 1;
    let mut host = false;
    let mut length: Option<u64> = None;
    let mut coding: Option<&[u8]> = None;
    let mut expect_continue = false;
    let mut forwarded_for: &[u8] = b"";
    let mut log = want_log.then(LogFields::default);
    for h in req.headers.iter() {
        let (name, value) = (h.name, h.value);
        if !plain_header_name(name) {
            continue;
        }
        if name.eq_ignore_ascii_case("host") {
            if host {
                return Err(Refusal::BadRequest);
            }
            host = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            // nginx refuses a repeated Content-Length even with the same value; what goes
            // upstream is the canonical number, never the client's spelling of it.
            let n = parse_length(value).ok_or(Refusal::BadRequest)?;
            if length.is_some() {
                return Err(Refusal::BadRequest);
            }
            length = Some(n);
            put_header(out, b"Content-Length", n.to_string().as_bytes());
            continue;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if coding.is_some() {
                return Err(Refusal::BadRequest);
            }
            coding = Some(value);
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            continue;
        } else if name.eq_ignore_ascii_case("connection") {
            if has_token(value, "close") {
                keep_alive = false;
            } else if has_token(value, "keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("expect") {
            // An HTTP/1.0 client does not know interim responses (RFC 9110 section 10.1.1).
            expect_continue =
                minor == 1 && value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded_for = value;
        }
        if let Some(log) = log.as_mut() {
            if name.eq_ignore_ascii_case("referer") {
                log.referer = String::from_utf8_lossy(value).into_owned();
            } else if name.eq_ignore_ascii_case("user-agent") {
                log.user_agent = String::from_utf8_lossy(value).into_owned();
            }
        }
        if !dropped_request_header(name) {
            put_header(out, name.as_bytes(), value);
        }
    }
    if minor == 1 && !host {
        return Err(Refusal::BadRequest);
    }
    // nginx's order: HTTP/1.0 with Transfer-Encoding, or both lengths, is a 400; a coding
    // other than exactly `chunked` (no list, no `identity`) a 501.
    let chunked = match coding {
        None => false,
        Some(_) if minor == 0 || length.is_some() => return Err(Refusal::BadRequest),
        Some(v) if v.trim_ascii().eq_ignore_ascii_case(b"chunked") => true,
        Some(_) => return Err(Refusal::NotImplemented),
    };
    let framing = match (length, chunked) {
        (Some(_), true) => return Err(Refusal::BadRequest),
        (Some(0), false) | (None, false) => Framing::Empty,
        (Some(n), false) => Framing::Length(n),
        (None, true) => Framing::Chunked,
    };
    put_header(out, b"X-Real-IP", client_ip);
    out.extend_from_slice(b"X-Forwarded-For: ");
    if !forwarded_for.is_empty() {
        out.extend_from_slice(forwarded_for);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(client_ip);
    out.extend_from_slice(b"\r\nX-Forwarded-Proto: http\r\n\r\n");
    if let Some(log) = log.as_mut() {
        log.request_line = format!("{method} {target} HTTP/1.{minor}");
    }
    Ok(Some(Request {
        head_len,
        framing,
        keep_alive,
        expect_continue,
        idempotent: !matches!(method, "POST" | "LOCK" | "PATCH"),
        head_method: method == "HEAD",
        http10: minor == 0,
        log,
    }))
}

/// What the forwarding loop needs to know about a response whose client head was written.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head_len: usize,
    pub framing: Framing,
    /// The upstream connection may carry another request after this response.
    pub reusable: bool,
    /// The body is chunked but the client speaks HTTP/1.0: relay it decoded
    /// ([`BodyEnd::decode`]), delimited by closing the connection.
    pub decode: bool,
}

/// The response's transfer codings, all `Transfer-Encoding` headers together as one list:
/// `Ok(None)` without any, else whether the final coding is `chunked` (RFC 9112 section
/// 6.3: a body whose final coding is not chunked runs until the connection closes).
/// `Err`: an empty list, or `chunked` before another coding (applied twice, or not last):
/// readers would disagree on where such a body ends.
fn final_coding_chunked(headers: &[httparse::Header<'_>]) -> Result<Option<bool>, ()> {
    let mut present = false;
    let mut last: Option<&[u8]> = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            present = true;
            for token in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if token.is_empty() {
                    continue;
                }
                if last.is_some_and(|t| t.eq_ignore_ascii_case(b"chunked")) {
                    return Err(());
                }
                last = Some(token);
            }
        }
    }
    match last {
        Some(t) => Ok(Some(t.eq_ignore_ascii_case(b"chunked"))),
        None if present => Err(()),
        None => Ok(None),
    }
}

/// Parses the response head at the start of `buf`. For an interim (1xx) response the head is
/// consumed and nothing is written: the caller reads the next head. Otherwise the head to
/// send to the client goes into `out`, with `Server: server` when `server` is not empty and
/// `Connection: keep-alive` or `close` as `keep_alive` says (forced to close when the body
/// is delimited by the connection closing, upstream or, for an HTTP/1.0 client of a
/// chunked response, towards the client).
///
/// Refused (`Err`, a 502 as nginx gives): a head httparse refuses, `101` (this proxy never
/// asks for an upgrade), a status under 100, both `Content-Length` and `Transfer-Encoding`
/// (nginx refuses them too; a client or cache could pick either), conflicting lengths,
/// transfer codings readers could disagree on ([`final_coding_chunked`]).
pub fn parse_response(
    buf: &[u8],
    head_request: bool,
    client_http10: bool,
    server: &[u8],
    keep_alive: &mut bool,
    out: &mut Vec<u8>,
) -> Result<Option<Response>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let (Some(status), Some(minor)) = (resp.code, resp.version) else {
        return Err(());
    };
    let mut reusable = minor == 1;
    let mut length: Option<u64> = None;
    out.clear();
    if status < 100 {
        return Err(());
    }
    if (100..200).contains(&status) {
        // 101 would switch protocols, which this proxy never asks for (no Upgrade upstream).
        if status == 101 {
            return Err(());
        }
        return Ok(Some(Response {
            status,
            head_len,
            framing: Framing::Empty,
            reusable,
            decode: false,
        }));
    }
    let chunked = final_coding_chunked(resp.headers)?;
    // An HTTP/1.0 client gets a chunked body decoded, without the header saying chunked.
    let decode = client_http10 && chunked == Some(true);
    out.extend_from_slice(b"HTTP/1.1 ");
    // httparse accepts exactly three digits.
    out.extend_from_slice(&[
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]);
    out.push(b' ');
    out.extend_from_slice(resp.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in resp.headers.iter() {
        let (name, value) = (h.name, h.value);
        if name.eq_ignore_ascii_case("connection") {
            if has_token(value, "close") {
                reusable = false;
            } else if has_token(value, "keep-alive") {
                reusable = true;
            }
            continue;
        }
        if name.eq_ignore_ascii_case("keep-alive")
            || name.eq_ignore_ascii_case("proxy-connection")
            || (!server.is_empty() && name.eq_ignore_ascii_case("server"))
            || (decode && name.eq_ignore_ascii_case("transfer-encoding"))
        {
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") {
            let n = parse_length(value).ok_or(())?;
            if length.is_some_and(|l| l != n) {
                return Err(());
            }
            if length.is_some() {
                // The same value again: the client gets it once.
                continue;
            }
            length = Some(n);
            put_header(out, b"Content-Length", n.to_string().as_bytes());
            continue;
        }
        put_header(out, name.as_bytes(), value);
    }
    if chunked.is_some() && length.is_some() {
        return Err(());
    }
    let framing = if head_request || status == 204 || status == 304 {
        Framing::Empty
    } else if let Some(chunked) = chunked {
        if chunked {
            Framing::Chunked
        } else {
            reusable = false;
            Framing::UntilClose
        }
    } else if let Some(n) = length {
        if n == 0 {
            Framing::Empty
        } else {
            Framing::Length(n)
        }
    } else {
        reusable = false;
        Framing::UntilClose
    };
    if framing == Framing::UntilClose || decode {
        *keep_alive = false;
    }
    if !server.is_empty() {
        put_header(out, b"Server", server);
    }
    out.extend_from_slice(if *keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
    Ok(Some(Response {
        status,
        head_len,
        framing,
        reusable,
        decode: decode && framing == Framing::Chunked,
    }))
}

/// Finds where a body ends in the bytes that follow its head, chunk by chunk, without
/// copying it: a chunked body is forwarded as it came, so it is accepted only in the
/// canonical syntax a strict backend or client reads the same way (RFC 9112 section 7.1
/// without the leniencies: CRLF line ends only, hex digits then an optional `;` extension,
/// trailer fields `name: value`). Its state is a few integers, whatever it is fed.
#[derive(Debug)]
pub enum BodyEnd {
    Length(u64),
    Chunked(Chunks),
    UntilClose,
}

/// Longest chunk-size line (size plus extensions, without CRLF) and trailer section accepted.
pub const MAX_CHUNK_LINE: usize = 4096;
pub const MAX_TRAILERS: usize = 16 * 1024;
/// Hex digits of a chunk size, leading zeros included: a backend reading a fixed number of
/// digits must not see a different size than we do.
const MAX_SIZE_DIGITS: usize = 16;
/// Largest chunk: 2^60 bytes is beyond any real body, and keeps the sum from overflowing.
const MAX_CHUNK_SIZE: u64 = (1 << 60) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Hex digits of a chunk size.
    Size,
    /// A chunk extension, after its `;`, up to the CR.
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final blank line).
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    FinalLf,
    Done,
}

#[derive(Debug)]
pub struct Chunks {
    state: ChunkState,
    size: u64,
    digits: usize,
    line: usize,
    trailers: usize,
}

/// The body is malformed (a chunk-size line that is not one, or over a limit).
#[derive(Debug, PartialEq, Eq)]
pub struct BadBody;

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte allowed in a field value or chunk extension: visible, space, HTAB or obs-text.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7f)
}

impl BodyEnd {
    /// `None` for a message without body.
    pub fn new(framing: Framing) -> Option<BodyEnd> {
        match framing {
            Framing::Empty => None,
            Framing::Length(n) => Some(BodyEnd::Length(n)),
            Framing::Chunked => Some(BodyEnd::Chunked(Chunks {
                state: ChunkState::Size,
                size: 0,
                digits: 0,
                line: 0,
                trailers: 0,
            })),
            Framing::UntilClose => Some(BodyEnd::UntilClose),
        }
    }

    /// Consumes `data`, the next bytes of the body. `Some(n)`: the body ended after the
    /// first `n` bytes of `data`; `None`: all of `data` is body and more follows.
    pub fn advance(&mut self, data: &[u8]) -> Result<Option<usize>, BadBody> {
        self.advance_into(data, None)
    }

    /// As [`advance`](Self::advance), and appends the payload of `data` to `decoded`: a
    /// chunked body without its framing (for a client that does not know chunked), any
    /// other body as it is.
    pub fn decode(&mut self, data: &[u8], decoded: &mut Vec<u8>) -> Result<Option<usize>, BadBody> {
        self.advance_into(data, Some(decoded))
    }

    fn advance_into(
        &mut self,
        data: &[u8],
        decoded: Option<&mut Vec<u8>>,
    ) -> Result<Option<usize>, BadBody> {
        let end = match self {
            BodyEnd::Length(left) => {
                if (data.len() as u64) < *left {
                    *left -= data.len() as u64;
                    None
                } else {
                    let n = *left as usize;
                    *left = 0;
                    Some(n)
                }
            }
            BodyEnd::Chunked(chunks) => return chunks.advance(data, decoded),
            BodyEnd::UntilClose => None,
        };
        if let Some(out) = decoded {
            out.extend_from_slice(&data[..end.unwrap_or(data.len())]);
        }
        Ok(end)
    }
}

impl Chunks {
    fn advance(
        &mut self,
        data: &[u8],
        mut decoded: Option<&mut Vec<u8>>,
    ) -> Result<Option<usize>, BadBody> {
        use ChunkState::*;
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            if matches!(
                self.state,
                TrailerStart | TrailerName | TrailerValue | TrailerLf | FinalLf
            ) {
                self.trailers += 1;
                if self.trailers > MAX_TRAILERS {
                    return Err(BadBody);
                }
            }
            match self.state {
                Size => match (b as char).to_digit(16) {
                    Some(d) => {
                        self.digits += 1;
                        self.line += 1;
                        self.size = self.size * 16 + u64::from(d);
                        if self.digits > MAX_SIZE_DIGITS || self.size > MAX_CHUNK_SIZE {
                            return Err(BadBody);
                        }
                    }
                    None if self.digits == 0 => return Err(BadBody),
                    None => match b {
                        b';' => {
                            self.line += 1;
                            if self.line > MAX_CHUNK_LINE {
                                return Err(BadBody);
                            }
                            self.state = Extension;
                        }
                        b'\r' => self.state = SizeLf,
                        _ => return Err(BadBody),
                    },
                },
                Extension => match b {
                    b'\r' => self.state = SizeLf,
                    _ if is_field_byte(b) => {
                        self.line += 1;
                        if self.line > MAX_CHUNK_LINE {
                            return Err(BadBody);
                        }
                    }
                    _ => return Err(BadBody),
                },
                SizeLf => {
                    if b != b'\n' {
                        return Err(BadBody);
                    }
                    self.chunk_started();
                }
                Data => {
                    let take = (self.size as usize).min(data.len() - i);
                    if let Some(out) = decoded.as_deref_mut() {
                        out.extend_from_slice(&data[i..i + take]);
                    }
                    self.size -= take as u64;
                    i += take;
                    if self.size == 0 {
                        self.state = DataCr;
                    }
                    continue;
                }
                DataCr => {
                    if b != b'\r' {
                        return Err(BadBody);
                    }
                    self.state = DataLf;
                }
                DataLf => {
                    if b != b'\n' {
                        return Err(BadBody);
                    }
                    self.state = Size;
                }
                TrailerStart => match b {
                    b'\r' => self.state = FinalLf,
                    _ if is_tchar(b) => self.state = TrailerName,
                    _ => return Err(BadBody),
                },
                TrailerName => match b {
                    b':' => self.state = TrailerValue,
                    _ if is_tchar(b) => {}
                    _ => return Err(BadBody),
                },
                TrailerValue => match b {
                    b'\r' => self.state = TrailerLf,
                    _ if is_field_byte(b) => {}
                    _ => return Err(BadBody),
                },
                TrailerLf => {
                    if b != b'\n' {
                        return Err(BadBody);
                    }
                    self.state = TrailerStart;
                }
                FinalLf => {
                    if b != b'\n' {
                        return Err(BadBody);
                    }
                    self.state = Done;
                    return Ok(Some(i + 1));
                }
                Done => return Ok(Some(i)),
            }
            i += 1;
        }
        Ok(if self.state == Done { Some(i) } else { None })
    }

    /// The chunk-size line ended: data follows, or the trailers after the last chunk.
    fn chunk_started(&mut self) {
        self.state = if self.size == 0 {
            ChunkState::TrailerStart
        } else {
            ChunkState::Data
        };
        self.digits = 0;
        self.line = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(head: &str) -> Result<(Request, String), Refusal> {
        let mut out = Vec::new();
        let r = parse_request(head.as_bytes(), b"10.0.0.9", true, &mut out)?.expect("complete");
        Ok((r, String::from_utf8(out).unwrap()))
    }

    #[test]
    fn upstream_head_is_what_nginx_sends() {
        let input = "GET /a?b=1 HTTP/1.1\r\nHost: example\r\nConnection: keep-alive\r\nX-Forwarded-For: 1.2.3.4\r\nX-Real-IP: spoofed\r\nUser-Agent: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello";
        let (r, out) = request(input).unwrap();
        assert_eq!(
            out,
            "GET /a?b=1 HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\nContent-Length: 5\r\n\
             X-Real-IP: 10.0.0.9\r\nX-Forwarded-For: 1.2.3.4, 10.0.0.9\r\nX-Forwarded-Proto: http\r\n\r\n"
        );
        assert_eq!(r.framing, Framing::Length(5));
        assert!(r.keep_alive && r.expect_continue && r.idempotent);
        assert_eq!(r.head_len, input.len() - "hello".len());
        let log = r.log.unwrap();
        assert_eq!(log.request_line, "GET /a?b=1 HTTP/1.1");
        assert_eq!(log.user_agent, "t");
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let ka = |h: &str| request(h).unwrap().0.keep_alive;
        assert!(ka("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!ka(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    #[test]
    fn requests_are_refused_as_nginx_refuses_them() {
        let refused = |h: &str| request(h).unwrap_err();
        assert_eq!(refused("HELLO THERE\r\n\r\n"), Refusal::BadRequest);
        assert_eq!(refused("GET / HTTP/1.1\r\n\r\n"), Refusal::BadRequest);
        assert_eq!(
            refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Refusal::BadRequest
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Refusal::BadRequest
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
            Refusal::BadRequest
        );
        assert_eq!(
            refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Refusal::NotImplemented
        );
        let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            refused(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
            Refusal::HeadTooLarge
        );
        let mut out = Vec::new();
        assert!(
            parse_request(b"GET / HTTP/1.1\r\nHost:", b"", false, &mut out)
                .unwrap()
                .is_none()
        );
    }

    fn response(head: &str, head_request: bool, keep_alive: bool) -> (Response, String, bool) {
        let mut out = Vec::new();
        let mut ka = keep_alive;
        let r = parse_response(
            head.as_bytes(),
            head_request,
            false,
            b"kvstack",
            &mut ka,
            &mut out,
        )
        .unwrap()
        .unwrap();
        (r, String::from_utf8(out).unwrap(), ka)
    }

    #[test]
    fn client_head_replaces_server_and_connection() {
        let input = "HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc";
        let (r, out, ka) = response(input, false, true);
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: kvstack\r\nConnection: keep-alive\r\n\r\n"
        );
        assert_eq!(
            (r.status, r.framing, r.reusable, ka),
            (200, Framing::Length(3), true, true)
        );
        assert_eq!(r.head_len, input.len() - "abc".len());
    }

    #[test]
    fn response_framing() {
        let framing = |h: &str, head| response(h, head, true).0.framing;
        assert_eq!(
            framing("HTTP/1.1 204 No Content\r\n\r\n", false),
            Framing::Empty
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true),
            Framing::Empty
        );
        assert_eq!(
            framing(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false
            ),
            Framing::Chunked
        );
        let (r, out, ka) = response("HTTP/1.0 200 OK\r\n\r\n", false, true);
        assert_eq!(
            (r.framing, r.reusable, ka),
            (Framing::UntilClose, false, false)
        );
        assert!(out.ends_with("Connection: close\r\n\r\n"), "{out}");
        let (r, out, _) = response("HTTP/1.1 100 Continue\r\n\r\n", false, true);
        assert_eq!((r.status, out.as_str()), (100, ""));
    }

    #[test]
    fn chunked_end_is_found_across_reads() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let end = body.len() - 4;
        for split in 0..body.len() {
            let mut b = BodyEnd::new(Framing::Chunked).unwrap();
            let got = match b.advance(&body[..split]).unwrap() {
                Some(n) => n,
                None => split + b.advance(&body[split..]).unwrap().unwrap(),
            };
            assert_eq!(got, end, "split at {split}");
        }
        let mut b = BodyEnd::new(Framing::Chunked).unwrap();
        assert_eq!(b.advance(b"0\r\n\r\n").unwrap(), Some(5));
        let mut b = BodyEnd::new(Framing::Chunked).unwrap();
        assert_eq!(b.advance(b"zz\r\n"), Err(BadBody));
        let mut b = BodyEnd::new(Framing::Chunked).unwrap();
        assert_eq!(b.advance(b"1\r\nab"), Err(BadBody));
        let mut b = BodyEnd::new(Framing::Chunked).unwrap();
        assert_eq!(b.advance(b"ffffffffffffffffff\r\n"), Err(BadBody));
    }

    #[test]
    fn length_end() {
        let mut b = BodyEnd::new(Framing::Length(5)).unwrap();
        assert_eq!(b.advance(b"abc").unwrap(), None);
        assert_eq!(b.advance(b"defg").unwrap(), Some(2));
        assert!(BodyEnd::new(Framing::Empty).is_none());
    }

    fn refused(head: &str) -> Refusal {
        request(head).unwrap_err()
    }

    #[test]
    fn lengths_and_codings_go_upstream_canonical() {
        let (r, out) =
            request("POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 005\r\n\r\n").unwrap();
        assert_eq!(r.framing, Framing::Length(5));
        assert!(out.contains("\r\nContent-Length: 5\r\n"), "{out}");
        for coding in ["CHUNKED", "\tchunked", "chunked "] {
            let (r, out) = request(&format!(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {coding}\r\n\r\n"
            ))
            .unwrap();
            assert_eq!(r.framing, Framing::Chunked);
            assert!(out.contains("\r\nTransfer-Encoding: chunked\r\n"), "{out}");
        }
        let (r, _) = request(&format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}5\r\n\r\n",
            "0".repeat(30)
        ))
        .unwrap();
        assert_eq!(r.framing, Framing::Length(5), "leading zeros, as nginx");
    }

    /// Found by the framing corpus: nginx's statuses for repeated or misplaced framing.
    #[test]
    fn repeated_lengths_and_codings_are_refused_as_nginx_does() {
        let post = |headers: &str| format!("POST / HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        assert_eq!(
            refused(&post("Content-Length: 5\r\nContent-Length: 5\r\n")),
            Refusal::BadRequest
        );
        assert_eq!(
            refused(&post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
            )),
            Refusal::BadRequest
        );
        assert_eq!(
            refused(&post(
                "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
            )),
            Refusal::BadRequest
        );
        assert_eq!(
            refused(&post("Transfer-Encoding: chunked, identity\r\n")),
            Refusal::NotImplemented
        );
        assert_eq!(
            refused(&post("Transfer-Encoding: gzip\r\nContent-Length: 1\r\n")),
            Refusal::BadRequest
        );
        assert_eq!(
            refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Refusal::BadRequest
        );
        for value in ["+5", "5, 5", "0x5", "1 0", "", "18446744073709551616"] {
            assert_eq!(
                refused(&post(&format!("Content-Length: {value}\r\n"))),
                Refusal::BadRequest,
                "{value}"
            );
        }
    }

    /// Found by the framing corpus: the backend must not see the client's authority, `*`
    /// or an authority-form target, nor a method nginx refuses.
    #[test]
    fn targets_go_upstream_in_origin_form() {
        let line = |head: &str| request(head).unwrap().1.lines().next().unwrap().to_string();
        assert_eq!(
            line("GET http://evil.example/p?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
            "GET /p?q=1 HTTP/1.1"
        );
        assert_eq!(
            line("GET http://evil.example HTTP/1.1\r\nHost: x\r\n\r\n"),
            "GET / HTTP/1.1"
        );
        assert_eq!(
            line("GET http://evil.example?q HTTP/1.1\r\nHost: x\r\n\r\n"),
            "GET /?q HTTP/1.1"
        );
        for head in [
            "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET path HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET http:///p HTTP/1.1\r\nHost: x\r\n\r\n",
            "get / HTTP/1.1\r\nHost: x\r\n\r\n",
            "G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(refused(head), Refusal::BadRequest, "{head}");
        }
    }

    fn response_err(head: &str) -> bool {
        let mut out = Vec::new();
        parse_response(head.as_bytes(), false, false, b"", &mut true, &mut out).is_err()
    }

    /// Found by the fuzzer and the corpus: heads a client and the proxy could read
    /// differently are refused (502), never relayed.
    #[test]
    fn ambiguous_responses_are_refused() {
        assert!(response_err("HTTP/1.1 000 \r\n\r\n"));
        assert!(response_err(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(response_err(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
        ));
        assert!(response_err(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(response_err(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\nContent-Length: 1\r\n\r\n"
        ));
        let framing = |h: &str| response(h, false, true).0.framing;
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Framing::Chunked
        );
        let (r, out, ka) = response(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            false,
            true,
        );
        assert_eq!(
            (r.framing, r.reusable, ka),
            (Framing::UntilClose, false, false)
        );
        assert!(out.ends_with("Connection: close\r\n\r\n"), "{out}");
        let (_, out, _) = response(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            false,
            true,
        );
        assert_eq!(out.matches("Content-Length").count(), 1, "{out}");
    }

    /// Found by the corpus: an HTTP/1.0 client got a chunked body it cannot read.
    #[test]
    fn chunked_response_is_decoded_for_an_http10_client() {
        let input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut out = Vec::new();
        let mut ka = true;
        let r = parse_response(input.as_bytes(), false, true, b"", &mut ka, &mut out)
            .unwrap()
            .unwrap();
        assert!(r.decode && !ka);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
        );
        let body = b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\nT: 1\r\n\r\nNEXT";
        for split in 0..body.len() {
            let mut end = BodyEnd::new(Framing::Chunked).unwrap();
            let mut decoded = Vec::new();
            let got = match end.decode(&body[..split], &mut decoded).unwrap() {
                Some(n) => n,
                None => split + end.decode(&body[split..], &mut decoded).unwrap().unwrap(),
            };
            assert_eq!((got, &decoded[..]), (body.len() - 4, &b"Wikipedia"[..]));
        }
    }

    /// Found by the framing corpus: `0x5` was read as a last chunk with extension `x5`, so
    /// the rest of the body became a request of its own (smuggling past a backend that
    /// reads hex the C way). Chunk syntax is now exactly RFC 9112's.
    #[test]
    fn only_canonical_chunk_syntax_is_accepted() {
        let bad = |body: &[u8]| {
            let mut end = BodyEnd::new(Framing::Chunked).unwrap();
            end.advance(body) == Err(BadBody)
        };
        for body in [
            &b"0x5\r\nhello\r\n0\r\n\r\n"[..],
            b"5x\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"-5\r\n",
            b"5\nhello\r\n",
            b"5\r\nhello\n",
            b"5;a\nb\r\n",
            b"5;a\x01\r\n",
            b"0\r\nGET /smuggled HTTP/1.1\r\n",
            b"0\r\nX-T: 1\n\n",
            b"0\r\nX-T: 1\r\n\n",
            b"00000000000000005\r\n",
            b"1000000000000000\r\n",
        ] {
            assert!(bad(body), "{}", String::from_utf8_lossy(body));
        }
        let mut end = BodyEnd::new(Framing::Chunked).unwrap();
        assert_eq!(
            end.advance(b"0000000000000005\r\nhello\r\n0\r\nA-b: c\td\r\n\r\n"),
            Ok(Some(40))
        );
    }

    /// Found while reviewing against nginx: `Transfer_Encoding` reached the backend, which a
    /// CGI/WSGI server reads as `Transfer-Encoding`.
    #[test]
    fn header_names_nginx_ignores_are_dropped() {
        let (r, out) = request(
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\nX.Y: 1\r\n\
             Content-Length: 3\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.framing, Framing::Length(3));
        assert!(
            !out.contains("Transfer_Encoding") && !out.contains("X.Y"),
            "{out}"
        );
    }
}
