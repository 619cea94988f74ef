//! Structure-similarity scores of a model against a reference over paired residues:
//! TM-score (Zhang & Skolnick 2004) and GDT (Zemla 2003) with the TM-score program's superposition
//! search, Cα RMSD after the optimal superposition, and lDDT (Mariani et al. 2013), which needs no
//! superposition.

use super::superpose::{dist2, superpose, Transform, P3};

/// TM-score's distance scale for a reference of `len` residues.
pub fn tm_d0(len: usize) -> f64 {
    if len > 15 {
        (1.24 * ((len as f64) - 15.0).cbrt() - 1.8).max(0.5)
    } else {
        0.5
    }
}

/// Best scores found over the searched superpositions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Superposed {
    /// TM-score normalised by the reference length.
    pub tm_score: f64,
    /// Fractions of pairs within 0.5, 1, 2, 4 and 8 Å, each maximised over superpositions.
    pub within: [f64; 5],
}

impl Superposed {
    /// GDT-TS: mean of the fractions within 1, 2, 4, 8 Å (0-100).
    pub fn gdt_ts(&self) -> f64 {
        25.0 * (self.within[1] + self.within[2] + self.within[3] + self.within[4])
    }

    /// GDT-HA: mean of the fractions within 0.5, 1, 2, 4 Å (0-100).
    pub fn gdt_ha(&self) -> f64 {
        25.0 * (self.within[0] + self.within[1] + self.within[2] + self.within[3])
    }
}

const GDT_CUTOFFS: [f64; 5] = [0.5, 1.0, 2.0, 4.0, 8.0];

/// Distances of every pair after `t`.
fn distances(model: &[P3], reference: &[P3], t: &Transform) -> Vec<f64> {
    model
        .iter()
        .zip(reference)
        .map(|(m, r)| dist2(&t.apply(m), r).sqrt())
        .collect()
}

/// Pairs closer than `d`; with fewer than three (and three exist), `d` grows by 0.5 Å until three are
/// in, as the TM-score program does.
fn select(dist: &[f64], mut d: f64) -> Vec<usize> {
    loop {
        let sel: Vec<usize> = (0..dist.len()).filter(|&i| dist[i] < d).collect();
        if sel.len() >= 3 || dist.len() <= 3 || d > 1e3 {
            return sel;
        }
        d += 0.5;
    }
}

/// The TM-score program's search (Zhang & Skolnick 2004): superpositions on every window of `L`, `L/2`,
/// `L/4`, `L/8`, `L/16` (at least 4) consecutive pairs, each refined by re-superposing on the pairs
/// within `d0_search + 1` Å (first `d0_search - 1`) until the set no longer changes, at most 20 times.
/// The TM-score and the fraction of pairs within (≤) each GDT cut-off are maximised over every
/// superposition visited, as that program reports them. `ref_len` normalises both.
///
/// DISCREPANCY: LGA (CASP's GDT) also refines a superposition per cut-off and can find one more residue
/// under a cut-off than this search; GDT here follows the TM-score program, the tool it is checked against.
pub fn search(model: &[P3], reference: &[P3], ref_len: usize) -> Superposed {
    let n = model.len();
    let mut best = Superposed {
        tm_score: 0.0,
        within: [0.0; 5],
    };
    if n == 0 || ref_len == 0 {
        return best;
    }
    let d0 = tm_d0(ref_len);
    let d0_search = d0.clamp(4.5, 8.0);
    let record = |dist: &[f64], best: &mut Superposed| {
        let tm = dist
            .iter()
            .map(|d| 1.0 / (1.0 + (d / d0).powi(2)))
            .sum::<f64>()
            / ref_len as f64;
        best.tm_score = best.tm_score.max(tm);
        for (k, c) in GDT_CUTOFFS.iter().enumerate() {
            let f = dist.iter().filter(|&&d| d <= *c).count() as f64 / ref_len as f64;
            best.within[k] = best.within[k].max(f);
        }
    };
    // Window lengths: L, L/2, ... down to 4 (at most six lengths).
    let min_len = n.min(4);
    let mut lens = Vec::new();
    for k in 0..5 {
        let l = n >> k;
        if l <= min_len {
            break;
        }
        lens.push(l);
    }
    lens.push(min_len);
    for &len in &lens {
        for start in 0..=(n - len) {
            let window: Vec<usize> = (start..start + len).collect();
            let t = superpose(model, reference, &window);
            let dist = distances(model, reference, &t);
            record(&dist, &mut best);
            let mut sel = select(&dist, d0_search - 1.0);
            for _ in 0..20 {
                let t = superpose(model, reference, &sel);
                let dist = distances(model, reference, &t);
                record(&dist, &mut best);
                let next = select(&dist, d0_search + 1.0);
                if next == sel {
                    break;
                }
                sel = next;
            }
        }
    }
    best
}

/// lDDT of a model against a reference: for each scored point, the distances to points of *other*
/// residues within `radius` in the reference, preserved within 0.5/1/2/4 Å in the model. `residue[k]`
/// is the residue of point `k`; `None` positions (absent in the model or the reference) are skipped
/// (absent in the reference) or count as not preserved (absent in the model). Returns the global score
/// (all pairs together) and per residue (its points' pairs; `None` for a residue without pairs).
pub fn lddt(
    model: &[Option<P3>],
    reference: &[Option<P3>],
    residue: &[usize],
    num_residues: usize,
    radius: f64,
) -> (f64, Vec<Option<f64>>) {
    let thresholds = [0.5, 1.0, 2.0, 4.0];
    let mut kept = vec![0.0f64; num_residues];
    let mut pairs = vec![0usize; num_residues];
    let r2 = radius * radius;
    for i in 0..reference.len() {
        let Some(ri) = reference[i] else { continue };
        for j in 0..reference.len() {
            if residue[j] == residue[i] {
                continue;
            }
            let Some(rj) = reference[j] else { continue };
            let d_ref2 = dist2(&ri, &rj);
            if d_ref2 >= r2 {
                continue;
            }
            pairs[residue[i]] += 1;
            if let (Some(mi), Some(mj)) = (model[i], model[j]) {
                let diff = (dist2(&mi, &mj).sqrt() - d_ref2.sqrt()).abs();
                kept[residue[i]] += thresholds.iter().filter(|&&t| diff < t).count() as f64 / 4.0;
            }
        }
    }
    let total_pairs: usize = pairs.iter().sum();
    let global = if total_pairs == 0 {
        0.0
    } else {
        kept.iter().sum::<f64>() / total_pairs as f64
    };
    let per = kept
        .iter()
        .zip(&pairs)
        .map(|(&k, &p)| (p > 0).then(|| k / p as f64))
        .collect();
    (global, per)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helix(n: usize) -> Vec<P3> {
        (0..n)
            .map(|i| {
                let a = i as f64 * 100f64.to_radians();
                [2.3 * a.cos(), 2.3 * a.sin(), 1.5 * i as f64]
            })
            .collect()
    }

    #[test]
    fn identical_structures_score_one() {
        let r = helix(40);
        let s = search(&r, &r, 40);
        assert!((s.tm_score - 1.0).abs() < 1e-12);
        assert_eq!(s.gdt_ts(), 100.0);
        let opt: Vec<Option<P3>> = r.iter().copied().map(Some).collect();
        let res: Vec<usize> = (0..40).collect();
        let (g, per) = lddt(&opt, &opt, &res, 40, 15.0);
        assert_eq!(g, 1.0);
        assert!(per.iter().all(|p| *p == Some(1.0)));
    }

    #[test]
    fn a_displaced_half_lowers_the_scores_and_gdt_finds_the_intact_half() {
        let r = helix(40);
        let mut m = r.clone();
        for p in m.iter_mut().skip(20) {
            p[0] += 10.0;
        }
        let s = search(&m, &r, 40);
        assert!(s.tm_score < 0.8 && s.tm_score > 0.4, "{}", s.tm_score);
        // Half the residues superpose exactly, whichever half is chosen.
        assert!(s.within[0] >= 0.5, "{:?}", s.within);
    }
}
