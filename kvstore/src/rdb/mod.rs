//! Redis's serialization of single values: the payloads of `DUMP` / `RESTORE`, and the
//! value encoding RDB snapshots and replication with a stock redis-server are built on.
//!
//! A DUMP payload is one value in RDB form ([`object`]: a type byte, then the body), the RDB
//! version as two little-endian bytes, and a CRC-64 (Redis's Jones polynomial, reflected, as
//! the `crc` crate's `CRC_64_REDIS`) of everything before it, little-endian.
//!
//! Invariants:
//! - [`dump`] returns redis-server 7.0's bytes for the same value wherever Redis's own choice
//!   is a function of the value and the configuration: strings (integer-encoded, compressed
//!   past 20 bytes under `rdbcompression`), listpack hashes and sorted sets, intsets,
//!   skiplist sorted sets, lists built by pushes at the tail, and streams (whose nodes split
//!   where Redis's do; pending-entry and consumer times are the clock's). Hash tables
//!   (Redis's dict order), intsets that once held a wider member and lists edited in the
//!   middle save valid payloads that Redis may order or split differently.
//! - [`restore`] accepts what redis-server 7.0 produces (RDB 10) and what 6.x produced
//!   (RDB 9: ziplists, quicklists of ziplists), never panics, and reports a bad footer and a
//!   bad body with Redis's two distinct errors.
//! - The module knows no commands and no keyspace internals beyond [`Value`]'s public shape.
//!
//! [`file`] builds whole RDB files (`SAVE`, full resync) from the same value encoding.

mod encoding;
// Whole RDB files: the snapshot a replica receives on a full resync (tested both ways against
// redis-server); the reader waits for kvstore as a replica.
#[allow(dead_code)]
pub mod file;
mod intset;
mod listpack;
mod lzf;
pub mod object;
mod stream;

#[cfg(test)]
mod tests;

use crate::keyspace::zset::ListpackLimits;
use crate::keyspace::{HashLimits, Value};

pub use encoding::{write_string, Reader};
pub use object::packed_sizes;

/// The RDB version this server writes (Redis 7.0's), and the newest it reads.
pub const RDB_VERSION: u16 = 10;

const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// Redis's CRC-64 of `data`, as DUMP payloads and RDB files end with.
pub fn crc64(data: &[u8]) -> u64 {
    CRC64.checksum(data)
}

/// The configuration that decides how values are encoded: what `DUMP` writes and what
/// `RESTORE` converts a loaded value to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `hash-max-listpack-entries` / `-value`.
    pub hash: HashLimits,
    /// `zset-max-listpack-entries` / `-value`.
    pub zset: ListpackLimits,
    /// `set-max-intset-entries`.
    pub set_max_intset_entries: usize,
    /// `list-max-listpack-size`: positive, a node's element count; -1..-5, its size.
    pub list_max_listpack_size: i64,
    /// `list-compress-depth`: nodes this far from either end stay uncompressed (0: all).
    pub list_compress_depth: u32,
    /// `rdbcompression`: LZF-compress strings longer than 20 bytes.
    pub rdbcompression: bool,
}

impl Default for Limits {
    /// Redis's defaults.
    fn default() -> Self {
        Limits {
            hash: HashLimits {
                max_entries: 512,
                max_value: 64,
            },
            zset: ListpackLimits::default(),
            set_max_intset_entries: 512,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            rdbcompression: true,
        }
    }
}

/// Why a RESTORE payload was refused; `Display` is Redis's error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// Shorter than a footer, from a newer RDB version, or the checksum does not match.
    #[error("ERR DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    /// The footer is right but the value is malformed, empty, or of a type this server
    /// does not keep (modules).
    #[error("ERR Bad data format")]
    BadFormat,
}

/// The DUMP payload of `value`.
pub fn dump(value: &Value, limits: &Limits) -> Vec<u8> {
    let mut out = Vec::new();
    object::save(&mut out, value, limits);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The value a DUMP payload holds, converted to the encodings `limits` call for.
///
/// Like Redis's `restoreCommand`, the value is read from the whole payload, footer included:
/// a body that claims more bytes than it has reads into the footer instead of failing, and
/// bytes left over are ignored.
pub fn restore(payload: &[u8], limits: &Limits) -> Result<Value, RestoreError> {
    verify(payload)?;
    let mut r = Reader::new(payload);
    let rdb_type = r.byte().map_err(|_| RestoreError::BadFormat)?;
    object::load(rdb_type, &mut r, limits).map_err(|_| RestoreError::BadFormat)
}

/// Checks a payload's footer (`verifyDumpPayload`).
fn verify(payload: &[u8]) -> Result<(), RestoreError> {
    let Some(body_len) = payload.len().checked_sub(10) else {
        return Err(RestoreError::VersionOrChecksum);
    };
    let footer = &payload[body_len..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if version > RDB_VERSION || crc64(&payload[..body_len + 2]) != crc {
        return Err(RestoreError::VersionOrChecksum);
    }
    Ok(())
}
