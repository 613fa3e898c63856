//! LZF, the compression Redis applies to RDB strings longer than 20 bytes and to quicklist
//! nodes (`list-compress-depth`).
//!
//! The decompressor accepts any valid LZF stream. The compressor is written to produce the
//! very bytes Redis's bundled liblzf produces (its configuration: a 2^16-slot hash table,
//! `VERY_FAST`, matches never starting at offset 0 of the input), because `DUMP` must return
//! redis-server's bytes and a different but valid match choice would change them. It also
//! fails exactly where liblzf fails for a given output budget, since Redis stores a string
//! uncompressed when it does not shrink by at least four bytes.

use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// liblzf's hash table, reused between calls. A slot is valid for one call only: it holds the
/// generation of the call that wrote it, so no call pays for clearing 2^16 slots.
struct HashTable {
    generation: u32,
    slots: Vec<(u32, u32)>,
}

thread_local! {
    static TABLE: RefCell<HashTable> = RefCell::new(HashTable {
        generation: 0,
        slots: vec![(0, 0); HSIZE],
    });
}

fn first(input: &[u8], ip: usize) -> u32 {
    (u32::from(input[ip]) << 8) | u32::from(input[ip + 1])
}

fn next(v: u32, input: &[u8], ip: usize) -> u32 {
    (v << 8) | u32::from(input[ip + 2])
}

fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Compresses `input` into at most `out_len` bytes, or `None` when it does not fit (liblzf's
/// `lzf_compress` returning 0).
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if input.is_empty() || out_len == 0 {
        return None;
    }
    TABLE.with(|table| {
        let mut table = table.borrow_mut();
        table.generation = table.generation.wrapping_add(1);
        if table.generation == 0 {
            // After 2^32 calls an old slot could look current: start afresh.
            table.slots.fill((0, 0));
            table.generation = 1;
        }
        compress_with(&mut table, input, out_len)
    })
}

fn compress_with(table: &mut HashTable, input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let generation = table.generation;
    let in_end = input.len();
    // Two spare bytes: liblzf may point one past the end while it opens a run it then undoes.
    let mut out = vec![0u8; out_len + 2];
    let out_end = out_len;
    let mut ip = 0usize;
    let mut op = 1usize; // out[0] is the first literal run's header
    let mut lit = 0usize;

    if in_end >= 2 {
        let mut hval = first(input, ip);
        while in_end >= 3 && ip < in_end - 2 {
            hval = next(hval, input, ip);
            let slot = idx(hval);
            let reference = match table.slots[slot] {
                (g, pos) if g == generation => Some(pos as usize),
                _ => None,
            };
            table.slots[slot] = (generation, ip as u32);
            let found = reference.filter(|&r| {
                r < ip
                    && ip - r - 1 < MAX_OFF
                    && r > 0
                    && input[r + 2] == input[ip + 2]
                    && input[r] == input[ip]
                    && input[r + 1] == input[ip + 1]
            });
            if let Some(r) = found {
                let off = ip - r - 1;
                let mut len = 2usize;
                let maxlen = (in_end - ip - len).min(MAX_REF);
                if op + 3 + 1 >= out_end && op - usize::from(lit == 0) + 3 + 1 >= out_end {
                    return None;
                }
                out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
                op -= usize::from(lit == 0); // undo run if length is zero
                                             // liblzf first compares 16 bytes unrolled when more than 16 remain, which can
                                             // run a match up to two bytes past `maxlen`; the output depends on it.
                let mut mismatch = false;
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[r + len] != input[ip + len] {
                            mismatch = true;
                            break;
                        }
                    }
                }
                if !mismatch {
                    loop {
                        len += 1;
                        if len >= maxlen || input[r + len] != input[ip + len] {
                            break;
                        }
                    }
                }
                len -= 2; // len is now #octets - 1
                ip += 1;
                if len < 7 {
                    out[op] = ((off >> 8) + (len << 5)) as u8;
                    op += 1;
                } else {
                    out[op] = ((off >> 8) + (7 << 5)) as u8;
                    out[op + 1] = (len - 7) as u8;
                    op += 2;
                }
                out[op] = off as u8;
                op += 1;
                lit = 0;
                op += 1; // start run
                ip += len + 1;
                if ip >= in_end - 2 {
                    break;
                }
                // VERY_FAST: hash the last two positions of the match.
                ip -= 2;
                hval = first(input, ip);
                hval = next(hval, input, ip);
                table.slots[idx(hval)] = (generation, ip as u32);
                ip += 1;
                hval = next(hval, input, ip);
                table.slots[idx(hval)] = (generation, ip as u32);
                ip += 1;
            } else {
                if op >= out_end {
                    return None;
                }
                lit += 1;
                out[op] = input[ip];
                op += 1;
                ip += 1;
                if lit == MAX_LIT {
                    out[op - lit - 1] = (lit - 1) as u8;
                    lit = 0;
                    op += 1;
                }
            }
        }
    }

    if op + 3 > out_end {
        return None;
    }
    while ip < in_end {
        lit += 1;
        out[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1);
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

/// Decompresses an LZF stream that must expand to exactly `len` bytes.
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    // A 3-byte back reference expands to at most 264 bytes: refuse absurd claims before
    // allocating for them.
    if len > input.len().saturating_mul(MAX_REF + 2) {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < MAX_LIT {
            let run = ctrl + 1;
            let bytes = input.get(ip..ip + run)?;
            if out.len() + run > len {
                return None;
            }
            out.extend_from_slice(bytes);
            ip += run;
        } else {
            let mut run = ctrl >> 5;
            if run == 7 {
                run += usize::from(*input.get(ip)?);
                ip += 1;
            }
            let low = usize::from(*input.get(ip)?);
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            run += 2;
            if back > out.len() || out.len() + run > len {
                return None;
            }
            let start = out.len() - back;
            for i in 0..run {
                let b = out[start + i];
                out.push(b);
            }
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_does_not_shrink() {
        let text = b"hello hello hello hello hello hello world world world".to_vec();
        let packed = compress(&text, text.len() - 4).expect("compressible");
        assert!(packed.len() < text.len());
        assert_eq!(decompress(&packed, text.len()).as_deref(), Some(&text[..]));
        let noise: Vec<u8> = (0..64u32).map(|i| (i * 97 % 251) as u8).collect();
        assert_eq!(compress(&noise, noise.len() - 4), None);
        let runs = vec![b'a'; 5000];
        let packed = compress(&runs, runs.len() - 4).expect("compressible");
        assert_eq!(decompress(&packed, runs.len()), Some(runs));
    }

    #[test]
    fn decompress_rejects_bad_streams() {
        assert_eq!(decompress(&[0x01, b'a'], 2), None); // literal cut short
        assert_eq!(decompress(&[0x20, 0x00], 3), None); // reference before the start
        assert_eq!(decompress(&[0x00, b'a'], 2), None); // shorter than announced
    }
}
