//! LCS: the longest common subsequence of two string keys, as the string itself, its length
//! (LEN), or the matching ranges (IDX, with MINMATCHLEN and WITHMATCHLEN).
//!
//! This is Redis 7.0's `lcsCommand`: the classic dynamic-programming table, walked back from
//! the end of both strings, so where several subsequences are equally long the same one is
//! chosen and the ranges come out in the same order (last match first). Checks follow
//! Redis's order: key types, options, IDX with LEN, then the table's size against
//! `proto-max-bulk-len` (the table is the command's transient memory, as in Redis).

use bytes::Bytes;

use super::args::{c_is, err, int_arg};
use super::{acl, flags, CommandSpec, Ctx};
use crate::keyspace::Value;
use crate::protocol::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lcs", -3, flags![READONLY], acl![STRING], lcs).keys(1, 2, 1),
];

/// Error replies only LCS sends, byte for byte as Redis 7.0 sends them.
mod lcs_err {
    pub const NOT_STRINGS: &str = "ERR The specified keys must contain string values";
    pub const IDX_AND_LEN: &str =
        "ERR If you want both the length and indexes, please just use IDX.";
    pub const TOO_LONG: &str = "ERR String too long for LCS";
    pub const NO_MEMORY: &str =
        "ERR Insufficient memory, failed allocating transient memory for LCS";
    pub const TOO_BIG: &str =
        "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
fn lcs(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let mut string = |key: &[u8]| match ctx.db().get(key, now) {
        None => Ok(None),
        Some(v @ (Value::Str(_) | Value::RawStr(_))) => Ok(v.as_str().cloned()),
        Some(_) => Err(()),
    };
    let (a, b) = (string(&args[1]), string(&args[2]));
    let (Ok(a), Ok(b)) = (a, b) else {
        return Err(Reply::error(lcs_err::NOT_STRINGS));
    };
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    let (mut idx, mut len, mut withmatchlen, mut minmatchlen) = (false, false, false, 0u64);
    let mut j = 3;
    while j < args.len() {
        let word = &args[j];
        if c_is(word, "idx") {
            idx = true;
        } else if c_is(word, "len") {
            len = true;
        } else if c_is(word, "withmatchlen") {
            withmatchlen = true;
        } else if c_is(word, "minmatchlen") && j + 1 < args.len() {
            minmatchlen = int_arg(&args[j + 1])?.max(0) as u64;
            j += 1;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        j += 1;
    }
    if idx && len {
        return Err(Reply::error(lcs_err::IDX_AND_LEN));
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Err(Reply::error(lcs_err::TOO_LONG));
    }
    let cells = (a.len() as u64 + 1).saturating_mul(b.len() as u64 + 1);
    if cells.saturating_mul(4) > ctx.shared.limits().proto_max_bulk_len() {
        return Err(Reply::error(lcs_err::TOO_BIG));
    }
    let table = Table::build(&a, &b).ok_or(Reply::error(lcs_err::NO_MEMORY))?;
    let total = table.at(a.len(), b.len());
    if len {
        return Ok(Reply::Integer(total as i64));
    }
    let (common, ranges) = table.walk_back(&a, &b);
    if !idx {
        return Ok(Reply::bulk(common));
    }
    let pair = |start: usize, end: usize| {
        Reply::Array(vec![
            Reply::Integer(start as i64),
            Reply::Integer(end as i64),
        ])
    };
    let matches = ranges
        .into_iter()
        .filter(|r| minmatchlen == 0 || r.len() as u64 >= minmatchlen)
        .map(|r| {
            let mut item = vec![pair(r.a.0, r.a.1), pair(r.b.0, r.b.1)];
            if withmatchlen {
                item.push(Reply::Integer(r.len() as i64));
            }
            Reply::Array(item)
        })
        .collect();
    Ok(Reply::Map(vec![
        (Reply::bulk("matches"), Reply::Array(matches)),
        (Reply::bulk("len"), Reply::Integer(total as i64)),
    ]))
}

/// `LCS(i, j)`: the length of the LCS of `a[..i]` and `b[..j]`.
struct Table {
    cells: Vec<u32>,
    width: usize,
}

/// A common run: inclusive ranges in `a` and in `b`.
struct Range {
    a: (usize, usize),
    b: (usize, usize),
}

impl Range {
    fn len(&self) -> usize {
        self.a.1 - self.a.0 + 1
    }
}

impl Table {
    /// The filled table; `None` when its memory cannot be allocated (Redis's `ztrymalloc`).
    fn build(a: &[u8], b: &[u8]) -> Option<Table> {
        let width = b.len() + 1;
        let size = (a.len() + 1).checked_mul(width)?;
        let mut cells = Vec::new();
        cells.try_reserve_exact(size).ok()?;
        cells.resize(size, 0u32);
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * width + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[(i - 1) * width + j].max(cells[i * width + j - 1])
                };
            }
        }
        Some(Table { cells, width })
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }

    /// Redis's walk from the end: the common subsequence and the runs it is made of, last
    /// first. A run is cut where the walk leaves the diagonal or reaches either string's
    /// first byte.
    fn walk_back(&self, a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<Range>) {
        let mut common = vec![0u8; self.at(a.len(), b.len()) as usize];
        let mut ranges = Vec::new();
        let mut current: Option<Range> = None;
        let (mut i, mut j, mut k) = (a.len(), b.len(), common.len());
        while i > 0 && j > 0 {
            let mut emit = false;
            if a[i - 1] == b[j - 1] {
                common[k - 1] = a[i - 1];
                match &mut current {
                    None => {
                        current = Some(Range {
                            a: (i - 1, i - 1),
                            b: (j - 1, j - 1),
                        })
                    }
                    Some(r) if r.a.0 == i && r.b.0 == j => {
                        r.a.0 -= 1;
                        r.b.0 -= 1;
                    }
                    Some(_) => emit = true,
                }
                if current.as_ref().is_some_and(|r| r.a.0 == 0 || r.b.0 == 0) {
                    emit = true;
                }
                (i, j, k) = (i - 1, j - 1, k - 1);
            } else {
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                emit = current.is_some();
            }
            if emit {
                ranges.extend(current.take());
            }
        }
        (common, ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_documentation_example() {
        let (a, b) = (b"ohmytext".as_slice(), b"mynewtext".as_slice());
        let table = Table::build(a, b).expect("a small table");
        assert_eq!(table.at(a.len(), b.len()), 6);
        let (common, ranges) = table.walk_back(a, b);
        assert_eq!(common, b"mytext");
        let spans: Vec<_> = ranges.iter().map(|r| (r.a, r.b)).collect();
        assert_eq!(spans, [((4, 7), (5, 8)), ((2, 3), (0, 1))]);
    }
}
