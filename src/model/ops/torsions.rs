//! Torsion angles of a structure given as atom37 coordinates: AlphaFold2's `atom37_to_torsion_angles`
//! (Jumper et al. (2021) Suppl. 1.8.1 and Alg. 21 "rigidFrom3Points"): for each residue the pre-ω, φ, ψ
//! and χ1-χ4 angles as (sin, cos), the same with π-periodic χ angles flipped, and which angles are
//! defined. Used for the template torsion-angle features (Suppl. Alg. 2 lines 7-8).

use ndarray::{ArrayView2, ArrayView3};

use crate::residue_constants as rc;

/// The seven torsions of one residue.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ResidueTorsions {
    /// `[7][sin, cos]`, angle order pre-ω, φ, ψ, χ1..χ4.
    pub sin_cos: [[f32; 2]; 7],
    /// As `sin_cos`, with the π-periodic χ angles negated (AlphaFold2's `alt_torsion_angles_sin_cos`).
    pub alt_sin_cos: [[f32; 2]; 7],
    /// 1 where the angle's four atoms exist (and, for χ, the residue has that angle).
    pub mask: [f32; 7],
}

/// atom37 indices of the four atoms of each χ angle for residue type `restype` (0..=20); absent angles
/// point at atom 0 (N), as AlphaFold2's `get_chi_atom_indices`.
fn chi_atom_indices(restype: usize) -> [[usize; 4]; 4] {
    let mut out = [[0usize; 4]; 4];
    for (k, atoms) in rc::CHI_ANGLES_ATOMS[restype].iter().enumerate() {
        for (a, name) in atoms.iter().enumerate() {
            out[k][a] = rc::atom37_index(name).expect("χ atoms are atom37 names");
        }
    }
    out
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// `v / sqrt(|v|² + 1e-8)` (AlphaFold2's `vecs_robust_normalize`).
fn robust_normalize(v: [f32; 3]) -> [f32; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + 1e-8).sqrt();
    [v[0] / n, v[1] / n, v[2] / n]
}

/// The (z, y) coordinates of `p3` in the frame whose origin is `p2`, x axis along `p2 - p1` and xy plane
/// through `p0` (Alg. 21 with AlphaFold2's argument order: point on the negative x axis `p1`, origin
/// `p2`, point on the xy plane `p0`), i.e. the unnormalised (sin, cos) of the dihedral p0-p1-p2-p3.
fn fourth_atom_zy(p: [[f32; 3]; 4]) -> [f32; 2] {
    let e0 = robust_normalize(sub(p[2], p[1]));
    let u = sub(p[0], p[2]);
    let c = u[0] * e0[0] + u[1] * e0[1] + u[2] * e0[2];
    // `u - c e0` as one fused multiply-add per component, as XLA compiles AlphaFold2's jitted
    // `rots_from_two_vecs`. It matters where the three points are collinear or coincide (a pre-ω after a
    // residue the template lacks: the previous atoms sit at the origin): the difference is then rounding
    // noise, normalised to a unit-ish vector, and AlphaFold2 feeds the resulting (masked) angle to the
    // network anyway. Rounded separately, as AlphaFold2's eager code does, the angle differs by up to 0.6.
    let e1 = robust_normalize([
        (-c).mul_add(e0[0], u[0]),
        (-c).mul_add(e0[1], u[1]),
        (-c).mul_add(e0[2], u[2]),
    ]);
    let e2 = [
        e0[1] * e1[2] - e0[2] * e1[1],
        e0[2] * e1[0] - e0[0] * e1[2],
        e0[0] * e1[1] - e0[1] * e1[0],
    ];
    // Inverse rigid applied to p3: Rᵀ p3 - Rᵀ t, computed as AlphaFold2 does (rotate, then add the
    // rotated, negated translation), with R's columns e0, e1, e2.
    let dot = |a: [f32; 3], b: [f32; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let (t, x) = (p[2], p[3]);
    let y = dot(e1, x) + (-dot(e1, t));
    let z = dot(e2, x) + (-dot(e2, t));
    [z, y]
}

/// Torsions of every residue of one chain: `aatype [N]` (restype order; values above 20 count as
/// unknown), `pos [N, 37, 3]`, `mask [N, 37]`. Undefined angles keep whatever the geometry gives (zero
/// atoms give (0, 0) after normalisation), as AlphaFold2 with `placeholder_for_undefined = False`, its
/// setting for the template features (`zero_init = True`); the mask says which are defined.
pub fn atom37_to_torsion_angles(
    aatype: &[i32],
    pos: ArrayView3<f32>,
    mask: ArrayView2<f32>,
) -> Vec<ResidueTorsions> {
    let n = aatype.len();
    let at = |i: usize, a: usize| -> [f32; 3] { [pos[[i, a, 0]], pos[[i, a, 1]], pos[[i, a, 2]]] };
    let zero = [0.0f32; 3];
    // Atom order of atom37: N 0, CA 1, C 2, CB 3, O 4.
    (0..n)
        .map(|i| {
            let restype = aatype[i].clamp(0, 20) as usize;
            let (prev_ca, prev_c, prev_m_ca, prev_m_c) = if i == 0 {
                (zero, zero, 0.0, 0.0)
            } else {
                (
                    at(i - 1, 1),
                    at(i - 1, 2),
                    mask[[i - 1, 1]],
                    mask[[i - 1, 2]],
                )
            };
            let m = |a: usize| mask[[i, a]];
            let mut quads = [[zero; 4]; 7];
            let mut tmask = [0f32; 7];
            quads[0] = [prev_ca, prev_c, at(i, 0), at(i, 1)];
            tmask[0] = (prev_m_ca * prev_m_c) * (m(0) * m(1));
            quads[1] = [prev_c, at(i, 0), at(i, 1), at(i, 2)];
            tmask[1] = prev_m_c * (m(0) * m(1) * m(2));
            quads[2] = [at(i, 0), at(i, 1), at(i, 2), at(i, 4)];
            tmask[2] = (m(0) * m(1) * m(2)) * m(4);
            let chi = chi_atom_indices(restype);
            for k in 0..4 {
                let idx = chi[k];
                quads[3 + k] = [at(i, idx[0]), at(i, idx[1]), at(i, idx[2]), at(i, idx[3])];
                let defined = if k < rc::CHI_ANGLES_ATOMS[restype].len() {
                    1.0
                } else {
                    0.0
                };
                let atoms = m(idx[0]) * m(idx[1]) * m(idx[2]) * m(idx[3]);
                tmask[3 + k] = defined * atoms;
            }
            let mut sin_cos = [[0f32; 2]; 7];
            let mut alt = [[0f32; 2]; 7];
            for k in 0..7 {
                let [z, y] = fourth_atom_zy(quads[k]);
                let norm = (z * z + y * y + 1e-8).sqrt();
                let mut sc = [z / norm, y / norm];
                if k == 2 {
                    // ψ is measured to O, which sits opposite the next residue's N: mirror it.
                    sc = [-sc[0], -sc[1]];
                }
                sin_cos[k] = sc;
                let flip = k >= 3 && rc::chi_pi_periodic(restype, k - 3);
                alt[k] = if flip { [-sc[0], -sc[1]] } else { sc };
            }
            ResidueTorsions {
                sin_cos,
                alt_sin_cos: alt,
                mask: tmask,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    #[test]
    fn a_planar_trans_dihedral_is_pi() {
        // p0-p1-p2-p3 in a plane, p0 and p3 on opposite sides: dihedral 180°, sin 0, cos -1.
        let zy = fourth_atom_zy([
            [1.0, 1.0, 0.0],
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [2.0, -1.0, 0.0],
        ]);
        let n = (zy[0] * zy[0] + zy[1] * zy[1]).sqrt();
        assert!((zy[0] / n).abs() < 1e-6 && (zy[1] / n + 1.0).abs() < 1e-6);
    }

    #[test]
    fn missing_atoms_mask_the_angles_that_need_them() {
        let mut pos = Array3::<f32>::zeros((2, 37, 3));
        for i in 0..2 {
            for a in 0..5 {
                pos[[i, a, 0]] = (i * 5 + a) as f32;
                pos[[i, a, 1]] = (a * a) as f32 * 0.3;
                pos[[i, a, 2]] = (i + a % 2) as f32;
            }
        }
        let mut mask = Array2::<f32>::zeros((2, 37));
        for a in 0..5 {
            mask[[0, a]] = 1.0;
            mask[[1, a]] = 1.0;
        }
        mask[[1, 4]] = 0.0; // no O on residue 1: ψ undefined
                            // Ala (no χ), Asp (χ1, χ2; CG and OD1 missing).
        let t = atom37_to_torsion_angles(&[0, 3], pos.view(), mask.view());
        assert_eq!(t[0].mask, [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(t[1].mask, [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
