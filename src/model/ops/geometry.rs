//! Rigid transforms and AlphaFold2's quaternion affines (backbone frames of the structure module,
//! Jumper et al. (2021) Suppl. 1.8: Alg. 23 "BackboneUpdate" uses the quaternion `(1, b, c, d)` update).

/// A 3×3 rotation (row-major) and a translation: `x ↦ R x + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rigid {
    pub rot: [[f32; 3]; 3],
    pub trans: [f32; 3],
}

impl Rigid {
    pub const IDENTITY: Rigid = Rigid {
        rot: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        trans: [0.0; 3],
    };

    /// From a 4×4 homogeneous matrix (row-major).
    pub(crate) fn from_4x4(m: &[[f32; 4]; 4]) -> Self {
        Rigid {
            rot: [
                [m[0][0], m[0][1], m[0][2]],
                [m[1][0], m[1][1], m[1][2]],
                [m[2][0], m[2][1], m[2][2]],
            ],
            trans: [m[0][3], m[1][3], m[2][3]],
        }
    }

    /// `R p + t`.
    pub(crate) fn apply(&self, p: [f32; 3]) -> [f32; 3] {
        let r = rotate(&self.rot, p);
        [
            r[0] + self.trans[0],
            r[1] + self.trans[1],
            r[2] + self.trans[2],
        ]
    }

    /// `Rᵀ (p − t)`.
    pub(crate) fn invert_apply(&self, p: [f32; 3]) -> [f32; 3] {
        let d = [
            p[0] - self.trans[0],
            p[1] - self.trans[1],
            p[2] - self.trans[2],
        ];
        let r = &self.rot;
        [
            r[0][0] * d[0] + r[1][0] * d[1] + r[2][0] * d[2],
            r[0][1] * d[0] + r[1][1] * d[1] + r[2][1] * d[2],
            r[0][2] * d[0] + r[1][2] * d[1] + r[2][2] * d[2],
        ]
    }

    /// `self ∘ other`: apply `other`, then `self`.
    pub(crate) fn compose(&self, other: &Rigid) -> Rigid {
        Rigid {
            rot: matmul(&self.rot, &other.rot),
            trans: self.apply(other.trans),
        }
    }

    /// `self` with its rotation followed by `rot` on the right: `(R·rot, t)`.
    pub(crate) fn mul_rot(&self, rot: &[[f32; 3]; 3]) -> Rigid {
        Rigid {
            rot: matmul(&self.rot, rot),
            trans: self.trans,
        }
    }
}

/// `R v`.
pub(crate) fn rotate(r: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    [
        r[0][0] * v[0] + r[0][1] * v[1] + r[0][2] * v[2],
        r[1][0] * v[0] + r[1][1] * v[1] + r[1][2] * v[2],
        r[2][0] * v[0] + r[2][1] * v[1] + r[2][2] * v[2],
    ]
}

fn matmul(a: &[[f32; 3]; 3], b: &[[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let mut c = [[0f32; 3]; 3];
    for (i, row) in c.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
        }
    }
    c
}

/// Rotation of a unit quaternion `(w, x, y, z)`.
pub(crate) fn quat_to_rot(q: [f32; 4]) -> [[f32; 3]; 3] {
    let [a, b, c, d] = q;
    [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
        ],
        [
            2.0 * (b * c + a * d),
            a * a - b * b + c * c - d * d,
            2.0 * (c * d - a * b),
        ],
        [
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a - b * b - c * c + d * d,
        ],
    ]
}

/// A backbone frame as AlphaFold2's `QuatAffine`: a unit quaternion, its rotation and a translation (in
/// the structure module's units, nm-like: Å / `position_scale`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuatAffine {
    pub quat: [f32; 4],
    pub rigid: Rigid,
}

impl QuatAffine {
    pub const IDENTITY: QuatAffine = QuatAffine {
        quat: [1.0, 0.0, 0.0, 0.0],
        rigid: Rigid::IDENTITY,
    };

    /// From a quaternion (normalised here) and a translation.
    pub fn new(quat: [f32; 4], trans: [f32; 3]) -> Self {
        let n = (quat.iter().map(|v| v * v).sum::<f32>()).sqrt();
        let q = [quat[0] / n, quat[1] / n, quat[2] / n, quat[3] / n];
        QuatAffine {
            quat: q,
            rigid: Rigid {
                rot: quat_to_rot(q),
                trans,
            },
        }
    }

    /// Alg. 23: `update = (b, c, d, tx, ty, tz)`; the quaternion becomes `q + q ⊗ (0, b, c, d)` (then
    /// normalised) and the translation `t + R (tx, ty, tz)` (AlphaFold2's `QuatAffine.pre_compose`).
    pub(crate) fn pre_compose(&self, u: [f32; 6]) -> Self {
        let [q0, q1, q2, q3] = self.quat;
        let (v0, v1, v2) = (u[0], u[1], u[2]);
        let dq = [
            -q1 * v0 - q2 * v1 - q3 * v2,
            q0 * v0 + q2 * v2 - q3 * v1,
            q0 * v1 - q1 * v2 + q3 * v0,
            q0 * v2 + q1 * v1 - q2 * v0,
        ];
        let quat = [q0 + dq[0], q1 + dq[1], q2 + dq[2], q3 + dq[3]];
        let tu = rotate(&self.rigid.rot, [u[3], u[4], u[5]]);
        let t = self.rigid.trans;
        QuatAffine::new(quat, [t[0] + tu[0], t[1] + tu[1], t[2] + tu[2]])
    }

    /// The frame with its translation multiplied by `scale` (to Å).
    pub(crate) fn scaled(&self, scale: f32) -> Rigid {
        let t = self.rigid.trans;
        Rigid {
            rot: self.rigid.rot,
            trans: [t[0] * scale, t[1] * scale, t[2] * scale],
        }
    }

    /// `[w, x, y, z, tx·scale, ty·scale, tz·scale]` (AlphaFold2's `traj` rows).
    pub fn to_tensor(&self, scale: f32) -> [f32; 7] {
        let t = self.rigid.trans;
        [
            self.quat[0],
            self.quat[1],
            self.quat[2],
            self.quat[3],
            t[0] * scale,
            t[1] * scale,
            t[2] * scale,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quaternion_rotation_is_orthonormal_and_updates_compose() {
        let a = QuatAffine::new([0.9, 0.1, -0.3, 0.2], [1.0, 2.0, 3.0]);
        let r = a.rigid.rot;
        for i in 0..3 {
            for j in 0..3 {
                let dot: f32 = (0..3).map(|k| r[i][k] * r[j][k]).sum();
                assert!((dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-6);
            }
        }
        let p = [0.3, -1.2, 4.0];
        let back = a.rigid.invert_apply(a.rigid.apply(p));
        assert!((0..3).all(|k| (back[k] - p[k]).abs() < 1e-5));
        // A zero update is the identity.
        let b = a.pre_compose([0.0; 6]);
        assert!((0..4).all(|k| (b.quat[k] - a.quat[k]).abs() < 1e-6));
    }
}
