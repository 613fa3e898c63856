//! Redis-compatible glob matching.
//!
//! Redis uses one glob matcher, `stringmatchlen()` in `src/util.c`, for every
//! command that takes a pattern: `KEYS`, `SCAN ... MATCH`, `HSCAN`/`SSCAN`/
//! `ZSCAN`, `PSUBSCRIBE`/`PUNSUBSCRIBE`, `PUBSUB CHANNELS`, `CONFIG GET` and
//! ACL channel/key patterns.  Clients rely on its exact (and sometimes quirky)
//! behaviour, so this module reproduces it byte for byte instead of using a
//! general-purpose glob crate:
//!
//! * `*` matches any run of bytes (consecutive `*` collapse into one);
//! * `?` matches exactly one byte;
//! * `[abc]`, `[^abc]` and ranges `[a-z]` (a reversed range such as `[z-a]`
//!   means the same as `[a-z]`); inside brackets `\x` matches `x` literally
//!   (and, as in Redis, case-sensitively even when `nocase` is set);
//! * `\x` outside brackets matches `x` literally; a trailing lone `\` matches
//!   a literal backslash;
//! * an unterminated `[` consumes the rest of the pattern as its set;
//! * patterns and subjects are arbitrary bytes (binary safe).  Range bounds
//!   are compared as C `char` (signed on the platforms Redis ships on), so
//!   bytes `0x80..=0xff` sort *before* ASCII inside ranges, exactly as in
//!   Redis; case folding is ASCII-only (the C locale).
//!
//! Like Redis, `glob_match(b"*", b"", _)` is `false`: the loop in
//! `stringmatchlen()` never runs for an empty subject.  Redis's `KEYS` and
//! `SCAN` special-case the pattern `*` before calling the matcher, and callers
//! of this function should do the same.
//!
//! Pathological patterns such as `a*a*a*a*...b` are defused the way Redis 7
//! does it: once the remainder of a pattern after a `*` has failed to match at
//! every later position of the subject, no earlier `*` retries a longer match
//! (the `skipLongerMatches` fix for CVE-2022-36021, present in 7.0.15), and the
//! recursion depth is capped at 1000 nested `*` (the CVE-2024-31228 fix from
//! Redis 7.2.6/7.4.1; deeper patterns simply do not match), so a hostile
//! pattern can neither burn CPU exponentially nor overflow the stack.

/// Recursion limit for nested `*`, as in Redis >= 7.2.6 (`nesting > 1000`).
const MAX_NESTING: usize = 1000;

/// Returns whether `string` matches the glob `pattern`, with exactly the
/// semantics of Redis's `stringmatchlen(pattern, string, nocase)`.
///
/// `nocase` folds ASCII letters (`A-Z`/`a-z`) only.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer_matches = false;
    match_impl(pattern, string, nocase, &mut skip_longer_matches, 0)
}

/// C `tolower()` in the C locale applied to a (sign-extended) `char`.
fn c_tolower(c: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

/// A byte as C sees it through a (signed) `char`.
fn signed(b: u8) -> i32 {
    i32::from(b as i8)
}

fn bytes_eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Direct transcription of `stringmatchlen_impl()`.  `pat[pi..]` is the
/// remaining pattern and `s[si..]` the remaining subject; reads past the end
/// of the pattern yield `0`, mirroring the NUL terminator the C code relies
/// on.
fn match_impl(
    pat: &[u8],
    s: &[u8],
    nocase: bool,
    skip_longer_matches: &mut bool,
    nesting: usize,
) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    let at = |i: usize| -> u8 { pat.get(i).copied().unwrap_or(0) };
    let mut pi = 0usize;
    let mut si = 0usize;

    while pi < pat.len() && si < s.len() {
        match pat[pi] {
            b'*' => {
                while pi + 1 < pat.len() && pat[pi + 1] == b'*' {
                    pi += 1;
                }
                if pi + 1 == pat.len() {
                    return true; // trailing '*' matches everything left
                }
                while si < s.len() {
                    if match_impl(
                        &pat[pi + 1..],
                        &s[si..],
                        nocase,
                        skip_longer_matches,
                        nesting + 1,
                    ) {
                        return true;
                    }
                    if *skip_longer_matches {
                        return false;
                    }
                    si += 1;
                }
                // The rest of the pattern matches nowhere in the rest of the
                // subject, so no earlier '*' can help by matching more bytes.
                *skip_longer_matches = true;
                return false;
            }
            b'?' => {
                si += 1;
            }
            b'[' => {
                pi += 1;
                let not = at(pi) == b'^';
                if not {
                    pi += 1;
                }
                let mut matched = false;
                loop {
                    let remaining = pat.len() - pi;
                    if at(pi) == b'\\' && remaining >= 2 {
                        pi += 1;
                        if pat[pi] == s[si] {
                            matched = true;
                        }
                    } else if at(pi) == b']' {
                        break;
                    } else if remaining == 0 {
                        // Unterminated '[': step back so the final increment
                        // below lands exactly at the end of the pattern.
                        pi -= 1;
                        break;
                    } else if remaining >= 3 && pat[pi + 1] == b'-' {
                        let mut start = signed(pat[pi]);
                        let mut end = signed(pat[pi + 2]);
                        let mut c = signed(s[si]);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = c_tolower(start);
                            end = c_tolower(end);
                            c = c_tolower(c);
                        }
                        pi += 2;
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if bytes_eq(pat[pi], s[si], nocase) {
                        matched = true;
                    }
                    pi += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                si += 1;
            }
            first => {
                let literal = if first == b'\\' && pat.len() - pi >= 2 {
                    pi += 1;
                    pat[pi]
                } else {
                    first
                };
                if !bytes_eq(literal, s[si], nocase) {
                    return false;
                }
                si += 1;
            }
        }
        pi += 1;
        if si == s.len() {
            while at(pi) == b'*' {
                pi += 1;
            }
            break;
        }
    }
    pi >= pat.len() && si == s.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    fn mi(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), true)
    }

    #[test]
    fn literal_and_empty() {
        assert!(m("hello", "hello"));
        assert!(!m("hello", "hell"));
        assert!(!m("hell", "hello"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(!m("a", ""));
        assert!(!m("?", ""));
        // Redis quirk: the matching loop never runs for an empty subject, so a
        // lone '*' does not match "" (KEYS/SCAN special-case "*" themselves).
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        // ...but trailing stars after a fully consumed subject are skipped.
        assert!(m("a*", "a"));
        assert!(m("a**", "a"));
        assert!(m("a*?", "ab"));
        assert!(!m("a*?", "a"));
    }

    #[test]
    fn star() {
        assert!(m("*", "anything"));
        assert!(m("foo*", "foo_a"));
        assert!(m("foo*", "foo"));
        assert!(!m("foo*", "fo"));
        assert!(m("*bar", "foobar"));
        assert!(m("*o*", "foo"));
        assert!(m("f*o*o", "fooo"));
        assert!(!m("f*x*o", "fooo"));
        assert!(m("***a***", "bab"));
        assert!(m("*{b}*", "{b}a"));
        assert!(m("{a}*", "{a}x"));
        assert!(!m("{a}*", "{b}x"));
    }

    #[test]
    fn keyspace_tcl_keys_with_pattern() {
        // tests/unit/keyspace.tcl "KEYS with pattern"
        let keys = ["key_x", "key_y", "key_z", "foo_a", "foo_b", "foo_c"];
        let got: Vec<&str> = keys.iter().copied().filter(|k| m("foo*", k)).collect();
        assert_eq!(got, ["foo_a", "foo_b", "foo_c"]);
        let all: Vec<&str> = keys.iter().copied().filter(|k| m("*", k)).collect();
        assert_eq!(all.len(), 6);
    }

    #[test]
    fn question_mark() {
        assert!(m("h?llo", "hello"));
        assert!(m("h?llo", "hallo"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("???", "abc"));
        assert!(!m("???", "ab"));
        assert!(m("?*", "a"));
    }

    #[test]
    fn classes() {
        // The examples from the KEYS documentation.
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(m("h[^e]llo", "hbllo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hallo"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        // Reversed ranges are normalised.
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("[z-a]", "m"));
        // Several ranges and literals in one class.
        assert!(m("[a-cx-z0]", "y"));
        assert!(m("[a-cx-z0]", "0"));
        assert!(!m("[a-cx-z0]", "m"));
        // A leading '-' is literal...
        assert!(m("[-a]", "-"));
        // ...but "[a-]" is the (reversed) range ']'..='a' with no closing
        // bracket, exactly as Redis parses it.
        assert!(!m("[a-]", "-"));
        assert!(m("[a-]", "_"));
        assert!(m("[a-]", "a"));
        // ']' right after '[' closes an empty class, which never matches.
        assert!(!m("[]a]", "a"));
        assert!(!m("[]", "a"));
        assert!(m("[^]", "a"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("\\?", "?"));
        assert!(!m("\\?", "a"));
        assert!(m("a\\[b", "a[b"));
        assert!(m("\\a", "a"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\^a]", "^"));
        assert!(m("[a\\-z]", "-"));
        assert!(!m("[a\\-z]", "m"));
        // A trailing lone backslash matches a literal backslash.
        assert!(m("a\\", "a\\"));
        assert!(!m("a\\", "a"));
        assert!(m("\\", "\\"));
        // Inside a class a trailing backslash is just a member.
        assert!(m("[\\", "\\"));
    }

    #[test]
    fn unterminated_class() {
        assert!(!m("[", "a"));
        assert!(m("[a", "a"));
        assert!(m("[ab", "b"));
        assert!(!m("[ab", "c"));
        assert!(m("[^", "a"));
        assert!(m("[^a", "b"));
        assert!(!m("[^a", "a"));
        assert!(m("x[a-", "xa"));
        assert!(m("x[a-", "x-"));
        // The class swallows the rest of the pattern, including '*'.
        assert!(m("[a*", "*"));
        assert!(!m("[a*", "ab"));
    }

    #[test]
    fn nocase() {
        assert!(mi("HeLLo", "hello"));
        assert!(!m("HeLLo", "hello"));
        assert!(mi("h[A-C]llo", "hbllo"));
        assert!(mi("h[a-c]llo", "hBllo"));
        assert!(mi("[^X]", "a"));
        assert!(!mi("[^X]", "x"));
        assert!(mi("MAXMEM*", "maxmemory-policy"));
        // Escaped bytes inside a class compare case-sensitively, as in Redis.
        assert!(!mi("[\\A]", "a"));
        assert!(mi("\\A", "a"));
        // Only ASCII is folded.
        assert!(!mi("\u{c9}", "\u{e9}"));
    }

    #[test]
    fn binary_safe() {
        assert!(glob_match(b"a\0b", b"a\0b", false));
        assert!(!glob_match(b"a\0b", b"a\0c", false));
        assert!(glob_match(b"a?b", b"a\0b", false));
        assert!(glob_match(b"*\xff", b"\x00\x80\xff", false));
        assert!(glob_match(b"[\x80-\xff]", b"\x90", false));
        assert!(!glob_match(b"[\x80-\xff]", b"a", false));
        // Range bounds are signed chars: 'a'..0xff is really -1..'a', which
        // covers 0x00..='a' and 0xff but not 0x80..0xfe or 'b'..
        assert!(glob_match(b"[a-\xff]", b"\xff", false));
        assert!(glob_match(b"[a-\xff]", b"\x00", false));
        assert!(glob_match(b"[a-\xff]", b"A", false));
        assert!(!glob_match(b"[a-\xff]", b"b", false));
        assert!(!glob_match(b"[a-\xff]", b"\x80", false));
    }

    #[test]
    fn pathological_patterns_are_fast() {
        // tests/unit/keyspace.tcl "Regression for pattern matching long nested loops"
        let subject = "a".repeat(40);
        let pattern = "a*".repeat(20) + "b";
        assert!(!m(&pattern, &subject));
        // "Regression for pattern matching very long nested loops"
        let subject = "a".repeat(50_000);
        let pattern = "*?".repeat(50_000);
        assert!(!m(&pattern, &subject));
        // Deep but legitimate patterns still work below the nesting limit.
        let pattern = "*a".repeat(500);
        assert!(m(&pattern, &"a".repeat(500)));
        assert!(m(&pattern, &"ba".repeat(600)));
        let start = std::time::Instant::now();
        assert!(!m(&("*a".repeat(900) + "*b"), &"a".repeat(5000)));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn nesting_limit() {
        // More than 1000 nested stars stop matching (Redis >= 7.2.6 guard)
        // instead of exhausting the stack.
        let pattern = "*a".repeat(1100);
        assert!(!m(&pattern, &"a".repeat(1100)));
        let pattern = "*a".repeat(1000);
        assert!(m(&pattern, &"a".repeat(1000)));
    }

    #[test]
    fn config_get_style_patterns() {
        assert!(mi("*max-*-entries*", "hash-max-listpack-entries"));
        assert!(mi("p*", "port"));
        assert!(!mi("p*", "maxmemory"));
        assert!(mi("save", "SAVE"));
    }
}
