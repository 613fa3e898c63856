//! Keyspace notifications (Redis's `notify.c`): `notify-keyspace-events` read into class
//! bits, and the two messages each event publishes through the pub/sub registry,
//! `__keyspace@<db>__:<key>` → event and `__keyevent@<db>__:<event>` → key.
//!
//! Commands raise their events through `Ctx::notify` as Redis's handlers call
//! `notifyKeyspaceEvent`, at the same point, so subscribers see them in Redis's order. What
//! the keyspace does on its own (lazy and active expiry, eviction, key creation, read
//! misses) it records as a [`KeyEvent`] and [`Shared::publish_key_events`] publishes them
//! before the next event of the command and after it. With the default empty setting a
//! command pays one atomic load per event site, and the keyspace records nothing.

use bytes::{BufMut, Bytes, BytesMut};

use super::Shared;
use crate::keyspace::{KeyEvent, Keyspace};

/// Event classes, `notify.c`'s bits.
pub(crate) const KEYSPACE: u32 = 1 << 0;
pub(crate) const KEYEVENT: u32 = 1 << 1;
pub(crate) const GENERIC: u32 = 1 << 2;
pub(crate) const STRING: u32 = 1 << 3;
pub(crate) const LIST: u32 = 1 << 4;
pub(crate) const SET: u32 = 1 << 5;
pub(crate) const HASH: u32 = 1 << 6;
pub(crate) const ZSET: u32 = 1 << 7;
pub(crate) const EXPIRED: u32 = 1 << 8;
pub(crate) const EVICTED: u32 = 1 << 9;
pub(crate) const STREAM: u32 = 1 << 10;
pub(crate) const KEY_MISS: u32 = 1 << 11;
#[cfg(test)]
const MODULE: u32 = 1 << 13;
pub(crate) const NEW: u32 = 1 << 14;
#[cfg(test)]
const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Makes the keyspace record the events `classes` publishes: its own ones (expiry,
/// eviction, creation, misses) and those commands raise through `Db::notify`. Nothing
/// unless the setting publishes at all (K or E).
pub(crate) fn record(ks: &mut Keyspace, classes: u32) {
    if classes & (KEYSPACE | KEYEVENT) == 0 {
        ks.record_events(0, 0);
    } else {
        ks.record_events(recorded(classes), classes);
    }
}

/// The keyspace's own events `classes` asks for, as the keyspace's recording mask.
fn recorded(classes: u32) -> u8 {
    [
        (EXPIRED, KeyEvent::Expired),
        (EVICTED, KeyEvent::Evicted),
        (NEW, KeyEvent::New),
        (KEY_MISS, KeyEvent::KeyMiss),
    ]
    .into_iter()
    .filter(|(class, _)| classes & class != 0)
    .fold(0, |mask, (_, event)| mask | event.bit())
}

impl Shared {
    /// The classes `notify-keyspace-events` enables (0: notifications off).
    pub(crate) fn notify_classes(&self) -> u32 {
        self.limits.notify_classes()
    }

    /// Redis's `notifyKeyspaceEvent`: publishes `event` on `key` of database `db` if its
    /// class is enabled.
    pub(crate) fn notify(&self, class: u32, event: &str, key: &[u8], db: usize) {
        let classes = self.notify_classes();
        if classes & class == 0 {
            return;
        }
        let limit = self.limits.pubsub_output();
        let registry = self.pubsub();
        if classes & KEYSPACE != 0 {
            let channel = channel("__keyspace@", db, key);
            registry.publish(&channel, event.as_bytes(), limit);
        }
        if classes & KEYEVENT != 0 {
            let channel = channel("__keyevent@", db, event.as_bytes());
            registry.publish(&channel, key, limit);
        }
    }

    /// Publishes what the keyspace recorded on its own (expiry, eviction, creation, misses)
    /// and makes it record exactly what the current setting asks for.
    pub(crate) fn publish_key_events(&self, ks: &mut Keyspace) {
        let classes = self.notify_classes();
        record(ks, classes);
        if classes == 0 {
            // Recorded before notifications were turned off: never published.
            drop(ks.take_events());
            return;
        }
        for (db, event, key) in ks.take_events() {
            let (class, name) = match event {
                KeyEvent::Expired => (EXPIRED, "expired"),
                KeyEvent::Evicted => (EVICTED, "evicted"),
                KeyEvent::New => (NEW, "new"),
                KeyEvent::KeyMiss => (KEY_MISS, "keymiss"),
                KeyEvent::Command(class, name) => (class, name),
            };
            self.notify(class, name, &key, db);
        }
    }
}

/// `<prefix><db>__:<suffix>`.
fn channel(prefix: &str, db: usize, suffix: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(prefix.len() + 8 + suffix.len());
    out.put_slice(prefix.as_bytes());
    out.put_slice(db.to_string().as_bytes());
    out.put_slice(b"__:");
    out.put_slice(suffix);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keyspace_records_only_the_classes_asked_for() {
        assert_eq!(
            recorded(KEYEVENT | EXPIRED | NEW),
            KeyEvent::Expired.bit() | KeyEvent::New.bit()
        );
        assert_eq!(
            recorded(ALL | KEYSPACE) & KeyEvent::New.bit(),
            0,
            "A excludes n"
        );
        let mut ks = Keyspace::new(2);
        record(&mut ks, EXPIRED | NEW);
        ks.db(1).notify(GENERIC, "del", b"k");
        assert!(ks.take_events().is_empty(), "nothing without K or E");
        record(&mut ks, KEYEVENT | GENERIC);
        ks.db(1).notify(GENERIC, "del", b"k");
        ks.db(1).notify(STRING, "set", b"k");
        let events = ks.take_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, 1);
        assert_eq!(events[0].1, KeyEvent::Command(GENERIC, "del"));
    }

    #[test]
    fn eviction_and_expiry_are_recorded_for_the_subscribers_who_asked() {
        use crate::keyspace::Value;
        let mut ks = Keyspace::new(1);
        record(&mut ks, KEYSPACE | EVICTED | NEW);
        let db = ks.db(0);
        db.insert(Bytes::from("a"), Value::Str(Bytes::from("1")), Some(5));
        db.insert(Bytes::from("b"), Value::Str(Bytes::from("2")), None);
        assert!(db.evict(b"b").is_some());
        assert!(db.evict(b"b").is_none(), "only a present key is evicted");
        assert_eq!(db.expire_due(10, 10), 1);
        let events: Vec<(KeyEvent, Bytes)> = ks
            .take_events()
            .into_iter()
            .map(|(_, e, k)| (e, k))
            .collect();
        assert_eq!(
            events,
            [
                (KeyEvent::New, Bytes::from("a")),
                (KeyEvent::New, Bytes::from("b")),
                (KeyEvent::Evicted, Bytes::from("b")),
            ],
            "expiry is not recorded unless asked for"
        );
    }
}
