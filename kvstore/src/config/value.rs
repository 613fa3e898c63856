//! The value of one parameter: Redis's validation rules (the `set` function
//! of each config type plus its `is_valid_fn`: yes/no booleans, enum names,
//! integers with memory / percent / octal units and C-type bounds, and the
//! special parameters such as `save`, `dir`, `bind` or
//! `client-output-buffer-limit`), and the text `CONFIG GET` shows for it.
//!
//! The config file, the command line and `CONFIG SET` apply the same rules
//! and report the same reasons, so they live here once.  The C library
//! parsers Redis uses for configuration (`memtoull`, `strtoll`) are here too,
//! since nothing else in kvstore reads numbers that way; floats (the
//! `latency-tracking-info-percentiles`) are read with
//! [`crate::number::parse_f64`], the crate's `string2d`.
//!
//! Invariants: [`Config::set_value`] does not modify the configuration (it
//! returns the new [`Val`] for the caller to store), so `CONFIG SET` can
//! validate every pair before it applies any; every error reason is Redis's
//! text, byte for byte.

use super::grammar::{is_c_space, lossy, strerror, LoadState};
use super::table::{Check, Def, EnumItems, Kind, Special, Ty, Val, DEFS, MEM, MULTI, OCT, PCT};
use super::Config;

/// Maximum `bind` addresses (`CONFIG_BINDADDR_MAX`).
const CONFIG_BINDADDR_MAX: usize = 16;
/// `NET_HOST_STR_LEN`.
const NET_HOST_STR_LEN: usize = 256;
/// Redis formats some error strings into a 256-byte buffer.
const LOADBUF_SIZE: usize = 256;

/// Redis's `memtoull()`: digits followed by an optional unit (`b`, `k`,
/// `kb`, `m`, `mb`, `g`, `gb`, case-insensitive; `k` = 1000, `kb` = 1024).
/// Faithful to the C quirks: the empty string is 0, digit overflow saturates
/// and the multiplication wraps around.
fn memtoull(s: &[u8]) -> Option<u64> {
    if s.first() == Some(&b'-') {
        return None;
    }
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let unit = s[digits..].to_ascii_lowercase();
    let mul: u64 = match unit.as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits >= 128 {
        return None;
    }
    let mut val: u64 = 0;
    for &d in &s[..digits] {
        val = val
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .unwrap_or(u64::MAX);
    }
    Some(val.wrapping_mul(mul))
}

/// C `strtoll(s, &end, base)`: returns the value (saturated on overflow, as
/// with `ERANGE`), the index where parsing stopped (0 when there were no
/// digits, like `end == s`) and whether it overflowed.
fn c_strtoll(s: &[u8], base: u32) -> (i64, usize, bool) {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        negative = s[i] == b'-';
        i += 1;
    }
    let first_digit = i;
    let mut acc: u64 = 0;
    let mut overflow = false;
    while i < s.len() {
        let Some(d) = (s[i] as char).to_digit(base) else {
            break;
        };
        match acc
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(v) => acc = v,
            None => overflow = true,
        }
        i += 1;
    }
    if i == first_digit {
        return (0, 0, false);
    }
    let value = if negative {
        if overflow || acc > 1u64 << 63 {
            overflow = true;
            i64::MIN
        } else {
            (acc as i64).wrapping_neg()
        }
    } else if overflow || acc > i64::MAX as u64 {
        overflow = true;
        i64::MAX
    } else {
        acc as i64
    };
    (value, i, overflow)
}

/// `strtoll(s, &end, 10)` that must consume the whole string (an empty
/// string is 0, exactly like the C checks `*end == '\0'`).
fn strtoll_whole(s: &[u8]) -> Option<i64> {
    let (value, end, _) = c_strtoll(s, 10);
    (end == s.len()).then_some(value)
}

/// `printf("%f")` followed by Redis's `trimDoubleString()`.
fn format_percentile(v: f64) -> String {
    let mut s = format!("{v:.6}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

/// Keyspace notification classes (`notify.c`).
const NOTIFY_KEYSPACE: i32 = 1 << 0;
const NOTIFY_KEYEVENT: i32 = 1 << 1;
const NOTIFY_GENERIC: i32 = 1 << 2;
const NOTIFY_STRING: i32 = 1 << 3;
const NOTIFY_LIST: i32 = 1 << 4;
const NOTIFY_SET: i32 = 1 << 5;
const NOTIFY_HASH: i32 = 1 << 6;
const NOTIFY_ZSET: i32 = 1 << 7;
const NOTIFY_EXPIRED: i32 = 1 << 8;
const NOTIFY_EVICTED: i32 = 1 << 9;
const NOTIFY_STREAM: i32 = 1 << 10;
const NOTIFY_KEY_MISS: i32 = 1 << 11;
const NOTIFY_MODULE: i32 = 1 << 13;
const NOTIFY_NEW: i32 = 1 << 14;
const NOTIFY_ALL: i32 = NOTIFY_GENERIC
    | NOTIFY_STRING
    | NOTIFY_LIST
    | NOTIFY_SET
    | NOTIFY_HASH
    | NOTIFY_ZSET
    | NOTIFY_EXPIRED
    | NOTIFY_EVICTED
    | NOTIFY_STREAM
    | NOTIFY_MODULE;

fn keyspace_events_from_str(s: &[u8]) -> Option<i32> {
    let mut flags = 0;
    for &c in s.iter().take_while(|&&c| c != 0) {
        flags |= match c {
            b'A' => NOTIFY_ALL,
            b'g' => NOTIFY_GENERIC,
            b'$' => NOTIFY_STRING,
            b'l' => NOTIFY_LIST,
            b's' => NOTIFY_SET,
            b'h' => NOTIFY_HASH,
            b'z' => NOTIFY_ZSET,
            b'x' => NOTIFY_EXPIRED,
            b'e' => NOTIFY_EVICTED,
            b'K' => NOTIFY_KEYSPACE,
            b'E' => NOTIFY_KEYEVENT,
            b't' => NOTIFY_STREAM,
            b'm' => NOTIFY_KEY_MISS,
            b'd' => NOTIFY_MODULE,
            b'n' => NOTIFY_NEW,
            _ => return None,
        };
    }
    Some(flags)
}

fn keyspace_events_to_string(flags: i32) -> String {
    let mut out = String::new();
    if flags & NOTIFY_ALL == NOTIFY_ALL {
        out.push('A');
    } else {
        for (bit, c) in [
            (NOTIFY_GENERIC, 'g'),
            (NOTIFY_STRING, '$'),
            (NOTIFY_LIST, 'l'),
            (NOTIFY_SET, 's'),
            (NOTIFY_HASH, 'h'),
            (NOTIFY_ZSET, 'z'),
            (NOTIFY_EXPIRED, 'x'),
            (NOTIFY_EVICTED, 'e'),
            (NOTIFY_STREAM, 't'),
            (NOTIFY_MODULE, 'd'),
            (NOTIFY_NEW, 'n'),
        ] {
            if flags & bit != 0 {
                out.push(c);
            }
        }
    }
    for (bit, c) in [
        (NOTIFY_KEYSPACE, 'K'),
        (NOTIFY_KEYEVENT, 'E'),
        (NOTIFY_KEY_MISS, 'm'),
    ] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    out
}

/// `configEnumGetName()`.
fn enum_name(items: EnumItems, value: i32, bitflags: bool) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut unmatched = value;
    for &(name, v) in items {
        if value == v {
            return name.to_string();
        }
        if bitflags && v != 0 && v == (unmatched & v) {
            names.push(name);
            unmatched &= !v;
        }
    }
    if names.is_empty() || unmatched != 0 {
        "unknown".to_string()
    } else {
        names.join(" ")
    }
}

/// Formats a value the way `CONFIG GET` shows it.
pub(super) fn format_val(def: &Def, val: &Val) -> String {
    match (val, def.kind) {
        (Val::Bool(b), _) => if *b { "yes" } else { "no" }.to_string(),
        (Val::Str(s), _) => s.clone().unwrap_or_default(),
        (Val::Enum(v), Kind::Enum { items, .. }) => enum_name(items, *v, def.flags & MULTI != 0),
        (Val::Num(v), Kind::Num { flags, .. }) => {
            if flags & PCT != 0 && *v < 0 {
                format!("{}%", v.unsigned_abs())
            } else if flags & MEM != 0 {
                (*v as u64).to_string()
            } else if flags & OCT != 0 {
                format!("{:o}", *v as u64)
            } else {
                v.to_string()
            }
        }
        (Val::Dir(p), _) => std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.clone())
            .to_string_lossy()
            .into_owned(),
        (Val::Save(s), _) => s.clone(),
        (Val::Obuf(limits), _) => ["normal", "slave", "pubsub"]
            .iter()
            .zip(limits)
            .map(|(class, (hard, soft, secs))| format!("{class} {hard} {soft} {secs}"))
            .collect::<Vec<_>>()
            .join(" "),
        (Val::Oom(v), _) => format!("{} {} {}", v[0], v[1], v[2]),
        (Val::Notify(flags), _) => keyspace_events_to_string(*flags),
        (Val::Bind(addrs), _) => addrs.join(" "),
        (Val::ReplicaOf(r), _) => r
            .as_ref()
            .map(|(host, port)| format!("{host} {port}"))
            .unwrap_or_default(),
        (Val::Percentiles(p), _) => p
            .iter()
            .map(|v| format_percentile(*v))
            .collect::<Vec<_>>()
            .join(" "),
        (Val::Enum(v), _) => v.to_string(),
        (Val::Num(v), _) => v.to_string(),
    }
}

impl Config {
    /// Validates `args` for parameter `idx` and returns the new value (the
    /// `set` function of Redis's type interface, plus its `is_valid_fn`).
    pub(super) fn set_value(
        &self,
        idx: usize,
        args: &[Vec<u8>],
        state: &mut LoadState,
    ) -> Result<Val, String> {
        let def = &DEFS[idx];
        let first = args.first().map_or(&[][..], Vec::as_slice);
        match def.kind {
            Kind::Bool { check, .. } => {
                let value = if first.eq_ignore_ascii_case(b"yes") {
                    true
                } else if first.eq_ignore_ascii_case(b"no") {
                    false
                } else {
                    return Err("argument must be 'yes' or 'no'".to_string());
                };
                if check == Check::ActiveDefrag && value {
                    // Debian's redis-server uses the system jemalloc, which
                    // lacks the defragmentation hint; kvstore has no defrag.
                    return Err(
                        "Active defragmentation cannot be enabled: it requires a Redis \
                                server compiled with a modified Jemalloc like the one shipped by \
                                default with the Redis source distribution"
                            .to_string(),
                    );
                }
                Ok(Val::Bool(value))
            }
            Kind::Str {
                empty_is_null,
                check,
                ..
            } => {
                self.check_string(check, first)?;
                if empty_is_null && first.is_empty() {
                    Ok(Val::Str(None))
                } else {
                    Ok(Val::Str(Some(lossy(first))))
                }
            }
            Kind::Enum { items, check, .. } => {
                let bitflags = def.flags & MULTI != 0;
                let value = enum_value(items, args, bitflags).ok_or_else(|| {
                    let names: Vec<&str> = items.iter().map(|(n, _)| *n).collect();
                    let mut msg = format!(
                        "argument(s) must be one of the following: {}",
                        names.join(", ")
                    );
                    msg.truncate(LOADBUF_SIZE - 1);
                    msg
                })?;
                if check == Check::ShutdownFlags && value & 1 != 0 && value & 2 != 0 {
                    return Err(
                        "shutdown options SAVE and NOSAVE can't be used simultaneously".to_string(),
                    );
                }
                Ok(Val::Enum(value))
            }
            Kind::Num {
                ty, lo, hi, flags, ..
            } => {
                let value = parse_numeric(first, flags)?;
                check_bounds(value, ty, lo, hi, flags)?;
                Ok(Val::Num(value))
            }
            Kind::Special(which) => self.set_special(which, idx, args, state),
        }
    }

    fn check_string(&self, check: Check, value: &[u8]) -> Result<(), String> {
        let is_path = value.contains(&b'/') || value.contains(&b'\\');
        let err = |m: &str| Err(m.to_string());
        match check {
            Check::DbFilename if is_path => err("dbfilename can't be a path, just a filename"),
            Check::AofFilename if value.is_empty() => err("appendfilename can't be empty"),
            Check::AofFilename if is_path => err("appendfilename can't be a path, just a filename"),
            Check::AofDirname if value.is_empty() => err("appenddirname can't be empty"),
            Check::AofDirname if is_path => err("appenddirname can't be a path, just a dirname"),
            Check::Hostname if value.len() >= NET_HOST_STR_LEN => {
                err("Hostnames must be less than 256 characters")
            }
            Check::Hostname
                if !value
                    .iter()
                    .take_while(|&&b| b != 0)
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
            {
                err("Hostnames may only contain alphanumeric characters, hyphens or dots")
            }
            Check::ProcTitle if !self.proc_title_template_ok(value) => {
                err("template format is invalid or contains unknown variables")
            }
            _ => Ok(()),
        }
    }

    /// `validateProcTitleTemplate()`: the template must expand (known
    /// `{variables}`, `{{` for a literal brace) to something non-blank.
    fn proc_title_template_ok(&self, template: &[u8]) -> bool {
        let end = template
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(template.len());
        let t = &template[..end];
        let tls_port = match self.other("tls-port") {
            Val::Num(p) => *p,
            _ => 0,
        };
        let unixsocket = match self.other("unixsocket") {
            Val::Str(s) => s.clone().unwrap_or_default(),
            _ => String::new(),
        };
        let mut out: Vec<u8> = Vec::new();
        let mut p = 0;
        while p < t.len() {
            let Some(open) = t[p..].iter().position(|&b| b == b'{') else {
                out.extend_from_slice(&t[p..]);
                break;
            };
            out.extend_from_slice(&t[p..p + open]);
            let var_start = p + open + 1;
            if var_start >= t.len() {
                return false;
            }
            if t[var_start] == b'{' {
                out.push(b'{');
                p = var_start + 1;
                continue;
            }
            let Some(close) = t[var_start..].iter().position(|&b| b == b'}') else {
                return false;
            };
            let value = match &t[var_start..var_start + close] {
                b"title" => String::new(),
                b"listen-addr" => {
                    if self.port != 0 || tls_port != 0 {
                        let addr = self.bind.first().map_or("*", String::as_str);
                        let port = if self.port != 0 {
                            i64::from(self.port)
                        } else {
                            tls_port
                        };
                        format!("{addr}:{port}")
                    } else {
                        format!("unixsocket:{unixsocket}")
                    }
                }
                b"server-mode" => {
                    if *self.other("cluster-enabled") == Val::Bool(true) {
                        "[cluster]".to_string()
                    } else {
                        String::new()
                    }
                }
                b"config-file" => self
                    .config_file
                    .as_deref()
                    .map_or_else(|| "-".to_string(), |p| p.display().to_string()),
                b"port" => self.port.to_string(),
                b"tls-port" => tls_port.to_string(),
                b"unixsocket" => unixsocket.clone(),
                _ => return false,
            };
            out.extend_from_slice(value.as_bytes());
            p = var_start + close + 1;
        }
        out.iter().any(|&b| b != b' ')
    }

    fn set_special(
        &self,
        which: Special,
        idx: usize,
        args: &[Vec<u8>],
        state: &mut LoadState,
    ) -> Result<Val, String> {
        let wrong_args = || "wrong number of arguments".to_string();
        match which {
            Special::Dir => {
                let [arg] = args else {
                    return Err(wrong_args());
                };
                // Redis chdir()s here; kvstore only validates and resolves.
                if arg.is_empty() {
                    return Err("No such file or directory".to_string());
                }
                let target = self.dir.join(lossy(arg));
                let canonical = std::fs::canonicalize(&target).map_err(|e| strerror(&e))?;
                if !canonical.is_dir() {
                    return Err("Not a directory".to_string());
                }
                Ok(Val::Dir(canonical))
            }
            Special::Save => {
                let mut args = args;
                let mut old = self.save.clone();
                if args.len() == 1 && args[0].is_empty() {
                    old.clear();
                    args = &[];
                }
                let invalid = || "Invalid save parameters".to_string();
                if args.len() % 2 == 1 {
                    return Err(invalid());
                }
                let mut pairs = Vec::new();
                for pair in args.chunks(2) {
                    let seconds = strtoll_whole(&pair[0]).ok_or_else(invalid)?;
                    let changes = strtoll_whole(&pair[1]).ok_or_else(invalid)?;
                    if seconds < 1 || changes < 0 {
                        return Err(invalid());
                    }
                    // `changes` is stored in a C int.
                    pairs.push(format!("{seconds} {}", changes as i32));
                }
                if !state.reading_config_file {
                    old.clear();
                } else if !state.save_loaded {
                    state.save_loaded = true;
                    old.clear();
                }
                let mut all: Vec<String> = Vec::new();
                if !old.is_empty() {
                    all.push(old);
                }
                all.extend(pairs);
                Ok(Val::Save(all.join(" ")))
            }
            Special::ClientOutputBufferLimit => {
                let Val::Obuf(mut limits) = self.others[idx].clone() else {
                    unreachable!("client-output-buffer-limit holds Val::Obuf")
                };
                if args.len() % 4 != 0 {
                    return Err(
                        "Wrong number of arguments in buffer limit configuration.".to_string()
                    );
                }
                let mut updates = Vec::new();
                for chunk in args.chunks(4) {
                    let class = match chunk[0].to_ascii_lowercase().as_slice() {
                        b"normal" => 0,
                        b"slave" | b"replica" => 1,
                        b"pubsub" => 2,
                        _ => {
                            return Err("Invalid client class specified in buffer limit \
                                        configuration."
                                .to_string())
                        }
                    };
                    let hard = memtoull(&chunk[1]);
                    let soft = memtoull(&chunk[2]);
                    // soft_seconds = strtoll(...) stored in an int.
                    let (secs, end, _) = c_strtoll(&chunk[3], 10);
                    let secs = secs as i32;
                    match (hard, soft) {
                        (Some(hard), Some(soft)) if secs >= 0 && end == chunk[3].len() => {
                            updates.push((class, (hard, soft, i64::from(secs))));
                        }
                        _ => {
                            return Err("Error in hard, soft or soft_seconds setting in buffer \
                                        limit configuration."
                                .to_string())
                        }
                    }
                }
                for (class, limit) in updates {
                    limits[class] = limit;
                }
                Ok(Val::Obuf(limits))
            }
            Special::OomScoreAdjValues => {
                if args.len() != 3 {
                    return Err(wrong_args());
                }
                let mut values = [0i64; 3];
                for (slot, arg) in values.iter_mut().zip(args) {
                    *slot = strtoll_whole(arg)
                        .filter(|v| (-2000..=2000).contains(v))
                        .ok_or_else(|| {
                            "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                                .to_string()
                        })?;
                }
                Ok(Val::Oom(values))
            }
            Special::NotifyKeyspaceEvents => {
                let [arg] = args else {
                    return Err(wrong_args());
                };
                keyspace_events_from_str(arg)
                    .map(Val::Notify)
                    .ok_or_else(|| {
                        "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
                    })
            }
            Special::Bind => {
                if args.len() > CONFIG_BINDADDR_MAX {
                    return Err("Too many bind addresses specified.".to_string());
                }
                if args.len() == 1 && args[0].is_empty() {
                    return Ok(Val::Bind(Vec::new()));
                }
                Ok(Val::Bind(args.iter().map(|a| lossy(a)).collect()))
            }
            Special::ReplicaOf => {
                let [host, port] = args else {
                    return Err(wrong_args());
                };
                if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
                    return Ok(Val::ReplicaOf(None));
                }
                let (port_num, end, _) = c_strtoll(port, 10);
                if !(0..=65535).contains(&port_num) || end != port.len() {
                    return Err("Invalid master port".to_string());
                }
                Ok(Val::ReplicaOf(Some((lossy(host), port_num))))
            }
            Special::LatencyTrackingInfoPercentiles => {
                if args.len() == 1 && args[0].is_empty() {
                    return Ok(Val::Percentiles(Vec::new()));
                }
                let mut out = Vec::with_capacity(args.len());
                for arg in args {
                    // Redis parses each percentile with `string2d`.
                    let v = crate::number::parse_f64(arg).ok_or_else(|| {
                        "Invalid latency-tracking-info-percentiles parameters".to_string()
                    })?;
                    if !(0.0..=100.0).contains(&v) {
                        return Err("latency-tracking-info-percentiles parameters should sit \
                                    between [0.0,100.0]"
                            .to_string());
                    }
                    out.push(v);
                }
                Ok(Val::Percentiles(out))
            }
        }
    }
}

/// `configEnumGetValue()`.
fn enum_value(items: EnumItems, args: &[Vec<u8>], bitflags: bool) -> Option<i32> {
    if args.is_empty() || (!bitflags && args.len() != 1) {
        return None;
    }
    let mut value = 0;
    for arg in args {
        let mut matched = false;
        for &(name, v) in items {
            if name.as_bytes().eq_ignore_ascii_case(arg) {
                value |= v;
                matched = true;
            }
        }
        if !matched {
            return None;
        }
    }
    Some(value)
}

/// `numericParseString()`.
fn parse_numeric(s: &[u8], flags: u8) -> Result<i64, String> {
    if flags & MEM != 0 {
        if let Some(v) = memtoull(s) {
            return Ok(v as i64); // stored in a long long, like Redis
        }
    }
    if flags & PCT != 0 && s.len() > 1 && s.ends_with(b"%") {
        if let Some(v) = crate::number::parse_i64(&s[..s.len() - 1]).filter(|v| *v >= 0) {
            return Ok(-v); // percentages are stored negated
        }
    }
    if flags & OCT != 0 {
        let (v, end, overflow) = c_strtoll(s, 8);
        if !overflow && end == s.len() {
            return Ok(v);
        }
    }
    if flags == 0 {
        if let Some(v) = crate::number::parse_i64(s) {
            return Ok(v);
        }
    }
    Err(if flags & MEM != 0 && flags & PCT != 0 {
        "argument must be a memory or percent value"
    } else if flags & MEM != 0 {
        "argument must be a memory value"
    } else if flags & OCT != 0 {
        "argument couldn't be parsed as an octal number"
    } else {
        "argument couldn't be parsed into an integer"
    }
    .to_string())
}

/// `numericBoundaryCheck()`.
fn check_bounds(v: i64, ty: Ty, lo: i64, hi: i64, flags: u8) -> Result<(), String> {
    if ty.unsigned_bounds() {
        let (uv, ulo, uhi) = (v as u64, lo as u64, hi as u64);
        if uv > uhi || uv < ulo {
            return Err(if flags & OCT != 0 {
                format!("argument must be between {ulo:o} and {uhi:o} inclusive")
            } else {
                format!("argument must be between {ulo} and {uhi} inclusive")
            });
        }
    } else if flags & PCT != 0 && v < 0 {
        if v < lo {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                lo.unsigned_abs()
            ));
        }
    } else if v > hi || v < lo {
        return Err(format!("argument must be between {lo} and {hi} inclusive"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;

    /// Every (line, reason) pair was checked against redis-server 7.0.15.
    #[rustfmt::skip]
    const DIRECTIVE_ERRORS: &[(&str, &str)] = &[
        ("maxmemory 10xb", "argument must be a memory value"),
        ("maxmemory -1", "argument must be a memory value"),
        ("maxmemory-clients 200%", "percentage argument must be less or equal to 100"),
        ("maxmemory-clients abc", "argument must be a memory or percent value"),
        ("unixsocketperm 800", "argument couldn't be parsed as an octal number"),
        ("unixsocketperm 7777", "argument must be between 0 and 777 inclusive"),
        ("appendonly maybe", "argument must be 'yes' or 'no'"),
        ("appendfsync sometimes", "argument(s) must be one of the following: everysec, always, no"),
        ("loglevel nothing", "argument(s) must be one of the following: debug, verbose, notice, warning"),
        ("loglevel", "wrong number of arguments"),
        ("save 1 2 3", "Invalid save parameters"),
        ("save \"1 2 3\"", "Invalid save parameters"),
        ("save 0 1", "Invalid save parameters"),
        ("save 60 -1", "Invalid save parameters"),
        ("save -- 1", "Invalid save parameters"),
        ("client-output-buffer-limit normal 1 1", "Wrong number of arguments in buffer limit configuration."),
        ("client-output-buffer-limit master 1 1 1", "Invalid client class specified in buffer limit configuration."),
        ("client-output-buffer-limit normal 1x 1 1", "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
        ("client-output-buffer-limit normal 1 1 -1", "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
        ("oom-score-adj-values 1 2", "wrong number of arguments"),
        ("oom-score-adj-values 1 2 2001", "Invalid oom-score-adj-values, elements must be between -2000 and 2000."),
        ("notify-keyspace-events KEq", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."),
        ("notify-keyspace-events K E", "wrong number of arguments"),
        ("bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", "Too many bind addresses specified."),
        ("replicaof a", "wrong number of arguments"),
        ("replicaof a 70000", "Invalid master port"),
        ("replicaof a 1x", "Invalid master port"),
        ("latency-tracking-info-percentiles 101", "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"),
        ("latency-tracking-info-percentiles x", "Invalid latency-tracking-info-percentiles parameters"),
        ("latency-tracking-info-percentiles 0x1p-2000", "Invalid latency-tracking-info-percentiles parameters"),
        ("shutdown-on-sigint save nosave", "shutdown options SAVE and NOSAVE can't be used simultaneously"),
        ("shutdown-on-sigint", "argument(s) must be one of the following: default, save, nosave, now, force"),
        ("shutdown-on-sigint bad", "argument(s) must be one of the following: default, save, nosave, now, force"),
        ("activedefrag yes", "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution"),
        ("dbfilename a/b", "dbfilename can't be a path, just a filename"),
        ("appendfilename \"\"", "appendfilename can't be empty"),
        ("appendfilename a/b", "appendfilename can't be a path, just a filename"),
        ("appenddirname \"\"", "appenddirname can't be empty"),
        ("appenddirname a\\\\b", "appenddirname can't be a path, just a dirname"),
        ("cluster-announce-hostname a_b", "Hostnames may only contain alphanumeric characters, hyphens or dots"),
        ("proc-title-template \"{title}\"", "template format is invalid or contains unknown variables"),
        ("proc-title-template \"{foo}\"", "template format is invalid or contains unknown variables"),
        ("maxmemory-policy foo", "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"),
        ("supervised foo", "argument(s) must be one of the following: upstart, systemd, auto, no"),
        ("syslog-facility foo", "argument(s) must be one of the following: user, local0, local1, local2, local3, local4, local5, local6, local7"),
        ("databases 0", "argument must be between 1 and 2147483647 inclusive"),
        ("maxclients 0", "argument must be between 1 and 4294967295 inclusive"),
        ("maxclients 4294967296", "argument must be between 1 and 4294967295 inclusive"),
        ("timeout -1", "argument must be between 0 and 2147483647 inclusive"),
        ("tcp-keepalive 1.5", "argument couldn't be parsed into an integer"),
        ("proto-max-bulk-len 1k", "argument must be between 1048576 and 9223372036854775807 inclusive"),
        ("client-query-buffer-limit 100", "argument must be between 1048576 and 9223372036854775807 inclusive"),
        ("hz abc", "argument couldn't be parsed into an integer"),
        ("slowlog-log-slower-than -2", "argument must be between -1 and 9223372036854775807 inclusive"),
        ("list-max-ziplist-entries 1 2", "Bad directive or wrong number of arguments"),
        ("include a b", "Bad directive or wrong number of arguments"),
        ("rename-command a", "Bad directive or wrong number of arguments"),
        ("user", "Bad directive or wrong number of arguments"),
        ("loadmodule", "Bad directive or wrong number of arguments"),
        ("requirepass a b", "wrong number of arguments"),
        ("dir \"\"", "No such file or directory"),
        ("dir /nonexistent-kvstore", "No such file or directory"),
        ("dir /etc/passwd", "Not a directory"),
        ("io-threads 0", "argument must be between 1 and 128 inclusive"),
        ("lua-time-limit x", "argument couldn't be parsed into an integer"),
        ("SLAVEOF a", "wrong number of arguments"),
        ("port \"1", "Unbalanced quotes in configuration line"),
        ("port \"1\"x", "Unbalanced quotes in configuration line"),
        ("port '1", "Unbalanced quotes in configuration line"),
        ("foo bar", "Bad directive or wrong number of arguments"),
        ("foo.bar", "Module config specified without value"),
        ("sentinel monitor x", "sentinel directive while not in sentinel mode"),
    ];

    #[test]
    fn directive_errors_match_redis() {
        let cases = DIRECTIVE_ERRORS;
        for (line, reason) in cases {
            let text = format!("bind 127.0.0.1\nport 0\n{line}\n");
            assert_eq!(
                err_text(conf(&text)),
                fatal_at(3, line, reason),
                "for directive {line:?}"
            );
        }
    }

    #[test]
    fn memory_units_like_memtoull() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("", Some(0)),
            ("1", Some(1)),
            ("1b", Some(1)),
            ("1B", Some(1)),
            ("1k", Some(1000)),
            ("1K", Some(1000)),
            ("1kb", Some(1024)),
            ("1Kb", Some(1024)),
            ("1m", Some(1_000_000)),
            ("1mb", Some(1 << 20)),
            ("1MB", Some(1 << 20)),
            ("1g", Some(1_000_000_000)),
            ("1gb", Some(1 << 30)),
            ("1Gb", Some(1 << 30)),
            ("512mb", Some(512 << 20)),
            ("20000000000g", Some(1_553_255_926_290_448_384)),
            ("99999999999999999999999", Some(u64::MAX)),
            ("-1", None),
            ("1.5mb", None),
            ("1tb", None),
            (" 1", None),
            ("+1", None),
            ("1 mb", None),
            ("mb", Some(0)),
        ];
        for (input, expected) in cases {
            assert_eq!(memtoull(input.as_bytes()), *expected, "memtoull({input:?})");
        }
        let config =
            conf("proto-max-bulk-len 1gb\nclient-query-buffer-limit 2GB\nmaxmemory 1k\n").unwrap();
        assert_eq!(config.proto_max_bulk_len, 1 << 30);
        assert_eq!(config.client_query_buffer_limit, 2 << 30);
        assert_eq!(value(&config, "maxmemory"), "1000");
    }

    #[test]
    fn c_strtoll_parses_like_c() {
        assert_eq!(c_strtoll(b"  +42x", 10), (42, 5, false));
        assert_eq!(c_strtoll(b"x", 10), (0, 0, false));
        assert_eq!(c_strtoll(b"0755", 8), (493, 4, false));
        assert_eq!(c_strtoll(b"99999999999999999999", 10), (i64::MAX, 20, true));
        assert_eq!(strtoll_whole(b""), Some(0));
    }

    #[test]
    fn dir_is_validated_and_resolved() {
        let dir = TempDir::new("dir");
        std::fs::create_dir(dir.0.join("sub")).unwrap();
        let config = conf(&format!("dir {}\ndir sub\n", dir.path())).unwrap();
        assert_eq!(config.dir, dir.0.join("sub"));
        assert_eq!(value(&config, "dir"), format!("{}/sub", dir.path()));
        let file = dir.file("plain", "");
        assert_eq!(
            err_text(conf(&format!("dir {file}\n"))),
            fatal_at(1, &format!("dir {file}"), "Not a directory")
        );
        // The default reports the current directory, like getcwd().
        let cwd = std::fs::canonicalize(".").unwrap();
        assert_eq!(value(&Config::default(), "dir"), cwd.to_string_lossy());
    }
}
