//! The ACL LOG: recent refusals and failed authentications, newest first, similar ones
//! (same reason, context, object and user within a minute) counted in one entry, as Redis's
//! `addACLLogEntry` does.

use std::collections::VecDeque;

use bytes::Bytes;

/// Entries closer in time than this are grouped (`ACL_LOG_GROUPING_MAX_TIME_DELTA`).
const GROUPING_MS: u64 = 60_000;
/// How many recent entries a new one is compared with.
const SCAN: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

impl Reason {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

/// Where the refused command ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Toplevel,
    Multi,
    Lua,
}

impl Context {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    pub(crate) count: u64,
    pub(crate) reason: Reason,
    pub(crate) context: Context,
    /// The command, key, channel or (for AUTH) the command name as sent.
    pub(crate) object: Bytes,
    pub(crate) username: Bytes,
    /// Unix milliseconds of the last occurrence.
    pub(crate) time_ms: u64,
    /// The client's CLIENT LIST line at the last occurrence.
    pub(crate) client_info: String,
}

#[derive(Debug, Default)]
pub(crate) struct Log {
    entries: VecDeque<LogEntry>,
}

impl Log {
    /// Records `entry`, keeping at most `max_len` entries.
    pub(crate) fn add(&mut self, entry: LogEntry, max_len: usize) {
        let similar = self.entries.iter().take(SCAN).position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.time_ms.abs_diff(entry.time_ms) <= GROUPING_MS
                && e.object == entry.object
                && e.username == entry.username
        });
        if let Some(at) = similar {
            if let Some(mut found) = self.entries.remove(at) {
                found.client_info = entry.client_info;
                found.time_ms = entry.time_ms;
                found.count += 1;
                self.entries.push_front(found);
            }
            return;
        }
        self.entries.push_front(entry);
        self.entries.truncate(max_len);
    }

    pub(crate) fn reset(&mut self) {
        self.entries.clear();
    }

    /// Newest first.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &LogEntry> {
        self.entries.iter()
    }
}
