//! The redo log in front of sled: what makes `appendfsync always` cheap.
//!
//! sled's own flush costs hundreds of microseconds, far more than an append plus
//! `fdatasync`, so a commit is first appended here (and synced per the policy) and only
//! later, in the background, written to sled as a checkpoint. Records hold the *state* of
//! each changed key, not the command, so replaying a record that already reached sled is
//! harmless: recovery applies every segment still on disk, oldest first, and deletes them.
//!
//! Segments are `kvstore.wal.<n>` files in the data directory. A record is
//! `[payload length u32][crc32 u32][payload]`; a torn or corrupt record ends the replay of
//! its segment (it was never acknowledged: acknowledgement follows the sync). In a payload,
//! each key's state is tagged: absent, whole value (`layout::encode_value`), or a per-element
//! value's header and changed elements, so an HSET on a big hash logs one field.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{layout, DbChanges, KeyState};

const PREFIX: &str = "kvstore.wal.";

// Key state tags.
const ABSENT: u8 = 0;
const WHOLE: u8 = 1;
const ELEMENTS: u8 = 2;

/// The segment being appended to.
pub struct Wal {
    dir: PathBuf,
    file: File,
    segment: u64,
    buf: Vec<u8>,
}

impl Wal {
    /// Starts a new segment after every one already in `dir`.
    pub fn create(dir: &Path) -> io::Result<Wal> {
        let segment = segments(dir)?.last().map_or(1, |(n, _)| n + 1);
        let file = open_segment(dir, segment)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            file,
            segment,
            buf: Vec::new(),
        })
    }

    /// Appends one commit's changes (not yet synced); returns the bytes appended.
    pub fn append(&mut self, changes: &[DbChanges]) -> io::Result<usize> {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 8]);
        for change in changes {
            encode_changes(change, &mut self.buf);
        }
        let payload_len = (self.buf.len() - 8) as u32;
        let crc = crc32fast::hash(&self.buf[8..]);
        self.buf[..4].copy_from_slice(&payload_len.to_le_bytes());
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        self.file.write_all(&self.buf)?;
        Ok(self.buf.len())
    }

    /// Makes everything appended durable.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Closes the current segment (synced) and starts the next; returns the closed one's
    /// number, to be deleted once a checkpoint covering it reached sled.
    pub fn rotate(&mut self) -> io::Result<u64> {
        self.file.sync_data()?;
        let closed = self.segment;
        self.segment += 1;
        self.file = open_segment(&self.dir, self.segment)?;
        Ok(closed)
    }
}

fn open_segment(dir: &Path, segment: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{PREFIX}{segment:020}")))?;
    // Make the new file's directory entry durable too.
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// The segments in `dir`, oldest first.
pub fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|n| n.parse().ok())
        {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Deletes every segment numbered `through` or lower.
pub fn remove_through(dir: &Path, through: u64) -> io::Result<()> {
    for (n, path) in segments(dir)? {
        if n <= through {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}

/// Every complete record of one segment, in order.
pub fn read_segment(path: &Path) -> io::Result<Vec<Vec<DbChanges>>> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let mut records = Vec::new();
    let mut at = 0;
    while let Some(header) = data.get(at..at + 8) {
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        let Some(payload) = data.get(at + 8..at + 8 + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        match decode_record(payload) {
            Some(changes) => records.push(changes),
            None => break,
        }
        at += 8 + len;
    }
    if at < data.len() {
        tracing::warn!(segment = %path.display(), bytes = data.len() - at, "ignoring a torn record at the end of a log segment");
    }
    Ok(records)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn encode_changes(change: &DbChanges, out: &mut Vec<u8>) {
    out.extend_from_slice(&change.db.to_le_bytes());
    out.push(change.cleared as u8);
    out.extend_from_slice(&(change.entries.len() as u32).to_le_bytes());
    for (key, state) in &change.entries {
        put_bytes(out, key);
        match state {
            KeyState::Whole(Some((value, expire_at))) => {
                out.push(WHOLE);
                put_bytes(out, &layout::encode_value(value, *expire_at));
            }
            KeyState::Whole(None) => out.push(ABSENT),
            KeyState::Elements { meta, elements } => {
                out.push(ELEMENTS);
                put_bytes(out, meta);
                out.extend_from_slice(&(elements.len() as u32).to_le_bytes());
                for (id, item) in elements {
                    put_bytes(out, id);
                    match item {
                        Some(item) => {
                            out.push(1);
                            put_bytes(out, item);
                        }
                        None => out.push(0),
                    }
                }
            }
        }
    }
}

/// A cursor over a record's payload.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&[u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
}

fn decode_record(payload: &[u8]) -> Option<Vec<DbChanges>> {
    let mut r = Reader(payload);
    let mut changes = Vec::new();
    while !r.0.is_empty() {
        let db = r.u32()?;
        let cleared = r.take(1)?[0] != 0;
        let n = r.u32()? as usize;
        let mut entries = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let key = Bytes::copy_from_slice(r.bytes()?);
            let state = match r.take(1)?[0] {
                ABSENT => KeyState::Whole(None),
                WHOLE => KeyState::Whole(Some(layout::decode_value(r.bytes()?)?)),
                ELEMENTS => {
                    let meta = r.bytes()?.to_vec();
                    let n = r.u32()? as usize;
                    let mut elements = Vec::with_capacity(n.min(1024));
                    for _ in 0..n {
                        let id = Bytes::copy_from_slice(r.bytes()?);
                        let item = match r.take(1)?[0] {
                            0 => None,
                            _ => Some(Bytes::copy_from_slice(r.bytes()?)),
                        };
                        elements.push((id, item));
                    }
                    KeyState::Elements { meta, elements }
                }
                _ => return None,
            };
            entries.push((key, state));
        }
        changes.push(DbChanges {
            db,
            cleared,
            entries,
        });
    }
    Some(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Value;

    fn change(key: &str, value: Option<&str>) -> DbChanges {
        DbChanges {
            db: 3,
            cleared: false,
            entries: vec![(
                Bytes::copy_from_slice(key.as_bytes()),
                KeyState::Whole(
                    value.map(|v| (Value::Str(Bytes::copy_from_slice(v.as_bytes())), Some(7))),
                ),
            )],
        }
    }

    fn whole(state: &KeyState) -> Option<&crate::persistence::Record> {
        match state {
            KeyState::Whole(w) => w.as_ref(),
            KeyState::Elements { .. } => panic!("not whole"),
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path()).unwrap();
        wal.append(&[change("a", Some("1"))]).unwrap();
        wal.append(&[
            change("a", None),
            DbChanges {
                db: 1,
                cleared: false,
                entries: vec![(
                    Bytes::from("h"),
                    KeyState::Elements {
                        meta: vec![4, 2],
                        elements: vec![
                            (Bytes::from("f"), Some(Bytes::from("v"))),
                            (Bytes::from("g"), None),
                        ],
                    },
                )],
            },
            DbChanges {
                db: 0,
                cleared: true,
                entries: vec![],
            },
        ])
        .unwrap();
        wal.sync().unwrap();
        let path = segments(dir.path()).unwrap()[0].1.clone();
        // A crash in the middle of a third append.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        let records = read_segment(&path).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(whole(&records[0][0].entries[0].1).unwrap().1, Some(7));
        assert!(whole(&records[1][0].entries[0].1).is_none());
        let KeyState::Elements { meta, elements } = &records[1][1].entries[0].1 else {
            panic!("elements expected");
        };
        assert_eq!(meta, &[4, 2]);
        assert_eq!(elements[0], (Bytes::from("f"), Some(Bytes::from("v"))));
        assert_eq!(elements[1], (Bytes::from("g"), None));
        assert!(records[1][2].cleared);
    }

    #[test]
    fn rotation_numbers_segments_and_removal_keeps_newer_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path()).unwrap();
        let first = wal.rotate().unwrap();
        wal.rotate().unwrap();
        assert_eq!(segments(dir.path()).unwrap().len(), 3);
        remove_through(dir.path(), first).unwrap();
        assert_eq!(segments(dir.path()).unwrap().len(), 2);
        assert_eq!(Wal::create(dir.path()).unwrap().segment, 4);
    }
}
