//! Smith-Waterman local alignment with affine gaps (Gotoh 1982), BLOSUM62, and Karlin-Altschul E-values.
//! A score-only pass (linear memory, query profile) screens candidates; hits are re-aligned with traceback.

/// BLOSUM62 (Henikoff & Henikoff 1992), rows and columns in AlphaFold2 residue order + X.
#[rustfmt::skip]
pub const BLOSUM62: [[i8; 21]; 21] = [
    [4, -1, -2, -2, 0, -1, -1, 0, -2, -1, -1, -1, -1, -2, -1, 1, 0, -3, -2, 0, 0],
    [-1, 5, 0, -2, -3, 1, 0, -2, 0, -3, -2, 2, -1, -3, -2, -1, -1, -3, -2, -3, -1],
    [-2, 0, 6, 1, -3, 0, 0, 0, 1, -3, -3, 0, -2, -3, -2, 1, 0, -4, -2, -3, -1],
    [-2, -2, 1, 6, -3, 0, 2, -1, -1, -3, -4, -1, -3, -3, -1, 0, -1, -4, -3, -3, -1],
    [0, -3, -3, -3, 9, -3, -4, -3, -3, -1, -1, -3, -1, -2, -3, -1, -1, -2, -2, -1, -2],
    [-1, 1, 0, 0, -3, 5, 2, -2, 0, -3, -2, 1, 0, -3, -1, 0, -1, -2, -1, -2, -1],
    [-1, 0, 0, 2, -4, 2, 5, -2, 0, -3, -3, 1, -2, -3, -1, 0, -1, -3, -2, -2, -1],
    [0, -2, 0, -1, -3, -2, -2, 6, -2, -4, -4, -2, -3, -3, -2, 0, -2, -2, -3, -3, -1],
    [-2, 0, 1, -1, -3, 0, 0, -2, 8, -3, -3, -1, -2, -1, -2, -1, -2, -2, 2, -3, -1],
    [-1, -3, -3, -3, -1, -3, -3, -4, -3, 4, 2, -3, 1, 0, -3, -2, -1, -3, -1, 3, -1],
    [-1, -2, -3, -4, -1, -2, -3, -4, -3, 2, 4, -2, 2, 0, -3, -2, -1, -2, -1, 1, -1],
    [-1, 2, 0, -1, -3, 1, 1, -2, -1, -3, -2, 5, -1, -3, -1, 0, -1, -3, -2, -2, -1],
    [-1, -1, -2, -3, -1, 0, -2, -3, -2, 1, 2, -1, 5, 0, -2, -1, -1, -1, -1, 1, -1],
    [-2, -3, -3, -3, -2, -3, -3, -3, -1, 0, 0, -3, 0, 6, -4, -2, -2, 1, 3, -1, -1],
    [-1, -2, -2, -1, -3, -1, -1, -2, -2, -3, -3, -1, -2, -4, 7, -1, -1, -4, -3, -2, -2],
    [1, -1, 1, 0, -1, 0, 0, 0, -1, -2, -2, 0, -1, -2, -1, 4, 1, -3, -2, -2, 0],
    [0, -1, 0, -1, -1, -1, -1, -2, -2, -1, -1, -1, -1, -2, -1, 1, 5, -2, -2, 0, 0],
    [-3, -3, -4, -4, -2, -2, -3, -2, -2, -3, -2, -3, -1, 1, -4, -3, -2, 11, 2, -3, -2],
    [-2, -2, -2, -3, -2, -1, -2, -3, 2, -1, -1, -2, -1, 3, -3, -2, -2, 2, 7, -1, -1],
    [0, -3, -3, -3, -1, -2, -2, -3, -3, 3, 1, -2, 1, -1, -2, -2, 0, -3, -1, 4, -1],
    [0, -1, -1, -1, -2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -2, 0, 0, -2, -1, -1, -1],
];

/// BLOSUM62 padded to 32 × 32 (zeros outside the 21 codes), so that indices masked with `& 31` need no
/// bounds checks in the inner loops (the prefilter's ungapped extension, the banded traceback).
pub static BLOSUM62_PADDED: [[i8; 32]; 32] = {
    let mut t = [[0i8; 32]; 32];
    let mut a = 0;
    while a < BLOSUM62.len() {
        let mut b = 0;
        while b < BLOSUM62.len() {
            t[a][b] = BLOSUM62[a][b];
            b += 1;
        }
        a += 1;
    }
    t
};

/// Gap costs: a gap of length k costs `open + k·extend` (BLAST's "existence 11, extension 1").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapCosts {
    pub open: i32,
    pub extend: i32,
}

impl Default for GapCosts {
    fn default() -> Self {
        Self {
            open: 11,
            extend: 1,
        }
    }
}

/// Karlin-Altschul parameters of BLOSUM62 with gaps 11/1 (BLAST's gapped values).
pub const LAMBDA: f64 = 0.267;
pub const K: f64 = 0.041;

/// Expected number of chance hits with score ≥ `score` for a query of `m` residues against `n` residues.
pub fn evalue(score: i32, m: usize, n: usize) -> f64 {
    K * m as f64 * n as f64 * (-LAMBDA * score as f64).exp()
}

/// Bit score.
pub fn bits(score: i32) -> f64 {
    (LAMBDA * score as f64 - K.ln()) / std::f64::consts::LN_2
}

/// Query profile: for each residue code (0..=20), the substitution score at every query position.
pub(crate) fn profile(query: &[u8]) -> Vec<Vec<i32>> {
    (0..21)
        .map(|r| {
            query
                .iter()
                .map(|&q| BLOSUM62[q as usize][r] as i32)
                .collect()
        })
        .collect()
}

/// Best local alignment score of the query (as a profile) against `target`. `h` and `e` are scratch rows of
/// at least `query length + 1`.
pub(crate) fn sw_score(
    prof: &[Vec<i32>],
    target: &[u8],
    gaps: GapCosts,
    h: &mut Vec<i32>,
    e: &mut Vec<i32>,
) -> i32 {
    let m = prof[0].len();
    h.clear();
    h.resize(m + 1, 0);
    e.clear();
    e.resize(m + 1, i32::MIN / 2);
    let (go, ge) = (gaps.open + gaps.extend, gaps.extend);
    let mut best = 0;
    for &t in target {
        let row = &prof[t as usize];
        let mut diag = 0; // H[i-1][j-1]
        let mut f = i32::MIN / 2; // gap along the query within this target column
        let mut h_up = 0; // H[i-1][j]
        for i in 1..=m {
            // e[i]: gap in the query (target residue unaligned), from the previous column
            let ei = (e[i] - ge).max(h[i] - go);
            e[i] = ei;
            f = (f - ge).max(h_up - go);
            let hi = (diag + row[i - 1]).max(ei).max(f).max(0);
            diag = h[i];
            h[i] = hi;
            h_up = hi;
            best = best.max(hi);
        }
    }
    best
}

/// One column of a local alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Query and target residue aligned.
    Match,
    /// Query residue against a gap (a deletion in the target).
    Delete,
    /// Target residue against a gap (an insertion relative to the query).
    Insert,
}

/// A local alignment with its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alignment {
    pub score: i32,
    /// Half-open query range.
    pub query: (usize, usize),
    /// Half-open target range.
    pub target: (usize, usize),
    pub ops: Vec<Op>,
}

/// Best local alignment with traceback (the band of [`sw_align_banded`] widened to every diagonal).
#[cfg(test)]
fn sw_align(query: &[u8], target: &[u8], gaps: GapCosts) -> Alignment {
    sw_align_banded(query, target, gaps, 0, query.len() + target.len())
}

/// [`sw_align`] restricted to a band of `half_width` diagonals either side of `diagonal` (`target index −
/// query index` of a seed): linear in the query length for long targets. The score is that of the best
/// alignment inside the band (the full Smith-Waterman score when the alignment's indels stay within it).
#[allow(clippy::needless_range_loop)] // several arrays indexed by the same band column
pub(crate) fn sw_align_banded(
    query: &[u8],
    target: &[u8],
    gaps: GapCosts,
    diagonal: isize,
    half_width: usize,
) -> Alignment {
    const H_ZERO: u8 = 0;
    const H_DIAG: u8 = 1;
    const H_E: u8 = 2;
    const H_F: u8 = 3;
    const E_OPEN: u8 = 4;
    const F_OPEN: u8 = 8;
    let (m, n) = (query.len() as isize, target.len() as isize);
    let b = half_width as isize;
    let w = (2 * b + 1) as usize;
    let neg = i32::MIN / 2;
    let (go, ge) = (gaps.open + gaps.extend, gaps.extend);
    // Row i holds columns j = i + diagonal - b + k, k in 0..w.
    let col = |i: isize, k: usize| i + diagonal - b + k as isize;
    let mut trace = vec![0u8; (m as usize + 1) * w];
    let mut h_prev = vec![neg; w + 1];
    let mut f_prev = vec![neg; w + 1];
    let mut h_cur = vec![neg; w + 1];
    let mut f_cur = vec![neg; w + 1];
    // Row 0: H = 0 on real columns.
    for k in 0..w {
        if (0..=n).contains(&col(0, k)) {
            h_prev[k] = 0;
        }
    }
    let mut best = (0, 0isize, 0usize);
    for i in 1..=m {
        let scores = &BLOSUM62_PADDED[query[i as usize - 1] as usize & 31];
        // Columns of this row inside the target (0 ≤ j ≤ n): k_lo..=k_hi; the rest of the band is -inf.
        let base = i + diagonal - b;
        let k_lo = (-base).clamp(0, w as isize) as usize;
        let k_hi_excl = (n - base + 1).clamp(0, w as isize) as usize;
        h_cur.fill(neg);
        f_cur.fill(neg);
        if k_lo >= k_hi_excl {
            std::mem::swap(&mut h_prev, &mut h_cur);
            std::mem::swap(&mut f_prev, &mut f_cur);
            continue;
        }
        let mut e = neg;
        let mut h_left = neg;
        let mut first = k_lo;
        if base + k_lo as isize == 0 {
            // Column 0: a local alignment may start after it.
            h_cur[k_lo] = 0;
            h_left = 0;
            first += 1;
        }
        // Equal-length slices of this row's cells (k = first + x), so that the loop runs without bounds
        // checks; the target residue of column j = base + k is j - 1.
        let len = k_hi_excl - first;
        let hp0 = &h_prev[first..first + len];
        let hp1 = &h_prev[first + 1..first + 1 + len];
        let fp1 = &f_prev[first + 1..first + 1 + len];
        let hc = &mut h_cur[first..first + len];
        let fc = &mut f_cur[first..first + len];
        let tr = &mut trace[i as usize * w + first..i as usize * w + first + len];
        let t0 = (base + first as isize - 1) as usize;
        let tg = &target[t0..t0 + len];
        let mut row_best = (best.0, usize::MAX);
        for x in 0..len {
            let (e_open, e_ext) = (h_left - go, e - ge);
            let e_opened = e_open >= e_ext;
            e = if e_opened { e_open } else { e_ext };
            let (f_open, f_ext) = (hp1[x] - go, fp1[x] - ge);
            let f_opened = f_open >= f_ext;
            let f = if f_opened { f_open } else { f_ext };
            let hp = hp0[x];
            let diag_h = if hp == neg { 0 } else { hp };
            let d = diag_h + scores[tg[x] as usize & 31] as i32;
            // max(0, d, e, f), the first maximal source kept (zero, diagonal, E, F).
            let (mut h, mut src) = (0, H_ZERO);
            if d > h {
                h = d;
                src = H_DIAG;
            }
            if e > h {
                h = e;
                src = H_E;
            }
            if f > h {
                h = f;
                src = H_F;
            }
            hc[x] = h;
            fc[x] = f;
            h_left = h;
            tr[x] = ((e_opened as u8) * E_OPEN) | ((f_opened as u8) * F_OPEN) | src;
            if h > row_best.0 {
                row_best = (h, x);
            }
        }
        if row_best.1 != usize::MAX {
            best = (row_best.0, i, first + row_best.1);
        }
        std::mem::swap(&mut h_prev, &mut h_cur);
        std::mem::swap(&mut f_prev, &mut f_cur);
    }
    #[derive(PartialEq)]
    enum State {
        H,
        E,
        F,
    }
    let (score, mut i, mut k) = best;
    let (qe, te) = (i as usize, col(i, k) as usize);
    let mut ops = Vec::new();
    let mut state = State::H;
    while i > 0 && col(i, k) > 0 {
        let t = trace[i as usize * w + k];
        match state {
            State::H => match t & 3 {
                H_ZERO => break,
                H_DIAG => {
                    ops.push(Op::Match);
                    i -= 1;
                }
                H_E => state = State::E,
                _ => state = State::F,
            },
            State::E => {
                ops.push(Op::Insert);
                if t & E_OPEN != 0 {
                    state = State::H;
                }
                k -= 1;
            }
            State::F => {
                ops.push(Op::Delete);
                if t & F_OPEN != 0 {
                    state = State::H;
                }
                i -= 1;
                k += 1;
            }
        }
    }
    ops.reverse();
    Alignment {
        score,
        query: (i as usize, qe),
        target: (col(i, k) as usize, te),
        ops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::db::encode;

    fn enc(s: &str) -> Vec<u8> {
        s.bytes().map(encode).collect()
    }

    #[test]
    fn identical_sequences_score_their_diagonal() {
        let q = enc("MKVLAAGIVG");
        let want: i32 = q
            .iter()
            .map(|&c| BLOSUM62[c as usize][c as usize] as i32)
            .sum();
        let (mut h, mut e) = (Vec::new(), Vec::new());
        assert_eq!(
            sw_score(&profile(&q), &q, GapCosts::default(), &mut h, &mut e),
            want
        );
        let a = sw_align(&q, &q, GapCosts::default());
        assert_eq!(a.score, want);
        assert!(a.ops.iter().all(|&o| o == Op::Match));
    }

    #[test]
    fn gaps_and_traceback_agree_with_the_score() {
        let q = enc("MKVLAAGIVGWWHHKLMNPQRST");
        let t = enc("AAAMKVLAAGIVGHHKLMNPQRSTAAA"); // "WW" deleted
        let (mut h, mut e) = (Vec::new(), Vec::new());
        let s = sw_score(&profile(&q), &t, GapCosts::default(), &mut h, &mut e);
        let a = sw_align(&q, &t, GapCosts::default());
        assert_eq!(a.score, s);
        assert_eq!(a.ops.iter().filter(|&&o| o == Op::Delete).count(), 2);
        // Recompute the score from the path.
        let (mut qi, mut ti, mut sc, mut in_gap) = (a.query.0, a.target.0, 0, None);
        for op in &a.ops {
            match op {
                Op::Match => {
                    sc += BLOSUM62[q[qi] as usize][t[ti] as usize] as i32;
                    qi += 1;
                    ti += 1;
                    in_gap = None;
                }
                Op::Delete | Op::Insert => {
                    sc -= if in_gap == Some(*op) { 1 } else { 12 };
                    in_gap = Some(*op);
                    if *op == Op::Delete {
                        qi += 1
                    } else {
                        ti += 1
                    }
                }
            }
        }
        assert_eq!(sc, s);
        assert_eq!((qi, ti), (a.query.1, a.target.1));
    }

    #[test]
    fn banded_alignment_equals_full_when_the_band_covers_it() {
        let mut rng = crate::rng::Rng::new(5);
        for round in 0..200 {
            let q: Vec<u8> = (0..(5 + rng.below(80)))
                .map(|_| rng.below(20) as u8)
                .collect();
            let mut t: Vec<u8> = (0..rng.below(30)).map(|_| rng.below(20) as u8).collect();
            let offset = t.len() as isize;
            for &c in &q {
                match rng.below(12) {
                    0 => {}
                    1 => t.extend([c, rng.below(20) as u8]),
                    2 => t.push(rng.below(20) as u8),
                    _ => t.push(c),
                }
            }
            t.extend((0..rng.below(30)).map(|_| rng.below(20) as u8));
            let full = sw_align(&q, &t, GapCosts::default());
            let banded = sw_align_banded(&q, &t, GapCosts::default(), offset, 200);
            assert_eq!(banded.score, full.score, "round {round}");
            let narrow = sw_align_banded(&q, &t, GapCosts::default(), offset, 8);
            assert!(narrow.score <= full.score);
            // The path is a valid alignment of the stated ranges.
            let (mut qi, mut ti) = (narrow.query.0, narrow.target.0);
            for op in &narrow.ops {
                match op {
                    Op::Match => {
                        qi += 1;
                        ti += 1;
                    }
                    Op::Delete => qi += 1,
                    Op::Insert => ti += 1,
                }
            }
            assert_eq!((qi, ti), (narrow.query.1, narrow.target.1), "round {round}");
        }
    }

    #[test]
    fn evalues_fall_with_score() {
        assert!(evalue(100, 150, 9_000_000) < evalue(50, 150, 9_000_000));
        assert!(evalue(100, 150, 9_000_000) < 1e-3);
    }
}
