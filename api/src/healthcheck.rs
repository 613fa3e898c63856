//! `api healthcheck`: the Docker `HEALTHCHECK` probe for a `FROM scratch` image, which has no
//! curl. It asks this process's own `/healthz` (alive) or, with `--ready`, `/readyz` (the store
//! answers too) over loopback and exits 0 only on a `200`.
//!
//! One HTTP/1.0 request and a status line is all it needs, so it uses blocking std sockets
//! (no runtime to start), with a deadline on every step.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Requests `GET <path>` from `addr`; `Ok` when the status is 200.
pub fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .context("cannot send the request")?;
    // The status line fits in the first bytes; the body is not needed.
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < head.len() {
        let n = stream
            .read(&mut head[len..])
            .with_context(|| format!("no answer from {path}"))?;
        if n == 0 {
            break;
        }
        len += n;
        if head[..len].contains(&b'\n') {
            break;
        }
    }
    let line = String::from_utf8_lossy(&head[..len]);
    let line = line.lines().next().unwrap_or_default();
    match line.split(' ').nth(1) {
        Some("200") => Ok(()),
        _ => bail!("{path} answered {line:?}"),
    }
}
