//! Energies and analytic forces of a [`System`], term by term, in double precision (OpenMM's units: kJ/mol
//! and kJ/mol/nm). The forms are OpenMM's: harmonic bonds and angles `k/2 (x - x0)²`, periodic torsions
//! `k (1 + cos(nφ - φ0))` (IUPAC dihedral sign), Coulomb `q_i q_j / (4πε0 r)` and Lennard-Jones
//! `4ε ((σ/r)¹² - (σ/r)⁶)` with Lorentz-Berthelot combination over all pairs (no cutoff, vacuum), the 1-4 pairs
//! with their scaled parameters, and heavy-atom position restraints `k/2 |x - x0|²`.
//!
//! The all-pairs nonbonded sum runs over fixed blocks of atoms in parallel; each block writes its own force
//! array and the blocks are summed in order, so results do not depend on the number of threads.

use rayon::prelude::*;

use super::system::System;

/// 1/(4πε0) in kJ·nm/(mol·e²), from the 2019 SI constants (e, N_A) and CODATA 2018 ε0, as OpenMM 8 uses it.
pub const COULOMB: f64 = 138.935_457_644_381_96;
/// kJ per kcal.
pub const KJ_PER_KCAL: f64 = 4.184;

/// Atoms per block of the nonbonded sum (a fixed size: the sum's order does not depend on the threads).
const BLOCK: usize = 128;

pub type Vec3 = [f64; 3];

#[inline]
pub(crate) fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
#[inline]
pub(crate) fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
#[inline]
pub(crate) fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
#[inline]
pub(crate) fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
#[inline]
pub(crate) fn scale(a: Vec3, s: f64) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}
#[inline]
fn add_to(f: &mut Vec3, v: Vec3) {
    f[0] += v[0];
    f[1] += v[1];
    f[2] += v[2];
}
#[inline]
fn sub_from(f: &mut Vec3, v: Vec3) {
    f[0] -= v[0];
    f[1] -= v[1];
    f[2] -= v[2];
}

/// Harmonic restraints of atoms towards reference positions.
#[derive(Debug, Clone, Default)]
pub struct Restraints {
    /// kJ/mol/nm²
    pub k: f64,
    pub atoms: Vec<usize>,
    /// nm, one per restrained atom
    pub reference: Vec<Vec3>,
}

/// The energy terms, in kJ/mol.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Energies {
    pub bond: f64,
    pub angle: f64,
    pub torsion: f64,
    pub coulomb: f64,
    pub lj: f64,
    pub restraint: f64,
}

impl Energies {
    pub fn nonbonded(&self) -> f64 {
        self.coulomb + self.lj
    }
    pub fn total(&self) -> f64 {
        self.bond + self.angle + self.torsion + self.coulomb + self.lj + self.restraint
    }
}

/// Which terms to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    Bond,
    Angle,
    Torsion,
    Coulomb,
    LennardJones,
    Restraint,
}

impl Term {
    pub const ALL: [Term; 6] = [
        Term::Bond,
        Term::Angle,
        Term::Torsion,
        Term::Coulomb,
        Term::LennardJones,
        Term::Restraint,
    ];
}

pub fn bonds(sys: &System, x: &[Vec3], f: &mut [Vec3]) -> f64 {
    let mut e = 0.0;
    for b in &sys.bonds {
        let [i, j] = b.atoms;
        let d = sub(x[j], x[i]);
        let r = dot(d, d).sqrt();
        let dr = r - b.length;
        e += 0.5 * b.k * dr * dr;
        if r > 0.0 {
            let g = scale(d, b.k * dr / r);
            add_to(&mut f[i], g);
            sub_from(&mut f[j], g);
        }
    }
    e
}

pub fn angles(sys: &System, x: &[Vec3], f: &mut [Vec3]) -> f64 {
    let mut e = 0.0;
    for a in &sys.angles {
        let [i, j, k] = a.atoms;
        let u = sub(x[i], x[j]);
        let v = sub(x[k], x[j]);
        let c = cross(u, v);
        let cn = dot(c, c).sqrt();
        let theta = cn.atan2(dot(u, v));
        let dtheta = theta - a.angle;
        e += 0.5 * a.k * dtheta * dtheta;
        if cn < 1e-12 {
            continue; // collinear: the angle's gradient direction is undefined (OpenMM skips it too)
        }
        let de = a.k * dtheta;
        // dθ/dx_i = (u × c) / (|u|² |c|) and dθ/dx_k = (c × v) / (|v|² |c|): in the plane, perpendicular
        // to the arms.
        let fi = scale(cross(u, c), -de / (dot(u, u) * cn));
        let fk = scale(cross(c, v), -de / (dot(v, v) * cn));
        add_to(&mut f[i], fi);
        add_to(&mut f[k], fk);
        sub_from(&mut f[j], fi);
        sub_from(&mut f[j], fk);
    }
    e
}

/// The IUPAC dihedral of four points and its gradient pieces (GROMACS's decomposition).
pub fn dihedral(x: &[Vec3], [i, j, k, l]: [usize; 4]) -> (f64, Vec3, Vec3, Vec3, f64, f64, f64) {
    let r_ij = sub(x[i], x[j]);
    let r_kj = sub(x[k], x[j]);
    let r_kl = sub(x[k], x[l]);
    let m = cross(r_ij, r_kj);
    let n = cross(r_kj, r_kl);
    let mn = cross(m, n);
    let phi = dot(mn, mn).sqrt().atan2(dot(m, n));
    let sign = if dot(r_ij, n) < 0.0 { -1.0 } else { 1.0 };
    (
        sign * phi,
        m,
        n,
        r_kj,
        dot(r_ij, r_kj),
        dot(r_kl, r_kj),
        dot(r_kj, r_kj),
    )
}

pub fn torsions(sys: &System, x: &[Vec3], f: &mut [Vec3]) -> f64 {
    let mut e = 0.0;
    for t in &sys.torsions {
        let [i, j, k, l] = t.atoms;
        let (phi, m, n, _r_kj, ij_kj, kl_kj, kj2) = dihedral(x, t.atoms);
        let arg = t.periodicity as f64 * phi - t.phase;
        e += t.k * (1.0 + arg.cos());
        let ddphi = -t.k * t.periodicity as f64 * arg.sin();
        let m2 = dot(m, m);
        let n2 = dot(n, n);
        if m2 < 1e-24 || n2 < 1e-24 {
            continue;
        }
        let nrkj = kj2.sqrt();
        let fi = scale(m, -ddphi * nrkj / m2);
        let fl = scale(n, ddphi * nrkj / n2);
        let p = ij_kj / kj2;
        let q = kl_kj / kj2;
        let s = sub(scale(fi, p), scale(fl, q));
        let fj = sub(fi, s);
        let fk = [fl[0] + s[0], fl[1] + s[1], fl[2] + s[2]];
        add_to(&mut f[i], fi);
        sub_from(&mut f[j], fj);
        sub_from(&mut f[k], fk);
        add_to(&mut f[l], fl);
    }
    e
}

/// Per-atom nonbonded parameters in the form the pair loop wants, and positions, as separate arrays
/// (contiguous runs of atoms vectorise).
struct PairTables {
    x: Vec<f64>,
    y: Vec<f64>,
    z: Vec<f64>,
    /// charges (e)
    q: Vec<f64>,
    /// σ/2 (Lorentz: σ_ij = σ_i/2 + σ_j/2)
    half_sigma: Vec<f64>,
    /// √ε (Berthelot: ε_ij = √ε_i · √ε_j)
    sqrt_eps: Vec<f64>,
}

/// Pairs computed per pass of [`pair_run`]: the per-pair terms go to small arrays first (no reduction in
/// that loop, so it vectorises), then are summed in order.
const LANES: usize = 64;

/// One atom `i` against the atoms `range` (none excluded): energies into `e`, forces into `fi` (atom i)
/// and `fx/fy/fz` (the others). `C`/`L`: Coulomb / Lennard-Jones on.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pair_run<const C: bool, const L: bool>(
    t: &PairTables,
    i: usize,
    range: std::ops::Range<usize>,
    e: &mut (f64, f64),
    fi: &mut Vec3,
    fx: &mut [f64],
    fy: &mut [f64],
    fz: &mut [f64],
) {
    let (xi, yi, zi) = (t.x[i], t.y[i], t.z[i]);
    let (qi, hsi, sei) = (COULOMB * t.q[i], t.half_sigma[i], t.sqrt_eps[i]);
    let mut lo = range.start;
    while lo < range.end {
        let m = (range.end - lo).min(LANES);
        let hi = lo + m;
        let (xs, ys, zs) = (&t.x[lo..hi], &t.y[lo..hi], &t.z[lo..hi]);
        let (qs, hs, se) = (&t.q[lo..hi], &t.half_sigma[lo..hi], &t.sqrt_eps[lo..hi]);
        let mut dx = [0.0; LANES];
        let mut dy = [0.0; LANES];
        let mut dz = [0.0; LANES];
        let mut g = [0.0; LANES]; // -dE/dr / r
        let mut ec = [0.0; LANES];
        let mut el = [0.0; LANES];
        for k in 0..m {
            dx[k] = xs[k] - xi;
            dy[k] = ys[k] - yi;
            dz[k] = zs[k] - zi;
            let r2 = dx[k] * dx[k] + dy[k] * dy[k] + dz[k] * dz[k];
            let inv_r2 = 1.0 / r2;
            let mut gk = 0.0;
            if C {
                let v = qi * qs[k] * inv_r2.sqrt();
                ec[k] = v;
                gk += v * inv_r2;
            }
            if L {
                let sig = hsi + hs[k];
                let eps4 = 4.0 * sei * se[k];
                let s2 = sig * sig * inv_r2;
                let s6 = s2 * s2 * s2;
                el[k] = eps4 * (s6 * s6 - s6);
                gk += 6.0 * eps4 * (2.0 * s6 * s6 - s6) * inv_r2;
            }
            g[k] = gk;
        }
        let (fxs, fys, fzs) = (&mut fx[lo..hi], &mut fy[lo..hi], &mut fz[lo..hi]);
        for k in 0..m {
            fxs[k] += dx[k] * g[k];
            fys[k] += dy[k] * g[k];
            fzs[k] += dz[k] * g[k];
        }
        for k in 0..m {
            e.0 += ec[k];
            e.1 += el[k];
            fi[0] -= dx[k] * g[k];
            fi[1] -= dy[k] * g[k];
            fi[2] -= dz[k] * g[k];
        }
        lo = hi;
    }
}

/// The pairs of the atoms `block` with every later atom.
#[inline(always)]
fn pair_block<const C: bool, const L: bool>(
    t: &PairTables,
    excluded_above: &[Vec<usize>],
    block: std::ops::Range<usize>,
) -> ((f64, f64), Vec<Vec3>, [Vec<f64>; 3]) {
    let n = t.x.len();
    let (mut fx, mut fy, mut fz) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut own = vec![[0.0; 3]; block.len()];
    let mut e = (0.0, 0.0);
    for i in block.clone() {
        let mut start = i + 1;
        let fi = &mut own[i - block.start];
        for &stop in excluded_above[i].iter().chain(std::iter::once(&n)) {
            if stop > start {
                pair_run::<C, L>(t, i, start..stop, &mut e, fi, &mut fx, &mut fy, &mut fz);
            }
            start = stop + 1;
        }
    }
    (e, own, [fx, fy, fz])
}

type Block = ((f64, f64), Vec<Vec3>, [Vec<f64>; 3]);

/// [`pair_block`] compiled for the widest vector instructions the CPU has (the same arithmetic in the same
/// order at every width: the results do not depend on it).
fn pair_block_dispatch<const C: bool, const L: bool>(
    t: &PairTables,
    excluded_above: &[Vec<usize>],
    block: std::ops::Range<usize>,
) -> Block {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512<const C: bool, const L: bool>(
            t: &PairTables,
            ex: &[Vec<usize>],
            b: std::ops::Range<usize>,
        ) -> Block {
            pair_block::<C, L>(t, ex, b)
        }
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<const C: bool, const L: bool>(
            t: &PairTables,
            ex: &[Vec<usize>],
            b: std::ops::Range<usize>,
        ) -> Block {
            pair_block::<C, L>(t, ex, b)
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the instructions the function was compiled for.
            return unsafe { avx512::<C, L>(t, excluded_above, block) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { avx2::<C, L>(t, excluded_above, block) };
        }
    }
    pair_block::<C, L>(t, excluded_above, block)
}

/// Coulomb and Lennard-Jones over all pairs but the excluded ones, plus the scaled 1-4 pairs:
/// (Coulomb energy, LJ energy), forces of the selected parts added to `f`. Exact (no cutoff): every pair is
/// summed; each atom's partners run in the stretches between its exclusions, which vectorise.
pub fn nonbonded(sys: &System, x: &[Vec3], f: &mut [Vec3], coulomb: bool, lj: bool) -> (f64, f64) {
    let n = x.len();
    let t = PairTables {
        x: x.iter().map(|p| p[0]).collect(),
        y: x.iter().map(|p| p[1]).collect(),
        z: x.iter().map(|p| p[2]).collect(),
        q: sys.charges.clone(),
        half_sigma: sys.sigmas.iter().map(|s| 0.5 * s).collect(),
        sqrt_eps: sys.epsilons.iter().map(|e| e.sqrt()).collect(),
    };
    let run = match (coulomb, lj) {
        (true, true) => pair_block_dispatch::<true, true>,
        (true, false) => pair_block_dispatch::<true, false>,
        (false, true) => pair_block_dispatch::<false, true>,
        (false, false) => return (0.0, 0.0),
    };
    let blocks: Vec<Block> = (0..n.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| run(&t, &sys.excluded_above, b * BLOCK..((b + 1) * BLOCK).min(n)))
        .collect();
    let (mut ec, mut el) = (0.0, 0.0);
    for (b, ((c, l), own, [fx, fy, fz])) in blocks.into_iter().enumerate() {
        ec += c;
        el += l;
        for (k, v) in own.iter().enumerate().take(n.saturating_sub(b * BLOCK)) {
            add_to(&mut f[b * BLOCK + k], *v);
        }
        for (a, fa) in f.iter_mut().enumerate() {
            fa[0] += fx[a];
            fa[1] += fy[a];
            fa[2] += fz[a];
        }
    }
    for p in &sys.pairs14 {
        let [i, j] = p.atoms;
        let d = sub(x[j], x[i]);
        let r2 = dot(d, d);
        let inv_r2 = 1.0 / r2;
        let inv_r = inv_r2.sqrt();
        let mut g = 0.0;
        if coulomb {
            let e = COULOMB * p.charge_prod * inv_r;
            ec += e;
            g += e * inv_r2;
        }
        if lj {
            let s2 = p.sigma * p.sigma * inv_r2;
            let s6 = s2 * s2 * s2;
            el += 4.0 * p.epsilon * (s6 * s6 - s6);
            g += 24.0 * p.epsilon * (2.0 * s6 * s6 - s6) * inv_r2;
        }
        let fv = scale(d, g);
        sub_from(&mut f[i], fv);
        add_to(&mut f[j], fv);
    }
    (ec, el)
}

pub fn restraints(r: &Restraints, x: &[Vec3], f: &mut [Vec3]) -> f64 {
    let mut e = 0.0;
    for (&a, &x0) in r.atoms.iter().zip(&r.reference) {
        let d = sub(x[a], x0);
        e += 0.5 * r.k * dot(d, d);
        sub_from(&mut f[a], scale(d, r.k));
    }
    e
}

/// The selected terms' energies, and their summed forces into `f` (overwritten).
pub fn evaluate(
    sys: &System,
    restraint: &Restraints,
    x: &[Vec3],
    terms: &[Term],
    f: &mut [Vec3],
) -> Energies {
    f.iter_mut().for_each(|v| *v = [0.0; 3]);
    let mut e = Energies::default();
    let has = |t: Term| terms.contains(&t);
    if has(Term::Bond) {
        e.bond = bonds(sys, x, f);
    }
    if has(Term::Angle) {
        e.angle = angles(sys, x, f);
    }
    if has(Term::Torsion) {
        e.torsion = torsions(sys, x, f);
    }
    if has(Term::Coulomb) || has(Term::LennardJones) {
        let (c, l) = nonbonded(sys, x, f, has(Term::Coulomb), has(Term::LennardJones));
        e.coulomb = c;
        e.lj = l;
    }
    if has(Term::Restraint) {
        e.restraint = restraints(restraint, x, f);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relax::system::{Angle, Bond, Pair14, Torsion};

    fn numeric_forces(x: &[Vec3], energy: impl Fn(&[Vec3]) -> f64) -> Vec<Vec3> {
        let h = 1e-6;
        let mut out = vec![[0.0; 3]; x.len()];
        for a in 0..x.len() {
            for c in 0..3 {
                let mut p = x.to_vec();
                p[a][c] += h;
                let ep = energy(&p);
                p[a][c] -= 2.0 * h;
                let em = energy(&p);
                out[a][c] = -(ep - em) / (2.0 * h);
            }
        }
        out
    }

    fn check(x: &[Vec3], sys: &System, r: &Restraints, term: Term) {
        let mut f = vec![[0.0; 3]; x.len()];
        let e0 = evaluate(sys, r, x, &[term], &mut f).total();
        assert!(
            e0.abs() > 1e-3,
            "{term:?}: a test without energy proves nothing ({e0})"
        );
        let num = numeric_forces(x, |p| {
            evaluate(sys, r, p, &[term], &mut vec![[0.0; 3]; p.len()]).total()
        });
        for (a, (fa, na)) in f.iter().zip(&num).enumerate() {
            for c in 0..3 {
                assert!(
                    (fa[c] - na[c]).abs() <= 1e-5 * (1.0 + na[c].abs()),
                    "{term:?} atom {a} axis {c}: analytic {} numeric {}",
                    fa[c],
                    na[c]
                );
            }
        }
    }

    #[test]
    fn analytic_forces_are_the_energy_gradients() {
        let x: Vec<Vec3> = vec![
            [0.01, 0.02, -0.03],
            [0.15, 0.01, 0.02],
            [0.21, 0.14, -0.01],
            [0.36, 0.16, 0.07],
            [0.05, 0.31, 0.22],
        ];
        let sys = System {
            charges: vec![0.3, -0.5, 0.1, 0.4, -0.2],
            sigmas: vec![0.3, 0.25, 0.34, 0.2, 0.31],
            epsilons: vec![0.4, 0.6, 0.2, 0.1, 0.5],
            bonds: vec![
                Bond {
                    atoms: [0, 1],
                    length: 0.12,
                    k: 3e5,
                },
                Bond {
                    atoms: [2, 1],
                    length: 0.16,
                    k: 2e5,
                },
            ],
            angles: vec![
                Angle {
                    atoms: [0, 1, 2],
                    angle: 1.9,
                    k: 500.0,
                },
                Angle {
                    atoms: [1, 2, 3],
                    angle: 2.1,
                    k: 400.0,
                },
            ],
            torsions: vec![
                Torsion {
                    atoms: [0, 1, 2, 3],
                    periodicity: 3,
                    phase: 0.3,
                    k: 2.0,
                },
                Torsion {
                    atoms: [3, 2, 1, 0],
                    periodicity: 2,
                    phase: 3.0,
                    k: 4.6,
                },
                Torsion {
                    atoms: [1, 0, 2, 4],
                    periodicity: 1,
                    phase: 0.0,
                    k: 1.2,
                },
            ],
            excluded_above: vec![vec![1, 2, 3], vec![2, 3], vec![3], vec![], vec![]],
            pairs14: vec![Pair14 {
                atoms: [0, 3],
                charge_prod: 0.1,
                sigma: 0.25,
                epsilon: 0.2,
            }],
            ..Default::default()
        };
        let r = Restraints {
            k: 4184.0,
            atoms: vec![0, 3],
            reference: vec![[0.0, 0.03, -0.02], [0.35, 0.18, 0.06]],
        };
        for term in Term::ALL {
            check(&x, &sys, &r, term);
        }
    }
}
