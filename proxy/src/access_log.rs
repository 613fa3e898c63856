//! The access log: nginx's `combined` format plus the upstream address and upstream time
//! (`$upstream_addr $upstream_response_time`), one line per request on stdout.
//!
//! ```text
//! 127.0.0.1 - - [25/Nov/2026:15:36:43 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/8.5.0" 127.0.0.1:5000 0.001
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http1::LogFields;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `25/Nov/2026:15:36:43 +0000` (UTC) for a Unix time.
pub fn time_local(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// One request as the access log shows it.
pub struct Entry<'a> {
    /// The client's address as text.
    pub client: &'a [u8],
    pub request: &'a LogFields,
    pub status: u16,
    /// Response body bytes sent to the client.
    pub body_bytes: u64,
    pub upstream: Option<SocketAddr>,
    pub upstream_time: Option<Duration>,
}

fn or_dash(v: &str) -> &str {
    if v.is_empty() {
        "-"
    } else {
        v
    }
}

/// Writes one line for `e`.
pub fn write(e: &Entry) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut line = String::with_capacity(256);
    let _ = write!(
        line,
        "{} - - [{}] \"{}\" {} {} \"{}\" \"{}\" ",
        String::from_utf8_lossy(e.client),
        time_local(now),
        e.request.request_line.escape_default(),
        e.status,
        e.body_bytes,
        or_dash(&e.request.referer).escape_default(),
        or_dash(&e.request.user_agent).escape_default(),
    );
    match e.upstream {
        Some(a) => {
            let _ = write!(line, "{a} ");
        }
        None => line.push_str("- "),
    }
    match e.upstream_time {
        Some(t) => {
            let _ = write!(line, "{:.3}", t.as_secs_f64());
        }
        None => line.push('-'),
    }
    line.push('\n');
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    #[test]
    fn nginx_time_format() {
        assert_eq!(super::time_local(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(
            super::time_local(1_795_621_003),
            "25/Nov/2026:15:36:43 +0000"
        );
        assert_eq!(super::time_local(951_782_400), "29/Feb/2000:00:00:00 +0000");
    }
}
