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
pub fn profile(query: &[u8]) -> Vec<Vec<i32>> {
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
pub fn sw_score(
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

/// Best local alignment with traceback (quadratic memory: for hits only).
pub fn sw_align(query: &[u8], target: &[u8], gaps: GapCosts) -> Alignment {
    let (m, n) = (query.len(), target.len());
    let w = n + 1;
    let neg = i32::MIN / 2;
    let (go, ge) = (gaps.open + gaps.extend, gaps.extend);
    let mut h = vec![0i32; (m + 1) * w];
    let mut e = vec![neg; (m + 1) * w]; // ends with a target residue against a gap
    let mut f = vec![neg; (m + 1) * w]; // ends with a query residue against a gap
    let mut best = (0, 0, 0);
    for i in 1..=m {
        for j in 1..=n {
            let k = i * w + j;
            e[k] = (e[k - 1] - ge).max(h[k - 1] - go);
            f[k] = (f[k - w] - ge).max(h[k - w] - go);
            let s = h[k - w - 1] + BLOSUM62[query[i - 1] as usize][target[j - 1] as usize] as i32;
            h[k] = s.max(e[k]).max(f[k]).max(0);
            if h[k] > best.0 {
                best = (h[k], i, j);
            }
        }
    }
    // Traceback through the three matrices.
    #[derive(PartialEq)]
    enum State {
        H,
        E,
        F,
    }
    let (score, mut i, mut j) = best;
    let (qe, te) = (i, j);
    let mut ops = Vec::new();
    let mut state = State::H;
    while i > 0 && j > 0 {
        let k = i * w + j;
        match state {
            State::H => {
                if h[k] == 0 {
                    break;
                }
                let s =
                    h[k - w - 1] + BLOSUM62[query[i - 1] as usize][target[j - 1] as usize] as i32;
                if h[k] == s {
                    ops.push(Op::Match);
                    i -= 1;
                    j -= 1;
                } else if h[k] == e[k] {
                    state = State::E;
                } else {
                    state = State::F;
                }
            }
            State::E => {
                ops.push(Op::Insert);
                if e[k] == h[k - 1] - go {
                    state = State::H;
                }
                j -= 1;
            }
            State::F => {
                ops.push(Op::Delete);
                if f[k] == h[k - w] - go {
                    state = State::H;
                }
                i -= 1;
            }
        }
    }
    ops.reverse();
    Alignment {
        score,
        query: (i, qe),
        target: (j, te),
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
    fn evalues_fall_with_score() {
        assert!(evalue(100, 150, 9_000_000) < evalue(50, 150, 9_000_000));
        assert!(evalue(100, 150, 9_000_000) < 1e-3);
    }
}
