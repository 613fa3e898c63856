//! WebSocket (and any HTTP/1.1 `Upgrade`) pass-through, as nginx does with
//! `proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";`.
//!
//! The request head is forwarded with `Connection: upgrade` and the client's `Upgrade`
//! header (both hop-by-hop, dropped from ordinary requests) on a fresh upstream connection,
//! and the proxy reads the upstream's answer ([`answer`]). On `101 Switching Protocols` the
//! answer reaches the client verbatim and from then on the proxy copies bytes both ways until
//! either side closes or neither sends anything for the idle timeout (nginx's
//! `proxy_read_timeout`). Any other answer is relayed as an ordinary response, framed by
//! `http1`, with `Connection: close`. Invariant: nothing the client sent after the upgrade
//! request reaches the upstream unless the upstream switched protocols, so a refused upgrade
//! can never carry an unparsed request past the proxy. The client connection is not reused
//! afterwards, and the upstream connection never goes back to the pool.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::http1::{self, BodyEnd};

/// Longest answer head read before giving up on the upstream (as a 502).
const MAX_ANSWER_HEAD: usize = 32 * 1024;

/// What the upstream answered to an upgrade request.
pub enum Answer {
    /// `101`: these bytes (the head and whatever followed it) go to the client verbatim,
    /// then the tunnel starts.
    Switched(Vec<u8>),
    /// Another final answer, already relayed to the client with `Connection: close`
    /// (its status, for the access log).
    Relayed(u16),
}

/// Reads the upstream's answer to the upgrade request. `Ok(None)`: no valid answer (a 502).
/// A refusal is relayed here, body included, and the caller closes both connections.
pub async fn answer(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    idle: Duration,
    server: &[u8],
) -> std::io::Result<Option<Answer>> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(_)) if resp.code == Some(101) => {
                return Ok(Some(Answer::Switched(buf)));
            }
            Ok(httparse::Status::Complete(_)) => break,
            Ok(httparse::Status::Partial) if buf.len() <= MAX_ANSWER_HEAD => {}
            _ => return Ok(None),
        }
        let Ok(n) = timeout(idle, upstream.read(&mut chunk)).await else {
            return Ok(None);
        };
        match n? {
            0 => return Ok(None),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let (mut keep_alive, mut head) = (false, Vec::new());
    let Ok(Some(resp)) =
        http1::parse_response(&buf, false, false, server, &mut keep_alive, &mut head)
    else {
        return Ok(None);
    };
    client.write_all(&head).await?;
    let Some(mut end) = BodyEnd::new(resp.framing) else {
        return Ok(Some(Answer::Relayed(resp.status)));
    };
    let mut data = buf[resp.head_len..].to_vec();
    loop {
        match end.advance(&data) {
            Ok(Some(n)) => {
                client.write_all(&data[..n]).await?;
                break;
            }
            Ok(None) => client.write_all(&data).await?,
            Err(_) => break,
        }
        match timeout(idle, upstream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => data = chunk[..n].to_vec(),
            _ => break,
        }
    }
    Ok(Some(Answer::Relayed(resp.status)))
}

/// The `Upgrade` header value when the request head asks for a protocol switch
/// (`Connection: upgrade` and `Upgrade: ...`).
pub fn requested(head: &[u8]) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(head).ok()?;
    let mut connection_upgrade = false;
    let mut upgrade = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            connection_upgrade |= h
                .value
                .split(|&c| c == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade = Some(h.value.to_vec());
        }
    }
    upgrade.filter(|_| connection_upgrade)
}

/// Turns a rewritten upstream head (ending in a blank line) into one that asks for `upgrade`.
pub fn upstream_head(head: &[u8], upgrade: &[u8]) -> Vec<u8> {
    let body = head.strip_suffix(b"\r\n").unwrap_or(head);
    let mut out = Vec::with_capacity(head.len() + 64);
    out.extend_from_slice(body);
    out.extend_from_slice(b"Connection: upgrade\r\nUpgrade: ");
    out.extend_from_slice(upgrade);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// Copies both ways until a side closes or `idle` passes without a byte either way.
/// `client_buffered`: bytes the client sent after the head, forwarded first.
pub async fn tunnel(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    client_buffered: &[u8],
    idle: Duration,
) -> std::io::Result<()> {
    if !client_buffered.is_empty() {
        upstream.write_all(client_buffered).await?;
    }
    let (mut cr, mut cw) = client.split();
    let (mut ur, mut uw) = upstream.split();
    let mut down = vec![0u8; 16 * 1024];
    let mut up = vec![0u8; 16 * 1024];
    loop {
        let step = tokio::time::timeout(idle, async {
            tokio::select! {
                n = ur.read(&mut down) => {
                    let n = n?;
                    if n == 0 { return Ok(false); }
                    cw.write_all(&down[..n]).await?;
                    Ok::<bool, std::io::Error>(true)
                }
                n = cr.read(&mut up) => {
                    let n = n?;
                    if n == 0 { return Ok(false); }
                    uw.write_all(&up[..n]).await?;
                    Ok(true)
                }
            }
        })
        .await;
        match step {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) | Err(_) => return Ok(()),
            Ok(Err(e)) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connection_upgrade_with_upgrade_asks() {
        let h = b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(requested(h).as_deref(), Some(&b"websocket"[..]));
        let h = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(requested(h), None);
        assert_eq!(
            upstream_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"websocket"),
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
        );
    }
}
