//! One client connection: read what arrived, run every complete command in it under a single
//! keyspace lock, and write all of their replies with one write.
//!
//! Writing a read batch's replies together matters as much as `TCP_NODELAY`: pipelining
//! clients get one segment back per segment they sent instead of stalling on delayed ACKs.
//! Buffers are bounded by `client-query-buffer-limit` / `proto-max-bulk-len`, and an idle
//! connection gives its read buffer back.
//!
//! A blocking command (BLPOP & co.) ends the batch: the replies so far are written, then the
//! connection awaits its release, a timeout, or the end of the stream, still reading (and
//! bounding) input meanwhile, and carries on with the commands that arrived in between.
//!
//! A batch that runs a script gives its worker thread to the runtime first (see
//! `Commands::run`): a script can hold the keyspace lock for seconds, and the other clients
//! must still be read and answered (BUSY, SCRIPT KILL) with a single I/O thread.
//!
//! A subscribed connection also waits on its [`Outbox`]: published messages are written out
//! as the socket takes them, and a command's reply follows the messages queued before it
//! ran, as in Redis's single output buffer.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::client::ClientHandle;
use crate::cmd::{Batch, Effects, Session};
use crate::protocol::RequestParser;
use crate::pubsub::Outbox;
use crate::state::{Blocked, Release, Shared};

/// Read size; a bigger buffer is reserved only for a bulk that needs it.
const READ_CHUNK: usize = 16 * 1024;
/// A write buffer grown past this is released after use.
const KEEP_WRITE_BUF: usize = 64 * 1024;
/// Scheduler turns a replica's connection lets other clients run before it writes the
/// stream it has, so that one write carries what they add.
const GATHER_TURNS: usize = 2;
/// A read buffer grown past this is released once empty.
const KEEP_READ_BUF: usize = 64 * 1024;
/// Pub/sub messages taken from the outbox per write.
const OUTBOX_CHUNK: usize = 64 * 1024;
/// How often a write stuck on a subscriber checks whether the client was killed.
const STUCK_WRITE_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

pub(crate) struct Connection {
    shared: Arc<Shared>,
    socket: TcpStream,
    session: Session,
    parser: RequestParser,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

impl Connection {
    pub(crate) fn new(shared: Arc<Shared>, socket: TcpStream, session: Session) -> Connection {
        Connection {
            shared,
            socket,
            session,
            parser: RequestParser::default(),
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let id = self.session.id();
        if let Err(e) = self.serve().await {
            tracing::debug!(client = id, "connection closed: {e}");
        }
        if self.session.replica.is_some() {
            self.shared.replication().detach(id);
        }
        if self.session.handle.is_blocked() {
            let mut ks = self.shared.lock_keyspace();
            self.shared.blocked().cancel(&mut ks, id);
        }
        self.session.handle.socket_closing();
        self.forget_client_state();
        self.shared.clients().unregister(id);
    }

    /// Removes what other clients could still see of this one: subscriptions and watches.
    fn forget_client_state(&mut self) {
        self.shared.tracking().disable(self.session.id());
        if self.session.subscriptions.any() {
            self.session.unsubscribe_all(&mut self.shared.pubsub());
        }
        if !self.session.watched.is_empty() {
            let mut ks = self.shared.lock_keyspace();
            self.session.unwatch_all(&mut ks);
        }
    }

    /// Writes out queued pub/sub messages until none is left. Fails (ending the connection)
    /// once the outbox was closed for going over its limit.
    async fn flush_outbox(&mut self, outbox: &Outbox) -> std::io::Result<()> {
        loop {
            if !outbox.drain_into(&mut self.wbuf, OUTBOX_CHUNK) {
                return Err(std::io::ErrorKind::ConnectionAborted.into());
            }
            if self.wbuf.is_empty() {
                return Ok(());
            }
            // A subscriber that stopped reading may block this write for ever: give up as
            // soon as the publisher closes the outbox.
            tokio::select! {
                written = self.socket.write_all(&self.wbuf) => written?,
                _ = wait_closed(outbox, &self.session.handle) => {
                    return Err(std::io::ErrorKind::ConnectionAborted.into());
                }
            }
            self.wrote_wbuf();
        }
    }

    fn wrote_wbuf(&mut self) {
        self.shared.stats().bytes_written(self.wbuf.len() as u64);
        self.wbuf.clear();
        if self.wbuf.capacity() > KEEP_WRITE_BUF {
            self.wbuf = BytesMut::new();
        }
    }

    async fn serve(&mut self) -> std::io::Result<()> {
        // After a blocking command, input that arrived meanwhile runs before reading more.
        let mut resume = false;
        // A command CLIENT PAUSE held back, to run first once the pause is over.
        let mut postponed = None;
        loop {
            if !resume && !self.read().await? {
                return Ok(());
            }
            resume = false;
            if self.query_buffer_too_big() {
                return Ok(());
            }
            let mut effects = self.execute_batch(postponed.take());
            if let Some(seq) = effects.wait_for_durable {
                self.shared.commit().wait(seq).await;
            }
            if effects.save {
                let seq = self.shared.lock_keyspace().writes();
                self.shared.commit().save(seq).await;
            }
            if !self.wbuf.is_empty() {
                self.socket.write_all(&self.wbuf).await?;
                self.wrote_wbuf();
            }
            if effects.shutdown {
                self.shared.request_shutdown();
            }
            if effects.close || self.session.handle.is_killed() {
                return Ok(());
            }
            if let Some(blocked) = effects.block.take() {
                if !self.wait_released(blocked).await? {
                    return Ok(());
                }
                resume = true;
            }
            if let Some(feed) = effects.replica_feed.take() {
                return self
                    .serve_replica(feed, effects.replica_hold_until_ack)
                    .await;
            }
            if let Some(wait) = effects.wait_replicas.take() {
                self.wait_replicas(wait).await?;
                resume = true;
            }
            if let Some(args) = effects.postponed.take() {
                self.shared.pause().ended().await;
                postponed = Some(args);
                resume = true;
            }
        }
    }

    /// A replica's connection after its sync: writes the replication stream as it comes and
    /// runs what the replica sends (`REPLCONF ACK`), never replying, as Redis does not reply
    /// to its replicas. With `hold` (a diskless snapshot), the stream starts at the replica's
    /// first `REPLCONF ACK`.
    async fn serve_replica(
        &mut self,
        mut feed: crate::state::Feed,
        mut hold: bool,
    ) -> std::io::Result<()> {
        let id = self.session.id();
        self.session.handle.info.lock().replica = true;
        self.shared.replication().online(id);
        tracing::info!(client = id, "Synchronization with replica succeeded");
        enum Event {
            Stream(Option<Bytes>),
            Input(std::io::Result<bool>),
        }
        loop {
            let event = tokio::select! {
                bytes = feed.recv(), if !hold => Event::Stream(bytes),
                input = self.read() => Event::Input(input),
            };
            match event {
                Event::Stream(None) => return Ok(()),
                Event::Stream(Some(bytes)) => {
                    self.wbuf.extend_from_slice(&bytes);
                    // Let the clients that are ready run first, as Redis writes to its
                    // replicas once per event-loop turn: one write (and one read and apply
                    // on the replica) then carries many commands, not one each.
                    for _ in 0..GATHER_TURNS {
                        while let Some(more) = feed.try_recv() {
                            self.wbuf.extend_from_slice(&more);
                        }
                        tokio::task::yield_now().await;
                    }
                    while let Some(more) = feed.try_recv() {
                        self.wbuf.extend_from_slice(&more);
                    }
                    self.socket.write_all(&self.wbuf).await?;
                    feed.written(self.wbuf.len());
                    self.shared
                        .stats()
                        .repl_bytes_written(self.wbuf.len() as u64);
                    self.wbuf.clear();
                    if self.wbuf.capacity() > KEEP_WRITE_BUF {
                        self.wbuf = BytesMut::new();
                    }
                }
                Event::Input(input) => {
                    if !input? || self.query_buffer_too_big() {
                        return Ok(());
                    }
                    let effects = self.execute_batch(None);
                    self.wbuf.clear();
                    if effects.close {
                        return Ok(());
                    }
                    hold &= !(self.session.replica.as_ref()).is_some_and(|r| r.acked);
                }
            }
            if self.session.handle.is_killed() {
                return Ok(());
            }
        }
    }

    /// WAIT with replicas attached: answers once enough of them acknowledged the client's
    /// last write, or at the deadline with the count then.
    async fn wait_replicas(&mut self, wait: crate::cmd::WaitReplicas) -> std::io::Result<()> {
        let replication = self.shared.replication();
        let count = loop {
            let acked = replication.acked().notified();
            tokio::pin!(acked);
            acked.as_mut().enable();
            let count = replication.acked_at_least(wait.offset);
            if count >= wait.numreplicas {
                break count;
            }
            if self.session.handle.is_killed() {
                // CLIENT KILL or shutdown while waiting: no reply.
                return Err(std::io::ErrorKind::ConnectionAborted.into());
            }
            let deadline = async {
                match wait.deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = acked => {}
                _ = deadline => break replication.acked_at_least(wait.offset),
                // Kills do not wake the replicas' notification: look now and then.
                _ = tokio::time::sleep(STUCK_WRITE_CHECK) => {}
            }
        };
        crate::protocol::Reply::Integer(count as i64).encode(self.session.resp, &mut self.wbuf);
        self.socket.write_all(&self.wbuf).await?;
        self.wrote_wbuf();
        Ok(())
    }

    fn query_buffer_too_big(&self) -> bool {
        let limit = self.shared.limits().client_query_buffer_limit();
        let too_big = self.rbuf.len() as u64 > limit;
        if too_big {
            tracing::warn!(
                client = self.session.id(),
                "Closing client that reached max query buffer length"
            );
        }
        too_big
    }

    /// Waits, blocked, until the client is served, unblocked or timed out, and writes that
    /// reply. Returns false when the connection must close (end of stream, input too big);
    /// `run` then takes the client out of the waiters.
    async fn wait_released(&mut self, blocked: Blocked) -> std::io::Result<bool> {
        enum Event {
            Released(Option<Release>),
            TimedOut,
            Input(std::io::Result<bool>),
        }
        let Blocked {
            mut release,
            deadline,
        } = blocked;
        let release = loop {
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                r = &mut release => Event::Released(r.ok()),
                () = timer => Event::TimedOut,
                input = self.read() => Event::Input(input),
            };
            match event {
                Event::Released(Some(r)) => break r,
                // The sender went away without a word: only if the server is stopping.
                Event::Released(None) => return Ok(false),
                Event::TimedOut => {
                    let mut ks = self.shared.lock_keyspace();
                    let id = self.session.id();
                    self.shared.blocked().cancel(&mut ks, id);
                    drop(ks);
                    // Cancelled, or served just before: either way a release is waiting.
                    match release.try_recv() {
                        Ok(r) => break r,
                        Err(_) => return Ok(false),
                    }
                }
                Event::Input(input) => {
                    if !input? || self.query_buffer_too_big() {
                        return Ok(false);
                    }
                }
            }
        };
        // Served by a write (a timeout or CLIENT UNBLOCK writes nothing): Redis records the
        // call's statistics then.
        let served = release.writes > 0;
        let reply = crate::cmd::unblocked(&self.shared, &mut self.session, release.reply, served);
        if release.writes > 0
            && self.shared.commit().policy() == crate::persistence::Durability::Always
        {
            self.shared.commit().wait(release.writes).await;
        }
        // Being served counts as activity for the idle `timeout`, as a reply does in Redis.
        self.session.handle.info.lock().last_active = std::time::Instant::now();
        reply.encode(self.session.resp, &mut self.wbuf);
        self.socket.write_all(&self.wbuf).await?;
        self.shared.stats().bytes_written(self.wbuf.len() as u64);
        self.wbuf.clear();
        Ok(true)
    }

    /// Waits for input and appends it to the read buffer. Returns false on end of stream,
    /// which is also how CLIENT KILL, the idle `timeout` and shutdown end a connection.
    async fn read(&mut self) -> std::io::Result<bool> {
        if self.rbuf.is_empty()
            && self.parser.pending_bulk().is_none()
            && self.rbuf.capacity() > KEEP_READ_BUF
        {
            // Nothing half-read: give back a buffer a big request grew.
            self.rbuf = BytesMut::new();
        }
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
            self.rbuf.reserve(READ_CHUNK);
        }
        let read = loop {
            match self.session.subscriptions.outbox.clone() {
                None => self.socket.readable().await?,
                Some(outbox) => {
                    tokio::select! {
                        ready = self.socket.readable() => ready?,
                        _ = outbox.ready() => {
                            self.flush_outbox(&outbox).await?;
                            continue;
                        }
                    }
                }
            }
            // Read inside `try_io` so that a short read (the socket is drained) also clears
            // tokio's readiness: the next read then waits for epoll instead of first paying a
            // syscall that returns EAGAIN, one syscall less per request-reply round trip.
            // Readiness is cleared only if no event arrived since `try_io` sampled it, so data
            // that lands after the read still wakes us.
            let (socket, rbuf) = (&self.socket, &mut self.rbuf);
            let mut read = None;
            let outcome = socket.try_io(Interest::READABLE, || {
                let n = socket.try_read_buf(rbuf)?;
                read = Some(n);
                if n > 0 && rbuf.len() < rbuf.capacity() {
                    Err(std::io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            match (read, outcome) {
                (Some(n), _) => break n,
                (None, Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                (None, Err(e)) => return Err(e),
                (None, Ok(())) => unreachable!("try_io succeeded without reading"),
            }
        };
        self.shared.stats().bytes_read(read as u64);
        Ok(read > 0 && !self.session.handle.is_killed())
    }

    /// Runs `postponed` (a command CLIENT PAUSE held back), then every complete command in
    /// the read buffer, and encodes the replies.
    fn execute_batch(&mut self, postponed: Option<Vec<Bytes>>) -> Effects {
        let mut batch = Batch::new(&self.shared, &mut self.session);
        let mut commands = Commands {
            parser: &mut self.parser,
            rbuf: &mut self.rbuf,
            wbuf: &mut self.wbuf,
            max_bulk: self.shared.limits().proto_max_bulk_len(),
        };
        let executed = commands.run(&mut batch, postponed);
        self.shared.stats().commands_processed(executed);
        batch.finish()
    }
}

/// The buffers one batch reads its commands from and writes its replies to.
struct Commands<'c> {
    parser: &'c mut RequestParser,
    rbuf: &'c mut BytesMut,
    wbuf: &'c mut BytesMut,
    max_bulk: u64,
}

impl Commands<'_> {
    /// Runs `first` (a command already parsed) and every complete command after it; returns
    /// how many ran. (A script that runs long hands this thread's worker over to another
    /// thread from inside the script: `cmd::scripting`.)
    fn run(&mut self, batch: &mut Batch, first: Option<Vec<Bytes>>) -> u64 {
        let mut next = first;
        let mut executed = 0u64;
        loop {
            let args = match next.take() {
                Some(args) => args,
                None => {
                    let authenticated = batch.session().authenticated;
                    match self.parser.next(self.rbuf, self.max_bulk, authenticated) {
                        Ok(Some(args)) => args,
                        Ok(None) => break,
                        Err(e) => {
                            // Like Redis: the commands before the bad bytes ran; reply, then
                            // close.
                            let reply = batch.protocol_error(e.to_string());
                            reply.encode(batch.session().resp, self.wbuf);
                            tracing::debug!(
                                client = batch.session().id(),
                                "Protocol error ({e}) from client"
                            );
                            batch.effects_mut().close = true;
                            break;
                        }
                    }
                }
            };
            if !self.execute(batch, args) {
                if batch.effects().postponed.is_none() {
                    executed += 1;
                }
                break;
            }
            executed += 1;
        }
        executed
    }

    /// Runs one command and encodes its reply; false when the batch must stop there.
    fn execute(&mut self, batch: &mut Batch, args: Vec<Bytes>) -> bool {
        let reply = batch.execute(args);
        if batch.effects().block.is_some()
            || batch.effects().postponed.is_some()
            || batch.effects().wait_replicas.is_some()
        {
            return false;
        }
        if batch.effects().replica_feed.is_some() {
            // The sync's reply is the last thing this client is answered.
            reply.encode(batch.session().resp, self.wbuf);
            return false;
        }
        if batch.effects().shutdown {
            // Like Redis, SHUTDOWN answers by closing the connection.
            return false;
        }
        if let Some(outbox) = &batch.session().subscriptions.outbox {
            // Messages published before this reply was made go out before it.
            outbox.drain_into(self.wbuf, usize::MAX);
        }
        reply.encode(batch.session().resp, self.wbuf);
        for frame in batch.effects_mut().after_reply.drain(..) {
            self.wbuf.extend_from_slice(&frame);
        }
        !batch.effects().close
    }
}

/// Resolves once `outbox` is closed, or its client killed (CLIENT KILL, shutdown), while a
/// write is stuck on a subscriber that does not read. Kills do not wake the outbox, so this
/// also looks every [`STUCK_WRITE_CHECK`].
async fn wait_closed(outbox: &Outbox, handle: &ClientHandle) {
    while !outbox.is_closed() && !handle.is_killed() {
        tokio::select! {
            _ = outbox.ready() => {}
            _ = tokio::time::sleep(STUCK_WRITE_CHECK) => {}
        }
    }
}
