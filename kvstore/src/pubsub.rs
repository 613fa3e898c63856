//! Pub/sub delivery: which connections listen to which channels and patterns, and the bounded
//! queue through which a publisher hands them messages.
//!
//! A publisher never waits for a subscriber: it appends the encoded message to each
//! receiver's [`Outbox`] and wakes its connection task, which writes the queue out when the
//! socket takes it. The queue is measured in bytes against `client-output-buffer-limit pubsub`
//! (hard limit, or soft limit for longer than its seconds); a subscriber over it is closed
//! and its queue dropped, exactly like Redis's asynchronous close of such clients.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::client::ClientHandle;
use crate::protocol::Reply;

/// `client-output-buffer-limit pubsub`: hard bytes, soft bytes, soft seconds (0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_secs: u64,
}

/// Messages waiting to be written to one subscriber's socket.
#[derive(Debug)]
pub struct Outbox {
    client: Arc<ClientHandle>,
    /// The subscriber's protocol version, which decides how its messages are framed.
    resp: AtomicU8,
    pending: Mutex<Pending>,
    /// Woken when messages arrive (or the outbox closes).
    ready: Notify,
}

#[derive(Debug, Default)]
struct Pending {
    chunks: VecDeque<Bytes>,
    bytes: u64,
    /// Since when the queue has been over the soft limit.
    soft_since: Option<Instant>,
    closed: bool,
}

impl Outbox {
    pub fn new(client: Arc<ClientHandle>, resp: u8) -> Arc<Outbox> {
        Arc::new(Outbox {
            client,
            resp: AtomicU8::new(resp),
            pending: Mutex::new(Pending::default()),
            ready: Notify::new(),
        })
    }

    pub fn set_resp(&self, resp: u8) {
        self.resp.store(resp, Ordering::Relaxed);
    }

    /// The subscriber's protocol version.
    pub fn resp(&self) -> u8 {
        self.resp.load(Ordering::Relaxed)
    }

    /// The id of the client this outbox belongs to.
    pub fn client_id(&self) -> u64 {
        self.client.id
    }

    /// The client this outbox belongs to.
    pub fn client(&self) -> &Arc<ClientHandle> {
        &self.client
    }

    /// Queues an encoded frame that is not a channel message (a client-side caching
    /// invalidation, a MONITOR line) under `limit`, like a published message.
    pub fn push_frame(&self, frame: Bytes, limit: OutputLimit) {
        self.push(frame, limit, Instant::now());
    }

    /// Waits until something was queued or the outbox closed (a wake-up may be spurious).
    pub async fn ready(&self) {
        self.ready.notified().await
    }

    /// Whether the subscriber went over its limit and must be disconnected.
    pub fn is_closed(&self) -> bool {
        self.pending.lock().closed
    }

    /// Moves up to about `max` queued bytes into `out`; returns false once closed.
    pub fn drain_into(&self, out: &mut BytesMut, max: usize) -> bool {
        let mut pending = self.pending.lock();
        if pending.closed {
            return false;
        }
        let mut moved = 0;
        while moved < max {
            let Some(chunk) = pending.chunks.pop_front() else {
                break;
            };
            moved += chunk.len();
            out.extend_from_slice(&chunk);
        }
        pending.bytes -= moved as u64;
        if pending.bytes == 0 {
            // Caught up: a later burst starts the soft-limit clock afresh.
            pending.soft_since = None;
        }
        true
    }

    /// Queues a message unless that takes the subscriber over its limit, in which case the
    /// subscriber is closed instead. Never blocks on the subscriber.
    fn push(&self, frame: Bytes, limit: OutputLimit, now: Instant) {
        let mut pending = self.pending.lock();
        if pending.closed {
            return;
        }
        pending.bytes += frame.len() as u64;
        pending.chunks.push_back(frame);
        let used = pending.bytes;
        let over_hard = limit.hard > 0 && used >= limit.hard;
        let mut over_soft = false;
        if limit.soft > 0 && used >= limit.soft {
            let since = *pending.soft_since.get_or_insert(now);
            // Redis closes once more than `soft_secs` whole seconds have passed.
            over_soft = now.duration_since(since).as_secs() > limit.soft_secs;
        } else {
            pending.soft_since = None;
        }
        if over_hard || over_soft {
            pending.closed = true;
            pending.chunks.clear();
            pending.bytes = 0;
            drop(pending);
            tracing::warn!(
                "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.client.describe(now)
            );
            self.client.kill();
        }
        self.ready.notify_one();
    }
}

/// Every channel and pattern subscription of the server.
#[derive(Debug, Default)]
pub struct Registry {
    channels: HashMap<Bytes, Vec<Arc<Outbox>>>,
    patterns: HashMap<Bytes, Vec<Arc<Outbox>>>,
    /// Shard channels (SSUBSCRIBE / SPUBLISH): without cluster, one shard holds them all.
    shard_channels: HashMap<Bytes, Vec<Arc<Outbox>>>,
}

impl Registry {
    /// Adds a subscriber to a channel (the caller knows it is not subscribed yet).
    pub fn subscribe(&mut self, channel: Bytes, outbox: &Arc<Outbox>) {
        self.channels
            .entry(channel)
            .or_default()
            .push(outbox.clone());
    }

    pub fn unsubscribe(&mut self, channel: &[u8], outbox: &Arc<Outbox>) {
        remove(&mut self.channels, channel, outbox);
    }

    pub fn psubscribe(&mut self, pattern: Bytes, outbox: &Arc<Outbox>) {
        self.patterns
            .entry(pattern)
            .or_default()
            .push(outbox.clone());
    }

    pub fn punsubscribe(&mut self, pattern: &[u8], outbox: &Arc<Outbox>) {
        remove(&mut self.patterns, pattern, outbox);
    }

    /// Adds a subscriber to a shard channel (the caller knows it is not subscribed yet).
    pub fn ssubscribe(&mut self, channel: Bytes, outbox: &Arc<Outbox>) {
        self.shard_channels
            .entry(channel)
            .or_default()
            .push(outbox.clone());
    }

    pub fn sunsubscribe(&mut self, channel: &[u8], outbox: &Arc<Outbox>) {
        remove(&mut self.shard_channels, channel, outbox);
    }

    /// SPUBLISH: delivers an `smessage` to the shard channel's subscribers (patterns never
    /// match shard channels); returns how many there were.
    pub fn spublish(&self, channel: &[u8], message: &[u8], limit: OutputLimit) -> usize {
        let Some(subscribers) = self.shard_channels.get(channel) else {
            return 0;
        };
        let now = Instant::now();
        let mut frames: [Option<Bytes>; 2] = [None, None];
        for outbox in subscribers {
            let resp = outbox.resp.load(Ordering::Relaxed);
            let frame = frames[usize::from(resp >= 3)]
                .get_or_insert_with(|| encode_kind(resp, "smessage", None, channel, message));
            outbox.push(frame.clone(), limit, now);
        }
        subscribers.len()
    }

    /// Shard channels with a subscriber, optionally only those matching `pattern`.
    pub fn shard_channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.shard_channels
            .keys()
            .filter(|c| pattern.map_or(true, |p| crate::glob::glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    pub fn shard_numsub(&self, channel: &[u8]) -> usize {
        self.shard_channels.get(channel).map_or(0, Vec::len)
    }

    /// Number of shard channels with a subscriber (INFO's `pubsubshard_channels`).
    pub fn numshardchannels(&self) -> usize {
        self.shard_channels.len()
    }

    /// Delivers a message to the channel's subscribers, then to every matching pattern's,
    /// and returns how many deliveries were made (PUBLISH's reply).
    pub fn publish(&self, channel: &[u8], message: &[u8], limit: OutputLimit) -> usize {
        let now = Instant::now();
        let mut receivers = 0;
        let mut deliver = |subscribers: &[Arc<Outbox>], pattern: Option<&[u8]>| {
            // Encoded at most once per protocol version.
            let mut frames: [Option<Bytes>; 2] = [None, None];
            for outbox in subscribers {
                let resp = outbox.resp.load(Ordering::Relaxed);
                let frame = frames[usize::from(resp >= 3)]
                    .get_or_insert_with(|| encode(resp, pattern, channel, message));
                outbox.push(frame.clone(), limit, now);
            }
            receivers += subscribers.len();
        };
        if let Some(subscribers) = self.channels.get(channel) {
            deliver(subscribers, None);
        }
        for (pattern, subscribers) in &self.patterns {
            if crate::glob::glob_match(pattern, channel, false) {
                deliver(subscribers, Some(pattern));
            }
        }
        receivers
    }

    /// The outbox of client `id` if it subscribes to anything (Redis's pub/sub mode): where
    /// invalidations redirected to it go.
    pub fn outbox_of(&self, id: u64) -> Option<Arc<Outbox>> {
        self.channels
            .values()
            .chain(self.patterns.values())
            .flatten()
            .find(|o| o.client.id == id)
            .cloned()
    }

    /// Channels with at least one subscriber, optionally only those matching `pattern`.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.channels
            .keys()
            .filter(|c| pattern.map_or(true, |p| crate::glob::glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.channels.get(channel).map_or(0, Vec::len)
    }

    /// Number of channels with a subscriber (INFO's `pubsub_channels`).
    pub fn numchannels(&self) -> usize {
        self.channels.len()
    }

    /// Number of distinct patterns subscribed to.
    pub fn numpat(&self) -> usize {
        self.patterns.len()
    }
}

impl Registry {
    /// The channels (`false`) and patterns (`true`) the client `id` is subscribed to: what
    /// ACL SETUSER checks against the user's new channel permissions.
    pub fn subscriptions_of(&self, id: u64) -> Vec<(Bytes, bool)> {
        let of = |map: &HashMap<Bytes, Vec<Arc<Outbox>>>, pattern: bool| {
            map.iter()
                .filter(|(_, subscribers)| subscribers.iter().any(|o| o.client.id == id))
                .map(|(name, _)| (name.clone(), pattern))
                .collect::<Vec<_>>()
        };
        let mut all = of(&self.channels, false);
        all.extend(of(&self.patterns, true));
        all
    }
}

fn remove(map: &mut HashMap<Bytes, Vec<Arc<Outbox>>>, name: &[u8], outbox: &Arc<Outbox>) {
    if let Some(subscribers) = map.get_mut(name) {
        subscribers.retain(|o| !Arc::ptr_eq(o, outbox));
        if subscribers.is_empty() {
            map.remove(name);
        }
    }
}

/// A `message` (or, with a pattern, `pmessage`) frame.
fn encode(resp: u8, pattern: Option<&[u8]>, channel: &[u8], message: &[u8]) -> Bytes {
    let kind = if pattern.is_some() {
        "pmessage"
    } else {
        "message"
    };
    encode_kind(resp, kind, pattern, channel, message)
}

/// A message frame of `kind` (`message`, `pmessage`, `smessage`).
fn encode_kind(
    resp: u8,
    kind: &'static str,
    pattern: Option<&[u8]>,
    channel: &[u8],
    message: &[u8],
) -> Bytes {
    let mut items = Vec::with_capacity(4);
    items.push(Reply::bulk(kind));
    if let Some(p) = pattern {
        items.push(Reply::Bulk(Bytes::copy_from_slice(p)));
    }
    items.push(Reply::Bulk(Bytes::copy_from_slice(channel)));
    items.push(Reply::Bulk(Bytes::copy_from_slice(message)));
    let mut out = BytesMut::with_capacity(message.len() + channel.len() + 64);
    Reply::Push(items).encode(resp, &mut out);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::client::ClientRegistry;

    fn outbox(clients: &ClientRegistry, resp: u8) -> Arc<Outbox> {
        let addr = "127.0.0.1:1".parse().unwrap();
        Outbox::new(clients.register(addr, addr, -1), resp)
    }

    const UNLIMITED: OutputLimit = OutputLimit {
        hard: 0,
        soft: 0,
        soft_secs: 0,
    };

    fn drained(outbox: &Outbox) -> Vec<u8> {
        let mut out = BytesMut::new();
        assert!(outbox.drain_into(&mut out, usize::MAX));
        out.to_vec()
    }

    #[test]
    fn publish_reaches_channels_then_patterns_in_each_protocol() {
        let clients = ClientRegistry::default();
        let (a, b) = (outbox(&clients, 2), outbox(&clients, 3));
        let mut registry = Registry::default();
        registry.subscribe(Bytes::from("news"), &a);
        registry.subscribe(Bytes::from("news"), &b);
        registry.psubscribe(Bytes::from("n*"), &b);
        assert_eq!(registry.publish(b"news", b"hi", UNLIMITED), 3);
        assert_eq!(registry.publish(b"other", b"hi", UNLIMITED), 0);
        assert_eq!(
            drained(&a),
            b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            drained(&b),
            &b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n\
               >4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n"[..]
        );
        registry.unsubscribe(b"news", &a);
        registry.punsubscribe(b"n*", &b);
        assert_eq!(registry.numsub(b"news"), 1);
        assert_eq!(registry.numpat(), 0);
        assert_eq!(registry.channels(Some(b"x*")), Vec::<Bytes>::new());
    }

    #[test]
    fn a_subscriber_over_the_hard_limit_is_closed_not_waited_for() {
        let clients = ClientRegistry::default();
        let slow = outbox(&clients, 2);
        let mut registry = Registry::default();
        registry.subscribe(Bytes::from("c"), &slow);
        let limit = OutputLimit {
            hard: 1000,
            soft: 0,
            soft_secs: 0,
        };
        let message = [b'x'; 300];
        for _ in 0..3 {
            registry.publish(b"c", &message, limit);
            assert!(!slow.is_closed());
        }
        registry.publish(b"c", &message, limit);
        assert!(slow.is_closed());
        assert!(!slow.drain_into(&mut BytesMut::new(), usize::MAX));
    }

    #[test]
    fn the_soft_limit_needs_to_last() {
        let clients = ClientRegistry::default();
        let slow = outbox(&clients, 2);
        let limit = OutputLimit {
            hard: 0,
            soft: 10,
            soft_secs: 1,
        };
        let start = Instant::now();
        slow.push(Bytes::from_static(&[b'x'; 20]), limit, start);
        slow.push(
            Bytes::from_static(b"x"),
            limit,
            start + Duration::from_secs(1),
        );
        assert!(!slow.is_closed(), "one second is not more than one second");
        drained(&slow);
        // Back under the limit: the clock starts again.
        slow.push(
            Bytes::from_static(&[b'x'; 20]),
            limit,
            start + Duration::from_secs(5),
        );
        slow.push(
            Bytes::from_static(b"x"),
            limit,
            start + Duration::from_secs(6),
        );
        assert!(!slow.is_closed());
        slow.push(
            Bytes::from_static(b"x"),
            limit,
            start + Duration::from_secs(7),
        );
        assert!(slow.is_closed());
    }
}
