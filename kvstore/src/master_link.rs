//! The replica's side of replication (Redis's `replication.c`, `syncWithMaster` and
//! `readSyncBulkPayload`): the link a replica opens to its master.
//!
//! One task for the server's life ([`run`]) watches the master REPLICAOF or the `replicaof`
//! directive names and follows it: connect, the handshake a Redis replica does (`PING`,
//! `AUTH` with `masteruser` / `masterauth`, `REPLCONF listening-port`, `REPLCONF capa eof
//! capa psync2`, `PSYNC <replid> <offset>`), then either `+FULLRESYNC` and a snapshot (the
//! `$<length>` or the diskless `$EOF:<mark>` form) that replaces the dataset, or `+CONTINUE`
//! from where this server's history stopped. The stream that follows is a client like any
//! other, with the master's privileges (`Session::master`: no permission, memory or
//! read-only checks, no replies): its commands run through the normal dispatch, and their
//! bytes count into the replication offset, which the link acknowledges every second and
//! when the master asks (`REPLCONF GETACK`). A broken link is retried every second with
//! `PSYNC` from the offset reached.
//!
//! What the stream changes reaches the keyspace's journal as any write does, so
//! persistence keeps it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cmd::{Batch, Session};
use crate::protocol::RequestParser;
use crate::rdb::file::{FileReader, Record};
use crate::state::{encode_command, LinkState, MasterAddr, Shared};

/// How long to wait before connecting again after the link failed (Redis's cron: 1 s).
const RETRY: Duration = Duration::from_secs(1);
/// How often the replica acknowledges its offset.
const ACK_PERIOD: Duration = Duration::from_secs(1);
/// Size of one read from the master.
const READ_CHUNK: usize = 64 * 1024;

/// Why the link to the master ended.
#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timeout connecting to the master")]
    ConnectTimeout,
    #[error("the master closed the connection")]
    Closed,
    #[error("unexpected reply to {0}: {1}")]
    Refused(&'static str, String),
    #[error("the snapshot could not be loaded: {0}")]
    Snapshot(#[from] crate::rdb::file::FileError),
    #[error("master timeout: no data nor PING received")]
    Timeout,
    #[error("protocol error from the master: {0}")]
    Protocol(String),
}

/// Follows the master the replication state names, for ever; nothing while this server is
/// a master. A change of target drops the current link at once.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut target = shared.replication().target();
    loop {
        let current = target.borrow_and_update().clone();
        match current {
            None => {
                if target.changed().await.is_err() {
                    return;
                }
            }
            Some(master) => {
                tokio::select! {
                    () = follow(&shared, &master) => {}
                    changed = target.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Connects to `master` and applies its stream, again and again when the link breaks.
async fn follow(shared: &Shared, master: &MasterAddr) {
    loop {
        tracing::info!("Connecting to MASTER {}:{}", master.host, master.port);
        if let Err(e) = link(shared, master).await {
            tracing::warn!("Link with MASTER {}:{} lost: {e}", master.host, master.port);
            // A failover whose target cannot be reached is given up: master again.
            if shared.replication().psync_failover() {
                shared
                    .replication()
                    .abort_failover("Failover target unreachable", shared.pause());
                return;
            }
        }
        shared.replication().set_link_state(LinkState::Connect);
        tokio::time::sleep(RETRY).await;
    }
}

/// One connection to the master: handshake, sync, stream until something fails.
async fn link(shared: &Shared, master: &MasterAddr) -> Result<(), LinkError> {
    let timeout = repl_timeout(shared);
    shared.replication().set_link_state(LinkState::Connecting);
    let addr = (master.host.as_str(), master.port);
    let socket = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| LinkError::ConnectTimeout)??;
    socket.set_nodelay(true)?;
    shared.replication().set_link_state(LinkState::Handshake);
    let mut conn = MasterConn {
        socket,
        rbuf: BytesMut::with_capacity(READ_CHUNK),
        timeout,
    };
    handshake(shared, &mut conn).await?;
    let (replid, offset) = shared.replication().psync_position();
    let failover = shared.replication().psync_failover();
    let offset = offset.to_string();
    if failover {
        conn.send(&["PSYNC", &replid, &offset, "FAILOVER"]).await?;
    } else {
        conn.send(&["PSYNC", &replid, &offset]).await?;
    }
    // The function libraries of a full sync, loaded by the master client before the stream.
    let mut libraries = None;
    let reply = loop {
        // A master preparing the snapshot keeps the link alive with newlines.
        let line = conn.line().await?;
        if !line.is_empty() {
            break line;
        }
    };
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut parts = rest.split(' ');
        let (Some(replid), Some(offset)) = (parts.next(), parts.next()) else {
            return Err(LinkError::Refused("PSYNC", reply.clone()));
        };
        let offset: u64 =
            (offset.parse()).map_err(|_| LinkError::Refused("PSYNC", reply.clone()))?;
        tracing::info!("Full resync from master: {replid}:{offset}");
        shared.replication().set_link_state(LinkState::Sync);
        let rdb = conn.snapshot().await?;
        let loaded = load(shared, &rdb)?;
        shared
            .replication()
            .full_synced(replid, offset, loaded.stream_db);
        tracing::info!(
            "MASTER <-> REPLICA sync: Finished with success ({} keys)",
            loaded.keys
        );
        libraries = Some(loaded.libraries);
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_replid = Some(rest.trim()).filter(|id| !id.is_empty());
        tracing::info!("Successful partial resynchronization with master.");
        shared.replication().continued(new_replid);
    } else {
        if failover {
            shared
                .replication()
                .abort_failover("Failover target rejected psync request", shared.pause());
        }
        return Err(LinkError::Refused("PSYNC", reply));
    }
    if failover {
        shared.replication().failover_done(shared.pause());
    }
    shared.replication().set_link_state(LinkState::Connected);
    stream(shared, conn, libraries).await
}

/// What a snapshot held besides the keys.
struct Loaded {
    keys: usize,
    /// `repl-stream-db`: the database the stream goes on in.
    stream_db: usize,
    /// The function libraries' sources.
    libraries: Vec<Bytes>,
}

/// `PING`, `AUTH`, `REPLCONF listening-port`, `REPLCONF ip-address` (when announced),
/// `REPLCONF capa`: Redis's handshake, with its
/// tolerance (a master that wants a password answers PING with NOAUTH, and old masters do
/// not know REPLCONF capa).
async fn handshake(shared: &Shared, conn: &mut MasterConn) -> Result<(), LinkError> {
    conn.send(&["PING"]).await?;
    let pong = conn.line().await?;
    let tolerated = ["-NOAUTH", "-NOPERM", "-ERR operation not permitted"];
    if !pong.starts_with('+') && !tolerated.iter().any(|t| pong.starts_with(t)) {
        return Err(LinkError::Refused("PING", pong));
    }
    let (user, pass) = {
        let config = shared.config();
        (config.value("masteruser"), config.value("masterauth"))
    };
    if !pass.is_empty() {
        match user.is_empty() {
            true => conn.send(&["AUTH", &pass]).await?,
            false => conn.send(&["AUTH", &user, &pass]).await?,
        }
        let reply = conn.line().await?;
        if !reply.starts_with('+') {
            return Err(LinkError::Refused("AUTH", reply));
        }
    }
    // What the master lists in INFO and ROLE, and Sentinel connects to: the announced
    // address when one is configured (NAT, or a container reached by its name).
    let (announce_ip, announce_port) = {
        let config = shared.config();
        (
            config.value("replica-announce-ip"),
            config.value("replica-announce-port"),
        )
    };
    let port = match announce_port.as_str() {
        "0" => shared.port().to_string(),
        announced => announced.to_string(),
    };
    conn.send(&["REPLCONF", "listening-port", &port]).await?;
    let reply = conn.line().await?;
    if !reply.starts_with('+') {
        tracing::warn!(
            "(Non critical) Master does not understand REPLCONF listening-port: {reply}"
        );
    }
    if !announce_ip.is_empty() {
        conn.send(&["REPLCONF", "ip-address", &announce_ip]).await?;
        let reply = conn.line().await?;
        if !reply.starts_with('+') {
            tracing::warn!(
                "(Non critical) Master does not understand REPLCONF ip-address: {reply}"
            );
        }
    }
    conn.send(&["REPLCONF", "capa", "eof", "capa", "psync2"])
        .await?;
    let reply = conn.line().await?;
    if !reply.starts_with('+') {
        tracing::warn!("(Non critical) Master does not understand REPLCONF capa: {reply}");
    }
    Ok(())
}

/// Replaces the dataset with the snapshot (Redis's `emptyData` then `rdbLoad`). The file is
/// read whole before the keyspace is touched, so a corrupt one leaves the data as it was.
/// The function libraries are loaded afterwards, by the master client (`stream`).
fn load(shared: &Shared, rdb: &[u8]) -> Result<Loaded, LinkError> {
    let mut reader = FileReader::new(rdb, crate::cmd::rdb_limits(shared))?;
    let mut keys = Vec::new();
    let mut libraries = Vec::new();
    let mut stream_db = 0;
    while let Some(record) = reader.next()? {
        match record {
            Record::Key(key) => keys.push(key),
            Record::Function(code) => libraries.push(code),
            Record::Aux { key, value } if &key[..] == b"repl-stream-db" => {
                stream_db = (std::str::from_utf8(&value).ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
            Record::Aux { .. } | Record::SelectDb(_) | Record::ResizeDb { .. } => {}
        }
    }
    let count = keys.len();
    let mut ks = shared.lock_keyspace();
    ks.dbs_mut().iter_mut().for_each(|db| db.clear());
    let databases = ks.dbs().len();
    for key in keys {
        if key.db < databases {
            ks.db(key.db).insert(key.key, key.value, key.expire_at_ms);
        }
    }
    Ok(Loaded {
        keys: count,
        stream_db,
        libraries,
    })
}

/// Applies the master's stream until the link fails: every command through dispatch as the
/// master client, the offset counted in bytes, acknowledged every second.
///
/// After a full sync, `libraries` replace this server's functions first (Redis's
/// `emptyData` clears them with the keys), through the same dispatch.
async fn stream(
    shared: &Shared,
    mut conn: MasterConn,
    libraries: Option<Vec<Bytes>>,
) -> Result<(), LinkError> {
    let peer = conn.socket.peer_addr()?;
    let local = conn.socket.local_addr()?;
    let fd = {
        use std::os::fd::AsRawFd;
        conn.socket.as_raw_fd()
    };
    let handle = shared.clients().register(peer, local, fd);
    handle.info.lock().master = true;
    let _registered = Registered {
        shared,
        id: handle.id,
    };
    let mut session = Session::new(handle, true);
    session.master = true;
    session.db = shared.replication().master_db();
    if let Some(libraries) = libraries {
        let mut batch = Batch::new(shared, &mut session);
        let word = Bytes::from_static;
        let _ = batch.execute(vec![word(b"FUNCTION"), word(b"FLUSH")]);
        for code in libraries {
            let reply = batch.execute(vec![word(b"FUNCTION"), word(b"LOAD"), code]);
            if let crate::protocol::Reply::Error(e) = reply {
                tracing::warn!("A function library of the master's snapshot failed to load: {e}");
            }
        }
        batch.finish();
    }
    let mut applier = Applier {
        parser: RequestParser::default(),
        partial: 0,
        out: BytesMut::new(),
    };
    // The first acknowledgement puts a diskless-synced replica online at its master.
    send_ack(&mut conn, shared.replication().offset()).await?;
    let mut ack = tokio::time::interval(ACK_PERIOD);
    let mut last_io = Instant::now();
    loop {
        applier.apply(shared, &mut session, &mut conn.rbuf)?;
        let unapplied = conn.rbuf.len() as u64 + applier.partial;
        shared.replication().master_io(unapplied);
        if !applier.out.is_empty() {
            conn.socket.write_all(&applier.out).await?;
            applier.out.clear();
        }
        if session.handle.is_killed() {
            return Err(LinkError::Closed);
        }
        conn.rbuf.reserve(READ_CHUNK);
        tokio::select! {
            read = conn.socket.read_buf(&mut conn.rbuf) => {
                let read = read?;
                if read == 0 {
                    return Err(LinkError::Closed);
                }
                last_io = Instant::now();
                shared.stats().bytes_read(read as u64);
            }
            _ = ack.tick() => {
                if last_io.elapsed() > conn.timeout {
                    return Err(LinkError::Timeout);
                }
                send_ack(&mut conn, shared.replication().offset()).await?;
            }
        }
    }
}

/// The master client in CLIENT LIST while the stream runs.
struct Registered<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.shared.clients().unregister(self.id);
    }
}

/// Runs the master's commands as they complete in the read buffer.
struct Applier {
    parser: RequestParser,
    /// Bytes of a command the parser took from the buffer before it was complete.
    partial: u64,
    /// What the replica must send back (`REPLCONF ACK` for a `GETACK`).
    out: BytesMut,
}

impl Applier {
    fn apply(
        &mut self,
        shared: &Shared,
        session: &mut Session,
        rbuf: &mut BytesMut,
    ) -> Result<(), LinkError> {
        if rbuf.is_empty() {
            return Ok(());
        }
        let max_bulk = shared.limits().proto_max_bulk_len();
        let replication = shared.replication();
        let mut batch = Batch::new(shared, session);
        let mut executed = 0;
        loop {
            let before = rbuf.len();
            let parsed = (self.parser.next(rbuf, max_bulk, true))
                .map_err(|e| LinkError::Protocol(e.to_string()))?;
            self.partial += (before - rbuf.len()) as u64;
            let Some(args) = parsed else {
                break;
            };
            let size = std::mem::take(&mut self.partial);
            let is = |i: usize, word: &str| {
                args.get(i)
                    .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
            };
            let getack = is(0, "replconf") && is(1, "getack");
            // The stream's own bytes go on to this server's backlog and replicas (below,
            // under the keyspace lock the batch holds).
            let mut encoded = BytesMut::with_capacity(size as usize);
            encode_command(&args, &mut encoded);
            debug_assert_eq!(encoded.len() as u64, size);
            if getack {
                // Redis answers with the offset before this command.
                let offset = Bytes::from(replication.offset().to_string());
                let ack = [
                    Bytes::from_static(b"REPLCONF"),
                    Bytes::from_static(b"ACK"),
                    offset,
                ];
                encode_command(&ack, &mut self.out);
            } else {
                let _ = batch.execute(args);
                executed += 1;
            }
            replication.proxy(encoded.freeze(), batch.session().db);
        }
        shared.stats().commands_processed(executed);
        batch.finish();
        Ok(())
    }
}

/// `REPLCONF ACK <offset>`.
async fn send_ack(conn: &mut MasterConn, offset: u64) -> Result<(), LinkError> {
    conn.send(&["REPLCONF", "ACK", &offset.to_string()]).await
}

/// `repl-timeout`, seconds.
fn repl_timeout(shared: &Shared) -> Duration {
    let secs: u64 = (shared.config().value("repl-timeout").parse()).unwrap_or(60);
    Duration::from_secs(secs.max(1))
}

/// The socket to the master with what was read and not yet used.
struct MasterConn {
    socket: TcpStream,
    rbuf: BytesMut,
    timeout: Duration,
}

impl MasterConn {
    async fn send(&mut self, argv: &[&str]) -> Result<(), LinkError> {
        let argv: Vec<Bytes> = argv
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let mut out = BytesMut::new();
        encode_command(&argv, &mut out);
        self.socket.write_all(&out).await?;
        Ok(())
    }

    /// Reads more bytes, failing after `repl-timeout` of silence.
    async fn fill(&mut self) -> Result<(), LinkError> {
        self.rbuf.reserve(READ_CHUNK);
        let read = tokio::time::timeout(self.timeout, self.socket.read_buf(&mut self.rbuf))
            .await
            .map_err(|_| LinkError::Timeout)??;
        if read == 0 {
            return Err(LinkError::Closed);
        }
        Ok(())
    }

    /// One reply line without its line ending.
    async fn line(&mut self) -> Result<String, LinkError> {
        loop {
            if let Some(end) = self.rbuf.iter().position(|&b| b == b'\n') {
                let line = self.rbuf.split_to(end + 1);
                let text = String::from_utf8_lossy(&line[..end]);
                return Ok(text.trim_end_matches('\r').to_owned());
            }
            if self.rbuf.len() > 64 * 1024 {
                return Err(LinkError::Protocol("line too long".into()));
            }
            self.fill().await?;
        }
    }

    /// The snapshot after `+FULLRESYNC`: `$<length>\r\n<bytes>`, or `$EOF:<40-byte
    /// mark>\r\n<bytes><mark>` from a diskless master.
    async fn snapshot(&mut self) -> Result<Vec<u8>, LinkError> {
        let header = loop {
            let line = self.line().await?;
            if !line.is_empty() {
                break line;
            }
        };
        if let Some(mark) = header.strip_prefix("$EOF:") {
            let mark = mark.as_bytes().to_vec();
            if mark.len() != 40 {
                return Err(LinkError::Protocol(format!("bad EOF mark: {header}")));
            }
            let mut rdb = Vec::new();
            loop {
                rdb.extend_from_slice(&self.rbuf);
                self.rbuf.clear();
                if rdb.len() >= mark.len() && rdb.ends_with(&mark) {
                    rdb.truncate(rdb.len() - mark.len());
                    return Ok(rdb);
                }
                self.fill().await?;
            }
        }
        let len: usize = (header.strip_prefix('$'))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| LinkError::Protocol(format!("bad snapshot header: {header}")))?;
        while self.rbuf.len() < len {
            self.fill().await?;
        }
        Ok(self.rbuf.split_to(len).to_vec())
    }
}
