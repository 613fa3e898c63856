//! Redis's bit operations on string values (`bitops.c` of Redis 7.0): SETBIT / GETBIT,
//! BITCOUNT, BITPOS, BITOP and BITFIELD / BITFIELD_RO.
//!
//! Strings are bit arrays whose bit 0 is the most significant bit of byte 0. Reads past
//! the end see zeros; writes grow the string with zero bytes up to the last byte written
//! (a new key is that zero-filled string). Argument parsing follows Redis's order and
//! error texts exactly, and is split where Redis looks the key up between two arguments
//! (the caller does the lookup and the WRONGTYPE check at that point):
//! - SETBIT / GETBIT: [`parse_bit_offset`] (and [`parse_bit_value`]), then the key.
//! - BITCOUNT: the key first (missing: 0, arguments unread), then [`bitcount`].
//! - BITPOS: [`parse_bitpos_bit`], then the key (missing: `-1` for 1, `0` for 0), then
//!   [`bitpos`].
//! - BITOP: [`parse_bitop`], then each source key in order, then [`bitop`].
//! - BITFIELD: [`Bitfield::parse`] (every operation), then the key, then
//!   [`Bitfield::execute`].

use thiserror::Error;

use crate::number;

/// Redis's default `proto-max-bulk-len` (512 MB): offsets address bytes below it.
#[cfg(test)]
pub const DEFAULT_PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;

/// Argument errors of the bit commands, with Redis's exact text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BitError {
    #[error("ERR bit offset is not an integer or out of range")]
    BitOffset,
    #[error("ERR bit is not an integer or out of range")]
    BitValue,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR The bit argument must be 1 or 0.")]
    BitArgument,
    #[error("ERR BITOP NOT must be called with a single source key.")]
    BitopNot,
    #[error("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")]
    BitfieldType,
    #[error("ERR Invalid OVERFLOW type specified")]
    OverflowType,
    #[error("ERR BITFIELD_RO only supports the GET subcommand")]
    BitfieldReadOnly,
}

/// An argument as C's string functions see it: up to its first NUL byte.
fn cstr(arg: &[u8]) -> &[u8] {
    arg.iter().position(|&b| b == 0).map_or(arg, |n| &arg[..n])
}

fn is(arg: &[u8], name: &str) -> bool {
    cstr(arg).eq_ignore_ascii_case(name.as_bytes())
}

fn parse_ll(arg: &[u8]) -> Result<i64, BitError> {
    number::parse_i64(arg).ok_or(BitError::NotInteger)
}

/// `getBitOffsetFromArgument`: a bit offset, or `#n` meaning `n * bits` for BITFIELD.
fn parse_offset(
    arg: &[u8],
    hash_bits: Option<u32>,
    proto_max_bulk_len: u64,
) -> Result<u64, BitError> {
    let (digits, factor) = match hash_bits {
        Some(bits) if arg.first() == Some(&b'#') => (&arg[1..], Some(bits)),
        _ => (arg, None),
    };
    let mut offset = number::parse_i64(digits).ok_or(BitError::BitOffset)?;
    if let Some(bits) = factor {
        offset = offset.wrapping_mul(i64::from(bits));
    }
    if offset < 0 || (offset as u64 >> 3) >= proto_max_bulk_len {
        return Err(BitError::BitOffset);
    }
    Ok(offset as u64)
}

/// SETBIT / GETBIT's offset argument.
pub fn parse_bit_offset(arg: &[u8], proto_max_bulk_len: u64) -> Result<u64, BitError> {
    parse_offset(arg, None, proto_max_bulk_len)
}

/// SETBIT's value argument: 0 or 1.
pub fn parse_bit_value(arg: &[u8]) -> Result<bool, BitError> {
    match number::parse_i64(arg) {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(BitError::BitValue),
    }
}

fn get_bit(value: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    value
        .get(byte)
        .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

fn grow_to(value: &mut Vec<u8>, len: usize) -> bool {
    if value.len() < len {
        value.resize(len, 0);
        true
    } else {
        false
    }
}

/// GETBIT: the bit at `offset` (0 past the end).
pub fn getbit(value: &[u8], offset: u64) -> bool {
    get_bit(value, offset)
}

/// SETBIT on a value (an empty `Vec` for a missing key): grows it to hold the bit, sets it,
/// and returns (the old bit, whether the value changed: grown or bit flipped).
pub fn setbit(value: &mut Vec<u8>, offset: u64, on: bool) -> (bool, bool) {
    let byte = (offset >> 3) as usize;
    let grown = grow_to(value, byte + 1);
    let mask = 0x80 >> (offset & 7);
    let old = value[byte] & mask != 0;
    if on {
        value[byte] |= mask;
    } else {
        value[byte] &= !mask;
    }
    (old, grown || old != on)
}

/// Set bits in `bytes`, eight bytes at a time; with the CPU's `popcnt` instruction where it
/// has one (the release build targets baseline x86-64, which lacks it, so it is detected at
/// run time). Byte by byte, BITCOUNT of a 512-byte value cost more than the rest of the
/// command.
fn popcount(bytes: &[u8]) -> i64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU has the instruction the function is compiled for.
        return unsafe { popcount_popcnt(bytes) };
    }
    popcount_words(bytes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn popcount_popcnt(bytes: &[u8]) -> i64 {
    popcount_words(bytes)
}

#[inline(always)]
fn popcount_words(bytes: &[u8]) -> i64 {
    let words = bytes.chunks_exact(8);
    let tail = words.remainder();
    let mut count: u64 = words
        .map(|w| u64::from(u64::from_le_bytes(w.try_into().expect("8 bytes")).count_ones()))
        .sum();
    count += tail.iter().map(|b| u64::from(b.count_ones())).sum::<u64>();
    count as i64
}

fn parse_unit(arg: &[u8]) -> Result<bool, BitError> {
    if is(arg, "bit") {
        Ok(true)
    } else if is(arg, "byte") {
        Ok(false)
    } else {
        Err(BitError::Syntax)
    }
}

/// Resolves a `start end` range (negative from the end, clamped) in bytes or bits; for
/// bits, also the masks of the bits outside the range in the first and last byte. The
/// range is in bytes on return; empty when start > end.
fn resolve_range(len: usize, mut start: i64, mut end: i64, is_bit: bool) -> (i64, i64, u8, u8) {
    let mut total = len as i64;
    if is_bit {
        total <<= 3;
    }
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    if is_bit && start <= end {
        first_mask = !((1u16 << (8 - (start & 7))) - 1) as u8;
        last_mask = ((1u16 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    (start, end, first_mask, last_mask)
}

/// BITCOUNT on an existing string; `args` follow the key (`[start end [BIT|BYTE]]`).
pub fn bitcount(value: &[u8], args: &[&[u8]]) -> Result<i64, BitError> {
    let (start, end, first_mask, last_mask) = match args.len() {
        0 => (0, value.len() as i64 - 1, 0, 0),
        2 | 3 => {
            let start = parse_ll(args[0])?;
            let end = parse_ll(args[1])?;
            if start < 0 && end < 0 && start > end {
                return Ok(0);
            }
            let is_bit = match args.get(2) {
                Some(unit) => parse_unit(unit)?,
                None => false,
            };
            resolve_range(value.len(), start, end, is_bit)
        }
        _ => return Err(BitError::Syntax),
    };
    if start > end {
        return Ok(0);
    }
    let (start, end) = (start as usize, end as usize);
    let mut count = popcount(&value[start..=end]);
    count -= popcount(&[value[start] & first_mask, value[end] & last_mask]);
    Ok(count)
}

/// BITPOS's bit argument (read before the key is looked up).
pub fn parse_bitpos_bit(arg: &[u8]) -> Result<bool, BitError> {
    match parse_ll(arg)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(BitError::BitArgument),
    }
}

/// `redisBitpos`: the first bit equal to `bit` in `bytes`; for a 0 not found, the
/// position just past them (the string is zero padded); for a 1 not found, -1.
fn first_bit(bytes: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0x00 } else { 0xff };
    match bytes.iter().position(|&b| b != skip) {
        Some(i) => {
            let b = if bit { bytes[i] } else { !bytes[i] };
            i as i64 * 8 + i64::from(b.leading_zeros() as u8)
        }
        None if bit => -1,
        None => bytes.len() as i64 * 8,
    }
}

/// BITPOS on an existing string; `args` follow the bit (`[start [end [BIT|BYTE]]]`).
pub fn bitpos(value: &[u8], bit: bool, args: &[&[u8]]) -> Result<i64, BitError> {
    let mut end_given = false;
    let (mut start, end, first_mask, last_mask) = match args.len() {
        0 => (0, value.len() as i64 - 1, 0, 0),
        1..=3 => {
            let start = parse_ll(args[0])?;
            let is_bit = match args.get(2) {
                Some(unit) => parse_unit(unit)?,
                None => false,
            };
            let end = match args.get(1) {
                Some(end) => {
                    end_given = true;
                    parse_ll(end)?
                }
                None => value.len() as i64 - 1,
            };
            resolve_range(value.len(), start, end, is_bit)
        }
        _ => return Err(BitError::Syntax),
    };
    if start > end {
        return Ok(-1);
    }
    let mut bytes = end - start + 1;
    let edge = |byte: u8, mask: u8| if bit { byte & !mask } else { byte | mask };
    let pos = 'search: {
        if first_mask != 0 {
            let mut tmp = edge(value[start as usize], first_mask);
            if last_mask != 0 && bytes == 1 {
                tmp = edge(tmp, last_mask);
            }
            let pos = first_bit(&[tmp], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'search pos;
            }
            start += 1;
            bytes -= 1;
        }
        let curbytes = bytes - i64::from(last_mask != 0);
        if curbytes > 0 {
            let from = start as usize;
            let pos = first_bit(&value[from..from + curbytes as usize], bit);
            if bytes == curbytes || (pos != -1 && pos != curbytes << 3) {
                break 'search pos;
            }
            start += curbytes;
            bytes -= curbytes;
        }
        first_bit(&[edge(value[end as usize], last_mask)], bit)
    };
    if end_given && !bit && pos == bytes << 3 {
        return Ok(-1);
    }
    Ok(if pos == -1 { -1 } else { pos + (start << 3) })
}

/// BITOP's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITOP's operation name, checked with the number of source keys (NOT takes one).
pub fn parse_bitop(name: &[u8], sources: usize) -> Result<BitOp, BitError> {
    let op = if is(name, "and") {
        BitOp::And
    } else if is(name, "or") {
        BitOp::Or
    } else if is(name, "xor") {
        BitOp::Xor
    } else if is(name, "not") {
        BitOp::Not
    } else {
        return Err(BitError::Syntax);
    };
    if op == BitOp::Not && sources != 1 {
        return Err(BitError::BitopNot);
    }
    Ok(op)
}

/// BITOP's result over the source strings (None: missing key, read as empty). Shorter
/// strings are zero padded. An empty result means the destination is deleted; the reply
/// is the result's length either way.
pub fn bitop(op: BitOp, sources: &[Option<&[u8]>]) -> Vec<u8> {
    let maxlen = sources
        .iter()
        .map(|s| s.map_or(0, <[u8]>::len))
        .max()
        .unwrap_or(0);
    let mut result = sources[0].unwrap_or_default().to_vec();
    result.resize(maxlen, 0);
    if op == BitOp::Not {
        result.iter_mut().for_each(|b| *b = !*b);
        return result;
    }
    for source in &sources[1..] {
        let source = source.unwrap_or_default();
        let pairs = result.iter_mut().zip(source);
        match op {
            BitOp::And => {
                pairs.for_each(|(r, s)| *r &= s);
                result[source.len()..].fill(0);
            }
            BitOp::Or => pairs.for_each(|(r, s)| *r |= s),
            BitOp::Xor => pairs.for_each(|(r, s)| *r ^= s),
            BitOp::Not => unreachable!("NOT has one source"),
        }
    }
    result
}

// ---------------------------------------------------------------------------
// BITFIELD
// ---------------------------------------------------------------------------

/// What an INCRBY or SET does when the result does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// One BITFIELD operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One parsed BITFIELD operation: a field of `bits` bits at bit `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldAccess {
    pub op: FieldOp,
    pub signed: bool,
    pub bits: u32,
    pub offset: u64,
    pub overflow: Overflow,
}

/// A parsed BITFIELD / BITFIELD_RO command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitfield {
    pub ops: Vec<FieldAccess>,
    /// The last bit written, if any operation writes: the string grows to hold it.
    pub highest_write: Option<u64>,
}

/// The result of running a BITFIELD: one reply per operation (None: nil, an overflow
/// under FAIL) and how many operations changed the value (Redis's dirty count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitfieldOutcome {
    pub replies: Vec<Option<i64>>,
    pub changes: usize,
}

fn parse_type(arg: &[u8]) -> Result<(bool, u32), BitError> {
    let arg = cstr(arg);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BitError::BitfieldType),
    };
    match number::parse_i64(&arg[1..]) {
        Some(bits) if bits >= 1 && bits <= if signed { 64 } else { 63 } => {
            Ok((signed, bits as u32))
        }
        _ => Err(BitError::BitfieldType),
    }
}

impl Bitfield {
    /// Parses the arguments after the key. `read_only` is BITFIELD_RO, which refuses
    /// writes once everything parsed.
    pub fn parse(
        args: &[&[u8]],
        read_only: bool,
        proto_max_bulk_len: u64,
    ) -> Result<Bitfield, BitError> {
        let mut ops = Vec::new();
        let mut highest_write: Option<u64> = None;
        let mut overflow = Overflow::Wrap;
        let mut j = 0;
        while j < args.len() {
            let remaining = args.len() - j - 1;
            let sub = args[j];
            let op_kind = if is(sub, "get") && remaining >= 2 {
                0
            } else if is(sub, "set") && remaining >= 3 {
                1
            } else if is(sub, "incrby") && remaining >= 3 {
                2
            } else if is(sub, "overflow") && remaining >= 1 {
                let name = args[j + 1];
                overflow = if is(name, "wrap") {
                    Overflow::Wrap
                } else if is(name, "sat") {
                    Overflow::Sat
                } else if is(name, "fail") {
                    Overflow::Fail
                } else {
                    return Err(BitError::OverflowType);
                };
                j += 2;
                continue;
            } else {
                return Err(BitError::Syntax);
            };
            let (signed, bits) = parse_type(args[j + 1])?;
            let offset = parse_offset(args[j + 2], Some(bits), proto_max_bulk_len)?;
            let op = if op_kind == 0 {
                FieldOp::Get
            } else {
                let last = offset + u64::from(bits) - 1;
                highest_write = Some(highest_write.map_or(last, |h| h.max(last)));
                let v = parse_ll(args[j + 3])?;
                if op_kind == 1 {
                    FieldOp::Set(v)
                } else {
                    FieldOp::IncrBy(v)
                }
            };
            ops.push(FieldAccess {
                op,
                signed,
                bits,
                offset,
                overflow,
            });
            j += if op_kind == 0 { 3 } else { 4 };
        }
        if read_only && highest_write.is_some() {
            return Err(BitError::BitfieldReadOnly);
        }
        Ok(Bitfield { ops, highest_write })
    }

    /// Whether the command writes (then a missing key is created, even if every write
    /// fails under OVERFLOW FAIL, and must be stored).
    pub fn writes(&self) -> bool {
        self.highest_write.is_some()
    }

    /// The bytes the writing operations may change, a half-open `(start, end)` each.
    pub fn written_bytes(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ops
            .iter()
            .filter(|f| !matches!(f.op, FieldOp::Get))
            .map(|f| (f.offset >> 3, (f.offset + u64::from(f.bits) - 1) / 8 + 1))
    }

    /// Runs the operations in order on the value (an empty `Vec` for a missing key).
    pub fn execute(&self, value: &mut Vec<u8>) -> BitfieldOutcome {
        let mut dirty = false;
        if let Some(last) = self.highest_write {
            dirty = grow_to(value, (last >> 3) as usize + 1);
        }
        let mut replies = Vec::with_capacity(self.ops.len());
        let mut changes = 0;
        for f in &self.ops {
            let old_bits = get_field(value, f.offset, f.bits);
            let reply = match f.op {
                FieldOp::Get => Some(if f.signed {
                    sign_extend(old_bits, f.bits)
                } else {
                    old_bits as i64
                }),
                FieldOp::Set(v) | FieldOp::IncrBy(v) => {
                    let incr = matches!(f.op, FieldOp::IncrBy(_));
                    let (new, overflowed, ret) = if f.signed {
                        let old = sign_extend(old_bits, f.bits);
                        if incr {
                            let (o, wrapped) = signed_overflow(old, v, f.bits, f.overflow);
                            let new = if o { wrapped } else { old.wrapping_add(v) };
                            (new as u64, o, new)
                        } else {
                            let (o, wrapped) = signed_overflow(v, 0, f.bits, f.overflow);
                            let new = if o { wrapped } else { v };
                            (new as u64, o, old)
                        }
                    } else if incr {
                        let (o, wrapped) = unsigned_overflow(old_bits, v, f.bits, f.overflow);
                        let new = if o {
                            wrapped
                        } else {
                            old_bits.wrapping_add(v as u64)
                        };
                        (new, o, new as i64)
                    } else {
                        let (o, wrapped) = unsigned_overflow(v as u64, 0, f.bits, f.overflow);
                        let new = if o { wrapped } else { v as u64 };
                        (new, o, old_bits as i64)
                    };
                    if overflowed && f.overflow == Overflow::Fail {
                        None
                    } else {
                        set_field(value, f.offset, f.bits, new);
                        let old_cmp = if f.signed {
                            sign_extend(old_bits, f.bits) as u64
                        } else {
                            old_bits
                        };
                        if dirty || old_cmp != new {
                            changes += 1;
                        }
                        Some(ret)
                    }
                }
            };
            replies.push(reply);
        }
        BitfieldOutcome { replies, changes }
    }
}

fn get_field(value: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0u64, |acc, j| {
        (acc << 1) | u64::from(get_bit(value, offset + j))
    })
}

fn set_field(value: &mut [u8], offset: u64, bits: u32, v: u64) {
    for j in 0..u64::from(bits) {
        let bit = v & (1u64 << (u64::from(bits) - 1 - j)) != 0;
        let pos = offset + j;
        let byte = (pos >> 3) as usize;
        let mask = 0x80 >> (pos & 7);
        if bit {
            value[byte] |= mask;
        } else {
            value[byte] &= !mask;
        }
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// `checkUnsignedBitfieldOverflow`: (overflowed, the WRAP / SAT replacement).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (bool, u64) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > maxincr) {
        match ow {
            Overflow::Wrap => (true, wrap()),
            Overflow::Sat => (true, max),
            Overflow::Fail => (true, 0),
        }
    } else if incr < 0 && incr < minincr {
        match ow {
            Overflow::Wrap => (true, wrap()),
            Overflow::Sat => (true, 0),
            Overflow::Fail => (true, 0),
        }
    } else {
        (false, 0)
    }
}

/// `checkSignedBitfieldOverflow`: (overflowed, the WRAP / SAT replacement).
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (bool, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let msb = 1u64 << (bits - 1);
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        match ow {
            Overflow::Wrap => (true, wrap()),
            Overflow::Sat => (true, max),
            Overflow::Fail => (true, 0),
        }
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        match ow {
            Overflow::Wrap => (true, wrap()),
            Overflow::Sat => (true, min),
            Overflow::Fail => (true, 0),
        }
    } else {
        (false, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis_oracle::{RedisOracle, Resp};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const MAX: u64 = DEFAULT_PROTO_MAX_BULK_LEN;

    #[test]
    fn popcount_counts_every_length_and_alignment() {
        let mut rng = StdRng::seed_from_u64(9);
        let bytes: Vec<u8> = (0..300).map(|_| rng.gen()).collect();
        for start in 0..9 {
            for end in start..bytes.len() {
                let slice = &bytes[start..end];
                let naive: i64 = slice.iter().map(|b| i64::from(b.count_ones())).sum();
                assert_eq!(popcount(slice), naive, "{start}..{end}");
                assert_eq!(popcount_words(slice), naive, "{start}..{end}");
            }
        }
    }

    fn random_string(rng: &mut StdRng) -> Vec<u8> {
        let len = rng.gen_range(0..20);
        (0..len)
            .map(|_| match rng.gen_range(0..4) {
                0 => 0x00,
                1 => 0xff,
                _ => rng.gen(),
            })
            .collect()
    }

    fn int_or_err(r: Result<i64, BitError>) -> Resp {
        match r {
            Ok(n) => Resp::Int(n),
            Err(e) => Resp::Error(e.to_string().into_bytes()),
        }
    }

    fn random_index(rng: &mut StdRng) -> String {
        match rng.gen_range(0..10) {
            0 => [
                "x",
                "",
                "9223372036854775807",
                "-9223372036854775808",
                "1.5",
            ][rng.gen_range(0..5)]
            .to_string(),
            _ => rng.gen_range(-170i64..170).to_string(),
        }
    }

    fn set(redis: &mut RedisOracle, key: &str, value: &[u8]) {
        redis.cmd(&[b"SET".as_slice(), key.as_bytes(), value]);
    }

    #[test]
    fn setbit_getbit_match_redis() {
        let Some(mut redis) = RedisOracle::start() else {
            return;
        };
        let mut rng = StdRng::seed_from_u64(0xb17_0001);
        let mut local = Vec::new();
        for _ in 0..500 {
            let offset = rng.gen_range(0..300u64);
            let on = rng.gen_bool(0.5);
            let before = redis.changes_since_save();
            let expected = redis.cmd(&[
                "SETBIT",
                "k",
                &offset.to_string(),
                if on { "1" } else { "0" },
            ]);
            let redis_changed = redis.changes_since_save() - before;
            let (old, changed) = setbit(&mut local, offset, on);
            assert_eq!(Resp::Int(i64::from(old)), expected);
            assert_eq!(i64::from(changed), redis_changed);
            let probe = rng.gen_range(0..400u64);
            assert_eq!(
                Resp::Int(i64::from(getbit(&local, probe))),
                redis.cmd(&["GETBIT", "k", &probe.to_string()])
            );
        }
        assert_eq!(Resp::Bulk(Some(local.clone())), redis.cmd(&["GET", "k"]));
        for arg in [
            "-1",
            "x",
            "#3",
            "4294967296",
            "4294967295",
            "1.0",
            " 1",
            "+1",
            "01",
        ] {
            let expected = redis.cmd(&["GETBIT", "k", arg]);
            match parse_bit_offset(arg.as_bytes(), MAX) {
                Ok(offset) => assert_eq!(
                    Resp::Int(i64::from(getbit(&local, offset))),
                    expected,
                    "{arg}"
                ),
                Err(e) => assert_eq!(e.to_string(), expected.error(), "{arg}"),
            }
        }
        for arg in ["2", "-1", "x", "", "01"] {
            let expected = redis.cmd(&["SETBIT", "k", "1", arg]);
            assert_eq!(
                parse_bit_value(arg.as_bytes()).unwrap_err().to_string(),
                expected.error(),
                "{arg}"
            );
        }
    }

    #[test]
    fn bitcount_matches_redis() {
        let Some(mut redis) = RedisOracle::start() else {
            return;
        };
        let mut rng = StdRng::seed_from_u64(0xb17_0002);
        for case in 0..1500 {
            let value = random_string(&mut rng);
            set(&mut redis, "k", &value);
            let mut args: Vec<String> = Vec::new();
            let n = [0, 1, 2, 2, 3, 3, 3, 4][rng.gen_range(0..8)];
            for i in 0..n {
                args.push(match i {
                    2 => ["BIT", "byte", "bIt", "bits", "bit\0x"][rng.gen_range(0..5)].to_string(),
                    _ => random_index(&mut rng),
                });
            }
            let mut cmd = vec!["BITCOUNT".to_string(), "k".into()];
            cmd.extend(args.iter().cloned());
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            assert_eq!(
                int_or_err(bitcount(&value, &args)),
                redis.cmd(&cmd),
                "case {case}: {cmd:?} on {value:?}"
            );
        }
    }

    #[test]
    fn bitpos_matches_redis() {
        let Some(mut redis) = RedisOracle::start() else {
            return;
        };
        let mut rng = StdRng::seed_from_u64(0xb17_0003);
        for case in 0..2500 {
            let value = random_string(&mut rng);
            set(&mut redis, "k", &value);
            let bit = ["0", "1", "1", "0", "2", "x"][rng.gen_range(0..6)];
            let mut args: Vec<String> = Vec::new();
            let n = [0, 1, 2, 3, 3, 3, 4][rng.gen_range(0..7)];
            for i in 0..n {
                args.push(match i {
                    2 => ["BIT", "byte", "bit", "BYTES"][rng.gen_range(0..4)].to_string(),
                    _ => random_index(&mut rng),
                });
            }
            let mut cmd = vec!["BITPOS".to_string(), "k".into(), bit.into()];
            cmd.extend(args.iter().cloned());
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            let got = parse_bitpos_bit(bit.as_bytes()).and_then(|bit| bitpos(&value, bit, &args));
            assert_eq!(
                int_or_err(got),
                redis.cmd(&cmd),
                "case {case}: {cmd:?} on {value:?}"
            );
        }
    }

    #[test]
    fn bitop_matches_redis() {
        let Some(mut redis) = RedisOracle::start() else {
            return;
        };
        let mut rng = StdRng::seed_from_u64(0xb17_0004);
        for case in 0..400 {
            let n = rng.gen_range(1..5);
            let mut sources = Vec::new();
            let mut cmd = vec![
                "BITOP".to_string(),
                ["AND", "or", "Xor", "NOT", "nand"][rng.gen_range(0..5)].into(),
                "dest".into(),
            ];
            for k in 0..n {
                let key = format!("s{k}");
                if rng.gen_bool(0.8) {
                    let mut v = random_string(&mut rng);
                    if rng.gen_bool(0.2) {
                        v.extend((0..rng.gen_range(30..80)).map(|_| rng.gen::<u8>()));
                    }
                    set(&mut redis, &key, &v);
                    sources.push(Some(v));
                } else {
                    redis.cmd(&["DEL", &key]);
                    sources.push(None);
                }
                cmd.push(key);
            }
            let expected = redis.cmd(&cmd);
            match parse_bitop(cmd[1].as_bytes(), n) {
                Err(e) => assert_eq!(e.to_string(), expected.error(), "case {case}"),
                Ok(op) => {
                    let refs: Vec<Option<&[u8]>> = sources.iter().map(|s| s.as_deref()).collect();
                    let result = bitop(op, &refs);
                    assert_eq!(Resp::Int(result.len() as i64), expected, "case {case}");
                    let stored = redis.cmd(&["GET", "dest"]);
                    let want = if result.is_empty() {
                        None
                    } else {
                        Some(result)
                    };
                    assert_eq!(Resp::Bulk(want), stored, "case {case}: {cmd:?}");
                }
            }
        }
    }

    fn random_type(rng: &mut StdRng) -> String {
        match rng.gen_range(0..60) {
            0 => ["u64", "i65", "i0", "x8", "u", "", "I8", "u-1", "i08"][rng.gen_range(0..9)]
                .to_string(),
            1..=3 => ["i64", "u63", "i63", "i1", "u1"][rng.gen_range(0..5)].to_string(),
            _ => {
                let signed = rng.gen_bool(0.5);
                format!(
                    "{}{}",
                    if signed { "i" } else { "u" },
                    rng.gen_range(1..if signed { 65 } else { 64 })
                )
            }
        }
    }

    fn random_value(rng: &mut StdRng) -> String {
        match rng.gen_range(0..8) {
            0 => [
                "9223372036854775807",
                "-9223372036854775808",
                "-9223372036854775807",
                "x",
                "18446744073709551615",
            ][if rng.gen_bool(0.1) {
                rng.gen_range(0..5)
            } else {
                rng.gen_range(0..3)
            }]
            .to_string(),
            1 => rng.gen::<i64>().to_string(),
            2 => (rng.gen::<i64>() >> rng.gen_range(0..63)).to_string(),
            _ => rng.gen_range(-300i64..300).to_string(),
        }
    }

    #[test]
    fn bitfield_matches_redis() {
        let Some(mut redis) = RedisOracle::start() else {
            return;
        };
        let mut rng = StdRng::seed_from_u64(0xb17_0005);
        let mut executed = 0;
        for case in 0..3000 {
            let exists = rng.gen_bool(0.8);
            let value = random_string(&mut rng);
            if exists {
                set(&mut redis, "k", &value);
            } else {
                redis.cmd(&["DEL", "k"]);
            }
            let read_only = rng.gen_bool(0.2);
            let mut args: Vec<String> = Vec::new();
            for _ in 0..rng.gen_range(1..5) {
                if rng.gen_bool(0.4) {
                    let mode = ["WRAP", "sat", "Fail", "SAT", "fail", "bad"][if rng.gen_bool(0.05) {
                        rng.gen_range(0..6)
                    } else {
                        rng.gen_range(0..5)
                    }];
                    args.extend(["OVERFLOW".into(), mode.into()]);
                }
                if rng.gen_bool(0.02) {
                    args.push(
                        ["GET", "SET", "INCRBY", "OVERFLOW", "nope"][rng.gen_range(0..5)].into(),
                    );
                    continue;
                }
                let sub = ["GET", "get", "SET", "INCRBY", "incrby", "set"][rng.gen_range(0..6)];
                let offset = match rng.gen_range(0..30) {
                    0 => ["-1", "x", "#-1", "#x", "4294967296", "#9223372036854775807"]
                        [rng.gen_range(0..6)]
                    .into(),
                    1..=8 => format!("#{}", rng.gen_range(0..12)),
                    _ => rng.gen_range(0..170).to_string(),
                };
                args.extend([sub.into(), random_type(&mut rng), offset]);
                if !sub.eq_ignore_ascii_case("get") {
                    args.push(random_value(&mut rng));
                }
            }
            let mut cmd = vec![
                if read_only { "BITFIELD_RO" } else { "BITFIELD" }.to_string(),
                "k".into(),
            ];
            cmd.extend(args.iter().cloned());
            let dirty_before = redis.changes_since_save();
            let expected = redis.cmd(&cmd);
            let redis_changes = redis.changes_since_save() - dirty_before;
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            match Bitfield::parse(&args, read_only, MAX) {
                Err(e) => assert_eq!(e.to_string(), expected.error(), "case {case}: {cmd:?}"),
                Ok(bf) => {
                    executed += 1;
                    let mut local = if exists { value.clone() } else { Vec::new() };
                    let outcome = bf.execute(&mut local);
                    let got: Vec<Resp> = outcome
                        .replies
                        .iter()
                        .map(|r| r.map_or(Resp::Bulk(None), Resp::Int))
                        .collect();
                    assert_eq!(
                        Resp::Array(Some(got)),
                        expected,
                        "case {case}: {cmd:?} on {value:?}"
                    );
                    assert_eq!(
                        outcome.changes as i64, redis_changes,
                        "case {case}: {cmd:?} on {value:?}"
                    );
                    let stored = redis.cmd(&["GET", "k"]);
                    let want = (exists || bf.writes()).then_some(local);
                    assert_eq!(
                        Resp::Bulk(want),
                        stored,
                        "case {case}: {cmd:?} on {value:?}"
                    );
                }
            }
        }
        assert!(executed > 1500, "most cases run ({executed})");
    }
}
