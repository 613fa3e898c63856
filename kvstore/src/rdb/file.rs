//! Whole RDB files: what `SAVE` writes, what a replica receives on a full resync.
//!
//! A file is the magic `REDIS` and a four-digit version, then records: aux fields (`redis-ver`,
//! `ctime`, replication ids...), per database a `SELECTDB` and a `RESIZEDB` hint, then one
//! record per key (an optional expiry, LRU idle time or LFU frequency, then the value's type
//! byte, the key, and the value as [`object`](super::object) encodes it), and finally `EOF`
//! with a CRC-64 of everything before it (0 when the writer disabled checksums).
//!
//! [`FileWriter`] streams a file to any `io::Write`; [`FileReader`] walks a file in memory one
//! record at a time. Neither knows the keyspace: callers feed and consume [`Value`]s.

use std::io::{self, Write};

use bytes::Bytes;

use super::encoding::{write_len, write_string, Corrupt, Reader};
use super::{object, Limits, RDB_VERSION};
use crate::keyspace::Value;

const OPCODE_FUNCTION2: u8 = 245;
const OPCODE_MODULE_AUX: u8 = 247;
const OPCODE_IDLE: u8 = 248;
const OPCODE_FREQ: u8 = 249;
const OPCODE_AUX: u8 = 250;
const OPCODE_RESIZEDB: u8 = 251;
const OPCODE_EXPIRETIME_MS: u8 = 252;
const OPCODE_EXPIRETIME: u8 = 253;
const OPCODE_SELECTDB: u8 = 254;
const OPCODE_EOF: u8 = 255;

static CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// Why an RDB file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("not an RDB file (bad magic)")]
    BadMagic,
    #[error("RDB version {0} is newer than this server reads")]
    Version(u16),
    #[error("RDB file corrupt at byte {0}")]
    Corrupt(usize),
    #[error("RDB file checksum mismatch")]
    Checksum,
    #[error("RDB record type {0} (module) is not supported")]
    Unsupported(u8),
}

/// Writes an RDB file record by record, keeping the running checksum.
pub struct FileWriter<W: Write> {
    out: W,
    digest: crc::Digest<'static, u64>,
    limits: Limits,
    buf: Vec<u8>,
}

impl<W: Write> FileWriter<W> {
    /// Starts a file (its magic and version) on `out`.
    pub fn new(out: W, limits: Limits) -> io::Result<Self> {
        let mut w = FileWriter {
            out,
            digest: CRC64.digest(),
            limits,
            buf: Vec::with_capacity(4096),
        };
        w.buf
            .extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        w.flush_buf()?;
        Ok(w)
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.digest.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// An aux field (`redis-ver`, `repl-id`...).
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.buf.push(OPCODE_AUX);
        write_string(&mut self.buf, key, self.limits.rdbcompression);
        write_string(&mut self.buf, value, self.limits.rdbcompression);
        self.flush_buf()
    }

    /// A function library's code (`FUNCTION2`), as Redis saves each one before the databases.
    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.buf.push(OPCODE_FUNCTION2);
        write_string(&mut self.buf, code, self.limits.rdbcompression);
        self.flush_buf()
    }

    /// Starts database `db`, which holds `keys` keys of which `expires` have an expiry.
    pub fn select_db(&mut self, db: usize, keys: usize, expires: usize) -> io::Result<()> {
        self.buf.push(OPCODE_SELECTDB);
        write_len(&mut self.buf, db as u64);
        self.buf.push(OPCODE_RESIZEDB);
        write_len(&mut self.buf, keys as u64);
        write_len(&mut self.buf, expires as u64);
        self.flush_buf()
    }

    /// One key of the current database, with its absolute expiry in Unix milliseconds.
    pub fn key(&mut self, key: &[u8], value: &Value, expire_at_ms: Option<u64>) -> io::Result<()> {
        if let Some(at) = expire_at_ms {
            self.buf.push(OPCODE_EXPIRETIME_MS);
            self.buf.extend_from_slice(&at.to_le_bytes());
        }
        // The type byte comes before the key: encode the value first, then splice the key.
        let mut value_bytes = Vec::new();
        object::save(&mut value_bytes, value, &self.limits);
        self.buf.push(value_bytes[0]);
        write_string(&mut self.buf, key, self.limits.rdbcompression);
        self.buf.extend_from_slice(&value_bytes[1..]);
        self.flush_buf()
    }

    /// Ends the file (EOF and checksum) and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(OPCODE_EOF);
        self.digest.update(&self.buf);
        let crc = self.digest.finalize();
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One record of an RDB file.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Aux {
        key: Bytes,
        value: Bytes,
    },
    /// The keys that follow belong to this database.
    SelectDb(usize),
    /// A sizing hint for the current database.
    ResizeDb {
        keys: u64,
        expires: u64,
    },
    /// A function library's source (`FUNCTION LOAD`).
    Function(Bytes),
    Key(KeyRecord),
}

/// A key and its value, as loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    pub db: usize,
    pub key: Bytes,
    pub value: Value,
    /// Absolute expiry, Unix milliseconds.
    pub expire_at_ms: Option<u64>,
    /// Seconds idle when saved (under an LRU `maxmemory-policy`).
    pub idle_secs: Option<u64>,
    /// LFU counter when saved (under an LFU `maxmemory-policy`).
    pub freq: Option<u8>,
}

/// Reads an RDB file held in memory, one [`Record`] at a time.
pub struct FileReader<'a> {
    bytes: &'a [u8],
    r: Reader<'a>,
    version: u16,
    db: usize,
    limits: Limits,
    done: bool,
}

impl<'a> FileReader<'a> {
    /// Checks the magic and version.
    pub fn new(bytes: &'a [u8], limits: Limits) -> Result<Self, FileError> {
        let magic = bytes.get(..9).ok_or(FileError::BadMagic)?;
        if &magic[..5] != b"REDIS" || !magic[5..].iter().all(u8::is_ascii_digit) {
            return Err(FileError::BadMagic);
        }
        let version: u16 = std::str::from_utf8(&magic[5..])
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or(FileError::BadMagic)?;
        if version == 0 || version > RDB_VERSION {
            return Err(FileError::Version(version));
        }
        let mut r = Reader::new(bytes);
        r.take(9).map_err(|_| FileError::BadMagic)?;
        Ok(FileReader {
            bytes,
            r,
            version,
            db: 0,
            limits,
            done: false,
        })
    }

    /// The file's RDB version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The next record, or `None` after EOF (whose checksum it verified).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Record>, FileError> {
        if self.done {
            return Ok(None);
        }
        let at = self.r.position();
        self.record().map_err(|e| match e {
            Failure::Corrupt => FileError::Corrupt(at),
            Failure::File(e) => e,
        })
    }

    fn record(&mut self) -> Result<Option<Record>, Failure> {
        let (mut expire_at_ms, mut idle_secs, mut freq) = (None, None, None);
        loop {
            let opcode = self.r.byte()?;
            match opcode {
                OPCODE_EOF => {
                    self.done = true;
                    if self.version >= 5 {
                        let end = self.r.position();
                        let stored = u64::from_le_bytes(self.r.take(8)?.try_into().expect("8"));
                        if stored != 0 && stored != super::crc64(&self.bytes[..end]) {
                            return Err(Failure::File(FileError::Checksum));
                        }
                    }
                    return Ok(None);
                }
                OPCODE_AUX => {
                    let key = self.r.string()?;
                    let value = self.r.string()?;
                    return Ok(Some(Record::Aux { key, value }));
                }
                OPCODE_SELECTDB => {
                    self.db = self.r.count()?;
                    return Ok(Some(Record::SelectDb(self.db)));
                }
                OPCODE_RESIZEDB => {
                    let keys = self.r.length()?;
                    let expires = self.r.length()?;
                    return Ok(Some(Record::ResizeDb { keys, expires }));
                }
                OPCODE_FUNCTION2 => return Ok(Some(Record::Function(self.r.string()?))),
                OPCODE_EXPIRETIME_MS => {
                    let b: [u8; 8] = self.r.take(8)?.try_into().expect("8");
                    expire_at_ms = Some(u64::from_le_bytes(b));
                }
                OPCODE_EXPIRETIME => {
                    let b: [u8; 4] = self.r.take(4)?.try_into().expect("4");
                    expire_at_ms = Some(u64::from(u32::from_le_bytes(b)) * 1000);
                }
                OPCODE_IDLE => idle_secs = Some(self.r.length()?),
                OPCODE_FREQ => freq = Some(self.r.byte()?),
                OPCODE_MODULE_AUX | 6 | 7 => {
                    return Err(Failure::File(FileError::Unsupported(opcode)))
                }
                rdb_type => {
                    let key = self.r.string()?;
                    let value = object::load(rdb_type, &mut self.r, &self.limits)?;
                    return Ok(Some(Record::Key(KeyRecord {
                        db: self.db,
                        key,
                        value,
                        expire_at_ms,
                        idle_secs,
                        freq,
                    })));
                }
            }
        }
    }
}

enum Failure {
    Corrupt,
    File(FileError),
}

impl From<Corrupt> for Failure {
    fn from(_: Corrupt) -> Self {
        Failure::Corrupt
    }
}
