//! Client-side caching (Redis's `tracking.c`): which clients may hold which keys, and the
//! invalidation messages they get when those keys change.
//!
//! A client turns tracking on with CLIENT TRACKING. In the default mode the keys its
//! read-only commands fetch are remembered here (key → client ids); when such a key changes,
//! each of those clients is told once and forgotten until it reads the key again. In BCAST
//! mode nothing is remembered: every changed key matching one of the client's prefixes is
//! collected and sent in one message per prefix once the batch of commands is done (Redis
//! sends them before its event loop sleeps). Flushes send a null: every key is invalid.
//!
//! Messages are RESP3 pushes (`>2 invalidate [keys]`) to the client itself or, with
//! REDIRECT, to another client: a RESP3 one gets the push, a RESP2 one in pub/sub mode a
//! message on `__redis__:invalidate`. They travel through the receivers' pub/sub
//! [`Outbox`]es, so a slow client is bounded like a slow subscriber. A client's own
//! invalidations caused by its own command follow that command's reply.
//!
//! This module knows no command and no keyspace: dispatch hands it the keys a command read
//! and the keys that changed. Its lock is taken after the keyspace lock and before the
//! pub/sub registry's.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;

use crate::client::TrackingView;
use crate::protocol::Reply;
use crate::pubsub::{Outbox, OutputLimit};

/// The options of CLIENT TRACKING ON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
}

/// One tracking client's state: Redis's `CLIENT_TRACKING*` flags and fields.
#[derive(Debug, Clone)]
pub struct ClientState {
    pub options: Options,
    /// CLIENT CACHING was given for the next command.
    pub caching: bool,
    /// The client receiving the invalidations, 0 for the client itself.
    pub redirect: u64,
    /// The redirect target was found gone.
    pub broken_redirect: bool,
    /// BCAST prefixes, in byte order.
    pub prefixes: BTreeSet<Bytes>,
    /// The client's own outbox (its protocol decides what it can receive).
    outbox: Arc<Outbox>,
}

/// Keys changed under one BCAST prefix since the last broadcast, with the id of the client
/// that changed each last (for NOLOOP), and the clients listening.
#[derive(Debug, Default)]
struct Prefix {
    keys: BTreeMap<Bytes, Option<u64>>,
    clients: BTreeSet<u64>,
}

#[derive(Debug, Default)]
struct Table {
    clients: HashMap<u64, ClientState>,
    /// Default mode: key → the clients that may cache it.
    keys: HashMap<Bytes, BTreeSet<u64>>,
    /// BCAST mode, by prefix.
    prefixes: BTreeMap<Bytes, Prefix>,
}

/// Where an invalidation for a redirecting client can go.
pub enum Target {
    /// No such client any more.
    Gone,
    /// The client exists; its outbox if it has one, and whether it is in pub/sub mode.
    Client(Option<Arc<Outbox>>, bool),
}

/// The server's tracking state, in `state::Shared`.
#[derive(Debug, Default)]
pub struct Tracking {
    /// Clients with tracking on: dispatch does nothing while it is 0.
    clients: AtomicUsize,
    table: Mutex<Table>,
}

/// Frames to deliver: to an outbox now, or (the current client's own) after its reply.
#[derive(Debug, Default)]
pub struct Deliveries {
    pub now: Vec<(Arc<Outbox>, Bytes)>,
    pub after_reply: Vec<(Arc<Outbox>, Bytes)>,
}

impl Deliveries {
    /// Queues what may go now on each receiver's outbox.
    pub fn send_now(&mut self, limit: OutputLimit) {
        for (outbox, frame) in self.now.drain(..) {
            outbox.push_frame(frame, limit);
        }
    }
}

impl Tracking {
    /// Whether some client has tracking on.
    pub fn active(&self) -> bool {
        self.clients.load(Ordering::Relaxed) > 0
    }

    /// The tracking state of client `id`, if it has tracking on.
    pub fn state(&self, id: u64) -> Option<ClientState> {
        self.table.lock().clients.get(&id).cloned()
    }

    /// Redis's `enableTracking` (the caller checked the options): turns tracking on or
    /// changes its options; BCAST prefixes add to those the client has (none: every key).
    pub fn enable(
        &self,
        id: u64,
        outbox: Arc<Outbox>,
        redirect: u64,
        options: Options,
        prefixes: &[Bytes],
    ) {
        let mut table = self.table.lock();
        let table = &mut *table;
        let state = table.clients.entry(id).or_insert_with(|| {
            self.clients.fetch_add(1, Ordering::Relaxed);
            ClientState {
                options: Options::default(),
                caching: false,
                redirect: 0,
                broken_redirect: false,
                prefixes: BTreeSet::new(),
                outbox,
            }
        });
        state.options = options;
        state.redirect = redirect;
        state.broken_redirect = false;
        show(state);
        if options.bcast {
            let empty = [Bytes::new()];
            let wanted = if prefixes.is_empty() {
                &empty[..]
            } else {
                prefixes
            };
            for prefix in wanted {
                let entry = table.prefixes.entry(prefix.clone()).or_default();
                if entry.clients.insert(id) {
                    state.prefixes.insert(prefix.clone());
                }
            }
        }
    }

    /// Redis's `disableTracking`: CLIENT TRACKING OFF, RESET, and a closed connection. The
    /// keys the client read stay in the table until they change, as in Redis.
    pub fn disable(&self, id: u64) {
        if !self.active() {
            return;
        }
        let mut table = self.table.lock();
        let Some(state) = table.clients.remove(&id) else {
            return;
        };
        self.clients.fetch_sub(1, Ordering::Relaxed);
        *state.outbox.client().tracking.lock() = TrackingView::default();
        for prefix in &state.prefixes {
            if let Some(p) = table.prefixes.get_mut(prefix) {
                p.clients.remove(&id);
                if p.clients.is_empty() {
                    table.prefixes.remove(prefix);
                }
            }
        }
    }

    /// CLIENT CACHING yes|no given (true) or consumed by the next command (false).
    pub fn set_caching(&self, id: u64, caching: bool) {
        if let Some(state) = self.table.lock().clients.get_mut(&id) {
            state.caching = caching;
        }
    }

    /// Redis's `trackingRememberKeys`: the keys a read-only command of client `id` fetched,
    /// unless the client is in BCAST mode or OPTIN / OPTOUT says not this time. Returns the
    /// number of keys now in the table.
    pub fn remember<'k>(&self, id: u64, keys: impl Iterator<Item = &'k Bytes>) -> usize {
        let mut table = self.table.lock();
        let Some(state) = table.clients.get(&id) else {
            return table.keys.len();
        };
        let o = state.options;
        if o.bcast || (o.optin && !state.caching) || (o.optout && state.caching) {
            return table.keys.len();
        }
        for key in keys {
            table.keys.entry(key.clone()).or_default().insert(id);
        }
        table.keys.len()
    }

    /// Redis's `trackingLimitUsedSlots`: forgets keys (telling their clients, as if they
    /// changed) until at most `max` remain.
    pub fn limit_keys(&self, max: usize, find: &dyn Fn(u64) -> Target, out: &mut Deliveries) {
        let mut table = self.table.lock();
        while table.keys.len() > max {
            let Some(key) = table.keys.keys().next().cloned() else {
                break;
            };
            invalidate_key(&mut table, &key, None, false, find, out);
        }
    }

    /// Redis's `trackingInvalidateKey` for each key `writer` (None: the server itself, as
    /// when a key expires) changed, then `trackingInvalidateKeysOnFlush` if a database was
    /// flushed. Frames for the writer's own invalidations wait for its reply.
    pub fn invalidate(
        &self,
        keys: &[Bytes],
        flushed: bool,
        writer: Option<u64>,
        find: &dyn Fn(u64) -> Target,
        out: &mut Deliveries,
    ) {
        let mut table = self.table.lock();
        for key in keys {
            invalidate_key(&mut table, key, writer, true, find, out);
        }
        if flushed {
            let ids: Vec<(u64, u8)> = table
                .clients
                .iter()
                .map(|(id, state)| (*id, state.outbox.resp()))
                .collect();
            for (id, resp) in ids {
                // The null of the tracking client's protocol, whoever receives it.
                let null = if resp >= 3 {
                    &b"_\r\n"[..]
                } else {
                    &b"$-1\r\n"[..]
                };
                send(&mut table, id, null, writer == Some(id), find, out);
            }
            table.keys.clear();
        }
    }

    /// Redis's `trackingBroadcastInvalidationMessages`: for each prefix with changed keys,
    /// one message listing them to each of its clients (without the keys a NOLOOP client
    /// changed itself).
    pub fn broadcast(&self, find: &dyn Fn(u64) -> Target, out: &mut Deliveries) {
        let mut guard = self.table.lock();
        let table = &mut *guard;
        let mut messages = Vec::new();
        for prefix in table.prefixes.values_mut() {
            if prefix.keys.is_empty() {
                continue;
            }
            let keys = std::mem::take(&mut prefix.keys);
            for id in &prefix.clients {
                let noloop = table_noloop(&table.clients, *id);
                let listed: Vec<Reply> = keys
                    .iter()
                    .filter(|(_, writer)| !noloop || **writer != Some(*id))
                    .map(|(k, _)| Reply::Bulk(k.clone()))
                    .collect();
                if listed.is_empty() {
                    continue;
                }
                let mut array = BytesMut::new();
                Reply::Array(listed).encode(2, &mut array);
                messages.push((*id, array));
            }
        }
        for (id, array) in messages {
            send(table, id, &array, false, find, out);
        }
    }

    /// Numbers INFO reports: clients tracking, keys in the table, their client entries,
    /// BCAST prefixes.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let table = self.table.lock();
        let items = table.keys.values().map(BTreeSet::len).sum();
        (
            table.clients.len(),
            table.keys.len(),
            items,
            table.prefixes.len(),
        )
    }
}

/// One key of [`Tracking::invalidate`].
fn invalidate_key(
    table: &mut Table,
    key: &Bytes,
    writer: Option<u64>,
    bcast: bool,
    find: &dyn Fn(u64) -> Target,
    out: &mut Deliveries,
) {
    if bcast {
        for (prefix, p) in table.prefixes.iter_mut() {
            if key.starts_with(prefix) {
                p.keys.insert(key.clone(), writer);
            }
        }
    }
    let Some(ids) = table.keys.remove(key) else {
        return;
    };
    let mut array = BytesMut::new();
    Reply::Array(vec![Reply::Bulk(key.clone())]).encode(2, &mut array);
    for id in ids {
        let Some(state) = table.clients.get(&id) else {
            continue;
        };
        if state.options.bcast || (state.options.noloop && writer == Some(id)) {
            continue;
        }
        send(table, id, &array, writer == Some(id), find, out);
    }
}

/// Redis's `sendTrackingMessage`: `keys` (an encoded array, or a null) to the client or its
/// redirect target, as a push or (RESP2 target in pub/sub mode) an `__redis__:invalidate`
/// message; nothing for a RESP2 client without a redirect.
fn send(
    table: &mut Table,
    id: u64,
    keys: &[u8],
    deferred: bool,
    find: &dyn Fn(u64) -> Target,
    out: &mut Deliveries,
) {
    let Some(state) = table.clients.get(&id) else {
        return;
    };
    let (redirect, own) = (state.redirect, state.outbox.clone());
    let (outbox, redirected, pubsub) = if redirect != 0 {
        // A redirect target that tracks has an outbox even when it subscribes to nothing.
        let tracking = table.clients.get(&redirect).map(|s| s.outbox.clone());
        match find(redirect) {
            Target::Gone => {
                if let Some(state) = table.clients.get_mut(&id) {
                    state.broken_redirect = true;
                    show(state);
                }
                if own.resp() >= 3 {
                    let mut frame = BytesMut::new();
                    Reply::Push(vec![
                        Reply::bulk("tracking-redir-broken"),
                        Reply::Integer(redirect as i64),
                    ])
                    .encode(3, &mut frame);
                    queue(out, deferred, own, frame.freeze());
                }
                return;
            }
            Target::Client(outbox, pubsub) => match outbox.or(tracking) {
                Some(outbox) => (outbox, true, pubsub),
                None => return,
            },
        }
    } else {
        (own, false, false)
    };
    let mut frame = BytesMut::with_capacity(keys.len() + 48);
    if outbox.resp() >= 3 {
        frame.put_slice(b">2\r\n$10\r\ninvalidate\r\n");
    } else if redirected && pubsub {
        frame.put_slice(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
    } else {
        return;
    }
    frame.put_slice(keys);
    queue(out, deferred, outbox, frame.freeze());
}

/// Updates what CLIENT LIST shows of the client.
fn show(state: &ClientState) {
    *state.outbox.client().tracking.lock() = TrackingView {
        on: true,
        broken_redirect: state.broken_redirect,
        bcast: state.options.bcast,
        redirect: state.redirect,
    };
}

fn table_noloop(clients: &HashMap<u64, ClientState>, id: u64) -> bool {
    clients.get(&id).is_some_and(|s| s.options.noloop)
}

fn queue(out: &mut Deliveries, deferred: bool, outbox: Arc<Outbox>, frame: Bytes) {
    if deferred {
        out.after_reply.push((outbox, frame));
    } else {
        out.now.push((outbox, frame));
    }
}
