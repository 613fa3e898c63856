//! The sorted set value: a member → score map plus the members in (score, member) order with
//! ranks.
//!
//! Redis keeps a dict and a skiplist; here the order lives in a [`Ranked`] list: sorted chunks
//! of a few hundred entries with a Fenwick tree over the chunk lengths, so finding by value,
//! finding by rank and computing a rank are all O(log n), and walking a range is a slice walk.
//! Scores are never NaN (callers refuse it), so the order is total.
//!
//! Redis 7.0 reports `listpack` for small sets and `skiplist` once a set grew past
//! `zset-max-listpack-entries` members or got a member longer than `zset-max-listpack-value`
//! bytes; it never converts back except when a command builds a new set (ZUNIONSTORE,
//! ZRANGESTORE...). [`ZSet`] carries that flag; it also reproduces one listpack quirk: a
//! score of `-0` is stored there as the integer 0.

use std::cmp::Ordering;
use std::collections::HashMap;

use bytes::Bytes;

type Hasher = foldhash::fast::RandomState;

/// The `listpack` encoding's limits (`zset-max-listpack-entries` / `-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListpackLimits {
    pub entries: usize,
    pub value: usize,
}

impl Default for ListpackLimits {
    /// Redis's defaults.
    fn default() -> Self {
        ListpackLimits {
            entries: 128,
            value: 64,
        }
    }
}

/// One member with its score, in the order of the set.
pub type Item = (f64, Bytes);

/// Orders `(score, member)` pairs as Redis does: by score, then by member bytes.
pub fn cmp_item(a: &Item, score: f64, member: &[u8]) -> Ordering {
    match a.0.partial_cmp(&score) {
        Some(Ordering::Equal) | None => a.1[..].cmp(member),
        Some(o) => o,
    }
}

/// A sorted set.
#[derive(Debug, Clone, Default)]
pub struct ZSet {
    /// Member → (score, slot).
    scores: HashMap<Bytes, (f64, u32), Hasher>,
    /// Slot table for ZSCAN: a member keeps its slot while it lives, whatever its score does,
    /// so a cursor (a slot index) returns every member present for the whole scan.
    slots: Vec<Option<Bytes>>,
    free: Vec<u32>,
    order: Ranked,
    listpack: bool,
}

impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        self.listpack == other.listpack && self.order.iter().eq(other.order.iter())
    }
}

impl ZSet {
    /// An empty set whose encoding is chosen as ZADD does from its first member's length.
    pub fn for_first_member(member_len: usize, limits: ListpackLimits) -> ZSet {
        ZSet {
            listpack: limits.entries > 0 && member_len <= limits.value,
            ..ZSet::default()
        }
    }

    /// Builds a set from items in any order, with the encoding Redis gives a set a command
    /// creates whole (`zsetConvertToListpackIfNeeded`).
    pub fn from_items(items: impl IntoIterator<Item = Item>, limits: ListpackLimits) -> ZSet {
        let mut z = ZSet::default();
        for (score, member) in items {
            z.insert(member, score, limits);
        }
        z.listpack = z.len() <= limits.entries && z.scores.keys().all(|m| m.len() <= limits.value);
        if z.listpack {
            z.normalize_zeros();
        }
        z
    }

    /// Builds a set by adding `items` one by one to a set that starts `listpack`-encoded or
    /// not, as ZRANGESTORE does: members added while it is still a listpack get the listpack's
    /// `-0` → `0`, later ones keep their sign.
    pub fn from_adds(
        items: impl IntoIterator<Item = Item>,
        listpack: bool,
        limits: ListpackLimits,
    ) -> ZSet {
        let mut z = ZSet {
            listpack,
            ..ZSet::default()
        };
        for (score, member) in items {
            z.insert(member, score, limits);
        }
        z
    }

    /// A set loaded from disk: items already in order, encoding as it was.
    pub fn from_sorted(items: Vec<Item>, listpack: bool) -> ZSet {
        let scores = items
            .iter()
            .enumerate()
            .map(|(i, (s, m))| (m.clone(), (*s, i as u32)))
            .collect();
        let slots = items.iter().map(|(_, m)| Some(m.clone())).collect();
        ZSet {
            scores,
            slots,
            free: Vec::new(),
            order: Ranked::from_sorted(items),
            listpack,
        }
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn is_listpack(&self) -> bool {
        self.listpack
    }

    /// The name `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        if self.listpack {
            "listpack"
        } else {
            "skiplist"
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).map(|e| e.0)
    }

    /// Sets a member's score, adding the member if new. Converts to `skiplist` as Redis's
    /// `zsetAdd` does before adding a member that does not fit a listpack.
    pub fn insert(&mut self, member: Bytes, mut score: f64, limits: ListpackLimits) {
        debug_assert!(!score.is_nan());
        if self.listpack
            && !self.scores.contains_key(&member)
            && (self.len() + 1 > limits.entries || member.len() > limits.value)
        {
            self.listpack = false;
        }
        if self.listpack && score == 0.0 {
            score = 0.0; // a listpack stores -0 as the integer 0
        }
        match self.scores.get_mut(&member) {
            Some(old) => {
                let previous = std::mem::replace(&mut old.0, score);
                if previous.to_bits() == score.to_bits() {
                    return;
                }
                let member = self.order.remove(previous, &member).expect("indexed").1;
                self.order.insert((score, member));
            }
            None => self.add_member(crate::keyspace::own(member), score),
        }
    }

    /// Adds a member known to be absent.
    fn add_member(&mut self, member: Bytes, score: f64) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(member.clone());
                slot
            }
            None => {
                self.slots.push(Some(member.clone()));
                (self.slots.len() - 1) as u32
            }
        };
        self.scores.insert(member.clone(), (score, slot));
        self.order.insert((score, member));
    }

    /// Drops a member from the map and the slot table (not from the order).
    fn forget(&mut self, member: &[u8]) -> Option<f64> {
        let (score, slot) = self.scores.remove(member)?;
        self.slots[slot as usize] = None;
        self.free.push(slot);
        if self.scores.is_empty() {
            self.slots.clear();
            self.free.clear();
        }
        Some(score)
    }

    /// Removes a member, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let score = self.forget(member)?;
        self.order.remove(score, member);
        Some(score)
    }

    /// One step of ZSCAN over a large set: visits slots from `cursor` until `count` members
    /// were seen (or ten times as many slots, as Redis bounds a sparse table's work). Returns
    /// the next cursor (0 when done) and the members seen.
    pub fn scan(&self, cursor: usize, count: usize) -> (usize, Vec<&Bytes>) {
        let mut seen = Vec::with_capacity(count.min(1024));
        let budget = count.saturating_mul(10);
        let mut i = cursor;
        while i < self.slots.len() && seen.len() < count && i - cursor < budget {
            if let Some(m) = &self.slots[i] {
                seen.push(m);
            }
            i += 1;
        }
        (if i >= self.slots.len() { 0 } else { i }, seen)
    }

    /// 0-based rank of a member in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(
            self.order
                .partition_point(|x| cmp_item(x, score, member).is_lt()),
        )
    }

    /// The item at a rank (ascending).
    pub fn get(&self, rank: usize) -> Option<&Item> {
        self.order.get(rank)
    }

    /// Number of items for which `pred` holds; `pred` must hold for a prefix of the order.
    pub fn partition_point(&self, pred: impl Fn(&Item) -> bool) -> usize {
        self.order.partition_point(pred)
    }

    /// Items from rank `start` upwards.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = &Item> + '_ {
        self.order.iter_from(start)
    }

    /// Items from rank `start` downwards (to rank 0).
    pub fn iter_rev_from(&self, start: usize) -> impl Iterator<Item = &Item> + '_ {
        self.order.iter_rev_from(start)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Item> + '_ {
        self.order.iter_from(0)
    }

    /// Removes the items of ranks `start..end`, returning how many.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        let removed = self.order.drain(start, end);
        for (_, m) in &removed {
            self.forget(m);
        }
        removed.len()
    }

    /// Removes and returns the lowest (`max` false) or highest item.
    pub fn pop(&mut self, max: bool) -> Option<Item> {
        let rank = if max { self.len().checked_sub(1)? } else { 0 };
        let (score, member) = self.get(rank)?.clone();
        self.remove(&member);
        Some((score, member))
    }

    fn normalize_zeros(&mut self) {
        let zeros: Vec<Bytes> = self
            .scores
            .iter()
            .filter(|(_, (s, _))| *s == 0.0 && s.is_sign_negative())
            .map(|(m, _)| m.clone())
            .collect();
        for m in zeros {
            self.remove(&m);
            self.add_member(m, 0.0);
        }
    }
}

/// Target chunk length; chunks split at twice this and merge below a quarter.
const CHUNK: usize = 256;

/// A sorted sequence of items in chunks, with a Fenwick tree of chunk lengths for ranks.
#[derive(Debug, Clone, Default)]
struct Ranked {
    chunks: Vec<Vec<Item>>,
    /// 1-based Fenwick tree over `chunks[i].len()`.
    fenwick: Vec<usize>,
    len: usize,
}

impl Ranked {
    fn from_sorted(items: Vec<Item>) -> Ranked {
        let len = items.len();
        let mut chunks = Vec::with_capacity(len / CHUNK + 1);
        let mut it = items.into_iter().peekable();
        while it.peek().is_some() {
            chunks.push(it.by_ref().take(CHUNK).collect());
        }
        let mut r = Ranked {
            chunks,
            fenwick: Vec::new(),
            len,
        };
        r.rebuild();
        r
    }

    fn rebuild(&mut self) {
        let n = self.chunks.len();
        self.fenwick = vec![0; n + 1];
        for i in 0..n {
            let j = i + 1;
            self.fenwick[j] += self.chunks[i].len();
            let parent = j + (j & j.wrapping_neg());
            if parent <= n {
                self.fenwick[parent] += self.fenwick[j];
            }
        }
    }

    fn add(&mut self, chunk: usize, delta: isize) {
        let mut j = chunk + 1;
        while j < self.fenwick.len() {
            self.fenwick[j] = self.fenwick[j].wrapping_add_signed(delta);
            j += j & j.wrapping_neg();
        }
    }

    /// Items in chunks before `chunk`.
    fn prefix(&self, chunk: usize) -> usize {
        let mut sum = 0;
        let mut j = chunk;
        while j > 0 {
            sum += self.fenwick[j];
            j -= j & j.wrapping_neg();
        }
        sum
    }

    /// The chunk holding `rank` and the offset in it.
    fn find_rank(&self, rank: usize) -> Option<(usize, usize)> {
        if rank >= self.len {
            return None;
        }
        let n = self.chunks.len();
        let mut pos = 0;
        let mut rem = rank;
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= n && self.fenwick[next] <= rem {
                pos = next;
                rem -= self.fenwick[next];
            }
            step >>= 1;
        }
        Some((pos, rem))
    }

    fn get(&self, rank: usize) -> Option<&Item> {
        let (c, i) = self.find_rank(rank)?;
        Some(&self.chunks[c][i])
    }

    /// (chunk, offset) of the first item for which `pred` fails.
    fn position(&self, pred: &impl Fn(&Item) -> bool) -> (usize, usize) {
        let c = self
            .chunks
            .partition_point(|ch| pred(ch.last().expect("chunks are never empty")));
        if c == self.chunks.len() {
            return (c, 0);
        }
        (c, self.chunks[c].partition_point(pred))
    }

    fn partition_point(&self, pred: impl Fn(&Item) -> bool) -> usize {
        let (c, i) = self.position(&pred);
        if c == self.chunks.len() {
            self.len
        } else {
            self.prefix(c) + i
        }
    }

    fn insert(&mut self, item: Item) {
        self.len += 1;
        if self.chunks.is_empty() {
            self.chunks.push(vec![item]);
            self.rebuild();
            return;
        }
        let (mut c, mut i) = self.position(&|x| cmp_item(x, item.0, &item.1).is_lt());
        if c == self.chunks.len() {
            c -= 1;
            i = self.chunks[c].len();
        }
        self.chunks[c].insert(i, item);
        if self.chunks[c].len() > 2 * CHUNK {
            let tail = self.chunks[c].split_off(CHUNK);
            self.chunks.insert(c + 1, tail);
            self.rebuild();
        } else {
            self.add(c, 1);
        }
    }

    fn remove(&mut self, score: f64, member: &[u8]) -> Option<Item> {
        let (c, i) = self.position(&|x| cmp_item(x, score, member).is_lt());
        let found = self.chunks.get(c)?.get(i)?;
        if cmp_item(found, score, member) != Ordering::Equal {
            return None;
        }
        let item = self.chunks[c].remove(i);
        self.len -= 1;
        self.after_shrink(c);
        Some(item)
    }

    /// Keeps chunks non-empty and not too small after removals from chunk `c`.
    fn after_shrink(&mut self, c: usize) {
        let len = self.chunks[c].len();
        if len == 0 {
            self.chunks.remove(c);
            self.rebuild();
        } else if len < CHUNK / 4 && c + 1 < self.chunks.len() {
            let next = self.chunks.remove(c + 1);
            self.chunks[c].extend(next);
            if self.chunks[c].len() > 2 * CHUNK {
                let half = self.chunks[c].len() / 2;
                let tail = self.chunks[c].split_off(half);
                self.chunks.insert(c + 1, tail);
            }
            self.rebuild();
        } else {
            // Bring the tree's count for chunk `c` up to date.
            let counted = self.prefix(c + 1) - self.prefix(c);
            self.add(c, len as isize - counted as isize);
        }
    }

    /// Removes ranks `start..end` (valid, non-empty).
    fn drain(&mut self, start: usize, end: usize) -> Vec<Item> {
        let mut out = Vec::with_capacity(end - start);
        let (mut c, mut i) = self.find_rank(start).expect("valid rank");
        let mut left = end - start;
        while left > 0 {
            let take = left.min(self.chunks[c].len() - i);
            out.extend(self.chunks[c].drain(i..i + take));
            left -= take;
            if self.chunks[c].is_empty() {
                self.chunks.remove(c);
            } else {
                c += 1;
            }
            i = 0;
        }
        self.len -= out.len();
        // Merge a small chunk left at the seam.
        self.rebuild();
        if let Some(c) = (0..self.chunks.len()).find(|&c| self.chunks[c].len() < CHUNK / 4) {
            self.after_shrink(c);
        }
        out
    }

    fn iter_from(&self, start: usize) -> impl Iterator<Item = &Item> + '_ {
        let (c, i) = self.find_rank(start).unwrap_or((self.chunks.len(), 0));
        self.chunks[c.min(self.chunks.len())..]
            .iter()
            .enumerate()
            .flat_map(move |(k, ch)| ch[if k == 0 { i } else { 0 }..].iter())
    }

    fn iter_rev_from(&self, start: usize) -> impl Iterator<Item = &Item> + '_ {
        let (c, i) = match self.find_rank(start) {
            Some((c, i)) => (c + 1, i + 1),
            None => (0, 0),
        };
        let first = c.wrapping_sub(1);
        self.chunks[..c]
            .iter()
            .enumerate()
            .rev()
            .flat_map(move |(k, ch)| ch[..if k == first { i } else { ch.len() }].iter().rev())
    }

    fn iter(&self) -> impl Iterator<Item = &Item> + '_ {
        self.chunks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn b(s: String) -> Bytes {
        Bytes::from(s)
    }

    #[test]
    fn ranks_match_a_sorted_vector_under_random_changes() {
        let mut rng = rand::thread_rng();
        let mut z = ZSet::default();
        let mut model: Vec<Item> = Vec::new();
        for step in 0..20_000 {
            let m = b(format!("m{}", rng.gen_range(0..3000)));
            let score = f64::from(rng.gen_range(-50..50));
            match rng.gen_range(0..10) {
                0..=5 => {
                    z.insert(m.clone(), score, ListpackLimits::default());
                    model.retain(|(_, x)| *x != m);
                    model.push((score, m));
                }
                6..=8 => {
                    let got = z.remove(&m);
                    let pos = model.iter().position(|(_, x)| *x == m);
                    assert_eq!(got.is_some(), pos.is_some());
                    if let Some(p) = pos {
                        model.remove(p);
                    }
                }
                _ => {
                    if !model.is_empty() {
                        model.sort_by(|a, b| cmp_item(a, b.0, &b.1));
                        let s = rng.gen_range(0..model.len());
                        let e = rng.gen_range(s..=model.len().min(s + 600));
                        assert_eq!(z.remove_ranks(s, e), e - s);
                        model.drain(s..e);
                    }
                }
            }
            if step % 500 == 0 || step == 19_999 {
                model.sort_by(|a, b| cmp_item(a, b.0, &b.1));
                assert_eq!(z.len(), model.len());
                let all: Vec<Item> = z.iter().cloned().collect();
                assert_eq!(all, model);
                for (r, (s, m)) in model.iter().enumerate().step_by(37) {
                    assert_eq!(z.rank(m), Some(r));
                    assert_eq!(z.get(r), Some(&(*s, m.clone())));
                    let fwd: Vec<&Item> = z.iter_from(r).take(3).collect();
                    assert_eq!(fwd, model[r..].iter().take(3).collect::<Vec<_>>());
                    let rev: Vec<&Item> = z.iter_rev_from(r).take(3).collect();
                    assert_eq!(rev, model[..=r].iter().rev().take(3).collect::<Vec<_>>());
                }
            }
        }
    }

    #[test]
    fn scan_returns_members_present_throughout_once_despite_score_changes() {
        let limits = ListpackLimits::default();
        let mut z = ZSet::default();
        for i in 0..1000 {
            z.insert(b(format!("m{i}")), f64::from(i), limits);
        }
        let mut seen = HashMap::<Bytes, usize>::new();
        let (mut cursor, mut round) = (0, 0);
        loop {
            let (next, members) = z.scan(cursor, 10);
            for m in members {
                *seen.entry(m.clone()).or_default() += 1;
            }
            // Churn: move scores around, delete some members, add others.
            z.insert(b(format!("m{}", 999 - round)), -f64::from(round), limits);
            z.remove(format!("m{}", 2 * round + 1).as_bytes());
            z.insert(b(format!("new{round}")), 0.5, limits);
            round += 1;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert!(round > 50, "a scan of many calls");
        for i in (0..1000).step_by(2) {
            assert_eq!(seen.get(format!("m{i}").as_bytes()), Some(&1), "m{i}");
        }
        assert!(seen.values().all(|&n| n == 1));
    }

    #[test]
    fn encoding_follows_redis_thresholds() {
        let limits = ListpackLimits::default();
        let mut z = ZSet::for_first_member(1, limits);
        for i in 0..128 {
            z.insert(b(format!("{i}")), -0.0, limits);
        }
        assert_eq!(z.encoding(), "listpack");
        assert!(z.score(b"1").unwrap().is_sign_positive());
        z.insert(b("x".repeat(65)), 1.0, limits);
        assert_eq!(z.encoding(), "skiplist");
        z.insert(b("neg".into()), -0.0, limits);
        assert!(z.score(b"neg").unwrap().is_sign_negative());
        let small = ZSet::from_items(z.iter().take(3).cloned(), limits);
        assert_eq!(small.encoding(), "listpack");
        let none = ListpackLimits {
            entries: 0,
            value: 64,
        };
        assert_eq!(ZSet::for_first_member(1, none).encoding(), "skiplist");
    }
}
