//! Intsets, the blob Redis stores a set of integers in: a little-endian header (element width
//! in bytes, element count) and the elements sorted ascending, all of that width.
//!
//! Redis widens an intset when a wider member arrives and never narrows it back, so the
//! width [`encode`] picks (the narrowest that holds every member) is Redis's choice for a
//! set that was only ever added to.

use super::encoding::{Corrupt, Result};

/// The intset blob of `members`, which must be sorted ascending without duplicates.
pub fn encode(members: &[i64]) -> Vec<u8> {
    let width: usize = if members.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if members.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * members.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for &v in members {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// The members of an intset blob; it must be non-empty, of a valid width, and sorted
/// without duplicates (Redis's deep `intsetValidateIntegrity`).
pub fn decode(blob: &[u8]) -> Result<Vec<i64>> {
    if blob.len() < 8 {
        return Err(Corrupt);
    }
    let width = u32::from_le_bytes(blob[..4].try_into().expect("4 bytes")) as usize;
    let count = u32::from_le_bytes(blob[4..8].try_into().expect("4 bytes")) as usize;
    if !matches!(width, 2 | 4 | 8) || count == 0 || 8 + count * width != blob.len() {
        return Err(Corrupt);
    }
    let members: Vec<i64> = blob[8..]
        .chunks_exact(width)
        .map(|c| match width {
            2 => i64::from(i16::from_le_bytes(c.try_into().expect("2 bytes"))),
            4 => i64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))),
            _ => i64::from_le_bytes(c.try_into().expect("8 bytes")),
        })
        .collect();
    if members.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Corrupt);
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_follows_the_widest_member() {
        assert_eq!(encode(&[-1, 5]), [2, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff, 5, 0]);
        assert_eq!(encode(&[1, 70000])[0], 4);
        assert_eq!(encode(&[i64::MIN])[0], 8);
        for set in [vec![-1, 5], vec![1, 70000], vec![i64::MIN, 0, i64::MAX]] {
            assert_eq!(decode(&encode(&set)), Ok(set));
        }
    }

    #[test]
    fn rejects_unsorted_empty_or_misfit_blobs() {
        assert_eq!(decode(&encode(&[])), Err(Corrupt));
        let mut unsorted = encode(&[1, 2]);
        unsorted[8] = 3;
        assert_eq!(decode(&unsorted), Err(Corrupt));
        assert_eq!(decode(&encode(&[1, 2])[..11]), Err(Corrupt));
    }
}
