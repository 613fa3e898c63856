//! Fuzzing of the proxy's hand-written HTTP/1 code (`src/http1.rs`) on the stable toolchain:
//! no nightly here, so no cargo-fuzz; instead seeded generators over the HTTP/1 grammar
//! (requests, responses and chunked bodies built from the pieces smuggling attacks use),
//! then byte-level mutation of what they generate (flips, CR/LF/NUL/space insertions, cut
//! and duplicated ranges, header lines spliced in).
//!
//! Properties, for every input:
//! - no panic, and bounded output (a head written for the other side is at most the input
//!   plus the forwarding headers);
//! - a head the proxy accepts is written canonically (CRLF only, no control bytes, one
//!   framing header with a canonical value) and round-trips: parsing what the proxy sends
//!   gives the same framing, method and status;
//! - the framing a client or backend reads from the written head is the framing the proxy
//!   uses to find the end of the body (no response splitting, no desync);
//! - a head is self-delimiting (bytes after it change nothing; a prefix is never complete);
//! - the body framer ([`BodyEnd`]) finds the same end however the bytes are split across
//!   reads, and agrees with a strict reference decoder written here: the chunked bodies it
//!   accepts are exactly the ones an RFC 9112 parser accepts (within its size limits).
//!
//! `FUZZ_HTTP1_CASES` sets the number of cases per target (default below, sized for CI) and
//! `FUZZ_HTTP1_SEED` the first seed; a failure prints the seed and the input. Cases found
//! are pinned as regression tests at the bottom of this file.

#[path = "../src/http1.rs"]
#[allow(dead_code)]
mod http1;

use http1::{parse_request, parse_response, BodyEnd, Framing};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Cases per target in CI: 1.5 million in all, in a debug build.
const CI_CASES: u64 = 500_000;

fn cases() -> u64 {
    std::env::var("FUZZ_HTTP1_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CI_CASES)
}

fn first_seed() -> u64 {
    std::env::var("FUZZ_HTTP1_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs `check` on `cases()` inputs, each from its own seed, and reports the failing one.
fn fuzz(target: &str, check: impl Fn(&mut StdRng) -> Result<(), String>) {
    let n = cases();
    let start = first_seed();
    for seed in start..start + n {
        let mut rng = StdRng::seed_from_u64(seed ^ fxhash(target));
        if let Err(e) = check(&mut rng) {
            panic!("{target}: seed {seed}: {e}");
        }
    }
    eprintln!("{target}: {n} cases from seed {start}");
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn pick<'a, T: ?Sized>(rng: &mut StdRng, items: &'a [&'a T]) -> &'a T {
    items[rng.gen_range(0..items.len())]
}

fn show(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

// ---------------------------------------------------------------------------------------
// Generators

const METHODS: &[&str] = &[
    "GET", "GET", "POST", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "get",
    "G@T", "FOO", "",
];
const TARGETS: &[&str] = &[
    "/",
    "/a/b?c=d",
    "/%00",
    "http://h.example/p?q",
    "http://h.example",
    "https://h.example:8443/x",
    "*",
    "h.example:443",
    "path",
    "/a b",
    "//x",
];
const VERSIONS: &[&str] = &[
    "HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "http/1.1", "",
];
const LENGTHS: &[&str] = &[
    "0",
    "5",
    "5",
    "005",
    "+5",
    "-1",
    "5, 5",
    " 5 ",
    "5 5",
    "0x5",
    "",
    "18446744073709551616",
    "99999999999999999999",
    "000000000000000000000005",
    "1048577",
];
const CODINGS: &[&str] = &[
    "chunked",
    "chunked",
    "CHUNKED",
    " chunked",
    "chunked ",
    "\tchunked",
    "chunked, identity",
    "identity, chunked",
    "gzip, chunked",
    "chunked, gzip",
    "xchunked",
    "chunkedx",
    "identity",
    "",
    "chunked\x0b",
];
const NAMES: &[&str] = &[
    "Host",
    "Host",
    "Content-Length",
    "Content-Length",
    "Transfer-Encoding",
    "Transfer-Encoding",
    "Connection",
    "Expect",
    "X-Forwarded-For",
    "Keep-Alive",
    "Upgrade",
    "TE",
    "User-Agent",
    "X-A",
    "content-length",
    "transfer-encoding",
    "Transfer_Encoding",
    "Content-Length ",
    " Transfer-Encoding",
];
const VALUES: &[&str] = &[
    "x",
    "close",
    "keep-alive",
    "Keep-Alive, Upgrade",
    "100-continue",
    "1.2.3.4",
    "a\tb",
    "caf\u{e9}",
    "",
];
const EOLS: &[&str] = &[
    "\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r", "\r\r\n",
];

fn header_line(rng: &mut StdRng) -> String {
    let name = pick(rng, NAMES);
    let value = match name.trim().to_ascii_lowercase().as_str() {
        "content-length" => pick(rng, LENGTHS).to_string(),
        "transfer-encoding" | "transfer_encoding" => pick(rng, CODINGS).to_string(),
        _ => pick(rng, VALUES).to_string(),
    };
    let sep = if rng.gen_ratio(1, 10) { ":" } else { ": " };
    format!("{name}{sep}{value}")
}

fn gen_chunked(rng: &mut StdRng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.gen_range(0..4) {
        let size: usize = rng.gen_range(1..40);
        let mut line = match rng.gen_range(0..10) {
            0 => format!("{size:08X}"),
            1 => format!("000{size:x}"),
            _ => format!("{size:x}"),
        };
        if rng.gen_ratio(1, 4) {
            line.push_str(pick(rng, &[";a=b", ";a=\"x;y\"", "; q", ";", ";\t"]));
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend((0..size).map(|i| b"abcdefghij\r\n0"[i % 13]));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    for _ in 0..rng.gen_range(0..3) {
        out.extend_from_slice(
            pick(rng, &["X-T: 1\r\n", "Trailer-Name: v a l\r\n", "E:\r\n"]).as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn gen_request(rng: &mut StdRng) -> Vec<u8> {
    let mut s = String::new();
    let eol = if rng.gen_ratio(1, 8) {
        pick(rng, EOLS)
    } else {
        "\r\n"
    };
    s.push_str(&format!(
        "{} {} {}{eol}",
        pick(rng, METHODS),
        pick(rng, TARGETS),
        pick(rng, VERSIONS)
    ));
    if rng.gen_ratio(9, 10) {
        s.push_str(&format!("Host: h{eol}"));
    }
    for _ in 0..rng.gen_range(0..6) {
        s.push_str(&header_line(rng));
        s.push_str(if rng.gen_ratio(1, 12) {
            pick(rng, EOLS)
        } else {
            eol
        });
    }
    s.push_str(eol);
    let mut out = s.into_bytes();
    match rng.gen_range(0..3) {
        0 => out.extend_from_slice(&gen_chunked(rng)),
        1 => out.extend_from_slice(b"hello"),
        _ => {}
    }
    if rng.gen_ratio(1, 2) {
        out.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    out
}

const STATUSES: &[&str] = &[
    "200", "200", "204", "304", "100", "101", "103", "404", "500", "2000", "20", "abc",
];

fn gen_response(rng: &mut StdRng) -> Vec<u8> {
    let mut s = String::new();
    let eol = if rng.gen_ratio(1, 8) {
        pick(rng, EOLS)
    } else {
        "\r\n"
    };
    s.push_str(&format!(
        "{} {} {}{eol}",
        pick(rng, &["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2", "ICY"]),
        pick(rng, STATUSES),
        pick(rng, &["OK", "", "Not Found", "a\tb", "caf\u{e9}"])
    ));
    for _ in 0..rng.gen_range(0..6) {
        let line = match rng.gen_range(0..4) {
            0 => format!("Server: {}", pick(rng, &["nginx", "x"])),
            _ => header_line(rng),
        };
        s.push_str(&line);
        s.push_str(if rng.gen_ratio(1, 12) {
            pick(rng, EOLS)
        } else {
            eol
        });
    }
    s.push_str(eol);
    let mut out = s.into_bytes();
    if rng.gen_ratio(1, 2) {
        out.extend_from_slice(&gen_chunked(rng));
    } else {
        out.extend_from_slice(b"hello");
    }
    out
}

const INTERESTING: &[u8] = b"\r\n\0 \t:;,\x0b\x7f\xff0aAzZ-";

/// A few byte-level mutations.
fn mutate(rng: &mut StdRng, data: &mut Vec<u8>) {
    for _ in 0..rng.gen_range(1..4) {
        let len = data.len();
        match rng.gen_range(0..8) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] ^= 1 << rng.gen_range(0..8);
            }
            1 => {
                let i = rng.gen_range(0..=len);
                let b = INTERESTING[rng.gen_range(0..INTERESTING.len())];
                data.insert(i, b);
            }
            2 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(8));
                data.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] = INTERESTING[rng.gen_range(0..INTERESTING.len())];
            }
            4 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(32));
                let copy = data[i..i + n].to_vec();
                let at = rng.gen_range(0..=len);
                data.splice(at..at, copy);
            }
            5 => {
                // A header line spliced in after some line end.
                let ends: Vec<usize> = (0..len).filter(|&i| data[i] == b'\n').collect();
                if let Some(&at) = ends.get(rng.gen_range(0..ends.len().max(1))) {
                    let mut line = header_line(rng).into_bytes();
                    line.extend_from_slice(b"\r\n");
                    data.splice(at + 1..at + 1, line);
                }
            }
            6 if len > 0 => data.truncate(rng.gen_range(0..len)),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Checks of written heads

/// Header (lowercased name, value) pairs in order.
type Headers = Vec<(String, Vec<u8>)>;

/// A head written for the other side: CRLF line ends only, token names, `": "`, no control
/// bytes but HTAB in values. Returns the header (name, value) pairs.
fn canonical_head(out: &[u8]) -> Result<(Vec<u8>, Headers), String> {
    let body = out
        .strip_suffix(b"\r\n\r\n")
        .ok_or_else(|| format!("head does not end in CRLF CRLF: {}", show(out)))?;
    let mut lines = body.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let mut headers = Vec::new();
    let check_line = |l: &[u8]| -> Result<(), String> {
        if l.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Err(format!("control byte in a written line {}", show(l)));
        }
        Ok(())
    };
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    check_line(first)?;
    for (i, line) in lines.enumerate() {
        let is_last = i + 1 == body.split(|&b| b == b'\n').count() - 1;
        let line = if is_last {
            line
        } else {
            line.strip_suffix(b"\r")
                .ok_or_else(|| format!("bare LF in {}", show(out)))?
        };
        check_line(line)?;
        let colon = line
            .windows(2)
            .position(|w| w == b": ")
            .ok_or_else(|| format!("no \": \" in {}", show(line)))?;
        let name = &line[..colon];
        if name.is_empty()
            || !name
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(format!("bad header name in {}", show(line)));
        }
        headers.push((
            String::from_utf8_lossy(name).to_ascii_lowercase(),
            line[colon + 2..].to_vec(),
        ));
    }
    Ok((first.to_vec(), headers))
}

fn values<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Vec<&'a [u8]> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
        .collect()
}

fn check_request(buf: &[u8]) -> Result<(), String> {
    let ip = b"10.1.2.3";
    let mut out = Vec::new();
    let result = parse_request(buf, ip, true, &mut out);
    let Ok(Some(req)) = result else {
        return Ok(());
    };
    let ctx = || format!("input {}\n written {}", show(buf), show(&out));
    if req.head_len > buf.len() || req.head_len == 0 {
        return Err(format!("head_len {} of {}", req.head_len, buf.len()));
    }
    // Bounded: the head as sent, plus our three forwarding headers.
    if out.len() > req.head_len + 128 + 2 * ip.len() {
        return Err(format!("written head grew: {}", ctx()));
    }
    let (line, headers) = canonical_head(&out).map_err(|e| format!("{e}\n {}", ctx()))?;
    if !line.ends_with(b" HTTP/1.1") || line.split(|&b| b == b' ').count() != 3 {
        return Err(format!("request line {}: {}", show(&line), ctx()));
    }
    let target = line.split(|&b| b == b' ').nth(1).unwrap_or_default();
    if !target.starts_with(b"/") {
        return Err(format!("origin-form target expected: {}", ctx()));
    }
    if let Some((name, _)) = headers
        .iter()
        .find(|(n, _)| !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(format!(
            "header {name:?} forwarded (nginx ignores it): {}",
            ctx()
        ));
    }
    let cl = values(&headers, "content-length");
    let te = values(&headers, "transfer-encoding");
    let ok = match req.framing {
        Framing::Length(n) => cl == [n.to_string().as_bytes()] && te.is_empty(),
        Framing::Chunked => cl.is_empty() && te == [&b"chunked"[..]],
        Framing::Empty => te.is_empty() && (cl.is_empty() || cl == [&b"0"[..]]),
        Framing::UntilClose => false,
    };
    if !ok {
        return Err(format!(
            "framing {:?} vs written headers: {}",
            req.framing,
            ctx()
        ));
    }
    // Self-delimiting: more bytes after the head change nothing; no prefix is complete.
    let mut longer = buf[..req.head_len].to_vec();
    longer.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let mut out2 = Vec::new();
    match parse_request(&longer, ip, true, &mut out2) {
        Ok(Some(r)) if r.head_len == req.head_len && out2 == out => {}
        other => return Err(format!("not self-delimiting ({other:?}): {}", ctx())),
    }
    for k in [req.head_len - 1, req.head_len / 2] {
        if let Ok(Some(_)) = parse_request(&buf[..k], ip, false, &mut out2) {
            return Err(format!("prefix of {k} bytes complete: {}", ctx()));
        }
    }
    // Round trip: what the backend parses is what we meant. (An HTTP/1.0 request without
    // Host goes upstream without one, as nginx sends it; the backend knows its own name.)
    let mut sent = out.clone();
    if values(&headers, "host").is_empty() {
        let at = sent.iter().position(|&b| b == b'\n').unwrap() + 1;
        sent.splice(at..at, b"Host: h\r\n".iter().copied());
    }
    let out = sent;
    let again = parse_request(&out, ip, false, &mut out2)
        .map_err(|e| format!("written head refused ({e:?}): {}", ctx()))?
        .ok_or_else(|| format!("written head incomplete: {}", ctx()))?;
    if again.head_len != out.len()
        || again.framing != req.framing
        || again.idempotent != req.idempotent
        || again.head_method != req.head_method
    {
        return Err(format!("round trip {again:?} vs {req:?}: {}", ctx()));
    }
    let strip_xff = |h: &[u8]| -> Vec<u8> {
        h.split(|&b| b == b'\n')
            .filter(|l| !l.starts_with(b"X-Forwarded-For"))
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect()
    };
    if strip_xff(&out2) != strip_xff(&out) {
        return Err(format!(
            "rewriting is not idempotent: {} then {}",
            ctx(),
            show(&out2)
        ));
    }
    Ok(())
}

/// The framing an RFC 9112 client reads from a response head the proxy wrote.
fn client_framing(
    status: u16,
    head_request: bool,
    headers: &[(String, Vec<u8>)],
) -> Result<Framing, String> {
    if head_request || status == 204 || status == 304 || status < 200 {
        return Ok(Framing::Empty);
    }
    let te = values(headers, "transfer-encoding");
    let cl = values(headers, "content-length");
    if !te.is_empty() {
        if !cl.is_empty() {
            return Err("Content-Length and Transfer-Encoding sent to the client".into());
        }
        let joined = te.join(&b","[..]);
        let last = joined
            .split(|&b| b == b',')
            .map(<[u8]>::trim_ascii)
            .rfind(|t| !t.is_empty())
            .unwrap_or_default();
        return Ok(if last.eq_ignore_ascii_case(b"chunked") {
            Framing::Chunked
        } else {
            Framing::UntilClose
        });
    }
    match cl[..] {
        [] => Ok(Framing::UntilClose),
        [v] => match std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        {
            Some(0) => Ok(Framing::Empty),
            Some(n) if v.iter().all(u8::is_ascii_digit) => Ok(Framing::Length(n)),
            _ => Err(format!("non-canonical Content-Length {}", show(v))),
        },
        _ => Err("several Content-Length headers sent to the client".into()),
    }
}

fn check_response(buf: &[u8], head_request: bool, http10: bool) -> Result<(), String> {
    let mut out = Vec::new();
    let mut keep_alive = true;
    let result = parse_response(
        buf,
        head_request,
        http10,
        b"kvstack",
        &mut keep_alive,
        &mut out,
    );
    let Ok(Some(resp)) = result else {
        return Ok(());
    };
    let ctx = || {
        format!(
            "input {} (HEAD: {head_request})\n written {}",
            show(buf),
            show(&out)
        )
    };
    if resp.head_len > buf.len() || resp.head_len == 0 {
        return Err(format!("head_len {} of {}", resp.head_len, buf.len()));
    }
    if resp.status < 200 {
        return if out.is_empty() {
            Ok(())
        } else {
            Err(format!("an interim response was written: {}", ctx()))
        };
    }
    if out.len() > resp.head_len + 128 {
        return Err(format!("written head grew: {}", ctx()));
    }
    let (line, headers) = canonical_head(&out).map_err(|e| format!("{e}\n {}", ctx()))?;
    if !line.starts_with(format!("HTTP/1.1 {} ", resp.status).as_bytes()) {
        return Err(format!("status line {}: {}", show(&line), ctx()));
    }
    let seen = client_framing(resp.status, head_request, &headers)
        .map_err(|e| format!("{e}: {}", ctx()))?;
    // Decoded for an HTTP/1.0 client, the body ends when the connection closes.
    let relayed = if resp.decode {
        Framing::UntilClose
    } else {
        resp.framing
    };
    if resp.decode && (!http10 || resp.framing != Framing::Chunked) {
        return Err(format!("decoding for the wrong client: {}", ctx()));
    }
    if http10 && resp.framing == Framing::Chunked && !resp.decode {
        return Err(format!("chunked relayed to an HTTP/1.0 client: {}", ctx()));
    }
    if seen != relayed {
        return Err(format!(
            "the client reads {seen:?}, the proxy relays {:?}: {}",
            resp.framing,
            ctx()
        ));
    }
    let conn = values(&headers, "connection");
    let close = conn == [&b"close"[..]];
    if conn.len() != 1 || close == keep_alive {
        return Err(format!(
            "Connection header vs keep_alive {keep_alive}: {}",
            ctx()
        ));
    }
    if relayed == Framing::UntilClose && !close {
        return Err(format!(
            "a body delimited by close on a kept client connection: {}",
            ctx()
        ));
    }
    if resp.framing == Framing::UntilClose && (!close || resp.reusable) {
        return Err(format!(
            "a body delimited by close on a kept connection: {}",
            ctx()
        ));
    }
    let mut longer = buf[..resp.head_len].to_vec();
    longer.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    let (mut out2, mut ka2) = (Vec::new(), true);
    match parse_response(
        &longer,
        head_request,
        http10,
        b"kvstack",
        &mut ka2,
        &mut out2,
    ) {
        Ok(Some(r)) if r.head_len == resp.head_len && r.framing == resp.framing => {}
        other => return Err(format!("not self-delimiting ({other:?}): {}", ctx())),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The body framer and its reference

/// Whether `l` is a chunk-size line (`complete`) or the start of one: at most 16 hex digits
/// for a size under 2^60, then optionally `;` and an extension without control bytes.
fn size_line_ok(l: &[u8], complete: bool) -> bool {
    let digits = l.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let value = u64::from_str_radix(std::str::from_utf8(&l[..digits.min(16)]).unwrap_or("0"), 16);
    if l.len() > http1::MAX_CHUNK_LINE
        || digits > 16
        || (digits > 0 && !value.is_ok_and(|v| v < 1 << 60))
    {
        return false;
    }
    if digits == 0 {
        return l.is_empty() && !complete;
    }
    match l.get(digits) {
        None => true,
        Some(b';') => l[digits..]
            .iter()
            .all(|&b| b == b'\t' || (b >= b' ' && b != 0x7f)),
        Some(_) => false,
    }
}

/// Whether `l` is a trailer field line (`complete`) or the start of one: `name:value`.
fn trailer_line_ok(l: &[u8], complete: bool) -> bool {
    let name = l
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        .count();
    if name == l.len() {
        return !complete;
    }
    name > 0
        && l[name] == b':'
        && l[name + 1..]
            .iter()
            .all(|&b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

/// Strict RFC 9112 chunked decoding, with the framer's limits. `Ok(Some(end))`: the body
/// ends after `end` bytes; `Ok(None)`: incomplete; `Err`: malformed or over a limit.
fn reference_chunked(data: &[u8]) -> Result<Option<usize>, ()> {
    // The line starting at `i`: Ok(Some((end of content, start of next line))), or Ok(None)
    // when it is not complete; Err on a bare CR or LF.
    let line = |i: usize| -> Result<Option<(usize, usize)>, ()> {
        let mut j = i;
        while j < data.len() {
            match data[j] {
                b'\r' => {
                    return match data.get(j + 1) {
                        Some(b'\n') => Ok(Some((j, j + 2))),
                        Some(_) => Err(()),
                        None => Ok(None),
                    }
                }
                b'\n' => return Err(()),
                _ => j += 1,
            }
        }
        Ok(None)
    };
    // The incomplete line from `i`, without a final CR, and whether that CR ended it.
    let partial = |i: usize| match data[i..].strip_suffix(b"\r") {
        Some(l) => (l, true),
        None => (&data[i..], false),
    };
    let mut i = 0;
    loop {
        let Some((end, next)) = line(i)? else {
            let (l, ended) = partial(i);
            return if size_line_ok(l, ended) {
                Ok(None)
            } else {
                Err(())
            };
        };
        let l = &data[i..end];
        if !size_line_ok(l, true) {
            return Err(());
        }
        let digits = l.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let size = u64::from_str_radix(std::str::from_utf8(&l[..digits]).unwrap(), 16)
            .map_err(|_| ())? as usize;
        i = next;
        if size == 0 {
            let trailers_start = i;
            loop {
                let over = |upto: usize| upto - trailers_start > http1::MAX_TRAILERS;
                let Some((end, next)) = line(i)? else {
                    let (l, ended) = partial(i);
                    let ok = (l.is_empty() || trailer_line_ok(l, ended)) && !over(data.len());
                    return if ok { Ok(None) } else { Err(()) };
                };
                if over(next) {
                    return Err(());
                }
                let l = &data[i..end];
                i = next;
                if l.is_empty() {
                    return Ok(Some(i));
                }
                if !trailer_line_ok(l, true) {
                    return Err(());
                }
            }
        }
        if data.len() < i + size + 2 {
            // Incomplete, unless what is there already breaks the rule.
            if data.len() > i + size && data[i + size] != b'\r' {
                return Err(());
            }
            return Ok(None);
        }
        if &data[i + size..i + size + 2] != b"\r\n" {
            return Err(());
        }
        i += size + 2;
    }
}

/// Runs the framer over `data` cut at `cuts`; `Ok(Some(end))` relative to `data`.
fn run_framer(framing: Framing, data: &[u8], cuts: &[usize]) -> Result<Option<usize>, ()> {
    let mut end = BodyEnd::new(framing).expect("a body");
    let mut at = 0;
    for &cut in cuts.iter().chain([&data.len()]) {
        if cut < at {
            continue;
        }
        match end.advance(&data[at..cut]) {
            Ok(Some(n)) => return Ok(Some(at + n)),
            Ok(None) => at = cut,
            Err(_) => return Err(()),
        }
    }
    Ok(None)
}

fn check_chunked(data: &[u8], cuts: &[usize]) -> Result<(), String> {
    let whole = run_framer(Framing::Chunked, data, &[]);
    let split = run_framer(Framing::Chunked, data, cuts);
    if whole != split {
        return Err(format!(
            "whole {whole:?} vs split at {cuts:?} {split:?}: {}",
            show(data)
        ));
    }
    let reference = reference_chunked(data);
    if whole != reference {
        return Err(format!(
            "framer {whole:?} vs strict reference {reference:?}: {}",
            show(data)
        ));
    }
    Ok(())
}

fn random_cuts(rng: &mut StdRng, len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..rng.gen_range(0..4))
        .map(|_| rng.gen_range(0..=len))
        .collect();
    if rng.gen_ratio(1, 8) {
        cuts = (0..=len).collect();
    }
    cuts.sort_unstable();
    cuts
}

// ---------------------------------------------------------------------------------------
// The targets

#[test]
fn fuzz_request_heads() {
    fuzz("request", |rng| {
        let mut buf = gen_request(rng);
        if rng.gen_ratio(2, 3) {
            mutate(rng, &mut buf);
        }
        check_request(&buf)
    });
}

#[test]
fn fuzz_response_heads() {
    fuzz("response", |rng| {
        let mut buf = gen_response(rng);
        if rng.gen_ratio(2, 3) {
            mutate(rng, &mut buf);
        }
        check_response(&buf, rng.gen_ratio(1, 5), rng.gen_ratio(1, 5))
    });
}

#[test]
fn fuzz_body_framer() {
    fuzz("body", |rng| {
        let mut data = gen_chunked(rng);
        let valid_end = data.len();
        data.extend_from_slice(b"GET /next HTTP/1.1\r\n");
        let mutated = rng.gen_ratio(2, 3);
        if mutated {
            mutate(rng, &mut data);
        } else if run_framer(Framing::Chunked, &data, &[]) != Ok(Some(valid_end)) {
            return Err(format!("a valid chunked body: {}", show(&data)));
        }
        let cuts = random_cuts(rng, data.len());
        check_chunked(&data, &cuts)?;
        // A length-delimited body ends exactly at its length, however it is split.
        let n = rng.gen_range(0..=data.len());
        match run_framer(Framing::Length(n as u64), &data, &cuts) {
            Ok(Some(end)) if end == n => Ok(()),
            Ok(None) if n == data.len() && n == 0 => Ok(()),
            other => Err(format!("Length({n}) over {} bytes: {other:?}", data.len())),
        }
    });
}

#[test]
fn body_framer_state_is_bounded() {
    // A framer holds no buffer: its size is fixed whatever it is fed.
    assert!(std::mem::size_of::<BodyEnd>() <= 64);
    // Endless extensions and trailers are cut off at the limits.
    let mut end = BodyEnd::new(Framing::Chunked).unwrap();
    let mut fed = 0;
    let mut refused = end.advance(b"5;").is_err();
    while !refused && fed < 1 << 20 {
        refused = end.advance(&[b'a'; 1024]).is_err();
        fed += 1024;
    }
    assert!(
        refused && fed <= 2 * http1::MAX_CHUNK_LINE,
        "extension of {fed} bytes"
    );
    let mut end = BodyEnd::new(Framing::Chunked).unwrap();
    let mut fed = 0;
    let mut refused = end.advance(b"0\r\n").is_err();
    while !refused && fed < 1 << 20 {
        refused = end.advance(b"X-T: aaaaaaaaaaaaaaaaaaaaaaaaa\r\n").is_err();
        fed += 32;
    }
    assert!(
        refused && fed <= 2 * http1::MAX_TRAILERS,
        "trailers of {fed} bytes"
    );
}

// ---------------------------------------------------------------------------------------
// Regression cases found by the fuzzer and the corpus

/// Inputs the fuzzer failed on, each checked with all the properties above.
#[test]
fn regressions() {
    // A status of 000 was relayed as a final response (now 502).
    check_response(b"HTTP/1.1 000 \r\nServer: nginx\r\n\r\nhello", false, false).unwrap();
    // The proxy took the last Transfer-Encoding header (empty: until close) while a client
    // joins them (chunked): a response-splitting desync. Now one list, chunked twice is 502.
    check_response(
        b"HTTP/1.0 200 caf\xc3\xa9\r\nTransfer-Encoding:chunked \r\nTransfer-Encoding: \tchunked\r\n\
          Transfer-Encoding: \r\n\r\nf\r\nabcdefghij\r\n0ab\r\n0\r\n\r\n",
        false,
        false,
    )
    .unwrap();
    check_response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        false,
        true,
    )
    .unwrap();
    // An HTTP/1.0 request without Host goes upstream without one, as from nginx.
    check_request(b"PUT http://h.exampleA HTTP/1.0\r\n\r\n").unwrap();
    // Chunk syntax the framer and a strict parser must agree on.
    for body in [
        &b"Z0"[..],
        b"\r",
        b"b ;\t\r\nabcdefghij\r\r\n",
        b"16 \r\nabcdefghij\r\n",
        // Found by the corpus: read as a last chunk `0` with extension `x5`, then the
        // smuggled request after it.
        b"0x5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        b"5x\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        b"0\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        check_chunked(body, &[]).unwrap();
        check_chunked(body, &(0..=body.len()).collect::<Vec<_>>()).unwrap();
    }
    assert_eq!(
        run_framer(Framing::Chunked, b"0x5\r\nhello\r\n0\r\n\r\n", &[]),
        Err(())
    );
}
