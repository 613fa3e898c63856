//! The configuration grammar: how `redis-server`'s `main()` turns its
//! arguments into one configuration text (the config file, stdin, then the
//! `--name value` options re-quoted with `sdscatrepr`), and how
//! `loadServerConfigFromString()` reads that text: one directive per line,
//! split with `sdssplitargs` quoting, `include` of other files, and the
//! directives that are not parameters (`rename-command`, `user`,
//! `loadmodule`, module `name.option` configs, `sentinel`).
//!
//! It is apart from the parameter table because it is the part that touches
//! the outside world (arguments, stdin, files) and the part whose quirks are
//! about text, not values.
//!
//! Invariants: a fatal error names the line number in the concatenated text
//! (options after a config file are numbered after its lines) and the
//! trimmed line, exactly as Redis does; loading stops at the first bad line;
//! the only side effect of a load, as in Redis, is creating a non-empty
//! `logfile` (kvstore never `chdir()`s or daemonizes).

use super::table::{lookup, Val, DEFS, MULTI, USED};
use super::{Config, ConfigError, Invocation, REDIS_VERSION};
use crate::glob::glob_match;
use std::io::{self, Read};
use std::path::PathBuf;

/// Text for `--help` (the `redis-server` usage screen, with kvstore's name).
pub fn usage_text() -> String {
    [
        "Usage: ./kvstore [/path/to/redis.conf] [options] [-]",
        "       ./kvstore - (read config from stdin)",
        "       ./kvstore -v or --version",
        "       ./kvstore -h or --help",
        "",
        "Examples:",
        "       ./kvstore (run the server with default conf)",
        "       echo 'maxmemory 128mb' | ./kvstore -",
        "       ./kvstore /etc/redis/6379.conf",
        "       ./kvstore --port 7777",
        "       ./kvstore --port 7777 --replicaof 127.0.0.1 8888",
        "       ./kvstore /etc/myredis.conf --loglevel verbose -",
        "       ./kvstore /etc/myredis.conf --loglevel verbose",
        "",
    ]
    .join("\n")
}

/// Text for `--version`, shaped like `redis-server -v` so that scripts
/// looking for `v=<version>` keep working.
pub fn version_text() -> String {
    format!(
        "kvstore server v={REDIS_VERSION} kvstore={} sha=00000000:0 malloc=libc bits={} build=0\n",
        env!("CARGO_PKG_VERSION"),
        usize::BITS
    )
}

/// Nested `include` limit (Redis has none and would recurse until it crashes).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Bytes as text, invalid UTF-8 replaced (how values land in `String` fields).
pub(super) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `isspace()` in the C locale.
pub(super) fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strerror(errno)` for an I/O error (Rust appends " (os error N)").
pub(super) fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(pos) => text[..pos].to_string(),
        None => text,
    }
}

/// Redis's `sdssplitargs()`: splits a line into arguments, honouring
/// `"double quotes"` (with `\n \r \t \b \a \xHH` and `\<any>` escapes) and
/// `'single quotes'` (only `\'` is an escape).  A closing quote must be
/// followed by whitespace or the end of the line.  Returns `None` for
/// unbalanced quotes.  Like the C code, the input ends at the first NUL byte.
pub(crate) fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let end = line.iter().position(|&b| b == 0).unwrap_or(line.len());
    let line = &line[..end];
    let at = |i: usize| -> u8 { line.get(i).copied().unwrap_or(0) };
    let mut args = Vec::new();
    let mut p = 0usize;
    loop {
        while p < line.len() && is_c_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        let mut done = false;
        while !done {
            let c = at(p);
            if in_dq {
                if c == b'\\'
                    && at(p + 1) == b'x'
                    && at(p + 2).is_ascii_hexdigit()
                    && at(p + 3).is_ascii_hexdigit()
                {
                    let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                    current.push(hex(at(p + 2)) * 16 + hex(at(p + 3)));
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    current.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    other => current.push(other),
                }
            }
            if p < line.len() {
                p += 1;
            }
        }
        args.push(current);
    }
}

/// Redis's `sdscatrepr()`: appends `bytes` as a double-quoted, escaped string
/// that [`split_args`] reads back verbatim.
fn cat_repr(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(b);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// Redis's `getAbsolutePath()`: trims blanks and joins a relative path to the
/// current directory, folding leading `../` components.
fn absolute_path(filename: &str) -> String {
    let rel = filename.trim_matches([' ', '\r', '\n', '\t']);
    if rel.starts_with('/') {
        return rel.to_string();
    }
    let Ok(cwd) = std::env::current_dir() else {
        return rel.to_string();
    };
    let mut abs = cwd.to_string_lossy().into_owned();
    if !abs.is_empty() && !abs.ends_with('/') {
        abs.push('/');
    }
    let mut rel = rel;
    while let Some(rest) = rel.strip_prefix("../") {
        rel = rest;
        if abs.len() > 1 {
            let trimmed = &abs[..abs.len() - 1];
            let cut = trimmed.rfind('/').map_or(0, |p| p + 1);
            abs.truncate(cut);
        }
    }
    abs.push_str(rel);
    abs
}

/// State shared by the lines of one configuration load (Redis keeps it in
/// statics).
#[derive(Debug, Default)]
pub(super) struct LoadState {
    /// `reading_config_file`: `save` lines append instead of replacing.  Like
    /// Redis, an `include` clears it when the included file ends.
    pub(super) reading_config_file: bool,
    /// Whether a `save` line already replaced the compiled-in default.
    pub(super) save_loaded: bool,
    /// Nesting depth of `include`.
    pub(super) depth: usize,
}

/// The reason printed when a configuration asks kvstore to daemonize.
const DAEMONIZE_UNSUPPORTED: &str =
    "daemonize yes is not supported by kvstore: it always runs in the foreground (use a supervisor such as systemd)";

/// Parses `redis-server`-style arguments (`args` excludes the program name).
///
/// * no arguments: the defaults, without reading any file;
/// * `-v`/`--version` or `-h`/`--help` as the first argument;
/// * a first argument not starting with `-` is the configuration file;
/// * `-` as the first or last argument reads more configuration from stdin;
/// * every `--name` starts a directive whose arguments are the following
///   arguments that do not start with `--` (a directive with no argument yet
///   takes the next one whatever it looks like; `--save` directly followed by
///   another option or at the end means `save ""`).
///
/// The file, stdin and the options are concatenated into one text (the
/// options after a newline, each argument re-quoted with `sdscatrepr`), so
/// errors in command-line options are reported with line numbers counted
/// after the file's lines, exactly as `redis-server` does.
///
/// Side effects, as in `redis-server`: stdin is read to the end when `-` is
/// given, and a non-empty `logfile` is opened for appending (so created) to
/// check that it is usable.
pub fn parse_args(args: &[String]) -> Result<Invocation, ConfigError> {
    parse_args_with_stdin(args, || {
        let mut buf = Vec::new();
        io::stdin().lock().read_to_end(&mut buf).map(|_| buf)
    })
}

fn parse_args_with_stdin(
    args: &[String],
    read_stdin: impl FnOnce() -> io::Result<Vec<u8>>,
) -> Result<Invocation, ConfigError> {
    let Some(first) = args.first() else {
        return Ok(Invocation::Run(Config::default()));
    };
    match first.as_str() {
        "-v" | "--version" => return Ok(Invocation::Version),
        "-h" | "--help" => return Ok(Invocation::Help),
        _ => {}
    }
    let (config_file, from_stdin, options) = merge_args(args);

    let mut text = Vec::new();
    if let Some(path) = &config_file {
        let mut file = std::fs::File::open(path).map_err(|e| ConfigError::CantOpenConfig {
            path: path.clone(),
            reason: strerror(&e),
        })?;
        // Like fgets(), a read error (e.g. EISDIR) just ends the input.
        let _ = file.read_to_end(&mut text);
    }
    if from_stdin {
        let input = read_stdin().map_err(|e| ConfigError::CantOpenConfig {
            path: "-".to_string(),
            reason: strerror(&e),
        })?;
        text.extend_from_slice(&input);
    }
    text.push(b'\n');
    text.extend_from_slice(&options);

    let mut config = Config {
        config_file: config_file.map(PathBuf::from),
        ..Config::default()
    };
    config.load_text(&text, &mut LoadState::default())?;
    Ok(Invocation::Run(config))
}

/// The argument handling of `redis-server`'s `main()`: returns the absolute
/// configuration file path, whether stdin is read, and the options text.
fn merge_args(args: &[String]) -> (Option<String>, bool, Vec<u8>) {
    let n = args.len();
    let mut j = 0;
    let mut config_file = None;
    if n > 0 && !args[0].starts_with('-') {
        config_file = Some(absolute_path(&args[0]));
        j = 1;
    }
    let mut from_stdin = false;
    let mut options: Vec<u8> = Vec::new();
    let mut handled_last_config_arg = true;
    while j < n {
        let arg = args[j].as_bytes();
        let next_is_option = j + 1 < n && args[j + 1].starts_with("--");
        let is_last = j + 1 == n;
        if arg == b"-" && (j == 0 || is_last) {
            from_stdin = true;
        } else if handled_last_config_arg && arg.starts_with(b"--") {
            if !options.is_empty() {
                options.push(b'\n');
            }
            options.extend_from_slice(&arg[2..]);
            options.push(b' ');
            let words = split_args(arg).map_or(0, |v| v.len());
            if words == 1 {
                // Only the option name: its value follows.
                handled_last_config_arg = false;
                let is_save = arg.eq_ignore_ascii_case(b"--save");
                let is_sentinel = arg.eq_ignore_ascii_case(b"--sentinel");
                if is_save && next_is_option {
                    options.extend_from_slice(b"\"\"");
                    handled_last_config_arg = true;
                } else if is_save && is_last {
                    options.extend_from_slice(b"\"\"");
                } else if is_sentinel && next_is_option {
                    handled_last_config_arg = true;
                }
            } else {
                // "--port 6380" in a single argument.
                handled_last_config_arg = true;
            }
        } else {
            cat_repr(&mut options, arg);
            options.push(b' ');
            handled_last_config_arg = true;
        }
        j += 1;
    }
    (config_file, from_stdin, options)
}

impl Config {
    /// Redis's `loadServerConfigFromString()`.
    pub(super) fn load_text(
        &mut self,
        text: &[u8],
        state: &mut LoadState,
    ) -> Result<(), ConfigError> {
        state.reading_config_file = true;
        let lines: Vec<&[u8]> = if text.is_empty() {
            Vec::new()
        } else {
            text.split(|&b| b == b'\n').collect()
        };
        for (i, raw) in lines.iter().enumerate() {
            let line = trim_line(raw);
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let fail = |reason: &str| ConfigError::Fatal {
                location: Some((i + 1, lossy(line))),
                reason: reason.to_string(),
            };
            let Some(mut argv) = split_args(line) else {
                return Err(fail("Unbalanced quotes in configuration line"));
            };
            if argv.is_empty() {
                continue;
            }
            argv[0].make_ascii_lowercase();
            let name = lossy(&argv[0]);
            let remember = |config: &mut Config| {
                config
                    .unused
                    .push((name.clone(), argv[1..].iter().map(|a| lossy(a)).collect()));
            };

            if let Some((idx, _)) = lookup(&argv[0]) {
                let def = &DEFS[idx];
                let multi = def.flags & MULTI != 0;
                if !multi && argv.len() != 2 {
                    return Err(fail("wrong number of arguments"));
                }
                let args = if multi && argv.len() == 2 && !argv[1].is_empty() {
                    // `--save "3600 1 300 100"` style: split the single value.
                    split_args(&argv[1]).unwrap_or_default()
                } else {
                    argv[1..].to_vec()
                };
                let value = self.set_value(idx, &args, state).map_err(|r| fail(&r))?;
                if def.name == "daemonize" && value == Val::Bool(true) {
                    return Err(fail(DAEMONIZE_UNSUPPORTED));
                }
                self.store(idx, value);
                if !USED.contains(&def.name) {
                    remember(self);
                }
                continue;
            }

            let argc = argv.len();
            match name.as_str() {
                "list-max-ziplist-entries"
                | "list-max-ziplist-value"
                | "lua-replicate-commands"
                    if argc == 2 =>
                {
                    remember(self)
                }
                "include" if argc == 2 => {
                    if state.depth >= MAX_INCLUDE_DEPTH {
                        return Err(fail("Too many nested include directives"));
                    }
                    self.include(&lossy(&argv[1]), state)?;
                }
                // Not validated here: `user` lines are applied at start-up, after the
                // configuration (`cmd::load_users_at_startup`), as Redis loads them.
                "rename-command" if argc == 3 => remember(self),
                "user" | "loadmodule" if argc >= 2 => remember(self),
                _ if name.contains('.') => {
                    if argc < 2 {
                        return Err(fail("Module config specified without value"));
                    }
                    remember(self);
                }
                "sentinel" => {
                    if argc != 1 {
                        return Err(fail("sentinel directive while not in sentinel mode"));
                    }
                    remember(self);
                }
                _ => return Err(fail("Bad directive or wrong number of arguments")),
            }
        }

        if !self.logfile.is_empty() {
            // Redis checks it can open (and so creates) the log file.
            let path = self.dir.join(&self.logfile);
            if let Err(e) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
            {
                return Err(ConfigError::Fatal {
                    location: None,
                    reason: format!("Can't open the log file: {}", strerror(&e)),
                });
            }
        }
        if *self.other("cluster-enabled") == Val::Bool(true)
            && !matches!(self.other("replicaof"), Val::ReplicaOf(None))
        {
            return Err(ConfigError::Fatal {
                location: None,
                reason: "replicaof directive not allowed in cluster mode".to_string(),
            });
        }
        self.clamp_hz();
        state.reading_config_file = false;
        Ok(())
    }

    /// `include path`: the file (or, with wildcards, every matching file in
    /// sorted order, concatenated) is parsed as a separate text with its own
    /// line numbers.  Relative paths are relative to `dir`, because Redis has
    /// already `chdir()`ed there.  A wildcard pattern matching nothing is
    /// silently ignored.
    fn include(&mut self, path: &str, state: &mut LoadState) -> Result<(), ConfigError> {
        let files: Vec<String> = if path.contains(['*', '?', '[']) {
            self.glob_paths(path)
        } else {
            vec![path.to_string()]
        };
        let mut text = Vec::new();
        for file in files {
            let mut handle = std::fs::File::open(self.dir.join(&file)).map_err(|e| {
                ConfigError::CantOpenConfig {
                    path: file.clone(),
                    reason: strerror(&e),
                }
            })?;
            let _ = handle.read_to_end(&mut text);
        }
        state.depth += 1;
        let result = self.load_text(&text, state);
        state.depth -= 1;
        result
    }

    /// A small `glob(3)`: wildcards may appear in any path component;
    /// dot-files only match a component pattern starting with `.`; results are
    /// sorted bytewise.
    fn glob_paths(&self, pattern: &str) -> Vec<String> {
        let mut prefixes = vec![if pattern.starts_with('/') {
            "/".to_string()
        } else {
            String::new()
        }];
        let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
        let join = |prefix: &str, name: &str| {
            if prefix.is_empty() || prefix.ends_with('/') {
                format!("{prefix}{name}")
            } else {
                format!("{prefix}/{name}")
            }
        };
        for component in components {
            let mut next = Vec::new();
            for prefix in &prefixes {
                if !component.contains(['*', '?', '[']) {
                    next.push(join(prefix, component));
                    continue;
                }
                let dir = self.dir.join(if prefix.is_empty() { "." } else { prefix });
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.') || component.starts_with('.'))
                    .filter(|n| glob_match(component.as_bytes(), n.as_bytes(), false))
                    .collect();
                names.sort();
                next.extend(names.iter().map(|n| join(prefix, n)));
            }
            prefixes = next;
        }
        let mut found: Vec<String> = prefixes
            .into_iter()
            .filter(|p| self.dir.join(p).exists())
            .collect();
        found.sort();
        found
    }
}

/// `sdstrim(line, " \t\r\n")`, then the C-string view (up to the first NUL).
fn trim_line(raw: &[u8]) -> &[u8] {
    let is_trim = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = raw.iter().position(|b| !is_trim(b)).unwrap_or(raw.len());
    let end = raw
        .iter()
        .rposition(|b| !is_trim(b))
        .map_or(start, |p| p + 1);
    let line = &raw[start..end];
    let nul = line.iter().position(|&b| b == 0).unwrap_or(line.len());
    &line[..nul]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;
    use crate::config::{AppendFsync, LogLevel};

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn run_with_stdin(list: &[&str], stdin: &str) -> Result<Config, ConfigError> {
        let input = stdin.as_bytes().to_vec();
        match parse_args_with_stdin(&strings(list), move || Ok(input))? {
            Invocation::Run(config) => Ok(config),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn run(list: &[&str]) -> Result<Config, ConfigError> {
        run_with_stdin(list, "")
    }

    #[test]
    fn no_arguments_gives_defaults() {
        let config = run(&[]).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.port, 6379);
        assert_eq!(config.bind, ["127.0.0.1", "::1"]);
        assert_eq!(config.dir, PathBuf::from("."));
        assert!(!config.appendonly);
        assert_eq!(config.appendfsync, AppendFsync::EverySec);
        assert_eq!(config.save, "3600 1 300 100 60 10000");
        assert_eq!(config.requirepass, None);
        assert!(config.protected_mode);
        assert_eq!(config.maxclients, 10000);
        assert_eq!(config.databases, 16);
        assert_eq!(config.loglevel, LogLevel::Notice);
        assert_eq!(config.timeout, 0);
        assert_eq!(config.tcp_keepalive, 300);
        assert_eq!(config.proto_max_bulk_len, 512 * 1024 * 1024);
        assert_eq!(config.client_query_buffer_limit, 1024 * 1024 * 1024);
        assert!(!config.daemonize);
        assert_eq!(config.logfile, "");
        assert_eq!(config.pidfile, None);
        assert_eq!(config.dbfilename, "dump.rdb");
        assert_eq!(config.appendfilename, "appendonly.aof");
        assert!(config.unused.is_empty());
        assert_eq!(config.config_file, None);
    }

    #[test]
    fn help_and_version_only_as_first_argument() {
        for a in ["-v", "--version"] {
            assert_eq!(parse_args(&strings(&[a])).unwrap(), Invocation::Version);
        }
        for a in ["-h", "--help"] {
            assert_eq!(
                parse_args(&strings(&[a, "--port", "1"])).unwrap(),
                Invocation::Help
            );
        }
        // Later on they are ordinary (and here invalid) option names.
        assert_eq!(
            err_text(run(&["--port", "1", "--version"])),
            fatal_at(3, "version", "Bad directive or wrong number of arguments")
        );
        assert!(version_text().contains("v=7.0.15"));
        assert!(usage_text().starts_with("Usage: ./kvstore [/path/to/redis.conf] [options] [-]"));
    }

    #[test]
    fn options_become_lines_after_an_empty_first_line() {
        // All strings below were produced by redis-server 7.0.15.
        assert_eq!(
            err_text(run(&["--foo", "bar"])),
            format!(
                "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n\
                 Reading the configuration file, at line 2\n\
                 >>> 'foo \"bar\"'\n\
                 Bad directive or wrong number of arguments\n"
            )
        );
        assert_eq!(
            err_text(run(&["--port", "abc"])),
            fatal_at(
                2,
                "port \"abc\"",
                "argument couldn't be parsed into an integer"
            )
        );
        assert_eq!(
            err_text(run(&["--port", "70000"])),
            fatal_at(
                2,
                "port \"70000\"",
                "argument must be between 0 and 65535 inclusive"
            )
        );
        assert_eq!(
            err_text(run(&["--port"])),
            fatal_at(2, "port", "wrong number of arguments")
        );
        assert_eq!(
            err_text(run(&["--Port", "x"])),
            fatal_at(
                2,
                "Port \"x\"",
                "argument couldn't be parsed into an integer"
            )
        );
        assert_eq!(
            err_text(run(&["--FOO", "1"])),
            fatal_at(2, "FOO \"1\"", "Bad directive or wrong number of arguments")
        );
        assert_eq!(
            err_text(run(&["--tls-port", "abc"])),
            fatal_at(
                2,
                "tls-port \"abc\"",
                "argument couldn't be parsed into an integer"
            )
        );
    }

    #[test]
    fn option_arguments_are_requoted_with_sdscatrepr() {
        assert_eq!(
            err_text(run(&["--port", "1", "--save", "--foo", "a b", "x\"y"])),
            fatal_at(
                4,
                "foo \"a b\" \"x\\\"y\"",
                "Bad directive or wrong number of arguments"
            )
        );
        assert_eq!(
            err_text(run(&["--foo", "a\tb\u{1}\"\\", "c d", "\u{e9}"])),
            fatal_at(
                2,
                "foo \"a\\tb\\x01\\\"\\\\\" \"c d\" \"\\xc3\\xa9\"",
                "Bad directive or wrong number of arguments"
            )
        );
        assert_eq!(
            err_text(run(&["--foo", ""])),
            fatal_at(2, "foo \"\"", "Bad directive or wrong number of arguments")
        );
        // Name and value in one argument are copied verbatim.
        assert_eq!(
            err_text(run(&["--foo 6380", "x"])),
            fatal_at(
                2,
                "foo 6380 \"x\"",
                "Bad directive or wrong number of arguments"
            )
        );
        // Several values for a single-value parameter.
        assert_eq!(
            err_text(run(&["--port", "1", "2"])),
            fatal_at(2, "port \"1\" \"2\"", "wrong number of arguments")
        );
    }

    #[test]
    fn option_name_without_value_takes_the_next_argument() {
        // `--port --save`: "--save" becomes the value of port.
        assert_eq!(
            err_text(run(&["--port", "--save"])),
            fatal_at(
                2,
                "port \"--save\"",
                "argument couldn't be parsed into an integer"
            )
        );
        // `--save` followed by another option means `save ""`.
        assert_eq!(
            err_text(run(&["--save", "--foo"])),
            fatal_at(3, "foo", "Bad directive or wrong number of arguments")
        );
        let config = run(&["--save", "--port", "7000"]).unwrap();
        assert_eq!(config.save, "");
        assert_eq!(config.port, 7000);
        // ...and so does a trailing `--save`.
        let config = run(&["--port", "7000", "--save"]).unwrap();
        assert_eq!(config.save, "");
        // `--sentinel` is a value-less pseudo option.
        assert_eq!(
            err_text(run(&["--sentinel", "--foo", "1"])),
            fatal_at(3, "foo \"1\"", "Bad directive or wrong number of arguments")
        );
    }

    #[test]
    fn first_argument_starting_with_dash_is_not_a_file() {
        assert_eq!(
            err_text(run(&["-x"])),
            fatal_at(2, "\"-x\"", "Bad directive or wrong number of arguments")
        );
    }

    #[test]
    fn multi_value_options_and_save_merging() {
        let config = run(&["--bind", "127.0.0.1", "::1", "-::2", "--port", "0"]).unwrap();
        assert_eq!(config.bind, ["127.0.0.1", "::1", "-::2"]);
        assert_eq!(config.port, 0);
        assert_eq!(value(&config, "bind"), "127.0.0.1 ::1 -::2");

        let config = run(&["--bind", "127.0.0.1 ::1"]).unwrap();
        assert_eq!(config.bind, ["127.0.0.1", "::1"]);

        let config = run(&["--save", "900", "1", "--save", "300", "10"]).unwrap();
        assert_eq!(config.save, "900 1 300 10");
        let config = run(&["--save", "10 1 20 2"]).unwrap();
        assert_eq!(config.save, "10 1 20 2");
        let config = run(&["--save", ""]).unwrap();
        assert_eq!(config.save, "");
        let config = run(&["--save", "60", ""]).unwrap();
        assert_eq!(config.save, "60 0");
        let config = run(&["--save", "+60", "4294967297"]).unwrap();
        assert_eq!(config.save, "60 1");
        assert_eq!(
            err_text(run(&["--save", "\"60 1\""])),
            fatal_at(2, "save \"\\\"60 1\\\"\"", "Invalid save parameters")
        );
    }

    #[test]
    fn config_file_then_options_line_numbers() {
        let dir = TempDir::new("lines");
        let with_newline = dir.file("a.conf", "port 1\n");
        assert_eq!(
            err_text(run(&[&with_newline, "--port", "99999"])),
            fatal_at(
                3,
                "port \"99999\"",
                "argument must be between 0 and 65535 inclusive"
            )
        );
        let without_newline = dir.file("b.conf", "port 1");
        assert_eq!(
            err_text(run(&[&without_newline, "--port", "99999"])),
            fatal_at(
                2,
                "port \"99999\"",
                "argument must be between 0 and 65535 inclusive"
            )
        );
        let bad = dir.file("c.conf", "port 1\nfoo bar\n");
        assert_eq!(
            err_text(run(&[&bad, "--port", "99999"])),
            fatal_at(2, "foo bar", "Bad directive or wrong number of arguments")
        );
        // Options override the file; the file path is kept.
        let good = dir.file("d.conf", "port 1\nmaxclients 5\n");
        let config = run(&[&good, "--port", "2"]).unwrap();
        assert_eq!(config.port, 2);
        assert_eq!(config.maxclients, 5);
        assert_eq!(config.config_file, Some(PathBuf::from(&good)));
        // A stray non-option argument after the file is a bad directive.
        assert_eq!(
            err_text(run(&[&good, "x", "y"])),
            fatal_at(
                4,
                "\"x\" \"y\"",
                "Bad directive or wrong number of arguments"
            )
        );
    }

    #[test]
    fn stdin_is_read_for_a_first_or_last_dash() {
        assert_eq!(
            err_text(run_with_stdin(&["-", "--port", "1"], "foo bar\n")),
            fatal_at(1, "foo bar", "Bad directive or wrong number of arguments")
        );
        assert_eq!(
            err_text(run_with_stdin(&["--port", "1", "--xx", "-"], "port 1\n")),
            fatal_at(4, "xx", "Bad directive or wrong number of arguments")
        );
        let dir = TempDir::new("stdin");
        let file = dir.file("a.conf", "port 1\n");
        assert_eq!(
            err_text(run_with_stdin(&[&file, "--xx", "-"], "port 2\n")),
            fatal_at(4, "xx", "Bad directive or wrong number of arguments")
        );
        let config = run_with_stdin(&[&file, "-"], "port 2\n").unwrap();
        assert_eq!(config.port, 2);
        // A dash in the middle is just an argument.
        assert_eq!(
            err_text(run(&["--port", "1", "-", "--maxclients", "2"])),
            fatal_at(2, "port \"1\" \"-\"", "wrong number of arguments")
        );
    }

    #[test]
    fn missing_config_file_is_reported_with_its_absolute_path() {
        let err = run(&["/nonexistent-kvstore/redis.conf"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Fatal error, can't open config file '/nonexistent-kvstore/redis.conf': No such file or directory"
        );
        let cwd = std::env::current_dir().unwrap();
        let parent = cwd.parent().unwrap_or(&cwd).to_string_lossy().into_owned();
        let expected = if parent == "/" {
            "/nonexistent-kvstore.conf".to_string()
        } else {
            format!("{parent}/nonexistent-kvstore.conf")
        };
        assert_eq!(absolute_path(" ../nonexistent-kvstore.conf\n"), expected);
        assert_eq!(
            absolute_path("x.conf"),
            format!("{}/x.conf", cwd.to_string_lossy().trim_end_matches('/'))
        );
    }

    #[test]
    fn split_args_follows_sdssplitargs() {
        let split = |s: &str| {
            split_args(s.as_bytes()).map(|v| {
                v.into_iter()
                    .map(|a| String::from_utf8_lossy(&a).into_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(split("set key value").unwrap(), ["set", "key", "value"]);
        assert_eq!(split("  a \t b  ").unwrap(), ["a", "b"]);
        assert_eq!(split("").unwrap(), Vec::<String>::new());
        assert_eq!(split("\u{b}\u{c}").unwrap(), Vec::<String>::new());
        assert_eq!(split("\"a b\" 'c d'").unwrap(), ["a b", "c d"]);
        assert_eq!(
            split("\"\\x41\\x4a\\n\\r\\t\\b\\a\\\\\\\"\\q\"").unwrap(),
            ["AJ\n\r\t\u{8}\u{7}\\\"q"]
        );
        assert_eq!(split("\"\\x4\"").unwrap(), ["x4"]);
        assert_eq!(split("'it\\'s' 'a\\nb'").unwrap(), ["it's", "a\\nb"]);
        assert_eq!(split("foo\"bar baz\"").unwrap(), ["foobar baz"]);
        assert_eq!(split("a\\nb").unwrap(), ["a\\nb"]);
        assert_eq!(split("\"\" ''").unwrap(), ["", ""]);
        assert_eq!(split("\"a\"\u{b}b").unwrap(), ["a", "b"]);
        assert_eq!(split_args(b"\"\\xff\\x00\"").unwrap(), [vec![0xff, 0x00]]);
        assert_eq!(split_args(b"a\0b c").unwrap(), [b"a".to_vec()]);
        assert!(split("\"unterminated").is_none());
        assert!(split("'unterminated").is_none());
        assert!(split("\"a\"b").is_none());
        assert!(split("'a'b").is_none());
        assert!(split("\"a\\\"").is_none());
    }

    #[test]
    fn sdscatrepr_round_trips() {
        let mut out = Vec::new();
        cat_repr(&mut out, b"a\"b\\c\n\r\t\x07\x08\x01\xff ~");
        assert_eq!(out, b"\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x01\\xff ~\"".to_vec());
        assert_eq!(
            split_args(&out).unwrap(),
            [b"a\"b\\c\n\r\t\x07\x08\x01\xff ~".to_vec()]
        );
    }

    #[test]
    fn comments_blank_lines_and_case() {
        let config = conf(
            "# a comment\n\n   \t\r\n  PORT 7000  \r\n\tMaxClients   '12'\n  # indented comment\nappendfsync ALWAYS\nloglevel WARNING\n",
        )
        .unwrap();
        assert_eq!(config.port, 7000);
        assert_eq!(config.maxclients, 12);
        assert_eq!(config.appendfsync, AppendFsync::Always);
        assert_eq!(config.loglevel, LogLevel::Warning);
        // The reported line is trimmed but otherwise verbatim.
        assert_eq!(
            err_text(conf("  # comment\n\n\t  foo   \"a\\x41\\n\" \r\n")),
            fatal_at(
                3,
                "foo   \"a\\x41\\n\"",
                "Bad directive or wrong number of arguments"
            )
        );
    }

    #[test]
    fn quoting_in_values() {
        let config = conf(
            "requirepass 'pa ss\\'w\"d'\ndbfilename \"x\\x41y.rdb\"\nlogfile \"\"\nbind \"127.0.0.1 ::1\"\n",
        )
        .unwrap();
        assert_eq!(config.requirepass.as_deref(), Some("pa ss'w\"d"));
        assert_eq!(config.dbfilename, "xAy.rdb");
        assert_eq!(config.logfile, "");
        assert_eq!(config.bind, ["127.0.0.1", "::1"]);
        let config = conf("requirepass \"\"\npidfile \"\"\n").unwrap();
        assert_eq!(config.requirepass, None);
        assert_eq!(config.pidfile, None);
        let config = conf("bind \"\"\n").unwrap();
        assert!(config.bind.is_empty());
    }

    #[test]
    fn post_load_errors_have_no_location() {
        assert_eq!(
            err_text(conf("logfile /nonexistent-kvstore/x.log\n")),
            format!("{BANNER}Can't open the log file: No such file or directory\n")
        );
        assert_eq!(
            err_text(conf("cluster-enabled yes\nreplicaof 1.2.3.4 5\n")),
            format!("{BANNER}replicaof directive not allowed in cluster mode\n")
        );
        let dir = TempDir::new("logfile");
        let config = conf(&format!("dir {}\nlogfile kv.log\n", dir.path())).unwrap();
        assert_eq!(config.logfile, "kv.log");
        assert!(
            dir.0.join("kv.log").exists(),
            "Redis creates the log file while loading"
        );
    }

    #[test]
    fn daemonize_yes_is_rejected() {
        assert!(!conf("daemonize no\n").unwrap().daemonize);
        assert_eq!(
            err_text(conf("daemonize yes\n")),
            fatal_at(1, "daemonize yes", DAEMONIZE_UNSUPPORTED)
        );
        assert_eq!(
            err_text(conf("daemonize maybe\n")),
            fatal_at(1, "daemonize maybe", "argument must be 'yes' or 'no'")
        );
    }

    #[test]
    fn used_directives_fill_typed_fields() {
        let config = conf(
            "port 6380\nbind 127.0.0.1 -::1\nappendonly yes\nappendfsync no\nsave 60 1\n\
             requirepass secret\nprotected-mode no\nmaxclients 50\ndatabases 4\nloglevel debug\n\
             timeout 30\ntcp-keepalive 0\nproto-max-bulk-len 2mb\nclient-query-buffer-limit 1gb\n\
             daemonize no\npidfile /tmp/kv.pid\ndbfilename db.rdb\nappendfilename a.aof\n",
        )
        .unwrap();
        assert_eq!(config.port, 6380);
        assert_eq!(config.bind, ["127.0.0.1", "-::1"]);
        assert!(config.appendonly);
        assert_eq!(config.appendfsync, AppendFsync::No);
        assert_eq!(config.save, "60 1");
        assert_eq!(config.requirepass.as_deref(), Some("secret"));
        assert!(!config.protected_mode);
        assert_eq!(config.maxclients, 50);
        assert_eq!(config.databases, 4);
        assert_eq!(config.loglevel, LogLevel::Debug);
        assert_eq!(config.timeout, 30);
        assert_eq!(config.tcp_keepalive, 0);
        assert_eq!(config.proto_max_bulk_len, 2 * 1024 * 1024);
        assert_eq!(config.client_query_buffer_limit, 1 << 30);
        assert_eq!(config.pidfile.as_deref(), Some("/tmp/kv.pid"));
        assert_eq!(config.dbfilename, "db.rdb");
        assert_eq!(config.appendfilename, "a.aof");
        assert!(config.unused.is_empty(), "{:?}", config.unused);
    }

    #[test]
    fn unknown_to_kvstore_but_known_to_redis_goes_to_unused() {
        let config = conf(
            "maxmemory 100mb\nmaxmemory-policy allkeys-lru\nslaveof 127.0.0.1 6380\n\
             client-output-buffer-limit pubsub 1mb 1mb 10\nrename-command FLUSHALL \"\"\n\
             user bob on >pw ~* +@all\nloadmodule /x.so arg\nmymodule.opt 1 2\nsentinel\n\
             list-max-ziplist-entries 512\nlua-replicate-commands yes\nport 1\n",
        )
        .unwrap();
        let names: Vec<&str> = config.unused.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "slaveof",
                "client-output-buffer-limit",
                "rename-command",
                "user",
                "loadmodule",
                "mymodule.opt",
                "sentinel",
                "list-max-ziplist-entries",
                "lua-replicate-commands",
            ]
        );
        assert_eq!(config.unused[2].1, ["FLUSHALL", ""]);
        assert_eq!(config.unused[1].1, ["pubsub", "1mb", "1mb", "10"]);
        assert_eq!(value(&config, "maxmemory"), "104857600");
        assert_eq!(value(&config, "maxmemory-policy"), "allkeys-lru");
        assert_eq!(value(&config, "replicaof"), "127.0.0.1 6380");
        assert_eq!(
            value(&config, "client-output-buffer-limit"),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 1048576 10"
        );
    }

    #[test]
    fn save_lines_append_within_a_file() {
        assert_eq!(conf("save 60 1\nsave 120 2\n").unwrap().save, "60 1 120 2");
        assert_eq!(conf("save \"\"\nsave 60 1\n").unwrap().save, "60 1");
        assert_eq!(conf("save 60 1\nsave \"\"\n").unwrap().save, "");
        assert_eq!(
            conf("SAVE \"120 2 180 3\"\nsave 200 +4\n").unwrap().save,
            "120 2 180 3 200 4"
        );
        assert_eq!(conf("port 1\n").unwrap().save, "3600 1 300 100 60 10000");
    }

    #[test]
    fn include_files() {
        let dir = TempDir::new("include");
        dir.file("inc.conf", "save 5 5\nmaxclients 77\n");
        let main = dir.file(
            "main.conf",
            &format!("save 60 1\ninclude {}/inc.conf\nsave 120 2\n", dir.path()),
        );
        let config = run(&[&main]).unwrap();
        assert_eq!(config.maxclients, 77);
        // As in Redis, the include ends "reading the config file" mode, so
        // the next save line replaces instead of appending.
        assert_eq!(config.save, "120 2");

        // Errors inside an included file use its own line numbers.
        dir.file("bad.conf", "port 1\nport x\n");
        assert_eq!(
            err_text(conf(&format!("include {}/bad.conf\n", dir.path()))),
            fatal_at(2, "port x", "argument couldn't be parsed into an integer")
        );
        assert_eq!(
            conf(&format!("include {}/missing.conf\n", dir.path()))
                .unwrap_err()
                .to_string(),
            format!(
                "Fatal error, can't open config file '{}/missing.conf': No such file or directory",
                dir.path()
            )
        );

        // Wildcards: sorted, dot-files skipped, no match is fine; relative
        // paths are relative to `dir`.
        std::fs::create_dir(dir.0.join("conf.d")).unwrap();
        dir.file("conf.d/b.conf", "maxmemory-policy allkeys-lru\n");
        dir.file(
            "conf.d/a.conf",
            "maxmemory-policy volatile-lru\nmaxmemory 2mb\n",
        );
        dir.file("conf.d/.hidden.conf", "port x\n");
        let config = conf(&format!(
            "dir {}\ninclude conf.d/*.conf\ninclude nothing-*.conf\n",
            dir.path()
        ))
        .unwrap();
        assert_eq!(value(&config, "maxmemory-policy"), "allkeys-lru");
        assert_eq!(value(&config, "maxmemory"), "2097152");

        // Self-inclusion stops instead of recursing forever.
        let looping = dir.file("loop.conf", "");
        std::fs::write(&looping, format!("include {looping}\n")).unwrap();
        assert!(err_text(run(&[&looping])).ends_with("Too many nested include directives\n"));
    }
}
