//! The request path: one task per client connection reads a request, sends it to the
//! upstream the [`Balancer`] picks, and relays the response, over and over while the client
//! keeps the connection open.
//!
//! Why not pingora-proxy's `ProxyHttp` loop: it is built for caching, HTTP/2, upgrades and
//! subrequests, and spends about 50,000 instructions per request on that machinery (two
//! channels and a task join per request, header maps cloned and rebuilt, a task spawned per
//! pooled connection); measured with callgrind, that made the proxy half as fast as nginx.
//! This loop does what nginx's `proxy_pass` does with configs/nginx.conf and no more: heads
//! are parsed with httparse and rewritten in one pass ([`crate::http1`]), bodies are copied
//! through without decoding, and each direction is one write per read. pingora still owns the
//! process: listeners, worker threads, signals, graceful shutdown and upgrade, and the
//! upstream set with discovery and health checks (pingora-load-balancing).
//!
//! Invariants:
//! - A request whose attempt failed before any byte of the response reached the client is
//!   sent to another upstream when that is safe: always after a connect failure (the
//!   backend never saw it), and for idempotent methods with a body held in memory after any
//!   other failure (nginx's `proxy_next_upstream error timeout`). The failed backend is
//!   marked (passive health). With nothing left to try the client gets nginx's 502 (504 on a
//!   timeout).
//! - After a response has started, an upstream failure closes the client connection: the
//!   client sees a truncated response, never a second one.
//! - Every client-controlled buffer is bounded: the head by `max_header_bytes`, a body held
//!   for retries by [`HELD_BODY`], the whole body by `client_max_body_size`; every wait has
//!   a timeout (head, body, upstream connect/read/send).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use pingora_core::apps::ServerApp;
use pingora_core::protocols::Stream;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::timeout;

use crate::access_log;
use crate::balancer::{error_page, push_ip, Balancer};
use crate::http1::{self, BodyEnd, Framing, Refusal, Request};
use crate::listener::Connections;
use crate::metrics;
use crate::pool::Pools;
use crate::upgrade;
use crate::upstreams::Live;

/// Request bodies up to this size are read completely before the request is sent, so a
/// failed attempt can be retried on another upstream; larger ones are streamed.
const HELD_BODY: usize = 64 * 1024;
/// Longest upstream response head accepted.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Read buffer sizes: most heads fit the first read.
const CLIENT_READ: usize = 4096;
const UPSTREAM_READ: usize = 16 * 1024;
/// Lingering close after an error answer: how long the client may keep sending, in all
/// and between two reads (nginx: `lingering_time`, `lingering_timeout`, shortened).
const LINGER_TIME: Duration = Duration::from_secs(5);
const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

/// The proxy service: what pingora's listener hands each accepted client connection to.
pub struct Forwarder {
    live: Arc<Live>,
    pools: Arc<Pools>,
    connections: Arc<Semaphore>,
}

impl Forwarder {
    /// The balancer (and settings) in use now: a reload swaps it (upstreams.rs).
    fn balancer(&self) -> Arc<Balancer> {
        self.live.balancer()
    }

    pub fn new(live: Arc<Live>, pools: Arc<Pools>, connections: &Connections) -> Self {
        Forwarder {
            live,
            pools,
            connections: connections.permits(),
        }
    }
}

#[async_trait]
impl ServerApp for Forwarder {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Ok(_permit) = self.connections.try_acquire() else {
            metrics::CONNECTIONS_REFUSED.inc();
            return None;
        };
        let mut client_ip = Vec::with_capacity(15);
        if let Some(ip) = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()))
        {
            push_ip(&mut client_ip, ip);
        }
        let stream = match adopt(stream) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!("cannot take over a client connection: {e}");
                return None;
            }
        };
        let mut conn = Client {
            app: self,
            stream,
            client_ip,
            shutdown: shutdown.clone(),
            buf: BytesMut::with_capacity(CLIENT_READ),
            up_head: Vec::with_capacity(512),
            down_head: Vec::with_capacity(512),
            ubuf: BytesMut::new(),
        };
        conn.serve().await;
        None
    }
}

/// Moves an accepted connection to the reactor of the runtime this task runs on.
///
/// pingora accepts on one runtime and, with its no-steal runtimes, spawns each connection on
/// a runtime picked at random; left there, every readiness event of the connection would be
/// received by the accepting thread and handed over to the serving one. A duplicate of the
/// socket registered here keeps each connection's I/O on the thread that serves it.
fn adopt(stream: Stream) -> std::io::Result<TcpStream> {
    use std::os::fd::BorrowedFd;
    // SAFETY: the service listens on TCP only (`add_tcp`), so `stream` is pingora's l4 stream,
    // whose `id()` is the socket it owns; the socket stays open until `stream` is dropped, after
    // the duplicate was made.
    let socket = unsafe { BorrowedFd::borrow_raw(stream.id()) }.try_clone_to_owned()?;
    drop(stream);
    TcpStream::from_std(std::net::TcpStream::from(socket))
}

/// Closes idle upstream connections that timed out or that their upstream closed.
pub struct PoolSweeper(pub Arc<Pools>);

#[async_trait]
impl BackgroundService for PoolSweeper {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => self.0.sweep(),
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Why an attempt on one upstream failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Connecting failed: the upstream never saw the request.
    Connect,
    /// A connect, send or read took too long.
    Timeout,
    /// The connection broke.
    Broken,
    /// The upstream sent something that is not HTTP, or framing readers could disagree on
    /// (see [`http1::parse_response`]). Never retried: the upstream did answer, and nginx
    /// does not retry `invalid_header` with `proxy_next_upstream error timeout` either.
    Invalid,
}

impl Failure {
    fn status(self) -> u16 {
        match self {
            Failure::Timeout => 504,
            Failure::Connect | Failure::Broken | Failure::Invalid => 502,
        }
    }
}

/// How an attempt ended.
enum Attempt {
    /// The response was relayed; `keep_alive`: the client connection stays open.
    Relayed {
        status: u16,
        body_bytes: u64,
        keep_alive: bool,
    },
    /// Nothing reached the client; `reused`: the connection came from the pool.
    Failed { failure: Failure, reused: bool },
    /// The client went away, or the response broke after it started: close.
    Broken { status: u16, body_bytes: u64 },
    /// The client's streamed body failed (malformed, too long, stalled): nothing reached
    /// the client yet, so it is answered `status` before the close.
    Refused(u16),
}

/// Why streaming a request body stopped.
enum BodyFailure {
    /// Answer the client this status and close (0: just close, it left).
    Client(u16),
    Upstream(Failure),
}

/// One client connection and its buffers, reused for every request on it.
struct Client<'a> {
    app: &'a Forwarder,
    stream: TcpStream,
    client_ip: Vec<u8>,
    shutdown: ShutdownWatch,
    /// Bytes read from the client and not yet used (a pipelined request may follow).
    buf: BytesMut,
    /// The head (and held body) to send upstream.
    up_head: Vec<u8>,
    /// The head (and first body bytes) to send to the client.
    down_head: Vec<u8>,
    /// Bytes read from the upstream.
    ubuf: BytesMut,
}

async fn read_some<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    size: usize,
    limit: Duration,
) -> Result<usize, Failure> {
    if buf.capacity() - buf.len() < size / 4 {
        buf.reserve(size);
    }
    match timeout(limit, r.read_buf(buf)).await {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(_)) => Err(Failure::Broken),
        Err(_) => Err(Failure::Timeout),
    }
}

async fn write_all<W: AsyncWrite + Unpin>(
    w: &mut W,
    data: &[u8],
    limit: Duration,
) -> Result<(), Failure> {
    match timeout(limit, async {
        w.write_all(data).await?;
        w.flush().await
    })
    .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Failure::Broken),
        Err(_) => Err(Failure::Timeout),
    }
}

impl Client<'_> {
    async fn serve(&mut self) {
        let balancer = self.app.balancer();
        let settings = &balancer.settings;
        let mut wait = settings.client_header_timeout;
        let mut first = true;
        loop {
            let req = match self.read_request(wait, first).await {
                Ok(Some(req)) => req,
                Ok(None) => return,
                Err(refusal) => {
                    self.refuse(refusal.status(), None).await;
                    return;
                }
            };
            let start = Instant::now();
            let keep_alive =
                req.keep_alive && settings.keepalive.is_some() && !*self.shutdown.borrow();
            let Some(keep_alive) = self.exchange(&req, keep_alive, start).await else {
                return;
            };
            if !keep_alive {
                return;
            }
            wait = settings.keepalive.unwrap_or_default();
            first = false;
        }
    }

    /// Reads the next request head within `wait`; `Ok(None)`: the client closed, timed out
    /// or, between two requests of a keep-alive connection, the server is shutting down, and
    /// nothing is to be answered. A connection's `first` request is awaited through a
    /// shutdown, as nginx does (only keep-alive connections are idle to it): the client
    /// connected to be served, and its request may already be on the way.
    async fn read_request(
        &mut self,
        wait: Duration,
        first: bool,
    ) -> Result<Option<Request>, Refusal> {
        let balancer = self.app.balancer();
        let settings = &balancer.settings;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if !self.buf.is_empty() {
                if let Some(req) = http1::parse_request(
                    &self.buf,
                    &self.client_ip,
                    settings.access_log,
                    &mut self.up_head,
                )? {
                    return Ok(Some(req));
                }
            }
            if self.buf.len() >= settings.max_header_bytes {
                return Err(Refusal::HeadTooLarge);
            }
            if self.buf.capacity() - self.buf.len() < CLIENT_READ / 4 {
                self.buf.reserve(CLIENT_READ);
            }
            tokio::select! {
                read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)) => {
                    match read {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return Ok(None),
                    }
                }
                _ = self.shutdown.changed(), if self.buf.is_empty() && !first => return Ok(None),
            }
        }
    }

    /// Answers `req`; `None`: the connection must be closed.
    async fn exchange(&mut self, req: &Request, keep_alive: bool, start: Instant) -> Option<bool> {
        let balancer = self.app.balancer();
        let settings = &balancer.settings;
        let key = balancer.key(&self.buf[..req.head_len], &self.client_ip);
        let upgrade_requested = upgrade::requested(&self.buf[..req.head_len]);
        self.buf.advance(req.head_len);
        let _admitted = match balancer.limits.admit(&self.client_ip) {
            Ok(a) => a,
            Err(status) => {
                self.refuse(status, Some((req, start))).await;
                return None;
            }
        };
        if let Some(upgrade) = upgrade_requested {
            self.switch_protocols(&balancer, req, &upgrade, &key, start)
                .await;
            return None;
        }
        let mut body = BodyEnd::new(req.framing);
        if let Framing::Length(n) = req.framing {
            if n > settings.client_max_body_size {
                self.refuse(413, Some((req, start))).await;
                return None;
            }
        }
        // Hold the body (or its first HELD_BODY bytes) after the head in `up_head`.
        let mut rest = None;
        if let Some(mut end) = body.take() {
            match self.hold_body(&mut end, req).await {
                Ok(None) => {}
                Ok(Some(seen)) => rest = Some((end, seen)),
                Err(status) => {
                    if status != 0 {
                        self.refuse(status, Some((req, start))).await;
                    }
                    return None;
                }
            }
        }
        let held_all = rest.is_none();

        let balancer = self.app.balancer();
        let mut failed: Vec<SocketAddr> = Vec::new();
        let mut last = Failure::Connect;
        let mut retried_stale = false;
        while let Some(addr) = balancer.select(&failed, &key) {
            let upstream_start = Instant::now();
            let _in_flight = balancer.track(addr);
            let outcome = self
                .attempt(addr, req, keep_alive, &mut rest, retried_stale)
                .await;
            match outcome {
                Attempt::Relayed {
                    status,
                    body_bytes,
                    keep_alive,
                } => {
                    balancer.passive.succeeded(&addr);
                    self.finish(req, status, body_bytes, Some(addr), start, upstream_start);
                    return Some(keep_alive);
                }
                Attempt::Broken { status, body_bytes } => {
                    self.finish(req, status, body_bytes, Some(addr), start, upstream_start);
                    return None;
                }
                Attempt::Refused(status) => {
                    self.refuse(status, Some((req, start))).await;
                    return None;
                }
                Attempt::Failed {
                    failure: Failure::Invalid,
                    ..
                } => {
                    last = Failure::Invalid;
                    break;
                }
                Attempt::Failed { failure, reused } => {
                    // A connect failure leaves even a streamed body untouched.
                    let replayable = failure == Failure::Connect || (held_all && req.idempotent);
                    // A pooled connection the upstream had just closed: one more try, on a
                    // fresh connection to the next upstream in the rotation, without blaming
                    // this one (nginx gives cached connections the same extra try).
                    if reused && failure == Failure::Broken && replayable && !retried_stale {
                        tracing::info!(upstream = %addr, "pooled connection closed by the upstream; trying the next one");
                        retried_stale = true;
                        continue;
                    }
                    last = failure;
                    let more = balancer.attempt_failed(addr, &mut failed);
                    if !(more && replayable) {
                        break;
                    }
                    metrics::RETRIES.inc();
                }
            }
        }
        self.refuse(last.status(), Some((req, start))).await;
        None
    }

    /// Reads the body into `up_head` after the head: all of it (`None`), or, when it is
    /// longer than [`HELD_BODY`], a first part (`Some(bytes read so far)`).
    /// `Err(status)`: answer `status` and close (0: just close).
    async fn hold_body(&mut self, end: &mut BodyEnd, req: &Request) -> Result<Option<u64>, u16> {
        let balancer = self.app.balancer();
        let settings = &balancer.settings;
        if req.expect_continue && self.buf.is_empty() {
            write_all(
                &mut self.stream,
                b"HTTP/1.1 100 Continue\r\n\r\n",
                settings.send_timeout,
            )
            .await
            .map_err(|_| 0u16)?;
        }
        let mut total: u64 = 0;
        loop {
            match end.advance(&self.buf) {
                Ok(Some(n)) => {
                    self.up_head.extend_from_slice(&self.buf[..n]);
                    self.buf.advance(n);
                    return Ok(None);
                }
                Ok(None) => {
                    total += self.buf.len() as u64;
                    if total > settings.client_max_body_size {
                        return Err(413);
                    }
                    self.up_head.extend_from_slice(&self.buf);
                    self.buf.clear();
                }
                Err(_) => return Err(400),
            }
            if total > HELD_BODY as u64 {
                return Ok(Some(total));
            }
            match self.read_body().await {
                Ok(n) if n > 0 => {}
                Err(Failure::Timeout) => return Err(408),
                _ => return Err(0),
            }
        }
    }

    /// Reads more of the request body into `buf`; `Ok(0)`: the client closed.
    async fn read_body(&mut self) -> Result<usize, Failure> {
        let limit = self.app.balancer().settings.client_body_timeout;
        read_some(&mut self.stream, &mut self.buf, CLIENT_READ, limit).await
    }

    async fn connect(&self, addr: SocketAddr) -> Result<TcpStream, Failure> {
        match timeout(
            self.app.balancer().settings.connect_timeout,
            TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                Ok(s)
            }
            Ok(Err(_)) => Err(Failure::Connect),
            Err(_) => Err(Failure::Timeout),
        }
    }

    /// One attempt on `addr`: send the request, relay the response.
    async fn attempt(
        &mut self,
        addr: SocketAddr,
        req: &Request,
        keep_alive: bool,
        rest: &mut Option<(BodyEnd, u64)>,
        fresh: bool,
    ) -> Attempt {
        let balancer = self.app.balancer();
        let settings = &balancer.settings;
        let pooled = if fresh {
            None
        } else {
            self.app.pools.local().take(addr)
        };
        let reused = pooled.is_some();
        let mut up = match pooled {
            Some(s) => s,
            None => match self.connect(addr).await {
                Ok(s) => s,
                Err(failure) => return Attempt::Failed { failure, reused },
            },
        };
        let failed = |failure| Attempt::Failed { failure, reused };
        if let Err(f) = write_all(&mut up, &self.up_head, settings.send_timeout).await {
            return failed(f);
        }
        if let Some((end, seen)) = rest.as_mut() {
            if let Err(f) = self.stream_body(&mut up, end, *seen).await {
                return match f {
                    // The client left mid-body.
                    BodyFailure::Client(0) => Attempt::Broken {
                        status: 408,
                        body_bytes: 0,
                    },
                    // The upstream saw part of a body and is closed with it (`up` drops).
                    BodyFailure::Client(status) => Attempt::Refused(status),
                    BodyFailure::Upstream(f) => Attempt::Failed {
                        failure: f,
                        reused: false,
                    },
                };
            }
        }

        // The response head, skipping interim (1xx) responses.
        self.ubuf.clear();
        let mut keep_alive = keep_alive;
        let resp = loop {
            match http1::parse_response(
                &self.ubuf,
                req.head_method,
                req.http10,
                &settings.server_header,
                &mut keep_alive,
                &mut self.down_head,
            ) {
                Ok(Some(r)) if r.status < 200 => {
                    self.ubuf.advance(r.head_len);
                    continue;
                }
                Ok(Some(r)) => break r,
                Ok(None) if self.ubuf.len() < MAX_RESPONSE_HEAD => {}
                Ok(None) | Err(()) => return failed(Failure::Invalid),
            }
            match read_some(
                &mut up,
                &mut self.ubuf,
                UPSTREAM_READ,
                settings.read_timeout,
            )
            .await
            {
                Ok(n) if n > 0 => {}
                Ok(_) => return failed(Failure::Broken),
                Err(f) => return failed(f),
            }
        };
        self.ubuf.advance(resp.head_len);

        // The head goes out with whatever body bytes came with it.
        let mut body = BodyEnd::new(resp.framing);
        let mut done = body.is_none();
        let mut body_bytes = 0u64;
        // Bytes after a response without body are not the next response: never reuse the
        // connection they came on.
        let mut leftover = done && !self.ubuf.is_empty();
        if let Some(end) = body.as_mut() {
            let head_len = self.down_head.len();
            match relay(end, resp.decode, &self.ubuf, &mut self.down_head) {
                Ok(Some(n)) => {
                    done = true;
                    leftover = n < self.ubuf.len();
                }
                Ok(None) => {}
                Err(_) => return failed(Failure::Invalid),
            }
            body_bytes += (self.down_head.len() - head_len) as u64;
            self.ubuf.clear();
        }
        let status = resp.status;
        if write_all(&mut self.stream, &self.down_head, settings.send_timeout)
            .await
            .is_err()
        {
            return Attempt::Broken {
                status,
                body_bytes: 0,
            };
        }
        let abort = |body_bytes| Attempt::Broken { status, body_bytes };
        while !done {
            let end = body.as_mut().expect("a body is being relayed");
            let n = match read_some(
                &mut up,
                &mut self.ubuf,
                UPSTREAM_READ,
                settings.read_timeout,
            )
            .await
            {
                Ok(n) => n,
                Err(_) => return abort(body_bytes),
            };
            if n == 0 {
                if matches!(end, BodyEnd::UntilClose) {
                    break;
                }
                return abort(body_bytes);
            }
            // Undecoded (the usual case), the bytes go out from the read buffer.
            self.down_head.clear();
            let found = if resp.decode {
                end.decode(&self.ubuf, &mut self.down_head)
            } else {
                end.advance(&self.ubuf)
            };
            let take = match found {
                Ok(Some(k)) => {
                    done = true;
                    leftover = k < self.ubuf.len();
                    k
                }
                Ok(None) => self.ubuf.len(),
                Err(_) => return abort(body_bytes),
            };
            let out = if resp.decode {
                &self.down_head[..]
            } else {
                &self.ubuf[..take]
            };
            if write_all(&mut self.stream, out, settings.send_timeout)
                .await
                .is_err()
            {
                return abort(body_bytes);
            }
            body_bytes += out.len() as u64;
            self.ubuf.clear();
        }
        if resp.reusable && !leftover {
            self.app.pools.local().put(addr, up);
        }
        Attempt::Relayed {
            status,
            body_bytes,
            keep_alive,
        }
    }

    /// Copies the rest of a long request body from the client to the upstream.
    async fn stream_body(
        &mut self,
        up: &mut TcpStream,
        end: &mut BodyEnd,
        seen: u64,
    ) -> Result<(), BodyFailure> {
        let balancer = self.app.balancer();
        let settings = &balancer.settings;
        let mut total = seen;
        loop {
            match self.read_body().await {
                Ok(n) if n > 0 => {}
                Err(Failure::Timeout) => return Err(BodyFailure::Client(408)),
                _ => return Err(BodyFailure::Client(0)),
            }
            let (take, finished) = match end.advance(&self.buf) {
                Ok(Some(k)) => (k, true),
                Ok(None) => (self.buf.len(), false),
                Err(_) => return Err(BodyFailure::Client(400)),
            };
            total += take as u64;
            if total > settings.client_max_body_size {
                return Err(BodyFailure::Client(413));
            }
            write_all(up, &self.buf[..take], settings.send_timeout)
                .await
                .map_err(BodyFailure::Upstream)?;
            self.buf.advance(take);
            if finished {
                return Ok(());
            }
        }
    }

    /// A request asking for a protocol switch (WebSocket): forwarded on a fresh connection,
    /// then both directions copied until one closes or they idle for `read_timeout`.
    async fn switch_protocols(
        &mut self,
        balancer: &Balancer,
        req: &Request,
        upgrade: &[u8],
        key: &[u8],
        start: Instant,
    ) {
        let settings = &balancer.settings;
        let head = upgrade::upstream_head(&self.up_head, upgrade);
        let mut failed = Vec::new();
        while let Some(addr) = balancer.select(&failed, key) {
            let upstream_start = Instant::now();
            let mut up = match self.connect(addr).await {
                Ok(up) => up,
                Err(_) => {
                    if balancer.attempt_failed(addr, &mut failed) {
                        continue;
                    }
                    break;
                }
            };
            if write_all(&mut up, &head, settings.send_timeout)
                .await
                .is_err()
            {
                break;
            }
            let _in_flight = balancer.track(addr);
            let answer = upgrade::answer(
                &mut self.stream,
                &mut up,
                settings.read_timeout,
                &settings.server_header,
            )
            .await;
            match answer {
                Ok(Some(upgrade::Answer::Switched(head))) => {
                    if write_all(&mut self.stream, &head, settings.send_timeout)
                        .await
                        .is_ok()
                    {
                        let buffered = std::mem::take(&mut self.buf);
                        let _ = upgrade::tunnel(
                            &mut self.stream,
                            &mut up,
                            &buffered,
                            settings.read_timeout,
                        )
                        .await;
                    }
                    balancer.passive.succeeded(&addr);
                    self.finish(req, 101, 0, Some(addr), start, upstream_start);
                }
                Ok(Some(upgrade::Answer::Relayed(status))) => {
                    balancer.passive.succeeded(&addr);
                    self.finish(req, status, 0, Some(addr), start, upstream_start);
                    // What the client sent after the refused upgrade is never forwarded.
                    self.linger().await;
                }
                Ok(None) | Err(_) => self.refuse(502, Some((req, start))).await,
            }
            return;
        }
        self.refuse(502, Some((req, start))).await;
    }

    /// Sends nginx's page for `status` with `Connection: close`, and logs the request if
    /// it got that far.
    async fn refuse(&mut self, status: u16, req: Option<(&Request, Instant)>) {
        let balancer = self.app.balancer();
        let settings = &balancer.settings;
        let (reason, page) = error_page(status);
        let mut head = Vec::with_capacity(256 + page.len());
        head.extend_from_slice(format!("HTTP/1.1 {status} {reason}\r\n").as_bytes());
        if !settings.server_header.is_empty() {
            head.extend_from_slice(b"Server: ");
            head.extend_from_slice(&settings.server_header);
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(
            format!(
                "Content-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            )
            .as_bytes(),
        );
        if let Some((req, start)) = req {
            self.finish(req, status, page.len() as u64, None, start, start);
        }
        // The connection closes next either way.
        if write_all(&mut self.stream, &head, settings.send_timeout)
            .await
            .is_ok()
        {
            self.linger().await;
        }
    }

    /// nginx's lingering close: after an answer that ends the connection, stop sending and
    /// read (and drop) what the client still sends, until it closes or goes quiet. Closing
    /// with unread bytes would reset the connection, and a reset can destroy the answer in
    /// the client's buffers before it was read (a 400 for a smuggling attempt, a 413).
    async fn linger(&mut self) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let deadline = tokio::time::Instant::now() + LINGER_TIME;
        let mut scratch = [0u8; 4096];
        loop {
            let quiet = tokio::time::Instant::now() + LINGER_TIMEOUT;
            match tokio::time::timeout_at(quiet.min(deadline), self.stream.read(&mut scratch)).await
            {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
        }
    }

    /// Metrics and the access log line for a finished request.
    fn finish(
        &self,
        req: &Request,
        status: u16,
        body_bytes: u64,
        upstream: Option<SocketAddr>,
        start: Instant,
        upstream_start: Instant,
    ) {
        metrics::observe_request(upstream, status, start.elapsed().as_secs_f64());
        if let Some(fields) = &req.log {
            access_log::write(&access_log::Entry {
                client: &self.client_ip,
                request: fields,
                status,
                body_bytes,
                upstream,
                upstream_time: upstream.map(|_| upstream_start.elapsed()),
            });
        }
    }
}

/// Appends to `out` what the client gets of `data`, the next bytes of a response body: the
/// body bytes as they came, or decoded when `decode`. `Some(n)`: the body ended after `n`
/// bytes of `data`.
fn relay(
    end: &mut BodyEnd,
    decode: bool,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<Option<usize>, http1::BadBody> {
    if decode {
        return end.decode(data, out);
    }
    let n = end.advance(data)?;
    out.extend_from_slice(&data[..n.unwrap_or(data.len())]);
    Ok(n)
}
