//! Redis 7.0.15's exact number parsing and formatting.
//!
//! Clients see numbers as text, so a Redis-compatible server has to accept
//! and print exactly the same strings as the real server. Rust's `parse` and
//! `Display` are close but not the same, so this module copies Redis's rules:
//!
//! * [`parse_i64`] is `string2ll`: it accepts only the canonical text of an
//!   integer (no `+`, no spaces, no leading zeros, no `-0`, no overflow). It
//!   is used for integer arguments and for the value that `INCR` reads.
//! * [`checked_incr`] is `INCR`/`DECR`/`INCRBY`/`DECRBY` (the caller negates
//!   the `DECRBY` argument and rejects `i64::MIN` itself, see
//!   [`ERR_DECREMENT_OVERFLOW`]).
//! * [`parse_f64`] is `string2d` (glibc `strtod` plus Redis's checks). It
//!   is used for float arguments such as `ZADD` scores, and by `config` for
//!   the one float parameter, `latency-tracking-info-percentiles`.
//! * [`format_double`] is `addReplyDouble` (`%.17g`, with `inf`/`-inf`). RESP2
//!   bulk strings and RESP3 doubles use the same text.
//! * [`incr_by_float`] is `INCRBYFLOAT`. Redis works in C `long double` (x87
//!   80-bit extended precision on x86-64 Linux): it parses with `string2ld`
//!   (`strtold`), adds, and prints with `ld2string(LD_STR_HUMAN)` (`%.17Lf`,
//!   then trailing zeros and the dot cut off, `-0` printed as `0`). Rust has
//!   no 80-bit float, so [`LongDouble`] is a software float with a 64-bit
//!   mantissa and a 15-bit exponent (subnormals included). Parsing, addition
//!   and printing round exactly as glibc and the x87 unit do (round to
//!   nearest, ties to even), using a small big-integer type for exact
//!   decimal conversion. `HINCRBYFLOAT` can be built from [`LongDouble`] too.
//!
//! Everything here was checked against a real `redis-server` 7.0.15 and,
//! with random inputs, against glibc's `strtold`/`printf`; the unit tests
//! pin the server's replies.

use std::cmp::Ordering;
use std::fmt;

/// `string2ll` rejects strings this long or longer (`LONG_STR_SIZE`).
const LONG_STR_SIZE: usize = 21;

/// `string2ld` rejects strings this long or longer (`MAX_LONG_DOUBLE_CHARS`).
pub const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// The error `DECRBY` replies when its argument is `i64::MIN` (it cannot be
/// negated). Redis checks this right after parsing the argument, before it
/// even looks the key up.
pub const ERR_DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";

// ---------------------------------------------------------------------------
// Integers
// ---------------------------------------------------------------------------

/// Parses an integer exactly like Redis's `string2ll`.
///
/// Accepts only `0` or an optional `-` followed by a digit 1-9 and more
/// digits, fitting in an `i64`. Rejects the empty string, strings of 21 bytes
/// or more, `+1`, `01`, `-0`, ` 1`, `1 ` and overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > i64::MIN.unsigned_abs() {
            return None;
        }
        Some(0i64.wrapping_sub_unsigned(v))
    } else {
        i64::try_from(v).ok()
    }
}

/// Appends the decimal text of `v` to `buf` (what `ll2string` writes).
pub fn write_i64(buf: &mut Vec<u8>, v: i64) {
    let mut tmp = [0u8; 20];
    let mut pos = tmp.len();
    let mut n = v.unsigned_abs();
    loop {
        pos -= 1;
        tmp[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(&tmp[pos..]);
}

/// Why `INCR`, `DECR`, `INCRBY` or `DECRBY` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncrError {
    /// The stored value is not an integer that [`parse_i64`] accepts.
    NotAnInteger,
    /// The result does not fit in an `i64`.
    Overflow,
}

impl fmt::Display for IncrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IncrError::NotAnInteger => "ERR value is not an integer or out of range",
            IncrError::Overflow => "ERR increment or decrement would overflow",
        })
    }
}

impl std::error::Error for IncrError {}

/// `incrDecrCommand`: the new value of a key holding `current` (`None` when
/// the key does not exist, which counts as 0) after adding `by`.
///
/// `DECRBY n` is `checked_incr(current, -n)` once the caller has rejected
/// `n == i64::MIN` with [`ERR_DECREMENT_OVERFLOW`]; the argument itself is
/// parsed with [`parse_i64`] (failing with the same
/// [`IncrError::NotAnInteger`] message).
pub fn checked_incr(current: Option<&[u8]>, by: i64) -> Result<i64, IncrError> {
    let value = match current {
        None => 0,
        Some(s) => parse_i64(s).ok_or(IncrError::NotAnInteger)?,
    };
    value.checked_add(by).ok_or(IncrError::Overflow)
}

// ---------------------------------------------------------------------------
// Doubles
// ---------------------------------------------------------------------------

/// Parses a float argument exactly like Redis's `string2d` (glibc `strtod`).
///
/// Accepts an optional sign, then decimal (`1`, `1.`, `.5`, `1e5`, `1E-5`),
/// hexadecimal (`0x10`, `0x1.8p3`) or `inf`/`infinity` (any case). Rejects
/// the empty string, leading or trailing spaces, `nan`, anything left over,
/// and values that overflow to infinity or underflow to zero (a value that
/// becomes subnormal is accepted). `-0` gives `-0.0`.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    match scan(s)? {
        Scanned::Inf { neg } => Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        Scanned::Dec { neg, int, frac, .. } => {
            // Scan checked the syntax; Rust's parser is correctly rounded
            // like glibc's. It only sees what strtod would read.
            let start = usize::from(matches!(s[0], b'+' | b'-'));
            let text = std::str::from_utf8(&s[start..]).ok()?;
            let v: f64 = text.parse().ok()?;
            if v.is_infinite() {
                return None; // ERANGE overflow
            }
            if v == 0.0 && int.iter().chain(frac).any(|&c| c != b'0') {
                return None; // ERANGE underflow to zero
            }
            Some(if neg { -v } else { v })
        }
        Scanned::Hex {
            neg,
            int,
            frac,
            exp,
        } => match hex_to_float(int, frac, exp, &F64) {
            Rounded::Zero(nonzero) => {
                if nonzero {
                    None
                } else {
                    Some(if neg { -0.0 } else { 0.0 })
                }
            }
            Rounded::Inf => None,
            Rounded::Finite(mant, exp) => {
                let bits = if mant < 1 << 52 {
                    mant
                } else {
                    (((exp + 1075) as u64) << 52) | (mant & ((1 << 52) - 1))
                };
                let v = f64::from_bits(bits);
                Some(if neg { -v } else { v })
            }
        },
    }
}

/// Parses a sorted-set range bound like Redis's `zslParseRange`: plain C `strtod` that must
/// read up to the end of the C string. Unlike [`parse_f64`] it skips leading whitespace,
/// stops at a NUL byte, gives `inf`/`0` on overflow/underflow instead of failing, and reads
/// the empty string as 0 (strtod converts nothing and leaves the end pointer on the NUL).
/// NaN is rejected, as Redis rejects it after the call.
pub fn parse_strtod(s: &[u8]) -> Option<f64> {
    let s = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())];
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s
        .iter()
        .position(|&c| !matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))?;
    let s = &s[start..];
    match scan(s)? {
        Scanned::Inf { neg } => Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        Scanned::Dec { neg, .. } => {
            let digits = usize::from(matches!(s[0], b'+' | b'-'));
            let v: f64 = std::str::from_utf8(&s[digits..]).ok()?.parse().ok()?;
            Some(if neg { -v } else { v })
        }
        Scanned::Hex {
            neg,
            int,
            frac,
            exp,
        } => {
            let v = match hex_to_float(int, frac, exp, &F64) {
                Rounded::Zero(_) => 0.0,
                Rounded::Inf => f64::INFINITY,
                Rounded::Finite(mant, exp) => f64::from_bits(if mant < 1 << 52 {
                    mant
                } else {
                    (((exp + 1075) as u64) << 52) | (mant & ((1 << 52) - 1))
                }),
            };
            Some(if neg { -v } else { v })
        }
    }
}

/// Formats a double the way `addReplyDouble` does: `inf`, `-inf`, or C's
/// `%.17g` (`0.10000000000000001`, `1e+20`, `1.0000000000000001e-05`, `-0`).
///
/// The RESP2 bulk string and the RESP3 `,` double carry this same text.
/// NaN prints as glibc does (`nan`, or `-nan` when the sign bit is set).
///
/// Note for sorted sets: Redis 7.0.15 replies `-0` for a score of `-0` only
/// in a skiplist-encoded set; a listpack-encoded one stores it as the integer
/// 0 and replies `0`. That is the caller's business: this function prints
/// the double it is given.
pub fn format_double(d: f64) -> String {
    let mut out = Vec::with_capacity(24);
    write_double(&mut out, d);
    String::from_utf8(out).expect("ASCII")
}

/// Appends [`format_double`]'s text to `buf` without allocating.
pub fn write_double(buf: &mut Vec<u8>, d: f64) {
    if d.is_nan() {
        buf.extend_from_slice(if d.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if d.is_infinite() {
        buf.extend_from_slice(if d > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    if d.is_sign_negative() {
        buf.push(b'-');
    }
    let abs = d.abs();
    // Integers below 2^53 have at most 16 digits: %.17g prints them whole.
    if abs < 9_007_199_254_740_992.0 && abs.fract() == 0.0 {
        write_i64(buf, abs as i64);
        return;
    }
    // Rust prints the 17 significant digits correctly rounded, ties to even,
    // like glibc; only the layout of %g has to be redone.
    let mut tmp = [0u8; 32];
    let len = {
        let mut cursor = &mut tmp[..];
        std::io::Write::write_fmt(&mut cursor, format_args!("{abs:.16e}")).expect("fits");
        32 - cursor.len()
    };
    let text = &tmp[..len];
    let e_pos = text.iter().position(|&c| c == b'e').expect("exponent");
    let exp: i32 = std::str::from_utf8(&text[e_pos + 1..])
        .ok()
        .and_then(|e| e.parse().ok())
        .expect("exponent");
    // "d.dddddddddddddddd": the 17 digits without the dot, zeros trimmed.
    let mut digits = [0u8; 17];
    digits[0] = text[0];
    digits[1..].copy_from_slice(&text[2..e_pos]);
    let significant = 17 - digits.iter().rev().take_while(|&&c| c == b'0').count();
    let digits = &digits[..significant.max(1)];
    if !(-4..17).contains(&exp) {
        buf.push(digits[0]);
        if digits.len() > 1 {
            buf.push(b'.');
            buf.extend_from_slice(&digits[1..]);
        }
        buf.push(b'e');
        buf.push(if exp < 0 { b'-' } else { b'+' });
        if exp.abs() < 10 {
            buf.push(b'0');
        }
        write_i64(buf, i64::from(exp.abs()));
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            buf.extend_from_slice(digits);
            buf.resize(buf.len() + int_len - digits.len(), b'0');
        } else {
            buf.extend_from_slice(&digits[..int_len]);
            buf.push(b'.');
            buf.extend_from_slice(&digits[int_len..]);
        }
    } else {
        buf.extend_from_slice(b"0.");
        buf.resize(buf.len() + (-exp - 1) as usize, b'0');
        buf.extend_from_slice(digits);
    }
}

// ---------------------------------------------------------------------------
// INCRBYFLOAT and long double
// ---------------------------------------------------------------------------

/// Why `INCRBYFLOAT` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatError {
    /// The stored value or the increment is not accepted by `string2ld`.
    NotAFloat,
    /// The sum is infinite or NaN (this includes an increment of `inf`).
    NanOrInfinity,
}

impl fmt::Display for FloatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FloatError::NotAFloat => "ERR value is not a valid float",
            FloatError::NanOrInfinity => "ERR increment would produce NaN or Infinity",
        })
    }
}

impl std::error::Error for FloatError {}

/// `INCRBYFLOAT`: the new stored string (which is also the bulk reply) for a
/// key holding `current` (`None` when missing, which counts as 0) after
/// adding `incr`.
///
/// The stored value is parsed first, then the increment; both must pass
/// `string2ld` (so `0x10`, `1e400` and `+1` are fine, ` 1` and `nan` are
/// not). The result is printed like `ld2string(LD_STR_HUMAN)`: never in
/// exponent form, at most 17 decimals, so `1e400` becomes a 401-digit string.
pub fn incr_by_float(current: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, FloatError> {
    let value = match current {
        None => LongDouble::ZERO,
        Some(s) => LongDouble::parse(s).ok_or(FloatError::NotAFloat)?,
    };
    let incr = LongDouble::parse(incr).ok_or(FloatError::NotAFloat)?;
    let sum = value + incr;
    if !sum.is_finite() {
        return Err(FloatError::NanOrInfinity);
    }
    Ok(sum.to_human_bytes())
}

/// A C `long double` as x86-64 Linux has it: 64-bit mantissa with explicit
/// integer bit, 15-bit exponent, subnormals down to 2^-16445, round to
/// nearest even.
///
/// Only what Redis needs is here: `strtold` ([`LongDouble::parse`]),
/// conversion from `i64`, addition, and `ld2string(LD_STR_HUMAN)`
/// ([`LongDouble::to_human_bytes`]). Equality is structural (`-0 != 0`,
/// NaN equals NaN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongDouble(Repr);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repr {
    /// `mant * 2^exp`. Normalized: the top bit of `mant` is set, unless the
    /// number is subnormal (`exp == F80.min_exp`) or zero (`mant == 0`).
    Finite {
        neg: bool,
        mant: u64,
        exp: i32,
    },
    Inf {
        neg: bool,
    },
    Nan,
}

impl LongDouble {
    /// Positive zero.
    pub const ZERO: LongDouble = LongDouble(Repr::Finite {
        neg: false,
        mant: 0,
        exp: 0,
    });

    /// Parses like Redis's `string2ld` (glibc `strtold` plus Redis's
    /// checks): same syntax as [`parse_f64`], but with long double range
    /// and precision, and strings of 5120 bytes or more are rejected.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS {
            return None;
        }
        let (neg, rounded) = match scan(s)? {
            Scanned::Inf { neg } => return Some(LongDouble(Repr::Inf { neg })),
            Scanned::Dec {
                neg,
                int,
                frac,
                exp,
            } => (neg, dec_to_float(int, frac, exp, &F80)),
            Scanned::Hex {
                neg,
                int,
                frac,
                exp,
            } => (neg, hex_to_float(int, frac, exp, &F80)),
        };
        match rounded {
            Rounded::Zero(true) | Rounded::Inf => None, // ERANGE
            Rounded::Zero(false) => Some(LongDouble(Repr::Finite {
                neg,
                mant: 0,
                exp: 0,
            })),
            Rounded::Finite(mant, exp) => Some(LongDouble(Repr::Finite { neg, mant, exp })),
        }
    }

    /// Neither infinite nor NaN.
    pub fn is_finite(self) -> bool {
        matches!(self.0, Repr::Finite { .. })
    }

    /// `(long long) ceill(self * factor)` as x86-64 computes it: the product rounded to the
    /// 64-bit mantissa (ties to even), then the ceiling; a result outside `i64` (or an
    /// infinity or NaN) converts to `i64::MIN`, the x87 "integer indefinite". Redis turns
    /// timeouts in seconds into milliseconds this way.
    pub fn mul_ceil_i64(self, factor: u32) -> i64 {
        let (neg, mant, exp) = match self.0 {
            Repr::Finite { neg, mant, exp } => (neg, mant, exp),
            _ => return i64::MIN,
        };
        let mut p = u128::from(mant) * u128::from(factor);
        if p == 0 {
            return 0;
        }
        let mut exp = i64::from(exp);
        let bits = 128 - p.leading_zeros();
        if bits > 64 {
            let shift = bits - 64;
            let rem = p & ((1u128 << shift) - 1);
            let half = 1u128 << (shift - 1);
            p >>= shift;
            if rem > half || (rem == half && p & 1 == 1) {
                p += 1;
            }
            exp += i64::from(shift);
        }
        // |value| = p * 2^exp; split into integer part and "has a fraction".
        let (int, frac) = if exp >= 0 {
            if exp > 64 {
                return i64::MIN;
            }
            match p
                .checked_shl(exp as u32)
                .filter(|v| v.leading_zeros() >= exp as u32)
            {
                Some(v) => (v, false),
                None => return i64::MIN,
            }
        } else if exp <= -128 {
            (0, true)
        } else {
            let s = (-exp) as u32;
            (p >> s, p & ((1u128 << s) - 1) != 0)
        };
        let magnitude = if neg { int } else { int + u128::from(frac) };
        if neg {
            if magnitude > 1u128 << 63 {
                i64::MIN
            } else {
                (magnitude as i128).wrapping_neg() as i64
            }
        } else {
            i64::try_from(magnitude).unwrap_or(i64::MIN)
        }
    }

    /// `ld2string(..., LD_STR_HUMAN)`: `%.17Lf`, trailing zeros and then a
    /// trailing dot removed, `-0` turned into `0`; `inf`/`-inf` for
    /// infinities. (NaN prints `-nan`, as glibc prints the x87 default NaN;
    /// Redis never stores it.)
    pub fn to_human_bytes(self) -> Vec<u8> {
        let (neg, mant, exp) = match self.0 {
            Repr::Nan => return b"-nan".to_vec(),
            Repr::Inf { neg } => return if neg { &b"-inf"[..] } else { &b"inf"[..] }.to_vec(),
            Repr::Finite { neg, mant, exp } => (neg, mant, exp),
        };
        let bits = 64 - i64::from(mant.leading_zeros());
        // Below 2^-58 < 0.5e-17 everything rounds to "-0.000..." or
        // "0.000...", which Redis prints as "0".
        if mant == 0 || i64::from(exp) + bits <= -58 {
            return b"0".to_vec();
        }
        let mut out = Vec::new();
        if neg {
            out.push(b'-');
        }
        if exp >= 0 {
            let mut n = Big::from_u128(u128::from(mant));
            n.shl(exp as u64);
            out.extend_from_slice(&n.to_decimal());
            return out;
        }
        // mant * 2^exp == mant * 5^k / 10^k
        let k = exp.unsigned_abs() as usize;
        let mut n = Big::from_u128(u128::from(mant));
        n.mul_pow5(k as u64);
        let mut digits = n.to_decimal();
        if digits.len() <= k {
            let mut padded = vec![b'0'; k + 1 - digits.len()];
            padded.extend_from_slice(&digits);
            digits = padded;
        }
        if k > 17 {
            // Round the exact value to 17 decimals, ties to even, like glibc.
            let keep = digits.len() - (k - 17);
            let next = digits[keep];
            let rest_nonzero = digits[keep + 1..].iter().any(|&c| c != b'0');
            let odd = (digits[keep - 1] - b'0') % 2 == 1;
            digits.truncate(keep);
            if next > b'5' || (next == b'5' && (rest_nonzero || odd)) {
                let mut i = digits.len();
                loop {
                    if i == 0 {
                        digits.insert(0, b'1');
                        break;
                    }
                    i -= 1;
                    if digits[i] == b'9' {
                        digits[i] = b'0';
                    } else {
                        digits[i] += 1;
                        break;
                    }
                }
            }
        }
        let frac_len = k.min(17);
        let int_len = digits.len() - frac_len;
        let frac = &digits[int_len..];
        let frac = &frac[..frac.len() - frac.iter().rev().take_while(|&&c| c == b'0').count()];
        out.extend_from_slice(&digits[..int_len]);
        if !frac.is_empty() {
            out.push(b'.');
            out.extend_from_slice(frac);
        }
        if out == b"-0" {
            out.remove(0);
        }
        out
    }
}

impl std::ops::Add for LongDouble {
    type Output = LongDouble;

    /// Correctly rounded (nearest, ties to even) long double addition.
    fn add(self, other: LongDouble) -> LongDouble {
        let (a, b) = match (self.0, other.0) {
            (Repr::Nan, _) | (_, Repr::Nan) => return LongDouble(Repr::Nan),
            (Repr::Inf { neg: x }, Repr::Inf { neg: y }) => {
                return LongDouble(if x == y {
                    Repr::Inf { neg: x }
                } else {
                    Repr::Nan
                });
            }
            (Repr::Inf { .. }, _) => return self,
            (_, Repr::Inf { .. }) => return other,
            (
                Repr::Finite { neg, mant, exp },
                Repr::Finite {
                    neg: neg2,
                    mant: mant2,
                    exp: exp2,
                },
            ) => ((neg, mant, exp), (neg2, mant2, exp2)),
        };
        if a.1 == 0 || b.1 == 0 {
            if a.1 != 0 {
                return self;
            }
            if b.1 != 0 {
                return other;
            }
            return LongDouble(Repr::Finite {
                neg: a.0 && b.0,
                mant: 0,
                exp: 0,
            });
        }
        // With normalized operands (exponent, mantissa) orders magnitudes.
        let (a, b) = if (a.2, a.1) >= (b.2, b.1) {
            (a, b)
        } else {
            (b, a)
        };
        let shift = (i64::from(a.2) - i64::from(b.2)) as u64;
        let big_a = u128::from(a.1) << 63;
        let (big_b, sticky) = if shift >= 127 {
            (0, true)
        } else {
            let full = u128::from(b.1) << 63;
            (full >> shift, full & ((1u128 << shift) - 1) != 0)
        };
        let e = i64::from(a.2) - 63;
        let neg = a.0;
        let sum = if a.0 == b.0 {
            big_a + big_b
        } else {
            // The lost low bits of b make the true difference a fraction
            // smaller: borrow one and keep the fraction as the sticky bit.
            let diff = big_a - big_b - u128::from(sticky);
            if diff == 0 && !sticky {
                return LongDouble::ZERO;
            }
            diff
        };
        LongDouble(match round_to(sum, sticky, e, &F80) {
            Rounded::Zero(_) => Repr::Finite {
                neg,
                mant: 0,
                exp: 0,
            },
            Rounded::Inf => Repr::Inf { neg },
            Rounded::Finite(mant, exp) => Repr::Finite { neg, mant, exp },
        })
    }
}

// ---------------------------------------------------------------------------
// strtod syntax
// ---------------------------------------------------------------------------

enum Scanned<'a> {
    Inf {
        neg: bool,
    },
    /// `int.frac` times 10^exp.
    Dec {
        neg: bool,
        int: &'a [u8],
        frac: &'a [u8],
        exp: i64,
    },
    /// `0xint.frac` times 2^exp.
    Hex {
        neg: bool,
        int: &'a [u8],
        frac: &'a [u8],
        exp: i64,
    },
}

/// Accepts exactly the strings that glibc `strtod`/`strtold` read to the end,
/// without leading spaces (Redis rejects those) and without NaN (Redis rejects
/// that too). Exponents saturate far beyond any representable range.
fn scan(s: &[u8]) -> Option<Scanned<'_>> {
    let (neg, body) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, s),
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some(Scanned::Inf { neg });
    }
    let hex = body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x';
    let (body, is_digit, exp_char): (&[u8], fn(&u8) -> bool, u8) = if hex {
        (&body[2..], u8::is_ascii_hexdigit, b'p')
    } else {
        (body, u8::is_ascii_digit, b'e')
    };
    let int_len = body.iter().take_while(|c| is_digit(c)).count();
    let int = &body[..int_len];
    let mut rest = &body[int_len..];
    let mut frac: &[u8] = &[];
    if let Some((b'.', after)) = rest.split_first() {
        let frac_len = after.iter().take_while(|c| is_digit(c)).count();
        frac = &after[..frac_len];
        rest = &after[frac_len..];
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exp: i64 = 0;
    if let Some((&c, after)) = rest.split_first() {
        if c | 0x20 != exp_char {
            return None;
        }
        let (exp_neg, digits) = match after.split_first()? {
            (b'-', d) => (true, d),
            (b'+', d) => (false, d),
            _ => (false, after),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for &d in digits {
            exp = (exp * 10 + i64::from(d - b'0')).min(1 << 40);
        }
        if exp_neg {
            exp = -exp;
        }
    }
    Some(if hex {
        Scanned::Hex {
            neg,
            int,
            frac,
            exp,
        }
    } else {
        Scanned::Dec {
            neg,
            int,
            frac,
            exp,
        }
    })
}

// ---------------------------------------------------------------------------
// Binary floating point rounding
// ---------------------------------------------------------------------------

/// A binary format: `prec` mantissa bits, values `mant * 2^exp` with
/// `min_exp <= exp <= max_exp` for a full-width `mant`.
struct FloatFormat {
    prec: u32,
    min_exp: i64,
    max_exp: i64,
    /// Decimal values of `10^max_dec` or more overflow.
    max_dec: i64,
    /// Decimal values below `10^min_dec` round to zero.
    min_dec: i64,
}

/// x87 extended precision (C `long double` on x86-64).
const F80: FloatFormat = FloatFormat {
    prec: 64,
    min_exp: -16445,
    max_exp: 16320,
    max_dec: 4933,
    min_dec: -4951,
};

/// IEEE binary64.
const F64: FloatFormat = FloatFormat {
    prec: 53,
    min_exp: -1074,
    max_exp: 971,
    max_dec: 309,
    min_dec: -324,
};

enum Rounded {
    /// Rounded to zero; `true` when the exact value was not zero (ERANGE).
    Zero(bool),
    /// Overflowed (ERANGE).
    Inf,
    /// `mant * 2^exp`, normalized as in [`Repr::Finite`].
    Finite(u64, i32),
}

/// Rounds `(q + s) * 2^e` to the format, ties to even, where `s` is a
/// fraction in (0, 1) when `sticky` and 0 otherwise.
fn round_to(q: u128, sticky: bool, e: i64, f: &FloatFormat) -> Rounded {
    if q == 0 {
        return Rounded::Zero(sticky);
    }
    let len = 128 - i64::from(q.leading_zeros());
    let mut shift = len - i64::from(f.prec);
    if e + shift < f.min_exp {
        shift = f.min_exp - e;
    }
    let mut exp = e + shift;
    let mant = if shift <= 0 {
        debug_assert!(!sticky);
        q << (-shift)
    } else if shift > 128 {
        return Rounded::Zero(true);
    } else {
        let (kept, rem) = if shift == 128 {
            (0, q)
        } else {
            (q >> shift, q & ((1u128 << shift) - 1))
        };
        let half = 1u128 << (shift - 1);
        let mut mant = kept;
        if rem > half || (rem == half && (sticky || kept & 1 == 1)) {
            mant += 1;
            if mant == 1u128 << f.prec {
                mant >>= 1;
                exp += 1;
            }
        }
        mant
    };
    if mant == 0 {
        return Rounded::Zero(true);
    }
    if exp > f.max_exp {
        return Rounded::Inf;
    }
    Rounded::Finite(mant as u64, exp as i32)
}

/// Correctly rounds `(num + d) / den * 2^e2` (`num`, `den` nonzero), where `d` is a
/// fraction in (0, 1) when `sticky` and 0 otherwise (digits dropped past the precision).
fn ratio_to_float(mut num: Big, mut den: Big, sticky: bool, e2: i64, f: &FloatFormat) -> Rounded {
    let t = i64::from(f.prec) + 3;
    // Scale so that the quotient has t or t + 1 bits.
    let s = t - (num.bit_len() as i64 - den.bit_len() as i64);
    if s >= 0 {
        num.shl(s as u64);
    } else {
        den.shl((-s) as u64);
    }
    den.shl(t as u64);
    let mut q = 0u128;
    for i in (0..=t).rev() {
        if num.cmp(&den) != Ordering::Less {
            num.sub_assign(&den);
            q |= 1 << i;
        }
        den.shr1();
    }
    // `den` is an integer here, so `d < 1` never changes the quotient, only the sticky bit.
    round_to(q, sticky || !num.is_zero(), e2 - s, f)
}

/// Correctly rounds the decimal `int.frac * 10^exp`.
fn dec_to_float(int: &[u8], frac: &[u8], exp: i64, f: &FloatFormat) -> Rounded {
    let all = int.iter().chain(frac).copied();
    let lead = all.clone().take_while(|&c| c == b'0').count();
    let total = int.len() + frac.len();
    if lead == total {
        return Rounded::Zero(false);
    }
    let trail = all.clone().rev().take_while(|&c| c == b'0').count();
    let n = (total - lead - trail) as i64;
    // value = digits * 10^e10 with n significant digits
    let e10 = exp - frac.len() as i64 + trail as i64;
    if n - 1 + e10 >= f.max_dec {
        return Rounded::Inf;
    }
    if n + e10 <= f.min_dec {
        return Rounded::Zero(true);
    }
    let mut num = Big::default();
    let mut chunk = 0u32;
    let mut chunk_len = 0;
    for c in all.skip(lead).take(n as usize) {
        chunk = chunk * 10 + u32::from(c - b'0');
        chunk_len += 1;
        if chunk_len == 9 {
            num.mul_add_small(1_000_000_000, chunk);
            chunk = 0;
            chunk_len = 0;
        }
    }
    if chunk_len > 0 {
        num.mul_add_small(10u32.pow(chunk_len), chunk);
    }
    let mut den = Big::from_u128(1);
    if e10 >= 0 {
        num.mul_pow5(e10 as u64);
    } else {
        den.mul_pow5(e10.unsigned_abs());
    }
    ratio_to_float(num, den, false, e10, f)
}

/// Hex digits kept from a mantissa: 128 bits, more than any format's precision plus the
/// guard bits, so later digits only matter as a sticky bit. Keeping the work bounded matters:
/// a client can send a score or a config value with millions of digits.
const HEX_DIGITS_KEPT: usize = 32;

/// Correctly rounds the hexadecimal `0xint.frac * 2^exp`.
fn hex_to_float(int: &[u8], frac: &[u8], exp: i64, f: &FloatFormat) -> Rounded {
    let digits = int.iter().chain(frac).skip_while(|&&c| c == b'0');
    let significant = digits.clone().count();
    if significant == 0 {
        return Rounded::Zero(false);
    }
    let dropped = significant.saturating_sub(HEX_DIGITS_KEPT);
    let mut num = Big::default();
    for &c in digits.clone().take(HEX_DIGITS_KEPT) {
        let d = (c as char).to_digit(16).expect("hex digit");
        num.mul_add_small(16, d);
    }
    let sticky = digits.skip(HEX_DIGITS_KEPT).any(|&c| c != b'0');
    let e2 = exp - 4 * frac.len() as i64 + 4 * dropped as i64;
    let top = num.bit_len() as i64 + e2; // value < 2^top
    if top > f.max_exp + i64::from(f.prec) {
        return Rounded::Inf;
    }
    if top < f.min_exp - 1 {
        return Rounded::Zero(true);
    }
    ratio_to_float(num, Big::from_u128(1), sticky, e2, f)
}

// ---------------------------------------------------------------------------
// A minimal unsigned big integer (little-endian 32-bit limbs, no high zeros)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(mut v: u128) -> Big {
        let mut limbs = Vec::new();
        while v != 0 {
            limbs.push(v as u32);
            v >>= 32;
        }
        Big(limbs)
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    /// `self = self * m + a`
    fn mul_add_small(&mut self, m: u32, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.0 {
            let t = u64::from(*limb) * u64::from(m) + carry;
            *limb = t as u32;
            carry = t >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn mul_pow5(&mut self, mut k: u64) {
        const POW5_13: u32 = 1_220_703_125;
        while k >= 13 {
            self.mul_add_small(POW5_13, 0);
            k -= 13;
        }
        if k > 0 {
            self.mul_add_small(5u32.pow(k as u32), 0);
        }
    }

    fn shl(&mut self, bits: u64) {
        if self.is_zero() {
            return;
        }
        let b = (bits % 32) as u32;
        if b != 0 {
            let mut carry = 0u32;
            for limb in &mut self.0 {
                let next = *limb >> (32 - b);
                *limb = (*limb << b) | carry;
                carry = next;
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        let limbs = (bits / 32) as usize;
        if limbs > 0 {
            self.0.splice(0..0, std::iter::repeat(0).take(limbs));
        }
    }

    fn shr1(&mut self) {
        let mut carry = 0u32;
        for limb in self.0.iter_mut().rev() {
            let next = *limb & 1;
            *limb = (*limb >> 1) | (carry << 31);
            carry = next;
        }
        self.trim();
    }

    fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(&top) => (self.0.len() as u64 - 1) * 32 + u64::from(32 - top.leading_zeros()),
        }
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// `self -= other`, which must not be larger.
    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = false;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let o = other.0.get(i).copied().unwrap_or(0);
            if !borrow && i >= other.0.len() {
                break;
            }
            let (d1, b1) = limb.overflowing_sub(o);
            let (d2, b2) = d1.overflowing_sub(u32::from(borrow));
            *limb = d2;
            borrow = b1 || b2;
        }
        debug_assert!(!borrow);
        self.trim();
    }

    /// `self /= d`, returning the remainder.
    fn div_rem_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / u64::from(d)) as u32;
            rem = cur % u64::from(d);
        }
        self.trim();
        rem as u32
    }

    /// Decimal digits, "0" for zero.
    fn to_decimal(&self) -> Vec<u8> {
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.is_zero() {
            chunks.push(n.div_rem_small(1_000_000_000));
        }
        let mut out = Vec::with_capacity(chunks.len() * 9 + 1);
        match chunks.pop() {
            None => out.push(b'0'),
            Some(top) => out.extend_from_slice(top.to_string().as_bytes()),
        }
        for chunk in chunks.iter().rev() {
            out.extend_from_slice(format!("{chunk:09}").as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_range_bounds_follow_c() {
        assert_eq!(parse_strtod(b""), Some(0.0));
        assert_eq!(parse_strtod(b"  "), None);
        assert_eq!(parse_strtod(b" 1.5"), Some(1.5));
        assert_eq!(parse_strtod(b"1 "), None);
        assert_eq!(parse_strtod(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_strtod(b"-1e-400"), Some(-0.0));
        assert_eq!(parse_strtod(b"2\0junk"), Some(2.0));
        assert_eq!(parse_strtod(b"0x10"), Some(16.0));
        assert_eq!(parse_strtod(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_strtod(b"nan"), None);
    }

    /// `INCRBYFLOAT key incr` on a key holding `current`, as replied by
    /// redis-server 7.0.15 (the bulk reply is also the new stored value).
    #[test]
    fn incr_by_float_matches_redis() {
        use FloatError::*;
        #[allow(clippy::type_complexity)]
        let cases: &[(Option<&[u8]>, &[u8], Result<&[u8], FloatError>)] = &[
        (None, b"10.5", Ok(b"10.5")),
        (Some(&b"10.5"[..]), b"0.1", Ok(b"10.6")),
        (Some(&b"0.1"[..]), b"0.2", Ok(b"0.3")),
        (Some(&b"5.0e3"[..]), b"2.0e2", Ok(b"5200")),
        (Some(&b"1e20"[..]), b"0.1", Ok(b"100000000000000000000")),
        (None, b"-0.0", Ok(b"0")),
        (Some(&b"-0"[..]), b"-0", Ok(b"0")),
        (None, b"3.0e-10", Ok(b"0.0000000003")),
        (None, b"1.7976931348623157e308", Ok(b"179769313486231569995921046774104434048386446944329178485314420765176628523124396354701868608387085564428793419425520689308708363451136055357897278026477617073498977686288394835618163294045594434929537447290627480669417384648879122776218333598953852832103282504751611691208117720159985926376802466863339536384")),
        (Some(&b"1.7976931348623157e308"[..]), b"1.7976931348623157e308", Ok(b"359538626972463139991842093548208868096772893888658356970628841530353257046248792709403737216774171128857586838851041378617416726902272110715794556052955234146997955372576789671236326588091188869859074894581254961338834769297758245552436667197907705664206565009503223382416235440319971852753604933726679072768")),
        (None, b"1e400", Ok(b"10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880")),
        (Some(&b"1e400"[..]), b"-1e400", Ok(b"0")),
        (None, b"1e-400", Ok(b"0")),
        (None, b"1e-4940", Ok(b"0")),
        (None, b"1e-4960", Err(NotAFloat)),
        (None, b"1.2e4932", Err(NotAFloat)),
        (Some(&b"1e4932"[..]), b"1e4932", Err(NanOrInfinity)),
        (Some(&b"-1e4932"[..]), b"-1e4932", Err(NanOrInfinity)),
        (None, b"  1", Err(NotAFloat)),
        (None, b"1 ", Err(NotAFloat)),
        (Some(&b" 1"[..]), b"1", Err(NotAFloat)),
        (Some(&b"1 "[..]), b"1", Err(NotAFloat)),
        (None, b"0x10", Ok(b"16")),
        (None, b"inf", Err(NanOrInfinity)),
        (None, b"-inf", Err(NanOrInfinity)),
        (None, b"+inf", Err(NanOrInfinity)),
        (None, b"INFINITY", Err(NanOrInfinity)),
        (None, b"infinit", Err(NotAFloat)),
        (None, b"nan", Err(NotAFloat)),
        (None, b"-nan", Err(NotAFloat)),
        (None, b"NaN", Err(NotAFloat)),
        (None, b"", Err(NotAFloat)),
        (Some(&b""[..]), b"1", Err(NotAFloat)),
        (Some(&b"10.50"[..]), b"0", Ok(b"10.5")),
        (Some(&b"10.50"[..]), b"1", Ok(b"11.5")),
        (Some(&b"10"[..]), b"0.1", Ok(b"10.1")),
        (None, b"0.000003814697265625", Ok(b"0.00000381469726562")),
        (None, b"0.000011444091796875", Ok(b"0.00001144409179688")),
        (None, b"+1", Ok(b"1")),
        (Some(&b"+1.5"[..]), b"+1.5", Ok(b"3")),
        (Some(&b"9223372036854775807"[..]), b"1", Ok(b"9223372036854775808")),
        (Some(&b"-9223372036854775808"[..]), b"-1", Ok(b"-9223372036854775809")),
        (Some(&b"9223372036854775807"[..]), b"0.5", Ok(b"9223372036854775807.5")),
        (Some(&b"18446744073709551615"[..]), b"1", Ok(b"18446744073709551616")),
        (Some(&b"9223372036854775807"[..]), b"9223372036854775807", Ok(b"18446744073709551614")),
        (None, b"-5", Ok(b"-5")),
        (None, b"0X1P-2", Ok(b"0.25")),
        (None, b"0x1.8p1", Ok(b"3")),
        (None, b"0x.8", Ok(b"0.5")),
        (None, b"0x", Err(NotAFloat)),
        (None, b"0x1p", Err(NotAFloat)),
        (None, b".5", Ok(b"0.5")),
        (None, b"5.", Ok(b"5")),
        (None, b".", Err(NotAFloat)),
        (None, b"-.5e1", Ok(b"-5")),
        (None, b"1e", Err(NotAFloat)),
        (None, b"1e+5", Ok(b"100000")),
        (None, b"1E-2", Ok(b"0.01")),
        (None, b"\t1", Err(NotAFloat)),
        (None, b"\x0a1", Err(NotAFloat)),
        (None, b"1\x0a", Err(NotAFloat)),
        (None, b"1\x002", Err(NotAFloat)),
        (Some(&b"1"[..]), b"-1", Ok(b"0")),
        (Some(&b"-1.5"[..]), b"1", Ok(b"-0.5")),
        (Some(&b"0.1"[..]), b"-0.3", Ok(b"-0.2")),
        (None, b"1e-17", Ok(b"0.00000000000000001")),
        (None, b"5e-18", Ok(b"0")),
        (None, b"4.9e-18", Ok(b"0")),
        (None, b"5.1e-18", Ok(b"0.00000000000000001")),
        (None, b"-5e-18", Ok(b"0")),
        (None, b"-6e-18", Ok(b"-0.00000000000000001")),
        (None, b"0.123456789012345678", Ok(b"0.12345678901234568")),
        (None, b"0.99999999999999999999", Ok(b"1")),
        (None, b"-0.99999999999999999999", Ok(b"-1")),
        (Some(&b"1"[..]), b"1e-18", Ok(b"1")),
        (Some(&b"1e17"[..]), b"0.1", Ok(b"100000000000000000.1015625")),
        (Some(&b"123456789.123456789"[..]), b"0", Ok(b"123456789.12345678899873747")),
        (Some(&b"3"[..]), b"-3", Ok(b"0")),
        (Some(&b"abc"[..]), b"1", Err(NotAFloat)),
        (Some(&b"1"[..]), b"abc", Err(NotAFloat)),
        (Some(&b"1.1"[..]), b"2.2", Ok(b"3.3")),
        (Some(&b"0.1"[..]), b"0.7", Ok(b"0.8")),
        (Some(&b"1e16"[..]), b"1", Ok(b"10000000000000001")),
        (Some(&b"99999999999999999"[..]), b"1", Ok(b"100000000000000000")),
        (Some(&b"0.3"[..]), b"0.6", Ok(b"0.9")),
        (Some(&b"1"[..]), b"0.1", Ok(b"1.1")),
        (Some(&b"-1"[..]), b"-0.1", Ok(b"-1.1")),
        (Some(&b"2.5"[..]), b"-5", Ok(b"-2.5")),
        (Some(&b"1.5e-5"[..]), b"0", Ok(b"0.000015")),
        (Some(&b"100"[..]), b"-100.5", Ok(b"-0.5")),
        (Some(&b"1e19"[..]), b"1e19", Ok(b"20000000000000000000")),
        (Some(&b"inf"[..]), b"1", Err(NanOrInfinity)),
        (Some(&b"nan"[..]), b"1", Err(NotAFloat)),
        (None, b"0x1p-16445", Ok(b"0")),
        (None, b"0x1p-16446", Err(NotAFloat)),
        (None, b"0x1p-16382", Ok(b"0")),
        (None, b"0x1p16384", Err(NotAFloat)),
        (None, b"1e-4951", Err(NotAFloat)),
        (None, b"3.7e-4951", Ok(b"0")),
        (None, b"0e99999", Ok(b"0")),
        (None, b"1e-99999", Err(NotAFloat)),
        (None, b"1e99999", Err(NotAFloat)),
        (None, b"1.23456789012345678901234567890", Ok(b"1.23456789012345679")),
        (Some(&b"12345678901234567890123"[..]), b"0.5", Ok(b"12345678901234567889920")),
        (None, b"0.1e1", Ok(b"1")),
        (None, b"00012", Ok(b"12")),
        (None, b"-00.5000", Ok(b"-0.5")),
        (Some(&b"0.00000000000000001"[..]), b"0.00000000000000001", Ok(b"0.00000000000000002")),
        (Some(&b"1.00000000000000001"[..]), b"0", Ok(b"1.00000000000000001")),
        (None, b"3.141592653589793238462643383279", Ok(b"3.14159265358979324")),
        (Some(&b"4.5"[..]), b"-4.5", Ok(b"0")),
        ];
        for &(current, incr, want) in cases {
            let got = incr_by_float(current, incr);
            assert_eq!(
                got.as_deref().map_err(|e| *e),
                want,
                "INCRBYFLOAT {:?} + {:?}",
                current.map(String::from_utf8_lossy),
                String::from_utf8_lossy(incr)
            );
        }
    }

    #[test]
    fn incr_by_float_extremes() {
        // Largest decimal powers still in long double range: never printed
        // in exponent form.
        let big = incr_by_float(None, b"1e4932").unwrap();
        assert_eq!(big.len(), 4933);
        assert!(big.starts_with(b"1000000000000000000006018949387963891323"));
        assert!(big.ends_with(b"0876379371163141086538418113791886622720"));
        let mut s = b"1".to_vec();
        s.extend(std::iter::repeat(b'0').take(4000));
        let v = incr_by_float(None, &s).unwrap();
        assert_eq!(v.len(), 4000);
        assert!(v.starts_with(b"9999999999999999999965463873099623784932"));
        assert!(v.ends_with(b"1956972190272729951206648276349901340672"));
        let max = incr_by_float(None, b"0x1.fffffffffffffffep16383").unwrap();
        assert_eq!(max.len(), 4933);
        assert!(max.starts_with(b"1189731495357231765021263853030970205169"));
        assert!(max.ends_with(b"19552086811989770240"));
        let min = incr_by_float(None, b"-1.18973149535723176502e4932").unwrap();
        assert_eq!(min.len(), 4934);
        assert!(min.starts_with(b"-118973149535723176502126385303097020516"));
        assert_eq!(
            incr_by_float(None, b"0x1.ffffffffffffffffp16383"),
            Err(FloatError::NotAFloat)
        );
        assert_eq!(
            incr_by_float(None, b"1.18973149535723176508575932662800702e4932"),
            Err(FloatError::NotAFloat)
        );
        // The stored result can always be read back.
        assert_eq!(incr_by_float(Some(&big), b"0").unwrap(), big);
        assert_eq!(incr_by_float(Some(&max), b"0").unwrap(), max);
        assert_eq!(
            incr_by_float(Some(&max), &max),
            Err(FloatError::NanOrInfinity)
        );

        // string2ld refuses 5120 bytes or more, whatever they hold.
        let mut s = vec![b'0'; 5118];
        s.push(b'1');
        assert_eq!(incr_by_float(None, &s).unwrap(), b"1");
        assert_eq!(incr_by_float(Some(&s), b"1").unwrap(), b"2");
        s.insert(0, b'0');
        assert_eq!(incr_by_float(None, &s), Err(FloatError::NotAFloat));
        assert_eq!(incr_by_float(Some(&s), b"1"), Err(FloatError::NotAFloat));
    }

    #[test]
    fn float_error_messages() {
        assert_eq!(
            FloatError::NotAFloat.to_string(),
            "ERR value is not a valid float"
        );
        assert_eq!(
            FloatError::NanOrInfinity.to_string(),
            "ERR increment would produce NaN or Infinity"
        );
    }

    /// `ZADD z <score> m` then `ZSCORE z m` on redis-server 7.0.15 (skiplist
    /// encoding, RESP2 and RESP3 gave the same text); `None` when ZADD
    /// replied "ERR value is not a valid float".
    #[test]
    fn parse_and_format_double_match_zadd_zscore() {
        let cases: &[(&[u8], Option<&[u8]>)] = &[
            (b"0.1", Some(b"0.10000000000000001")),
            (b"1", Some(b"1")),
            (b"-1.5", Some(b"-1.5")),
            (b"1e20", Some(b"1e+20")),
            (b"1e-5", Some(b"1.0000000000000001e-05")),
            (b"0.0001", Some(b"0.0001")),
            (b"0.00001", Some(b"1.0000000000000001e-05")),
            (b"1.00000762939453125", Some(b"1.0000076293945312")),
            (b"inf", Some(b"inf")),
            (b"-inf", Some(b"-inf")),
            (b"+inf", Some(b"inf")),
            (b"123456789012345678", Some(b"1.2345678901234568e+17")),
            (b"1e16", Some(b"10000000000000000")),
            (b"1e17", Some(b"1e+17")),
            (b"3e-324", Some(b"4.9406564584124654e-324")),
            (b"2e-324", None),
            (b"4e-324", Some(b"4.9406564584124654e-324")),
            (b"1.7976931348623157e308", Some(b"1.7976931348623157e+308")),
            (b"1.7976931348623158e308", Some(b"1.7976931348623157e+308")),
            (b"1.8e308", None),
            (b"+5", Some(b"5")),
            (b"0x10", Some(b"16")),
            (b"0x1.8p1", Some(b"3")),
            (b"0x1p-1074", Some(b"4.9406564584124654e-324")),
            (b"0x1p-1075", None),
            (b"0x1p-1076", None),
            (b"0x1.000000000000018p0", Some(b"1")),
            (b" 1", None),
            (b"1 ", None),
            (b"1e400", None),
            (b"1e-400", None),
            (b"nan", None),
            (b"-nan", None),
            (b"", None),
            (b".", None),
            (b"1e", None),
            (b"0x", None),
            (b"1.5e+3", Some(b"1500")),
            (b"0e999999", Some(b"0")),
            (b"0.3", Some(b"0.29999999999999999")),
            (b"12345.678", Some(b"12345.678")),
            (b"2.5e-5", Some(b"2.5000000000000001e-05")),
            (b"100", Some(b"100")),
            (b"1e15", Some(b"1000000000000000")),
            (b"1e-4", Some(b"0.0001")),
            (b"99999999999999999", Some(b"1e+17")),
            (b"9.9999999999999999e16", Some(b"1e+17")),
            (b"5e-324", Some(b"4.9406564584124654e-324")),
            (b"2.2250738585072014e-308", Some(b"2.2250738585072014e-308")),
            (b"0.1e-3", Some(b"0.0001")),
            (b"-0.0", Some(b"-0")),
            (b"1.0000000000000002", Some(b"1.0000000000000002")),
            (b"123e-20", Some(b"1.23e-18")),
            (b"1e21", Some(b"1e+21")),
            (b"1e-7", Some(b"9.9999999999999995e-08")),
            (b"-1e-7", Some(b"-9.9999999999999995e-08")),
            (b"33.333333333333336", Some(b"33.333333333333336")),
            (b"1\x002", None),
            (b"infinity", Some(b"inf")),
            (b"INF", Some(b"inf")),
            (b"-Infinity", Some(b"-inf")),
        ];
        for &(arg, want) in cases {
            let got = parse_f64(arg).map(format_double);
            assert_eq!(
                got.as_deref().map(str::as_bytes),
                want,
                "ZADD {:?}",
                String::from_utf8_lossy(arg)
            );
        }
    }

    /// Hex digits past the precision only decide ties; glibc's `strtod` gave every expected
    /// value. A million-digit mantissa must not cost a million big-integer steps.
    #[test]
    fn long_hex_mantissas_round_like_strtod() {
        let one_plus_half_ulp = b"0x1.00000000000008".to_vec();
        assert_eq!(parse_f64(&one_plus_half_ulp), Some(1.0));
        let mut above_half = one_plus_half_ulp.clone();
        above_half.extend_from_slice(&[b'0'; 100]);
        above_half.push(b'1');
        assert_eq!(parse_f64(&above_half), Some(1.0 + f64::EPSILON));
        let mut tie_with_zeros = one_plus_half_ulp;
        tie_with_zeros.extend_from_slice(&[b'0'; 100]);
        assert_eq!(parse_f64(&tie_with_zeros), Some(1.0));
        let mut huge = b"0x1".to_vec();
        huge.extend(std::iter::repeat_n(b'0', 1_000_000));
        huge.extend_from_slice(b"p-4000000");
        assert_eq!(parse_f64(&huge), Some(1.0));
        huge.truncate(huge.len() - 9);
        assert_eq!(parse_f64(&huge), None, "overflow");
        assert_eq!(parse_strtod(&huge), Some(f64::INFINITY));
    }

    #[test]
    fn parse_f64_values() {
        assert_eq!(
            parse_f64(b"-0").map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
        assert_eq!(parse_f64(b"0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(parse_f64(b"0x1.8p-1074"), Some(f64::from_bits(2)));
        assert_eq!(parse_f64(b"0x1p-1075"), None); // ties to even: zero
        assert_eq!(
            parse_f64(b"0x1.0000000000001p-1075"),
            Some(f64::from_bits(1))
        );
        assert_eq!(parse_f64(b"0x1.fffffffffffff8p1023"), None);
        assert_eq!(parse_f64(b"0x1.fffffffffffff7p1023"), Some(f64::MAX));
        assert_eq!(parse_f64(b"0x.1"), Some(0.0625));
        assert_eq!(parse_f64(b"-0x10P-1"), Some(-8.0));
        assert_eq!(
            parse_f64(b"2.2250738585072011e-308"),
            Some(f64::from_bits(0x000f_ffff_ffff_ffff))
        );
        assert_eq!(parse_f64(b"1e-320"), Some(f64::from_bits(2024)));
        assert_eq!(parse_f64(b"1e-99999999999999999999"), None);
        assert_eq!(parse_f64(b"0e-99999999999999999999"), Some(0.0));
        assert_eq!(parse_f64(b"1e+"), None);
        assert_eq!(parse_f64(b"e5"), None);
        assert_eq!(parse_f64(b"+-1"), None);
        assert_eq!(parse_f64(b"1.2.3"), None);
        assert_eq!(parse_f64(b"1_000"), None);
        assert_eq!(parse_f64(b"nan(123)"), None);
        assert_eq!(parse_f64(b"\xff"), None);
        assert_eq!(parse_f64(b"Inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"-INFINITY"), Some(f64::NEG_INFINITY));
    }

    #[test]
    fn format_double_cases() {
        assert_eq!(format_double(0.0), "0");
        assert_eq!(format_double(-0.0), "-0");
        assert_eq!(format_double(f64::NAN), "nan");
        assert_eq!(format_double(-f64::NAN), "-nan");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(-2.0), "-2");
        assert_eq!(format_double(1e16), "10000000000000000");
        assert_eq!(format_double(12345678901234567.0), "12345678901234568");
        assert_eq!(format_double(1e-4), "0.0001");
        assert_eq!(format_double(1.5e-5), "1.5e-05");
        assert_eq!(format_double(1e100), "1e+100");
        assert_eq!(format_double(1.2345e-300), "1.2345e-300");
        assert_eq!(format_double(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(format_double(f64::MIN_POSITIVE), "2.2250738585072014e-308");
        // A tie at the 17th digit rounds to even, as glibc does.
        assert_eq!(format_double(1.0 + 2f64.powi(-17)), "1.0000076293945312");
        assert_eq!(
            format_double(1.0 + 3.0 * 2f64.powi(-17)),
            "1.0000228881835938"
        );
        // Rounding up can carry into a new digit and change the style.
        assert_eq!(format_double(99999999999999999.0), "1e+17");
    }

    /// `SET k <current>` then `INCRBY k <by>` on redis-server 7.0.15.
    #[test]
    fn checked_incr_matches_redis() {
        use IncrError::*;
        #[allow(clippy::type_complexity)]
        let cases: &[(Option<&[u8]>, i64, Result<i64, IncrError>)] = &[
            (None, 1, Ok(1)),
            (Some(&b" 1"[..]), 1, Err(NotAnInteger)),
            (Some(&b"1 "[..]), 1, Err(NotAnInteger)),
            (Some(&b"01"[..]), 1, Err(NotAnInteger)),
            (Some(&b"+1"[..]), 1, Err(NotAnInteger)),
            (Some(&b"-0"[..]), 1, Err(NotAnInteger)),
            (Some(&b"0"[..]), 1, Ok(1)),
            (Some(&b"12345678901234567890"[..]), 1, Err(NotAnInteger)),
            (
                Some(&b"1234567890123456789"[..]),
                1,
                Ok(1234567890123456790),
            ),
            (
                Some(&b"-1234567890123456789"[..]),
                1,
                Ok(-1234567890123456788),
            ),
            (Some(&b"9223372036854775807"[..]), 1, Err(Overflow)),
            (Some(&b"9223372036854775806"[..]), 1, Ok(i64::MAX)),
            (Some(&b"-9223372036854775808"[..]), -1, Err(Overflow)),
            (Some(&b"-9223372036854775807"[..]), -1, Ok(i64::MIN)),
            (Some(&b"-9223372036854775808"[..]), 0, Ok(i64::MIN)),
            (Some(&b"10"[..]), i64::MIN, Ok(-9223372036854775798)),
            (Some(&b"-1"[..]), i64::MIN, Err(Overflow)),
            (Some(&b"0"[..]), i64::MIN, Ok(i64::MIN)),
            (Some(&b"1.5"[..]), 1, Err(NotAnInteger)),
            (Some(&b""[..]), 1, Err(NotAnInteger)),
            (Some(&b"-"[..]), 1, Err(NotAnInteger)),
            (Some(&b"00"[..]), 1, Err(NotAnInteger)),
            (Some(&b"-9223372036854775809"[..]), 1, Err(NotAnInteger)),
            (Some(&b"9223372036854775808"[..]), -1, Err(NotAnInteger)),
            (
                Some(&b"9223372036854775807"[..]),
                -1,
                Ok(9223372036854775806),
            ),
            (Some(&b"-1"[..]), i64::MAX, Ok(9223372036854775806)),
            (Some(&b"1"[..]), i64::MAX, Err(Overflow)),
            (Some(&b"-00000000000000000001"[..]), 1, Err(NotAnInteger)),
            (Some(&b"0x10"[..]), 1, Err(NotAnInteger)),
            (Some(&b"1e3"[..]), 1, Err(NotAnInteger)),
            (Some(&b"\t1"[..]), 1, Err(NotAnInteger)),
            (Some(&b"-1"[..]), 1, Ok(0)),
            (Some(&b"100"[..]), -200, Ok(-100)),
        ];
        for &(current, by, want) in cases {
            assert_eq!(
                checked_incr(current, by),
                want,
                "INCRBY {:?} {by}",
                current.map(String::from_utf8_lossy)
            );
        }
    }

    #[test]
    fn incr_error_messages() {
        assert_eq!(
            IncrError::NotAnInteger.to_string(),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            IncrError::Overflow.to_string(),
            "ERR increment or decrement would overflow"
        );
        assert_eq!(ERR_DECREMENT_OVERFLOW, "ERR decrement would overflow");
    }

    /// `INCRBY k <arg>` on a key holding 0: which arguments redis-server
    /// 7.0.15 accepts.
    #[test]
    fn parse_i64_matches_redis() {
        let cases: &[(&[u8], Option<i64>)] = &[
            (b"+1", None),
            (b"-0", None),
            (b"01", None),
            (b" 1", None),
            (b"1 ", None),
            (b"9223372036854775808", None),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"18446744073709551616", None),
            (b"1.0", None),
            (b"", None),
            (b"-", None),
            (b"0", Some(0)),
            (b"-1", Some(-1)),
            (b"123456789012345678901", None),
            (b"00000000000000000001", None),
            (b"1", Some(1)),
            (b"-9223372036854775807", Some(-9223372036854775807)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"99999999999999999999", None),
            (b"-99999999999999999999", None),
            (b"1a", None),
            (b"a1", None),
            (b"1\0", None),
            (b"--1", None),
            (b"-01", None),
            (b"10", Some(10)),
            (b"-10", Some(-10)),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_i64(s), want, "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn write_double_appends() {
        let mut buf = b"x".to_vec();
        write_double(&mut buf, -0.5);
        write_double(&mut buf, 1e300);
        write_double(&mut buf, 4.0);
        assert_eq!(buf, b"x-0.51.0000000000000001e+3004");
    }

    #[test]
    fn write_i64_round_trips() {
        for v in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            12345,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let mut buf = b"x".to_vec();
            write_i64(&mut buf, v);
            assert_eq!(buf[1..], *v.to_string().as_bytes());
            assert_eq!(parse_i64(&buf[1..]), Some(v));
        }
    }

    #[test]
    fn long_double_basics() {
        // Every i64 fits in the 64-bit mantissa, so integers print back exactly.
        for v in [0, 1, -1, 42, i64::MAX, i64::MIN, 1 << 40] {
            let text = v.to_string();
            let parsed = LongDouble::parse(text.as_bytes()).unwrap();
            assert_eq!(parsed.to_human_bytes(), text.as_bytes());
        }
        let inf = LongDouble::parse(b"inf").unwrap();
        let ninf = LongDouble::parse(b"-inf").unwrap();
        assert!(!inf.is_finite());
        assert!(matches!((inf + ninf).0, Repr::Nan));
        assert_eq!(inf.to_human_bytes(), b"inf");
        assert_eq!(ninf.to_human_bytes(), b"-inf");
        let tenth = LongDouble::parse(b"0.1").unwrap();
        assert_eq!(tenth.to_human_bytes(), b"0.1");
        assert_eq!((tenth + tenth + tenth).to_human_bytes(), b"0.3");
        // Long double rounding errors show at the 17th decimal (glibc agrees).
        let mut x = LongDouble::ZERO;
        for _ in 0..1000 {
            x = x + tenth;
        }
        assert_eq!(x.to_human_bytes(), b"99.99999999999999913");
    }
}
