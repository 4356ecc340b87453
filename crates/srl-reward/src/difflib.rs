//! Python's `difflib.SequenceMatcher(None, a, b).ratio()`, bit for bit.
//!
//! Same Ratcliff/Obershelp recursion as CPython: `find_longest_match` scans `a` in order and `b`'s positions of
//! each element in order, keeps the first strictly longer block, then extends it over equal elements on both
//! ends (popular elements included, as CPython does: they are not junk, only left out of `b2j`); the autojunk
//! rule drops from `b2j` every element of a `b` of 200+ elements that occurs more than `len(b) // 100 + 1`
//! times. Elements are Unicode scalar values, as Python's `str` indexes code points. The ratio is
//! `2.0 * M / (len(a) + len(b))`, or 1.0 when both are empty.
//!
//! [`Target`] prepares `b` once (its index of positions), so scoring G completions against the same expert
//! action pays for it once; [`Scratch`] holds the buffers, so a warm call allocates nothing.

use std::collections::HashMap;

const NONE: u32 = u32::MAX;

/// `b` of a `SequenceMatcher`, prepared: its elements and, per distinct element, its positions (CSR layout).
#[derive(Clone, Debug)]
pub struct Target {
    chars: Vec<char>,
    /// Dense id of each ASCII element (NONE when absent from `b`).
    ascii: [u32; 128],
    /// Dense id of each non-ASCII element.
    other: HashMap<char, u32>,
    /// `positions[offsets[id]..offsets[id + 1]]` are the positions of element `id` in `b`, ascending;
    /// empty for popular elements (autojunk).
    offsets: Vec<u32>,
    positions: Vec<u32>,
    /// The id of each element of `b`.
    ids: Vec<u32>,
    /// Scratch for `set`: per id, its count, then its fill cursor.
    counts: Vec<u32>,
}

impl Target {
    pub fn new(b: &str) -> Self {
        let mut t = Target {
            chars: Vec::new(),
            ascii: [NONE; 128],
            other: HashMap::new(),
            offsets: Vec::new(),
            positions: Vec::new(),
            ids: Vec::new(),
            counts: Vec::new(),
        };
        t.set(b);
        t
    }

    /// Re-prepares this target for another `b`, reusing its buffers.
    pub fn set(&mut self, b: &str) {
        self.chars.clear();
        self.chars.extend(b.chars());
        self.ascii = [NONE; 128];
        self.other.clear();
        // One pass: the id of each element (dense, in order of first occurrence) and each id's count.
        let mut counts = std::mem::take(&mut self.counts);
        counts.clear();
        let chars = std::mem::take(&mut self.chars);
        self.ids.clear();
        self.ids.reserve(chars.len());
        for &c in &chars {
            let id = self.id_or_insert(c, counts.len() as u32);
            if id as usize == counts.len() {
                counts.push(0);
            }
            counts[id as usize] += 1;
            self.ids.push(id);
        }
        self.chars = chars;
        let n = self.chars.len();
        if n >= 200 {
            let ntest = (n / 100 + 1) as u32;
            for c in counts.iter_mut() {
                if *c > ntest {
                    *c = 0; // popular: left out of b2j
                }
            }
        }
        self.offsets.clear();
        self.offsets.reserve(counts.len() + 1);
        let mut acc = 0u32;
        self.offsets.push(0);
        for &c in &counts {
            acc += c;
            self.offsets.push(acc);
        }
        self.positions.clear();
        self.positions.resize(acc as usize, 0);
        // Fill positions in ascending order: a cursor per id (the counts become the cursors).
        counts.clear();
        counts.extend_from_slice(&self.offsets[..self.offsets.len() - 1]);
        for (j, &id) in self.ids.iter().enumerate() {
            let id = id as usize;
            if self.offsets[id + 1] > self.offsets[id] {
                self.positions[counts[id] as usize] = j as u32;
                counts[id] += 1;
            }
        }
        self.counts = counts;
    }

    fn id_or_insert(&mut self, c: char, next: u32) -> u32 {
        if (c as u32) < 128 {
            let slot = &mut self.ascii[c as usize];
            if *slot == NONE {
                *slot = next;
            }
            *slot
        } else {
            *self.other.entry(c).or_insert(next)
        }
    }

    #[inline]
    fn id(&self, c: char) -> u32 {
        if (c as u32) < 128 { self.ascii[c as usize] } else { self.other.get(&c).copied().unwrap_or(NONE) }
    }

    #[inline]
    fn positions_of(&self, id: u32) -> &[u32] {
        if id == NONE {
            return &[];
        }
        let id = id as usize;
        &self.positions[self.offsets[id] as usize..self.offsets[id + 1] as usize]
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }
}

/// Reusable buffers for [`ratio_with`].
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    a: Vec<char>,
    a_ids: Vec<u32>,
    /// Positions in `a` of each id of `b` (CSR, ascending), built when a column scan first needs it.
    a_offsets: Vec<u32>,
    a_positions: Vec<u32>,
    a_index_ready: bool,
    /// Per position of `b` (row scans) or of `a` (column scans): `(stamp << 32) | length`.
    by_j: Vec<u64>,
    by_i: Vec<u64>,
    stamp_base: u32,
    queue: Vec<(u32, u32, u32, u32)>,
}

/// `SequenceMatcher(None, a, b).ratio()` with `b` prepared as `target`.
pub fn ratio_with(a: &str, target: &Target, scratch: &mut Scratch) -> f64 {
    scratch.a.clear();
    scratch.a.extend(a.chars());
    let total = scratch.a.len() + target.len();
    if total == 0 {
        return 1.0;
    }
    let m = matching_chars(target, scratch);
    2.0 * m as f64 / total as f64
}

/// `SequenceMatcher(None, a, b).ratio()`.
pub fn ratio(a: &str, b: &str) -> f64 {
    thread_local! {
        static STATE: std::cell::RefCell<(Target, Scratch)> = std::cell::RefCell::new((Target::new(""), Scratch::default()));
    }
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let (target, scratch) = &mut *s;
        target.set(b);
        ratio_with(a, target, scratch)
    })
}

/// The sum of the sizes of `get_matching_blocks()` (what the ratio needs; collapsing adjacent blocks does
/// not change it, and the order in which sub-ranges are searched does not either).
fn matching_chars(t: &Target, s: &mut Scratch) -> usize {
    let la = s.a.len();
    let lb = t.len();
    s.a_ids.clear();
    s.a_ids.extend(s.a.iter().map(|&c| t.id(c)));
    s.a_index_ready = false;
    if s.by_j.len() < lb {
        s.by_j.resize(lb, 0);
    }
    if s.by_i.len() < la {
        s.by_i.resize(la, 0);
    }
    s.queue.clear();
    s.queue.push((0, la as u32, 0, lb as u32));
    let mut matched = 0usize;
    while let Some((alo, ahi, blo, bhi)) = s.queue.pop() {
        let (i, j, k) = find_longest_match(t, s, alo, ahi, blo, bhi);
        if k > 0 {
            matched += k as usize;
            if alo < i && blo < j {
                s.queue.push((alo, i, blo, j));
            }
            if i + k < ahi && j + k < bhi {
                s.queue.push((i + k, ahi, j + k, bhi));
            }
        }
    }
    matched
}

/// Positions in `a` of every id of `b` (ascending), for column scans.
fn build_a_index(t: &Target, s: &mut Scratch) {
    let n_ids = t.offsets.len().saturating_sub(1);
    s.a_offsets.clear();
    s.a_offsets.resize(n_ids + 2, 0);
    for &id in &s.a_ids {
        if id != NONE {
            s.a_offsets[id as usize + 2] += 1;
        }
    }
    for k in 2..s.a_offsets.len() {
        s.a_offsets[k] += s.a_offsets[k - 1];
    }
    // a_offsets[id + 1] is now the start of id's run: use it as the fill cursor, ending as its end.
    s.a_positions.clear();
    s.a_positions.resize(s.a_offsets[n_ids + 1] as usize, 0);
    for (i, &id) in s.a_ids.iter().enumerate() {
        if id != NONE {
            let slot = &mut s.a_offsets[id as usize + 1];
            s.a_positions[*slot as usize] = i as u32;
            *slot += 1;
        }
    }
    s.a_index_ready = true;
}

/// The block CPython's `find_longest_match(alo, ahi, blo, bhi)` returns (no junk function).
///
/// CPython scans rows `i` in order and, per row, `b`'s positions `j` of `a[i]` in order, keeping the first
/// strictly longer run: so it returns, among the longest diagonal runs of `b2j` matches inside the rectangle,
/// the one whose last cell comes first in row-major order. The same block is found here by scanning whichever
/// side of the rectangle is shorter (rows of `a`, or columns of `b`), so a long `a` against a short stretch of
/// `b` does not pay for every row. Run lengths live in one array of `(stamp, length)` cells: a cell counts only
/// when its stamp is the previous row (or column), so nothing is cleared; each line walks its positions in
/// descending order so that the previous line's neighbour is read before it is overwritten.
fn find_longest_match(t: &Target, s: &mut Scratch, alo: u32, ahi: u32, blo: u32, bhi: u32) -> (u32, u32, u32) {
    let by_rows = ahi - alo <= bhi - blo;
    let lines = if by_rows { ahi - alo } else { bhi - blo };
    let base = s.stamp_base;
    s.stamp_base = match s.stamp_base.checked_add(lines + 2) {
        Some(next) => next,
        None => {
            // Stamps wrapped: start afresh.
            s.by_i.iter_mut().for_each(|c| *c = 0);
            s.by_j.iter_mut().for_each(|c| *c = 0);
            s.stamp_base = 0;
            return find_longest_match(t, s, alo, ahi, blo, bhi);
        }
    };
    if !by_rows && !s.a_index_ready {
        build_a_index(t, s);
    }
    // The best run so far: its length and last cell (row-major order decides ties).
    let (mut bestsize, mut end_i, mut end_j) = (0u32, u32::MAX, u32::MAX);
    if by_rows {
        let cells = &mut s.by_j;
        for i in alo..ahi {
            let line = clip(t.positions_of(s.a_ids[i as usize]), blo, bhi);
            let stamp = base + (i - alo) + 2;
            for &j in line.iter().rev() {
                let k = extend_run(cells, j as usize, stamp);
                if k > bestsize || (k == bestsize && (i, j) < (end_i, end_j)) {
                    (bestsize, end_i, end_j) = (k, i, j);
                }
            }
        }
    } else {
        let cells = &mut s.by_i;
        for j in blo..bhi {
            let id = t.ids[j as usize];
            if t.positions_of(id).is_empty() {
                continue; // popular in b: not in b2j
            }
            let id = id as usize;
            let all = &s.a_positions[s.a_offsets[id] as usize..s.a_offsets[id + 1] as usize];
            let line = clip(all, alo, ahi);
            let stamp = base + (j - blo) + 2;
            for &i in line.iter().rev() {
                let k = extend_run(cells, i as usize, stamp);
                if k > bestsize || (k == bestsize && (i, j) < (end_i, end_j)) {
                    (bestsize, end_i, end_j) = (k, i, j);
                }
            }
        }
    }
    let (mut besti, mut bestj) = if bestsize == 0 { (alo, blo) } else { (end_i + 1 - bestsize, end_j + 1 - bestsize) };
    // Extend over equal elements on each end (popular ones included: they are not junk).
    let (a, b) = (&s.a, &t.chars);
    while besti > alo && bestj > blo && a[besti as usize - 1] == b[bestj as usize - 1] {
        besti -= 1;
        bestj -= 1;
        bestsize += 1;
    }
    while besti + bestsize < ahi
        && bestj + bestsize < bhi
        && a[(besti + bestsize) as usize] == b[(bestj + bestsize) as usize]
    {
        bestsize += 1;
    }
    (besti, bestj, bestsize)
}

/// The length of the run ending at cell `p` of the current line (stamp `stamp`): one more than the run ending
/// at `p - 1` of the previous line, if that cell was written by it.
#[inline(always)]
fn extend_run(cells: &mut [u64], p: usize, stamp: u32) -> u32 {
    debug_assert!(p < cells.len());
    // SAFETY: positions are < len(a) or len(b), and both cell arrays are resized to those in `matching_chars`.
    let k = if p > 0 {
        let c = unsafe { *cells.get_unchecked(p - 1) };
        if (c >> 32) as u32 == stamp - 1 { c as u32 } else { 0 }
    } else {
        0
    } + 1;
    unsafe { *cells.get_unchecked_mut(p) = ((stamp as u64) << 32) | k as u64 };
    k
}

/// The part of an ascending position list within `[lo, hi)`.
#[inline]
fn clip(list: &[u32], lo: u32, hi: u32) -> &[u32] {
    if list.is_empty() {
        return list;
    }
    if lo <= list[0] && list[list.len() - 1] < hi {
        return list;
    }
    let start = if lo == 0 { 0 } else { list.partition_point(|&j| j < lo) };
    let end = list.partition_point(|&j| j < hi);
    &list[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Values printed by CPython 3.11.
        assert_eq!(ratio("", ""), 1.0);
        assert_eq!(ratio("abc", ""), 0.0);
        assert_eq!(ratio("abcd", "bcde"), 0.75);
        assert_eq!(ratio("qabxcd", "abycdf"), 0.6666666666666666);
        assert_eq!(
            ratio("private Thread currentThread;", "private volatile Thread currentThread;"),
            0.8656716417910447
        );
    }

    #[test]
    fn autojunk_kicks_in_at_200() {
        // b of 200 'a's: 'a' is popular, so b2j is empty, but extension from (0, 0) still matches.
        let b = "a".repeat(200);
        assert_eq!(ratio(&"a".repeat(10), &b), 2.0 * 10.0 / 210.0);
        // 'x' then 199 'a': the 'x' anchors nothing in a, extension from (0,0) fails: 0 matches.
        let b2 = format!("x{}", "a".repeat(199));
        assert_eq!(ratio(&"a".repeat(10), &b2), 0.0);
    }

    #[test]
    fn scratch_reuse_gives_the_same_answer() {
        let t = Target::new("hello world, hello there");
        let mut s = Scratch::default();
        let x = ratio_with("hello there world", &t, &mut s);
        let y = ratio_with("hello there world", &t, &mut s);
        assert_eq!(x, y);
        assert_eq!(x, ratio("hello there world", "hello world, hello there"));
    }

    #[test]
    fn one_target_reset_for_many_strings_equals_fresh_targets() {
        // `set` reuses the id, count and position buffers: a target re-prepared for each b in turn (long and
        // short, ASCII and not, with popular elements and without) scores as a fresh one does.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let alphabet: Vec<char> = "ab cd\n=()éz中😀".chars().collect();
        let mut reused = Target::new("");
        let mut s1 = Scratch::default();
        let mut s2 = Scratch::default();
        for round in 0..400 {
            let len = [0, 5, 60, 199, 200, 201, 700][round % 7] + next(3);
            let width = 1 + next(alphabet.len());
            let mut text = |n: usize| -> String { (0..n).map(|_| alphabet[next(width)]).collect() };
            let (a, b) = (text(len / 2 + 3), text(len));
            reused.set(&b);
            let x = ratio_with(&a, &reused, &mut s1);
            let y = ratio_with(&a, &Target::new(&b), &mut s2);
            assert_eq!(x.to_bits(), y.to_bits(), "a={a:?} b={b:?}");
        }
    }
}
