//! The RDB format's primitives: lengths, strings (verbatim, integer-encoded or LZF-compressed)
//! and doubles, written exactly as Redis's `rdbSaveLen` / `rdbSaveRawString` write them and
//! read back by a bounds-checked [`Reader`] that never panics on hostile input.

use bytes::Bytes;

use super::lzf;
use crate::number::{parse_i64, parse_strtod, write_i64};

const RDB_6BITLEN: u8 = 0;
const RDB_14BITLEN: u8 = 1;
const RDB_32BITLEN: u8 = 0x80;
const RDB_64BITLEN: u8 = 0x81;
const RDB_ENCVAL: u8 = 3;
const RDB_ENC_INT8: u8 = 0;
const RDB_ENC_INT16: u8 = 1;
const RDB_ENC_INT32: u8 = 2;
const RDB_ENC_LZF: u8 = 3;

/// The input is not a well-formed RDB value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

pub type Result<T> = std::result::Result<T, Corrupt>;

/// Appends a length (`rdbSaveLen`).
pub fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8 | (RDB_6BITLEN << 6));
    } else if len < 1 << 14 {
        out.push((len >> 8) as u8 | (RDB_14BITLEN << 6));
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(RDB_32BITLEN);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(RDB_64BITLEN);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Appends `value` in the shortest integer encoding, if it fits in 32 bits
/// (`rdbEncodeInteger`).
fn write_int(out: &mut Vec<u8>, value: i64) -> bool {
    let enc = RDB_ENCVAL << 6;
    if let Ok(v) = i8::try_from(value) {
        out.extend_from_slice(&[enc | RDB_ENC_INT8, v as u8]);
    } else if let Ok(v) = i16::try_from(value) {
        out.push(enc | RDB_ENC_INT16);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(value) {
        out.push(enc | RDB_ENC_INT32);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Appends a string as `rdbSaveRawString` does: strings of up to 11 bytes that are canonical
/// integers fitting 32 bits as integers, longer than 20 bytes LZF-compressed when `compress`
/// (`rdbcompression`) and it saves at least 4 bytes, others verbatim.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(v) = parse_i64(s) {
            if write_int(out, v) {
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        if let Some(packed) = lzf::compress(s, s.len() - 4) {
            write_lzf_blob(out, &packed, s.len());
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Appends already-compressed data (`rdbSaveLzfBlob`).
pub fn write_lzf_blob(out: &mut Vec<u8>, packed: &[u8], original_len: usize) {
    out.push((RDB_ENCVAL << 6) | RDB_ENC_LZF);
    write_len(out, packed.len() as u64);
    write_len(out, original_len as u64);
    out.extend_from_slice(packed);
}

/// Appends a double as 8 little-endian bytes (RDB 8 and later).
pub fn write_binary_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A length or, for strings, the special encoding that follows instead.
enum Len {
    Plain(u64),
    Encoded(u8),
}

/// A cursor over an RDB byte stream.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// How many bytes were read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn byte(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or(Corrupt)?;
        self.pos += 1;
        Ok(b)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(Corrupt)?;
        let s = self.buf.get(self.pos..end).ok_or(Corrupt)?;
        self.pos = end;
        Ok(s)
    }

    fn len_or_encoding(&mut self) -> Result<Len> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            RDB_ENCVAL => Len::Encoded(first & 0x3f),
            RDB_6BITLEN => Len::Plain(u64::from(first & 0x3f)),
            RDB_14BITLEN => Len::Plain((u64::from(first & 0x3f) << 8) | u64::from(self.byte()?)),
            _ if first == RDB_32BITLEN => {
                let b = self.take(4)?;
                Len::Plain(u64::from(u32::from_be_bytes(
                    b.try_into().expect("4 bytes"),
                )))
            }
            _ if first == RDB_64BITLEN => {
                let b = self.take(8)?;
                Len::Plain(u64::from_be_bytes(b.try_into().expect("8 bytes")))
            }
            _ => return Err(Corrupt),
        })
    }

    /// A plain length (`rdbLoadLen`); an encoded one is corrupt here.
    pub fn length(&mut self) -> Result<u64> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(Corrupt),
        }
    }

    /// A length that must also fit in memory.
    pub fn count(&mut self) -> Result<usize> {
        usize::try_from(self.length()?).map_err(|_| Corrupt)
    }

    /// A string in any of its encodings (`rdbGenericLoadStringObject`); integer-encoded
    /// strings come back as their decimal text.
    pub fn string(&mut self) -> Result<Bytes> {
        match self.len_or_encoding()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| Corrupt)?;
                Ok(Bytes::copy_from_slice(self.take(n)?))
            }
            Len::Encoded(enc) => {
                let v = match enc {
                    RDB_ENC_INT8 => i64::from(self.byte()? as i8),
                    RDB_ENC_INT16 => {
                        i64::from(i16::from_le_bytes(self.take(2)?.try_into().expect("2")))
                    }
                    RDB_ENC_INT32 => {
                        i64::from(i32::from_le_bytes(self.take(4)?.try_into().expect("4")))
                    }
                    RDB_ENC_LZF => {
                        let packed_len = self.count()?;
                        let len = self.count()?;
                        let packed = self.take(packed_len)?;
                        return lzf::decompress(packed, len).map(Bytes::from).ok_or(Corrupt);
                    }
                    _ => return Err(Corrupt),
                };
                let mut text = Vec::with_capacity(20);
                write_i64(&mut text, v);
                Ok(Bytes::from(text))
            }
        }
    }

    /// A double stored as 8 little-endian bytes.
    pub fn binary_double(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// A double stored as text behind a length byte, with 253/254/255 for NaN, +inf and -inf
    /// (`rdbLoadDoubleValue`, the sorted sets of RDB versions before 8).
    pub fn text_double(&mut self) -> Result<f64> {
        match self.byte()? {
            255 => Ok(f64::NEG_INFINITY),
            254 => Ok(f64::INFINITY),
            253 => Ok(f64::NAN),
            n => {
                let text = self.take(usize::from(n))?;
                parse_strtod(text).ok_or(Corrupt)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_bytes(s: &[u8], compress: bool) -> Vec<u8> {
        let mut out = Vec::new();
        write_string(&mut out, s, compress);
        out
    }

    #[test]
    fn lengths_round_trip_at_every_width() {
        for n in [0u64, 63, 64, 16383, 16384, u64::from(u32::MAX), 1 << 40] {
            let mut out = Vec::new();
            write_len(&mut out, n);
            assert_eq!(Reader::new(&out).length(), Ok(n));
        }
        assert_eq!(Reader::new(&[0x40]).length(), Err(Corrupt));
    }

    #[test]
    fn integer_like_strings_are_encoded_as_integers() {
        assert_eq!(string_bytes(b"-5", true), [0xc0, 0xfb]);
        assert_eq!(string_bytes(b"300", true), [0xc1, 0x2c, 0x01]);
        assert_eq!(string_bytes(b"-2147483648", true), [0xc2, 0, 0, 0, 0x80]);
        assert_eq!(string_bytes(b"2147483648", true)[0], 10);
        assert_eq!(string_bytes(b"007", true), [3, b'0', b'0', b'7']);
        for s in [&b"-5"[..], b"300", b"-2147483648", b"", b"x"] {
            let out = string_bytes(s, true);
            assert_eq!(Reader::new(&out).string().as_deref(), Ok(s));
        }
    }

    #[test]
    fn long_strings_are_compressed_when_asked() {
        let s = vec![b'z'; 100];
        let packed = string_bytes(&s, true);
        assert_eq!(packed[0], 0xc3);
        assert!(packed.len() < 20);
        assert_eq!(Reader::new(&packed).string().as_deref(), Ok(&s[..]));
        assert_eq!(string_bytes(&s, false).len(), 102);
    }
}
