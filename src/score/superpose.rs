//! Optimal rigid superposition of paired points (least-squares, Kabsch's problem) by Horn's quaternion
//! method: the rotation is the eigenvector of the largest eigenvalue of a symmetric 4×4 matrix built from
//! the centred cross-covariance, found here by Jacobi rotations. Double precision throughout.

pub type P3 = [f64; 3];

/// A rigid motion `x ↦ R x + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub r: [[f64; 3]; 3],
    pub t: P3,
}

impl Transform {
    pub const IDENTITY: Transform = Transform {
        r: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        t: [0.0; 3],
    };

    pub fn apply(&self, p: &P3) -> P3 {
        let mut out = self.t;
        for (i, o) in out.iter_mut().enumerate() {
            *o += self.r[i][0] * p[0] + self.r[i][1] * p[1] + self.r[i][2] * p[2];
        }
        out
    }
}

pub fn dist2(a: &P3, b: &P3) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

fn centroid(points: &[P3], idx: &[usize]) -> P3 {
    let mut c = [0.0; 3];
    for &i in idx {
        for d in 0..3 {
            c[d] += points[i][d];
        }
    }
    let n = idx.len().max(1) as f64;
    c.map(|v| v / n)
}

/// Eigen-decomposition of a symmetric 4×4 matrix by cyclic Jacobi rotations: (eigenvalues, eigenvectors
/// as columns).
#[allow(clippy::needless_range_loop)] // rows and columns of one matrix, indexed alike
fn jacobi4(mut a: [[f64; 4]; 4]) -> ([f64; 4], [[f64; 4]; 4]) {
    let mut v = [[0.0; 4]; 4];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..4)
            .flat_map(|i| (0..4).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..3 {
            for q in p + 1..4 {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..4 {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..4 {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ([a[0][0], a[1][1], a[2][2], a[3][3]], v)
}

/// The transform moving `mobile[i]` onto `target[i]` (i in `idx`) with the least sum of squared
/// distances. Fewer than three points give a translation-only fit of the centroids.
pub fn superpose(mobile: &[P3], target: &[P3], idx: &[usize]) -> Transform {
    let cm = centroid(mobile, idx);
    let ct = centroid(target, idx);
    let mut s = [[0.0; 3]; 3];
    for &i in idx {
        for a in 0..3 {
            for b in 0..3 {
                s[a][b] += (mobile[i][a] - cm[a]) * (target[i][b] - ct[b]);
            }
        }
    }
    let (sxx, sxy, sxz) = (s[0][0], s[0][1], s[0][2]);
    let (syx, syy, syz) = (s[1][0], s[1][1], s[1][2]);
    let (szx, szy, szz) = (s[2][0], s[2][1], s[2][2]);
    let n = [
        [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
        [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
        [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
        [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
    ];
    let (vals, vecs) = jacobi4(n);
    let best = (0..4)
        .max_by(|&a, &b| vals[a].total_cmp(&vals[b]))
        .unwrap_or(0);
    let (q0, q1, q2, q3) = (vecs[0][best], vecs[1][best], vecs[2][best], vecs[3][best]);
    let r = if idx.len() < 3 {
        Transform::IDENTITY.r
    } else {
        [
            [
                q0 * q0 + q1 * q1 - q2 * q2 - q3 * q3,
                2.0 * (q1 * q2 - q0 * q3),
                2.0 * (q1 * q3 + q0 * q2),
            ],
            [
                2.0 * (q1 * q2 + q0 * q3),
                q0 * q0 - q1 * q1 + q2 * q2 - q3 * q3,
                2.0 * (q2 * q3 - q0 * q1),
            ],
            [
                2.0 * (q1 * q3 - q0 * q2),
                2.0 * (q2 * q3 + q0 * q1),
                q0 * q0 - q1 * q1 - q2 * q2 + q3 * q3,
            ],
        ]
    };
    let rc = Transform { r, t: [0.0; 3] }.apply(&cm);
    Transform {
        r,
        t: [ct[0] - rc[0], ct[1] - rc[1], ct[2] - rc[2]],
    }
}

/// Root-mean-square distance of the pairs `idx` after the optimal superposition.
pub fn rmsd(mobile: &[P3], target: &[P3], idx: &[usize]) -> f64 {
    if idx.is_empty() {
        return 0.0;
    }
    let t = superpose(mobile, target, idx);
    let sum: f64 = idx
        .iter()
        .map(|&i| dist2(&t.apply(&mobile[i]), &target[i]))
        .sum();
    (sum / idx.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_and_shifted_copy_superposes_exactly() {
        let pts: Vec<P3> = (0..20)
            .map(|i| {
                let f = i as f64;
                [
                    f.sin() * 5.0,
                    f.cos() * 3.0 + f * 0.2,
                    (f * 0.7).sin() * 4.0,
                ]
            })
            .collect();
        let (a, b, c) = (0.3f64, -1.1f64, 2.0f64);
        // Rotation about z then x, then a shift.
        let rz = [
            [a.cos(), -a.sin(), 0.0],
            [a.sin(), a.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ];
        let rx = [
            [1.0, 0.0, 0.0],
            [0.0, b.cos(), -b.sin()],
            [0.0, b.sin(), b.cos()],
        ];
        let moved: Vec<P3> = pts
            .iter()
            .map(|p| {
                let q = Transform { r: rz, t: [0.0; 3] }.apply(p);
                Transform {
                    r: rx,
                    t: [c, -c, 0.5],
                }
                .apply(&q)
            })
            .collect();
        let idx: Vec<usize> = (0..pts.len()).collect();
        assert!(rmsd(&moved, &pts, &idx) < 1e-9);
        assert!(rmsd(&pts, &moved, &idx) < 1e-9);
        // A mirror image cannot be superposed by a rotation.
        let mirror: Vec<P3> = pts.iter().map(|p| [-p[0], p[1], p[2]]).collect();
        assert!(rmsd(&mirror, &pts, &idx) > 0.5);
    }
}
