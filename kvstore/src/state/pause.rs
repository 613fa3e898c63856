//! CLIENT PAUSE: clients' commands wait while a pause lasts (Redis's `pauseClients`).
//!
//! Dispatch asks [`ClientPause::holds`] before running a command: one atomic load while no
//! pause is in force. A held command is postponed by its connection, which awaits
//! [`ClientPause::ended`] (the deadline, or CLIENT UNPAUSE) and then runs it again from the
//! start, as Redis re-processes its postponed clients.
//!
//! FAILOVER holds writes too, for as long as it runs (Redis's `PAUSE_DURING_FAILOVER`), apart
//! from CLIENT PAUSE: CLIENT UNPAUSE does not end it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// What a pause holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PauseKind {
    /// Commands that may write or replicate.
    Write,
    /// Every command.
    All,
}

/// The pause in force, if any.
#[derive(Debug, Default)]
pub(crate) struct ClientPause {
    active: AtomicBool,
    state: Mutex<Option<(Instant, PauseKind)>>,
    /// A FAILOVER holds writes.
    failover: AtomicBool,
    ended: Notify,
}

impl ClientPause {
    /// CLIENT PAUSE: pauses until `until`; a pause already in force keeps the later end and
    /// the stricter kind.
    pub(crate) fn pause(&self, until: Instant, kind: PauseKind) {
        let mut state = self.state.lock();
        let merged = match *state {
            Some((end, old)) => (end.max(until), old.max(kind)),
            None => (until, kind),
        };
        *state = Some(merged);
        self.active.store(true, Ordering::Release);
    }

    /// CLIENT UNPAUSE.
    pub(crate) fn unpause(&self) {
        *self.state.lock() = None;
        self.active
            .store(self.failover.load(Ordering::Acquire), Ordering::Release);
        self.ended.notify_waiters();
    }

    /// FAILOVER starts (`true`) or ends: writes wait meanwhile.
    pub(crate) fn hold_writes_for_failover(&self, hold: bool) {
        let state = self.state.lock();
        self.failover.store(hold, Ordering::Release);
        self.active
            .store(hold || state.is_some(), Ordering::Release);
        drop(state);
        if !hold {
            self.ended.notify_waiters();
        }
    }

    /// Whether a command must wait now; `writes` says whether it may write (asked only
    /// while a pause is in force).
    pub(crate) fn holds(&self, writes: impl FnOnce() -> bool) -> bool {
        if !self.active.load(Ordering::Acquire) {
            return false;
        }
        let failover = self.failover.load(Ordering::Acquire);
        let state = *self.state.lock();
        match state {
            Some((until, _)) if Instant::now() >= until => {
                self.unpause();
                failover && writes()
            }
            Some((_, kind)) => kind == PauseKind::All || writes(),
            None => failover && writes(),
        }
    }

    /// Resolves once no pause is in force any more.
    pub(crate) async fn ended(&self) {
        loop {
            let notified = self.ended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let state = *self.state.lock();
            let failover = self.failover.load(Ordering::Acquire);
            let until = match state {
                Some((until, _)) if Instant::now() >= until => {
                    self.unpause();
                    None
                }
                Some((until, _)) => Some(until),
                None => None,
            };
            match (until, failover) {
                (None, false) => return,
                (None, true) => notified.as_mut().await,
                (Some(until), _) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(until.into()) => {}
                        () = &mut notified => {}
                    }
                }
            }
        }
    }
}
