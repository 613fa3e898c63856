//! Client-side caching glue: what [`crate::tracking`] needs from the rest of the server
//! (where a redirect target's messages go) and the two moments it acts — after a command or
//! an expiry sweep changed keys, and after a batch (BCAST messages).

use bytes::Bytes;

use super::Shared;
use crate::keyspace::Keyspace;
use crate::tracking::{Deliveries, Target, Tracking};

impl Shared {
    /// The tracking table.
    pub(crate) fn tracking(&self) -> &Tracking {
        &self.tracking
    }

    /// Where invalidations redirected to client `id` can go: its pub/sub outbox if it
    /// subscribes to anything, or nowhere if it is gone.
    fn tracking_target(&self, id: u64) -> Target {
        if let Some(outbox) = self.pubsub().outbox_of(id) {
            return Target::Client(Some(outbox), true);
        }
        if self.clients.all().iter().any(|c| c.id == id) {
            Target::Client(None, false)
        } else {
            Target::Gone
        }
    }

    /// Sends the invalidations for the keys changed (and databases flushed) since the last
    /// call, by client `writer` (None: the server, as expiry). Returns the frames for the
    /// writer itself, which follow its reply.
    pub(crate) fn invalidate_modified(&self, ks: &mut Keyspace, writer: Option<u64>) -> Vec<Bytes> {
        let active = self.tracking.active();
        ks.track_modified(active);
        let (keys, flushed) = ks.take_modified();
        if !active || (keys.is_empty() && !flushed) {
            return Vec::new();
        }
        let mut out = Deliveries::default();
        let find = |id| self.tracking_target(id);
        self.tracking
            .invalidate(&keys, flushed, writer, &find, &mut out);
        self.deliver(out, writer)
    }

    /// Redis's `trackingLimitUsedSlots` for `tracking-table-max-keys`, after client
    /// `writer`'s command.
    pub(crate) fn limit_tracked_keys(&self, tracked: usize, writer: Option<u64>) -> Vec<Bytes> {
        let max = self.limits.tracking_table_max_keys();
        if max == 0 || tracked <= max {
            return Vec::new();
        }
        let mut out = Deliveries::default();
        let find = |id| self.tracking_target(id);
        self.tracking.limit_keys(max, &find, &mut out);
        self.deliver(out, writer)
    }

    /// Sends the BCAST messages for the keys changed since the last call.
    pub(crate) fn broadcast_invalidations(&self) {
        if !self.tracking.active() {
            return;
        }
        let mut out = Deliveries::default();
        let find = |id| self.tracking_target(id);
        self.tracking.broadcast(&find, &mut out);
        self.deliver(out, None);
    }

    /// Queues `out` on the receivers' outboxes, except the frames that must follow the
    /// writer's reply on its own connection, which are returned.
    fn deliver(&self, mut out: Deliveries, writer: Option<u64>) -> Vec<Bytes> {
        let limit = self.limits.pubsub_output();
        let mut own = Vec::new();
        for (outbox, frame) in out.after_reply.drain(..) {
            if Some(outbox.client_id()) == writer {
                own.push(frame);
            } else {
                out.now.push((outbox, frame));
            }
        }
        out.send_now(limit);
        own
    }
}
