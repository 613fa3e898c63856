//! Listpacks, the blob Redis 7.0 stores small hashes, small sorted sets and list nodes in,
//! and ziplists, their predecessor in RDB 9 payloads from Redis 6 (read only).
//!
//! [`ListpackWriter`] appends entries as Redis's `lpAppend` does (a string that is a
//! canonical integer is stored as an integer in the narrowest encoding), so the blob is
//! byte-identical to redis-server's for the same entries in the same order. The readers check
//! every length against the blob's bounds and reject anything malformed.

use bytes::Bytes;

use super::encoding::{Corrupt, Result};
use crate::number::{parse_i64, write_i64};

const HEADER: usize = 6;
const EOF: u8 = 0xff;
/// The header's element count saturates here; readers then count entries themselves.
const COUNT_UNKNOWN: usize = u16::MAX as usize;

/// One entry of a listpack or ziplist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Entry<'_> {
    /// The entry as Redis hands it to commands: integers as their decimal text.
    pub fn to_bytes(self) -> Bytes {
        match self {
            Entry::Str(s) => Bytes::copy_from_slice(s),
            Entry::Int(v) => {
                let mut text = Vec::with_capacity(20);
                write_i64(&mut text, v);
                Bytes::from(text)
            }
        }
    }
}

/// Builds a listpack entry by entry.
#[derive(Debug, Clone)]
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        ListpackWriter {
            buf: vec![0; HEADER],
            count: 0,
        }
    }
}

impl ListpackWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries appended so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The size the finished blob would have now (Redis's `lpBytes`).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends a string, as an integer when it is a canonical one (`lpAppend`).
    pub fn push(&mut self, s: &[u8]) {
        match parse_i64(s) {
            Some(v) => self.push_int(v),
            None => {
                let start = self.buf.len();
                let len = s.len();
                if len < 64 {
                    self.buf.push(0x80 | len as u8);
                } else if len < 4096 {
                    self.buf.push(0xe0 | (len >> 8) as u8);
                    self.buf.push(len as u8);
                } else {
                    self.buf.push(0xf0);
                    self.buf.extend_from_slice(&(len as u32).to_le_bytes());
                }
                self.buf.extend_from_slice(s);
                self.end_entry(start);
            }
        }
    }

    /// Appends an integer (`lpAppendInteger`).
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            self.buf.push(0xc0 | (u >> 8) as u8);
            self.buf.push(u as u8);
        } else if (-32768..=32767).contains(&v) {
            self.buf.push(0xf1);
            self.buf.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-8388608..=8388607).contains(&v) {
            self.buf.push(0xf2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(v) = i32::try_from(v) {
            self.buf.push(0xf3);
            self.buf.extend_from_slice(&v.to_le_bytes());
        } else {
            self.buf.push(0xf4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.end_entry(start);
    }

    /// Closes the entry that starts at `start` with its back length.
    fn end_entry(&mut self, start: usize) {
        let (back, n) = backlen((self.buf.len() - start) as u64);
        self.buf.extend_from_slice(&back[..n]);
        self.count += 1;
    }

    /// The finished blob: header, entries, terminator.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(COUNT_UNKNOWN) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// The back length of an entry of `l` bytes (`lpEncodeBacklen`, including its quirk of
/// using a wider form for 16383, 2097151 and 268435455): the bytes and how many are used.
fn backlen(l: u64) -> ([u8; 5], usize) {
    let n = match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    };
    let mut out = [0u8; 5];
    for (i, byte) in out[..n].iter_mut().enumerate() {
        let shift = 7 * (n - 1 - i);
        *byte = ((l >> shift) & 127) as u8 | if i == 0 { 0 } else { 128 };
    }
    (out, n)
}

fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// Sign-extends the low `bits` bits of `v`.
fn signed(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

fn slice(blob: &[u8], from: usize, len: usize) -> Result<&[u8]> {
    blob.get(from..from.checked_add(len).ok_or(Corrupt)?)
        .ok_or(Corrupt)
}

/// The entries of a listpack blob, checked against its header and terminator.
pub fn read_listpack(blob: &[u8]) -> Result<Vec<Entry<'_>>> {
    if blob.len() < HEADER + 1 || le(&blob[..4]) != blob.len() as u64 {
        return Err(Corrupt);
    }
    let declared = le(&blob[4..6]) as usize;
    let mut entries = Vec::new();
    let mut p = HEADER;
    loop {
        let b = *blob.get(p).ok_or(Corrupt)?;
        if b == EOF {
            break;
        }
        let (entry, len) = match b {
            0x00..=0x7f => (Entry::Int(i64::from(b)), 1),
            0x80..=0xbf => {
                let n = usize::from(b & 0x3f);
                (Entry::Str(slice(blob, p + 1, n)?), 1 + n)
            }
            0xc0..=0xdf => {
                let v = (u64::from(b & 0x1f) << 8) | u64::from(*blob.get(p + 1).ok_or(Corrupt)?);
                (Entry::Int(signed(v, 13)), 2)
            }
            0xe0..=0xef => {
                let n =
                    (usize::from(b & 0x0f) << 8) | usize::from(*blob.get(p + 1).ok_or(Corrupt)?);
                (Entry::Str(slice(blob, p + 2, n)?), 2 + n)
            }
            0xf0 => {
                let n = le(slice(blob, p + 1, 4)?) as usize;
                (Entry::Str(slice(blob, p + 5, n)?), 5 + n)
            }
            0xf1 => (Entry::Int(signed(le(slice(blob, p + 1, 2)?), 16)), 3),
            0xf2 => (Entry::Int(signed(le(slice(blob, p + 1, 3)?), 24)), 4),
            0xf3 => (Entry::Int(signed(le(slice(blob, p + 1, 4)?), 32)), 5),
            0xf4 => (Entry::Int(le(slice(blob, p + 1, 8)?) as i64), 9),
            _ => return Err(Corrupt),
        };
        p += len;
        // The back length must encode this entry's length.
        let (back, n) = backlen(len as u64);
        if slice(blob, p, n)? != &back[..n] {
            return Err(Corrupt);
        }
        p += n;
        entries.push(entry);
    }
    if p + 1 != blob.len() || (declared != COUNT_UNKNOWN && declared != entries.len()) {
        return Err(Corrupt);
    }
    Ok(entries)
}

/// The entries of a ziplist blob (RDB 9 and older), checked against its header and
/// terminator.
pub fn read_ziplist(blob: &[u8]) -> Result<Vec<Entry<'_>>> {
    const ZL_HEADER: usize = 10;
    if blob.len() < ZL_HEADER + 1 || le(&blob[..4]) != blob.len() as u64 {
        return Err(Corrupt);
    }
    let declared = le(&blob[8..10]) as usize;
    let mut entries = Vec::new();
    let mut p = ZL_HEADER;
    let mut prev_len = 0usize;
    loop {
        let start = p;
        let first = *blob.get(p).ok_or(Corrupt)?;
        if first == EOF {
            break;
        }
        let stored_prev = if first < 254 {
            p += 1;
            usize::from(first)
        } else if first == 254 {
            let v = le(slice(blob, p + 1, 4)?) as usize;
            p += 5;
            v
        } else {
            return Err(Corrupt);
        };
        if stored_prev != prev_len {
            return Err(Corrupt);
        }
        let enc = *blob.get(p).ok_or(Corrupt)?;
        let (entry, len) = match enc >> 6 {
            0 => {
                let n = usize::from(enc & 0x3f);
                (Entry::Str(slice(blob, p + 1, n)?), 1 + n)
            }
            1 => {
                let n =
                    (usize::from(enc & 0x3f) << 8) | usize::from(*blob.get(p + 1).ok_or(Corrupt)?);
                (Entry::Str(slice(blob, p + 2, n)?), 2 + n)
            }
            2 if enc == 0x80 => {
                let b = slice(blob, p + 1, 4)?;
                let n = u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize;
                (Entry::Str(slice(blob, p + 5, n)?), 5 + n)
            }
            3 => match enc {
                0xc0 => (Entry::Int(signed(le(slice(blob, p + 1, 2)?), 16)), 3),
                0xd0 => (Entry::Int(signed(le(slice(blob, p + 1, 4)?), 32)), 5),
                0xe0 => (Entry::Int(le(slice(blob, p + 1, 8)?) as i64), 9),
                0xf0 => (Entry::Int(signed(le(slice(blob, p + 1, 3)?), 24)), 4),
                0xfe => (Entry::Int(signed(le(slice(blob, p + 1, 1)?), 8)), 2),
                0xf1..=0xfd => (Entry::Int(i64::from(enc & 0x0f) - 1), 1),
                _ => return Err(Corrupt),
            },
            _ => return Err(Corrupt),
        };
        p += len;
        prev_len = p - start;
        entries.push(entry);
    }
    let declared_ok = declared == u16::MAX as usize || declared == entries.len();
    if p + 1 != blob.len() || !declared_ok {
        return Err(Corrupt);
    }
    Ok(entries)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Builds a ziplist as Redis 6 would (`ziplistPush` at the tail), for RDB 9 payloads.
    pub fn ziplist(items: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev_len = 0usize;
        let mut tail = 10;
        for item in items {
            let start = body.len();
            tail = 10 + start;
            if prev_len < 254 {
                body.push(prev_len as u8);
            } else {
                body.push(254);
                body.extend_from_slice(&(prev_len as u32).to_le_bytes());
            }
            match parse_i64(item) {
                Some(v @ 0..=12) => body.push(0xf1 + v as u8),
                Some(v) if i8::try_from(v).is_ok() => body.extend_from_slice(&[0xfe, v as u8]),
                Some(v) if i16::try_from(v).is_ok() => {
                    body.push(0xc0);
                    body.extend_from_slice(&(v as i16).to_le_bytes());
                }
                Some(v) if (-8388608..=8388607).contains(&v) => {
                    body.push(0xf0);
                    body.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                }
                Some(v) if i32::try_from(v).is_ok() => {
                    body.push(0xd0);
                    body.extend_from_slice(&(v as i32).to_le_bytes());
                }
                Some(v) => {
                    body.push(0xe0);
                    body.extend_from_slice(&v.to_le_bytes());
                }
                None if item.len() < 64 => {
                    body.push(item.len() as u8);
                    body.extend_from_slice(item);
                }
                None if item.len() < 16384 => {
                    body.push(0x40 | (item.len() >> 8) as u8);
                    body.push(item.len() as u8);
                    body.extend_from_slice(item);
                }
                None => {
                    body.push(0x80);
                    body.extend_from_slice(&(item.len() as u32).to_be_bytes());
                    body.extend_from_slice(item);
                }
            }
            prev_len = body.len() - start;
        }
        let mut out = Vec::new();
        out.extend_from_slice(&((body.len() + 11) as u32).to_le_bytes());
        out.extend_from_slice(&(tail as u32).to_le_bytes());
        out.extend_from_slice(&(items.len().min(65535) as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(EOF);
        out
    }

    #[test]
    fn listpack_round_trips_every_encoding() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 200];
        let items: Vec<&[u8]> = vec![
            b"0",
            b"127",
            b"128",
            b"-1",
            b"-4096",
            b"4095",
            b"-32768",
            b"32767",
            b"8388607",
            b"-8388608",
            b"2147483647",
            b"-2147483649",
            b"9223372036854775807",
            b"-0",
            b"",
            b"hello",
            &mid,
            &long,
        ];
        let mut w = ListpackWriter::new();
        for i in &items {
            w.push(i);
        }
        let blob = w.finish();
        let got: Vec<Bytes> = read_listpack(&blob)
            .unwrap()
            .into_iter()
            .map(Entry::to_bytes)
            .collect();
        assert_eq!(got, items);
        let mut bad = blob.clone();
        bad[blob.len() - 2] ^= 1; // a back length
        assert_eq!(read_listpack(&bad), Err(Corrupt));
        assert_eq!(read_listpack(&blob[..blob.len() - 1]), Err(Corrupt));
    }

    #[test]
    fn back_lengths_use_redis_widths() {
        assert_eq!(backlen(127), ([127, 0, 0, 0, 0], 1));
        assert_eq!(backlen(128), ([1, 128, 0, 0, 0], 2));
        assert_eq!(backlen(16383), ([0, 255, 255, 0, 0], 3));
        assert_eq!(backlen(268435455), ([0, 255, 255, 255, 255], 5));
    }

    #[test]
    fn ziplist_reads_every_encoding() {
        let long = vec![b'x'; 20000];
        let mid = vec![b'y'; 300];
        let items: Vec<&[u8]> = vec![
            b"0",
            b"12",
            b"13",
            b"-128",
            b"-129",
            b"32767",
            b"8388607",
            b"2147483647",
            b"9223372036854775807",
            b"",
            b"abc",
            &mid,
            &long,
        ];
        let blob = ziplist(&items);
        let got: Vec<Bytes> = read_ziplist(&blob)
            .unwrap()
            .into_iter()
            .map(Entry::to_bytes)
            .collect();
        assert_eq!(got, items);
        assert_eq!(read_ziplist(&blob[..blob.len() - 1]), Err(Corrupt));
    }
}
