//! AlphaFold2's structural-violation check, as its relax stage runs it on every minimised structure
//! (v2.3.2 `relax/amber_minimize.py` `find_violations` and `get_violation_metrics`, which call
//! `model/folding.py` `find_structural_violations` and `compute_violation_metrics`; the checks are the hard
//! masks of the violation loss, Jumper et al. (2021) Suppl. 1.9.11 eqs. 44–46). With relax's settings
//! (`violation_tolerance_factor` 12, `clash_overlap_tolerance` 1.5) a residue violates when
//!
//! * its peptide bond to the next or previous residue (C–N length, CA–C–N and C–N–CA angles) is more than
//!   12 standard deviations off;
//! * one of its heavy atoms is closer to a heavy atom of another residue than the sum of their van der Waals
//!   radii less 1.5 Å;
//! * two of its own atoms are outside their bounds: bonds and bond angles (as 1–3 distances) within 12
//!   standard deviations of Engh & Huber's values, other pairs no closer than the radii sum less 1.5 Å.
//!
//! Computed as DeepMind's code computes it, in atom14 and float32, keeping its particular choices:
//! * An atom that the residue type has but the structure lacks counts as present, at the origin (AF2 tests
//!   the type's atom set with zeroed positions for absent atoms); `UNK` residues have no atoms at all.
//! * The CA–C–N angle is judged against the standard deviation of the C–N bond (0.014), not its own.
//! * Atom14 slot 5 of one residue never clashes with slot 5 of another: the exemption meant for disulfide
//!   SG–SG applies to every residue type's slot 5 (CG of most).
//! * Chains are seen only through residue numbers. Rows i, i+1 are peptide-bonded exactly when their
//!   numbers differ by 1, so a gap in the numbering (or the jump to the next chain) is a chain break; two
//!   residues with the same number are never checked for clashes, which in a multimer numbered from 1 per
//!   chain (as AF2 writes them) hides clashes between equally numbered residues of different chains; and the
//!   C of residue n against the N of residue n+1 is never a clash, even across chains.
//!
//! The bond and angle statistics are those of AlphaFold2's `alphafold/common/stereo_chemical_props.txt`
//! (Apache-2.0, Copyright DeepMind), carried over here as data.

use std::sync::OnceLock;

use crate::protein::Protein;
use crate::residue_constants as rc;

/// `violation_tolerance_factor` of AF2's model config, which relax passes: bounds at ±12 standard deviations.
pub const VIOLATION_TOLERANCE_FACTOR: f32 = 12.0;
/// `clash_overlap_tolerance` of AF2's model config, which relax passes (Å).
pub const CLASH_OVERLAP_TOLERANCE: f32 = 1.5;

// AF2's constants are Python floats that JAX rounds to float32 where they meet float32 arrays; they are kept
// in f64 here and rounded at the same places.
/// Ideal CA–CA distance of consecutive residues (`residue_constants.ca_ca`, Å).
const CA_CA: f64 = 3.80209737096;
/// A CA–CA distance beyond `CA_CA` by more than this is "extreme" (Å).
const CA_CA_EXCESS: f64 = 1.5;
/// Peptide C–N length and its standard deviation (`between_res_bond_length_c_n`, `..._stddev_c_n`), Å;
/// index 1 when the next residue is a proline.
const C_N_LENGTH: [f64; 2] = [1.329, 1.341];
const C_N_STDDEV: [f64; 2] = [0.014, 0.016];
/// cos(CA–C–N) (`between_res_cos_angles_ca_c_n[0]`); AF2 judges it against `C_N_STDDEV[0]`.
const COS_CA_C_N: f64 = -0.4473;
/// cos(C–N–CA) and its standard deviation (`between_res_cos_angles_c_n_ca`).
const COS_C_N_CA: f64 = -0.5203;
const COS_C_N_CA_STDDEV: f64 = 0.0353;
/// Residue type index of proline.
const PRO: usize = 14;
/// atom14 slots of N, CA, C, and the slot spared from clashes (SG of cysteine).
const N: usize = 0;
const CA: usize = 1;
const C: usize = 2;
const SG: usize = 5;

/// AF2's violation metrics (`compute_violation_metrics`), fractions in [0, 1]; float32 values widened.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct ViolationMetrics {
    /// Of the consecutive residue pairs (numbers differing by 1, both with a CA in their type), the fraction
    /// whose CA–CA distance exceeds 3.80 Å by more than 1.5 Å.
    pub violations_extreme_ca_ca_distance: f64,
    /// Fraction of residues with a bad peptide bond to a neighbour.
    pub violations_between_residue_bond: f64,
    /// Fraction of residues with an atom clashing with another residue's.
    pub violations_between_residue_clash: f64,
    /// Fraction of residues with an atom pair of their own out of bounds.
    pub violations_within_residue: f64,
    /// Fraction of residues with any of the three (`total_per_residue_violations_mask`).
    pub violations_per_residue: f64,
}

/// What AF2's relax learns about a structure's violations (`get_violation_metrics`), per residue row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Violations {
    /// Any violation (`total_per_residue_violations_mask`).
    pub per_residue: Vec<bool>,
    /// Residues with any violation (`num_residue_violations`).
    pub num_residue_violations: usize,
    /// A bad peptide bond to the previous or next residue (`connections_per_residue_violation_mask`).
    pub between_residue_bond: Vec<bool>,
    /// An atom clashing with another residue's (max over atoms of `clashes_per_atom_clash_mask`).
    pub between_residue_clash: Vec<bool>,
    /// An atom pair of the residue out of bounds (max over atoms of `per_atom_violations`).
    pub within_residue: Vec<bool>,
    /// The fractions AF2 reports.
    pub metrics: ViolationMetrics,
}

impl Violations {
    /// Rows of the violating residues, ascending (AF2's `residue_violations`).
    pub fn residue_violations(&self) -> Vec<usize> {
        (0..self.per_residue.len())
            .filter(|&i| self.per_residue[i])
            .collect()
    }
}

/// Checks `p` for structural violations as AlphaFold2's relax does (see the module documentation).
///
/// Rows are residues in file order; `residue_index` alone decides which are peptide-bonded and which pairs
/// are checked for clashes (`chain_index` is not used, as in AF2). Residue types outside 0..=19 count as
/// `UNK` (no atoms). Panics if `p`'s arrays disagree in length (see [`Protein::validate`]).
///
/// # Examples
///
/// ```no_run
/// let p = ferrofold::io::pdb::read_path("relaxed.pdb", None)?;
/// let v = ferrofold::relax::violations::find_violations(&p);
/// println!("{} residues violate: rows {:?}", v.num_residue_violations, v.residue_violations());
/// # Ok::<(), ferrofold::protein::StructureError>(())
/// ```
pub fn find_violations(p: &Protein) -> Violations {
    let n = p.num_res();
    let x = atom14(p);
    let ri = &p.residue_index;
    let (between_residue_bond, extreme_ca_ca) = between_residue_bonds(&x, ri, &p.aatype);
    let between_residue_clash = between_residue_clashes(&x, ri);
    let within_residue = within_residues(&x);
    let per_residue: Vec<bool> = (0..n)
        .map(|i| between_residue_bond[i] || between_residue_clash[i] || within_residue[i])
        .collect();
    // `mask_mean` over all residues (seq_mask is all ones), in float32.
    let fraction = |m: &[bool]| {
        let count = m.iter().filter(|&&v| v).count() as f32;
        f64::from(count / (n as f32 + 1e-10))
    };
    let metrics = ViolationMetrics {
        violations_extreme_ca_ca_distance: f64::from(extreme_ca_ca),
        violations_between_residue_bond: fraction(&between_residue_bond),
        violations_between_residue_clash: fraction(&between_residue_clash),
        violations_within_residue: fraction(&within_residue),
        violations_per_residue: fraction(&per_residue),
    };
    Violations {
        num_residue_violations: per_residue.iter().filter(|&&v| v).count(),
        per_residue,
        between_residue_bond,
        between_residue_clash,
        within_residue,
        metrics,
    }
}

/// Lower and upper bounds (Å) on the distance of two atom14 slots of residue type `restype` (0..=20) that
/// AF2 checks within residues with relax's settings: `residue_constants.make_atom14_dists_bounds(1.5, 12)`.
/// Zero for absent atoms, the diagonal and `UNK`; upper 1e10 for pairs that are neither bond nor angle.
pub fn atom14_dists_bounds(restype: usize) -> (&'static [[f32; 14]; 14], &'static [[f32; 14]; 14]) {
    let t = tables();
    (&t.lower[restype], &t.upper[restype])
}

type Xyz = [f32; 3];

/// AF2's atom14 view of a structure (`make_atom14_positions`): positions (`atom14_gt_positions`, zero for
/// atoms the structure lacks) and whether the residue type has the atom (`atom14_atom_exists`).
struct Atom14 {
    restype: Vec<usize>,
    pos: Vec<[Xyz; 14]>,
    exists: Vec<[bool; 14]>,
}

fn atom14(p: &Protein) -> Atom14 {
    let t = tables();
    let n = p.num_res();
    let mut x = Atom14 {
        restype: Vec::with_capacity(n),
        pos: vec![[[0.0; 3]; 14]; n],
        exists: vec![[false; 14]; n],
    };
    for i in 0..n {
        let a = p.aatype[i].min(rc::UNKNOWN_RESTYPE);
        x.restype.push(a);
        for (k, slot) in t.atom37[a].iter().enumerate() {
            let Some(j) = *slot else { continue };
            x.exists[i][k] = true;
            // AF2 multiplies by the mask rather than selecting, so a masked atom sits at the origin.
            let m = p.atom_mask[[i, j]];
            for d in 0..3 {
                x.pos[i][k][d] = m * p.atom_positions[[i, j, d]];
            }
        }
    }
    x
}

fn sub(a: &Xyz, b: &Xyz) -> Xyz {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: &Xyz, b: &Xyz) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn div(a: &Xyz, s: f32) -> Xyz {
    [a[0] / s, a[1] / s, a[2] / s]
}

/// `sqrt(eps + |a - b|²)`, AF2's guarded distance.
fn dist(a: &Xyz, b: &Xyz, eps: f32) -> f32 {
    let d = sub(a, b);
    (eps + dot(&d, &d)).sqrt()
}

/// `sqrt(1e-6 + (v - ideal)²)`, AF2's guarded deviation.
fn deviation(v: f32, ideal: f32) -> f32 {
    let d = v - ideal;
    (1e-6 + d * d).sqrt()
}

/// Per-residue peptide-bond violations (`all_atom.between_residue_bond_loss`, hard masks only) and the
/// fraction of extreme CA–CA distances (`all_atom.extreme_ca_ca_distance_violations`).
fn between_residue_bonds(x: &Atom14, ri: &[i32], aatype: &[usize]) -> (Vec<bool>, f32) {
    let n = x.pos.len();
    let mut bad = vec![false; n];
    let (mut ca_pairs, mut ca_extreme) = (0usize, 0usize);
    let tol = VIOLATION_TOLERANCE_FACTOR;
    // The angle thresholds are Python products, rounded to float32 when compared.
    let ca_c_n_max = (f64::from(tol) * C_N_STDDEV[0]) as f32;
    let c_n_ca_max = (f64::from(tol) * COS_C_N_CA_STDDEV) as f32;
    for i in 0..n.saturating_sub(1) {
        // AF2 casts residue numbers to float32 before differencing.
        if ri[i + 1] as f32 - ri[i] as f32 != 1.0 {
            continue;
        }
        let (this, next) = (&x.pos[i], &x.pos[i + 1]);
        let (e, e_next) = (&x.exists[i], &x.exists[i + 1]);
        let c_n_len = dist(&this[C], &next[N], 1e-6);
        let k = usize::from(aatype[i + 1] == PRO);
        let c_n_bad = deviation(c_n_len, C_N_LENGTH[k] as f32) > tol * C_N_STDDEV[k] as f32;

        let ca_c_len = dist(&this[CA], &this[C], 1e-6);
        let n_ca_len = dist(&next[N], &next[CA], 1e-6);
        let c_ca = div(&sub(&this[CA], &this[C]), ca_c_len);
        let c_n = div(&sub(&next[N], &this[C]), c_n_len);
        let n_ca = div(&sub(&next[CA], &next[N]), n_ca_len);
        let ca_c_n_bad = deviation(dot(&c_ca, &c_n), COS_CA_C_N as f32) > ca_c_n_max;
        let n_c = [-c_n[0], -c_n[1], -c_n[2]];
        let c_n_ca_bad = deviation(dot(&n_c, &n_ca), COS_C_N_CA as f32) > c_n_ca_max;

        let violated = (e[C] && e_next[N] && c_n_bad)
            || (e[CA] && e[C] && e_next[N] && ca_c_n_bad)
            || (e[C] && e_next[N] && e_next[CA] && c_n_ca_bad);
        if violated {
            bad[i] = true;
            bad[i + 1] = true;
        }
        if e[CA] && e_next[CA] {
            ca_pairs += 1;
            let ca_ca = dist(&this[CA], &next[CA], 1e-6);
            if ca_ca - CA_CA as f32 > CA_CA_EXCESS as f32 {
                ca_extreme += 1;
            }
        }
    }
    (bad, ca_extreme as f32 / (ca_pairs as f32 + 1e-10))
}

/// Per-residue clashes with other residues (`all_atom.between_residue_clash_loss`, hard mask only).
fn between_residue_clashes(x: &Atom14, ri: &[i32]) -> Vec<bool> {
    let t = tables();
    let n = x.pos.len();
    let mut bad = vec![false; n];
    let overlap = CLASH_OVERLAP_TOLERANCE;
    // Residue pairs whose bounding spheres are further apart than any clash distance are skipped; the
    // spheres enclose every existing slot, including absent atoms at the origin.
    let max_clash = 2.0 * t.max_radius - overlap + 0.5;
    let spheres: Vec<Option<([f64; 3], f64)>> = (0..n).map(|i| bounding_sphere(x, i)).collect();
    for i in 0..n {
        let Some((ci, rad_i)) = spheres[i] else {
            continue;
        };
        for j in i + 1..n {
            let Some((cj, rad_j)) = spheres[j] else {
                continue;
            };
            // AF2 checks each pair once, ordered by residue number; equal numbers are never checked.
            let (lo, hi) = match ri[i].cmp(&ri[j]) {
                std::cmp::Ordering::Less => (i, j),
                std::cmp::Ordering::Greater => (j, i),
                std::cmp::Ordering::Equal => continue,
            };
            let gap = (0..3).map(|d| (ci[d] - cj[d]).powi(2)).sum::<f64>().sqrt();
            if gap > rad_i + rad_j + f64::from(max_clash) {
                continue;
            }
            let bonded = i64::from(ri[lo]) + 1 == i64::from(ri[hi]);
            let (r_lo, r_hi) = (&t.radius[x.restype[lo]], &t.radius[x.restype[hi]]);
            for a in (0..14).filter(|&a| x.exists[lo][a]) {
                for b in (0..14).filter(|&b| x.exists[hi][b]) {
                    if (bonded && a == C && b == N) || (a == SG && b == SG) {
                        continue;
                    }
                    let d = dist(&x.pos[lo][a], &x.pos[hi][b], 1e-10);
                    if d < r_lo[a] + r_hi[b] - overlap {
                        bad[lo] = true;
                        bad[hi] = true;
                    }
                }
            }
        }
    }
    bad
}

/// Centre and radius (f64) of a sphere around the existing atom14 slots of row `i`, if it has any.
fn bounding_sphere(x: &Atom14, i: usize) -> Option<([f64; 3], f64)> {
    let pts: Vec<[f64; 3]> = (0..14)
        .filter(|&k| x.exists[i][k])
        .map(|k| x.pos[i][k].map(f64::from))
        .collect();
    if pts.is_empty() {
        return None;
    }
    let mut c = [0.0; 3];
    for p in &pts {
        for d in 0..3 {
            c[d] += p[d] / pts.len() as f64;
        }
    }
    let r = pts
        .iter()
        .map(|p| (0..3).map(|d| (p[d] - c[d]).powi(2)).sum::<f64>().sqrt())
        .fold(0.0, f64::max);
    Some((c, r))
}

/// Per-residue violations of the residue's own atom-pair bounds (`all_atom.within_residue_violations`, hard
/// mask only).
fn within_residues(x: &Atom14) -> Vec<bool> {
    let t = tables();
    (0..x.pos.len())
        .map(|i| {
            let (lower, upper) = (&t.lower[x.restype[i]], &t.upper[x.restype[i]]);
            let e = &x.exists[i];
            (0..14).filter(|&a| e[a]).any(|a| {
                (a + 1..14).filter(|&b| e[b]).any(|b| {
                    let d = dist(&x.pos[i][a], &x.pos[i][b], 1e-10);
                    d < lower[a][b] || d > upper[a][b]
                })
            })
        })
        .collect()
}

/// Per residue type (atom14 slot layout): atom37 index of each slot, van der Waals radius per slot, and the
/// within-residue distance bounds.
struct Tables {
    atom37: [[Option<usize>; 14]; 21],
    radius: [[f32; 14]; 21],
    max_radius: f32,
    lower: [[[f32; 14]; 14]; 21],
    upper: [[[f32; 14]; 14]; 21],
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(build_tables)
}

/// Van der Waals radius (Å) by element, the first letter of the atom name (`van_der_waals_radius`).
fn vdw_radius(atom: &str) -> f64 {
    match atom.as_bytes()[0] {
        b'C' => 1.7,
        b'N' => 1.55,
        b'O' => 1.52,
        b'S' => 1.8,
        other => panic!("no van der Waals radius for element {}", other as char),
    }
}

/// One line of the stereochemistry tables: residue, atoms (2 for a bond, 3 for an angle), mean, sd.
struct Stat {
    residue: &'static str,
    atoms: Vec<&'static str>,
    mean: f64,
    sd: f64,
}

/// Reads [`BOND_LENGTHS`] or [`BOND_ANGLES`]: a residue name, then `ATOMS mean sd` triples.
fn parse_stats(table: &'static str) -> Vec<Stat> {
    let mut out = Vec::new();
    let mut residue = "";
    let mut tokens = table.split_whitespace();
    while let Some(tok) = tokens.next() {
        if !tok.contains('-') {
            residue = tok;
            continue;
        }
        let mut number = || {
            let t = tokens.next().expect("stereochemistry table: value missing");
            t.parse::<f64>().expect("stereochemistry table: bad number")
        };
        let (mean, sd) = (number(), number());
        out.push(Stat {
            residue,
            atoms: tok.split('-').collect(),
            mean,
            sd,
        });
    }
    out
}

/// AF2's `make_atom14_dists_bounds` with relax's settings, in f64 and rounded to f32 when stored, as there.
fn build_tables() -> Tables {
    let bonds = parse_stats(BOND_LENGTHS);
    let angles = parse_stats(BOND_ANGLES);
    let tol = f64::from(VIOLATION_TOLERANCE_FACTOR);
    let overlap = f64::from(CLASH_OVERLAP_TOLERANCE);
    let mut t = Tables {
        atom37: [[None; 14]; 21],
        radius: [[0.0; 14]; 21],
        max_radius: 0.0,
        lower: [[[0.0; 14]; 14]; 21],
        upper: [[[0.0; 14]; 14]; 21],
    };
    for restype in 0..rc::RESTYPE_NUM {
        let names = &rc::ATOM14_NAMES[restype];
        let slot = |atom: &str| {
            names
                .iter()
                .position(|&n| n == atom)
                .unwrap_or_else(|| panic!("{atom} is no atom of {}", rc::RESTYPE_3[restype]))
        };
        let present: Vec<usize> = (0..14).filter(|&k| !names[k].is_empty()).collect();
        for &a in &present {
            t.atom37[restype][a] = rc::atom37_index(names[a]);
            t.radius[restype][a] = vdw_radius(names[a]) as f32;
            t.max_radius = t.max_radius.max(t.radius[restype][a]);
            for &b in present.iter().filter(|&&b| b != a) {
                let lower = vdw_radius(names[a]) + vdw_radius(names[b]) - overlap;
                t.lower[restype][a][b] = lower as f32;
                t.upper[restype][a][b] = 1e10;
            }
        }
        let mut set = |a: &str, b: &str, length: f64, sd: f64| {
            let (a, b) = (slot(a), slot(b));
            for (p, q) in [(a, b), (b, a)] {
                t.lower[restype][p][q] = (length - tol * sd) as f32;
                t.upper[restype][p][q] = (length + tol * sd) as f32;
            }
        };
        let residue = rc::RESTYPE_3[restype];
        let own_bonds: Vec<&Stat> = bonds.iter().filter(|s| s.residue == residue).collect();
        for s in &own_bonds {
            set(s.atoms[0], s.atoms[1], s.mean, s.sd);
        }
        // An angle a-b-c bounds the distance a–c (law of cosines), its sd propagated from the angle's and the
        // two bonds' (independent errors). Where a pair is listed twice the later entry counts, as in AF2.
        let bond = |p: &str, q: &str| {
            own_bonds
                .iter()
                .rev()
                .find(|s| {
                    (s.atoms[0] == p && s.atoms[1] == q) || (s.atoms[0] == q && s.atoms[1] == p)
                })
                .unwrap_or_else(|| panic!("{residue}: no bond {p}-{q} for an angle"))
        };
        for s in angles.iter().filter(|s| s.residue == residue) {
            let (b1, b2) = (bond(s.atoms[0], s.atoms[1]), bond(s.atoms[1], s.atoms[2]));
            let gamma = s.mean / 180.0 * std::f64::consts::PI;
            let sd_gamma = s.sd / 180.0 * std::f64::consts::PI;
            let (l1, l2) = (b1.mean, b2.mean);
            let length = (l1 * l1 + l2 * l2 - 2.0 * l1 * l2 * gamma.cos()).sqrt();
            let outer = 0.5 / length;
            let d_gamma = (2.0 * l1 * l2 * gamma.sin()) * outer;
            let d_l1 = (2.0 * l1 - 2.0 * l2 * gamma.cos()) * outer;
            let d_l2 = (2.0 * l2 - 2.0 * l1 * gamma.cos()) * outer;
            let sd =
                ((d_gamma * sd_gamma).powi(2) + (d_l1 * b1.sd).powi(2) + (d_l2 * b2.sd).powi(2))
                    .sqrt();
            set(s.atoms[0], s.atoms[2], length, sd);
        }
    }
    t
}

/// Bond lengths by residue: `ATOM-ATOM mean sd` (Å), from AlphaFold2's `stereo_chemical_props.txt` (Apache-2.0),
/// every line in its order.
const BOND_LENGTHS: &str = "
ALA CA-CB 1.520 0.021 N-CA 1.459 0.020 CA-C 1.525 0.026 C-O 1.229 0.019
ARG CA-CB 1.535 0.022 CB-CG 1.521 0.027 CG-CD 1.515 0.025 CD-NE 1.460 0.017 NE-CZ 1.326 0.013
    CZ-NH1 1.326 0.013 CZ-NH2 1.326 0.013 N-CA 1.459 0.020 CA-C 1.525 0.026 C-O 1.229 0.019
ASN CA-CB 1.527 0.026 CB-CG 1.506 0.023 CG-OD1 1.235 0.022 CG-ND2 1.324 0.025 N-CA 1.459 0.020
    CA-C 1.525 0.026 C-O 1.229 0.019
ASP CA-CB 1.535 0.022 CB-CG 1.513 0.021 CG-OD1 1.249 0.023 CG-OD2 1.249 0.023 N-CA 1.459 0.020
    CA-C 1.525 0.026 C-O 1.229 0.019
CYS CA-CB 1.526 0.013 CB-SG 1.812 0.016 N-CA 1.459 0.020 CA-C 1.525 0.026 C-O 1.229 0.019
GLU CA-CB 1.535 0.022 CB-CG 1.517 0.019 CG-CD 1.515 0.015 CD-OE1 1.252 0.011 CD-OE2 1.252 0.011
    N-CA 1.459 0.020 CA-C 1.525 0.026 C-O 1.229 0.019
GLN CA-CB 1.535 0.022 CB-CG 1.521 0.027 CG-CD 1.506 0.023 CD-OE1 1.235 0.022 CD-NE2 1.324 0.025
    N-CA 1.459 0.020 CA-C 1.525 0.026 C-O 1.229 0.019
GLY N-CA 1.456 0.015 CA-C 1.514 0.016 C-O 1.232 0.016
HIS CA-CB 1.535 0.022 CB-CG 1.492 0.016 CG-ND1 1.369 0.015 CG-CD2 1.353 0.017 ND1-CE1 1.343 0.025
    CD2-NE2 1.415 0.021 CE1-NE2 1.322 0.023 N-CA 1.459 0.020 CA-C 1.525 0.026 C-O 1.229 0.019
ILE CA-CB 1.544 0.023 CB-CG1 1.536 0.028 CB-CG2 1.524 0.031 CG1-CD1 1.500 0.069 N-CA 1.459 0.020
    CA-C 1.525 0.026 C-O 1.229 0.019
LEU CA-CB 1.533 0.023 CB-CG 1.521 0.029 CG-CD1 1.514 0.037 CG-CD2 1.514 0.037 N-CA 1.459 0.020
    CA-C 1.525 0.026 C-O 1.229 0.019
LYS CA-CB 1.535 0.022 CB-CG 1.521 0.027 CG-CD 1.520 0.034 CD-CE 1.508 0.025 CE-NZ 1.486 0.025
    N-CA 1.459 0.020 CA-C 1.525 0.026 C-O 1.229 0.019
MET CA-CB 1.535 0.022 CB-CG 1.509 0.032 CG-SD 1.807 0.026 SD-CE 1.774 0.056 N-CA 1.459 0.020
    CA-C 1.525 0.026 C-O 1.229 0.019
PHE CA-CB 1.535 0.022 CB-CG 1.509 0.017 CG-CD1 1.383 0.015 CG-CD2 1.383 0.015 CD1-CE1 1.388 0.020
    CD2-CE2 1.388 0.020 CE1-CZ 1.369 0.019 CE2-CZ 1.369 0.019 N-CA 1.459 0.020 CA-C 1.525 0.026
    C-O 1.229 0.019
PRO CA-CB 1.531 0.020 CB-CG 1.495 0.050 CG-CD 1.502 0.033 CD-N 1.474 0.014 N-CA 1.468 0.017
    CA-C 1.524 0.020 C-O 1.228 0.020
SER CA-CB 1.525 0.015 CB-OG 1.418 0.013 N-CA 1.459 0.020 CA-C 1.525 0.026 C-O 1.229 0.019
THR CA-CB 1.529 0.026 CB-OG1 1.428 0.020 CB-CG2 1.519 0.033 N-CA 1.459 0.020 CA-C 1.525 0.026
    C-O 1.229 0.019
TRP CA-CB 1.535 0.022 CB-CG 1.498 0.018 CG-CD1 1.363 0.014 CG-CD2 1.432 0.017 CD1-NE1 1.375 0.017
    NE1-CE2 1.371 0.013 CD2-CE2 1.409 0.012 CD2-CE3 1.399 0.015 CE2-CZ2 1.393 0.017 CE3-CZ3 1.380 0.017
    CZ2-CH2 1.369 0.019 CZ3-CH2 1.396 0.016 N-CA 1.459 0.020 CA-C 1.525 0.026 C-O 1.229 0.019
TYR CA-CB 1.535 0.022 CB-CG 1.512 0.015 CG-CD1 1.387 0.013 CG-CD2 1.387 0.013 CD1-CE1 1.389 0.015
    CD2-CE2 1.389 0.015 CE1-CZ 1.381 0.013 CE2-CZ 1.381 0.013 CZ-OH 1.374 0.017 N-CA 1.459 0.020
    CA-C 1.525 0.026 C-O 1.229 0.019
VAL CA-CB 1.543 0.021 CB-CG1 1.524 0.021 CB-CG2 1.524 0.021 N-CA 1.459 0.020 CA-C 1.525 0.026
    C-O 1.229 0.019
";

/// Bond angles by residue: `ATOM-ATOM-ATOM mean sd` (degrees), from the same file, every line in its order.
const BOND_ANGLES: &str = "
ALA N-CA-CB 110.1 1.4 CB-CA-C 110.1 1.5 N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
ARG N-CA-CB 110.6 1.8 CB-CA-C 110.4 2.0 CA-CB-CG 113.4 2.2 CB-CG-CD 111.6 2.6 CG-CD-NE 111.8 2.1
    CD-NE-CZ 123.6 1.4 NE-CZ-NH1 120.3 0.5 NE-CZ-NH2 120.3 0.5 NH1-CZ-NH2 119.4 1.1 N-CA-C 111.0 2.7
    CA-C-O 120.1 2.1
ASN N-CA-CB 110.6 1.8 CB-CA-C 110.4 2.0 CA-CB-CG 113.4 2.2 CB-CG-ND2 116.7 2.4 CB-CG-OD1 121.6 2.0
    ND2-CG-OD1 121.9 2.3 N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
ASP N-CA-CB 110.6 1.8 CB-CA-C 110.4 2.0 CA-CB-CG 113.4 2.2 CB-CG-OD1 118.3 0.9 CB-CG-OD2 118.3 0.9
    OD1-CG-OD2 123.3 1.9 N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
CYS N-CA-CB 110.8 1.5 CB-CA-C 111.5 1.2 CA-CB-SG 114.2 1.1 N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
GLU N-CA-CB 110.6 1.8 CB-CA-C 110.4 2.0 CA-CB-CG 113.4 2.2 CB-CG-CD 114.2 2.7 CG-CD-OE1 118.3 2.0
    CG-CD-OE2 118.3 2.0 OE1-CD-OE2 123.3 1.2 N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
GLN N-CA-CB 110.6 1.8 CB-CA-C 110.4 2.0 CA-CB-CG 113.4 2.2 CB-CG-CD 111.6 2.6 CG-CD-OE1 121.6 2.0
    CG-CD-NE2 116.7 2.4 OE1-CD-NE2 121.9 2.3 N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
GLY N-CA-C 113.1 2.5 CA-C-O 120.6 1.8
HIS N-CA-CB 110.6 1.8 CB-CA-C 110.4 2.0 CA-CB-CG 113.6 1.7 CB-CG-ND1 123.2 2.5 CB-CG-CD2 130.8 3.1
    CG-ND1-CE1 108.2 1.4 ND1-CE1-NE2 109.9 2.2 CE1-NE2-CD2 106.6 2.5 NE2-CD2-CG 109.2 1.9
    CD2-CG-ND1 106.0 1.4 N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
ILE N-CA-CB 110.8 2.3 CB-CA-C 111.6 2.0 CA-CB-CG1 111.0 1.9 CB-CG1-CD1 113.9 2.8 CA-CB-CG2 110.9 2.0
    CG1-CB-CG2 111.4 2.2 N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
LEU N-CA-CB 110.4 2.0 CB-CA-C 110.2 1.9 CA-CB-CG 115.3 2.3 CB-CG-CD1 111.0 1.7 CB-CG-CD2 111.0 1.7
    CD1-CG-CD2 110.5 3.0 N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
LYS N-CA-CB 110.6 1.8 CB-CA-C 110.4 2.0 CA-CB-CG 113.4 2.2 CB-CG-CD 111.6 2.6 CG-CD-CE 111.9 3.0
    CD-CE-NZ 111.7 2.3 N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
MET N-CA-CB 110.6 1.8 CB-CA-C 110.4 2.0 CA-CB-CG 113.3 1.7 CB-CG-SD 112.4 3.0 CG-SD-CE 100.2 1.6
    N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
PHE N-CA-CB 110.6 1.8 CB-CA-C 110.4 2.0 CA-CB-CG 113.9 2.4 CB-CG-CD1 120.8 0.7 CB-CG-CD2 120.8 0.7
    CD1-CG-CD2 118.3 1.3 CG-CD1-CE1 120.8 1.1 CG-CD2-CE2 120.8 1.1 CD1-CE1-CZ 120.1 1.2
    CD2-CE2-CZ 120.1 1.2 CE1-CZ-CE2 120.0 1.8 N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
PRO N-CA-CB 103.3 1.2 CB-CA-C 111.7 2.1 CA-CB-CG 104.8 1.9 CB-CG-CD 106.5 3.9 CG-CD-N 103.2 1.5
    CA-N-CD 111.7 1.4 N-CA-C 112.1 2.6 CA-C-O 120.2 2.4
SER N-CA-CB 110.5 1.5 CB-CA-C 110.1 1.9 CA-CB-OG 111.2 2.7 N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
THR N-CA-CB 110.3 1.9 CB-CA-C 111.6 2.7 CA-CB-OG1 109.0 2.1 CA-CB-CG2 112.4 1.4 OG1-CB-CG2 110.0 2.3
    N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
TRP N-CA-CB 110.6 1.8 CB-CA-C 110.4 2.0 CA-CB-CG 113.7 1.9 CB-CG-CD1 127.0 1.3 CB-CG-CD2 126.6 1.3
    CD1-CG-CD2 106.3 0.8 CG-CD1-NE1 110.1 1.0 CD1-NE1-CE2 109.0 0.9 NE1-CE2-CD2 107.3 1.0
    CE2-CD2-CG 107.3 0.8 CG-CD2-CE3 133.9 0.9 NE1-CE2-CZ2 130.4 1.1 CE3-CD2-CE2 118.7 1.2
    CD2-CE2-CZ2 122.3 1.2 CE2-CZ2-CH2 117.4 1.0 CZ2-CH2-CZ3 121.6 1.2 CH2-CZ3-CE3 121.2 1.1
    CZ3-CE3-CD2 118.8 1.3 N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
TYR N-CA-CB 110.6 1.8 CB-CA-C 110.4 2.0 CA-CB-CG 113.4 1.9 CB-CG-CD1 121.0 0.6 CB-CG-CD2 121.0 0.6
    CD1-CG-CD2 117.9 1.1 CG-CD1-CE1 121.3 0.8 CG-CD2-CE2 121.3 0.8 CD1-CE1-CZ 119.8 0.9
    CD2-CE2-CZ 119.8 0.9 CE1-CZ-CE2 119.8 1.6 CE1-CZ-OH 120.1 2.7 CE2-CZ-OH 120.1 2.7 N-CA-C 111.0 2.7
    CA-C-O 120.1 2.1
VAL N-CA-CB 111.5 2.2 CB-CA-C 111.4 1.9 CA-CB-CG1 110.9 1.5 CA-CB-CG2 110.9 1.5 CG1-CB-CG2 110.9 1.6
    N-CA-C 111.0 2.7 CA-C-O 120.1 2.1
";

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    #[test]
    fn tables_hold_every_line_of_alphafolds_file() {
        assert_eq!(parse_stats(BOND_LENGTHS).len(), 153);
        assert_eq!(parse_stats(BOND_ANGLES).len(), 174);
    }

    #[test]
    fn bounds_come_from_bonds_angles_and_radii() {
        let (lower, upper) = atom14_dists_bounds(0); // ALA: N CA C O CB
        assert_eq!(lower[1][4], (1.520 - 12.0 * 0.021) as f32); // CA-CB bond
        assert_eq!(upper[4][1], (1.520 + 12.0 * 0.021) as f32);
        assert_eq!(lower[3][4], (1.52 + 1.7 - 1.5) as f32); // O-CB: no bond, no angle
        assert_eq!(upper[3][4], 1e10);
        // N-CA-CB 110.1 degrees between bonds of 1.459 and 1.520 Å: N–CB 2.44 Å.
        assert!(((lower[0][4] + upper[0][4]) / 2.0 - 2.44).abs() < 0.005);
        assert_eq!((lower[0][0], lower[0][5]), (0.0, 0.0));
        let (lower, upper) = atom14_dists_bounds(rc::UNKNOWN_RESTYPE);
        assert!(lower.iter().chain(upper).flatten().all(|&v| v == 0.0));
    }

    /// `n` alanines with only their CA present, 3.8 Å apart along x, far from the origin.
    fn ca_trace(n: usize) -> Protein {
        let mut atom_positions = Array3::zeros((n, 37, 3));
        let mut atom_mask = Array2::zeros((n, 37));
        for i in 0..n {
            atom_mask[[i, 1]] = 1.0;
            atom_positions[[i, 1, 0]] = 100.0 + 3.8 * i as f32;
        }
        Protein {
            aatype: vec![0; n],
            atom_positions,
            atom_mask,
            residue_index: (1..=n as i32).collect(),
            chain_index: vec![0; n],
            b_factors: Array2::zeros((n, 37)),
        }
    }

    #[test]
    fn absent_atoms_count_as_present_at_the_origin() {
        // Each residue's N, C, O and CB sit at the origin: within-residue pairs at distance 0, clashes between
        // residues, and peptide bonds of length 0.
        let v = find_violations(&ca_trace(3));
        assert_eq!(v.within_residue, vec![true; 3]);
        assert_eq!(v.between_residue_clash, vec![true; 3]);
        assert_eq!(v.between_residue_bond, vec![true; 3]);
        assert_eq!(v.num_residue_violations, 3);
        assert_eq!(v.residue_violations(), vec![0, 1, 2]);
        assert_eq!(v.metrics.violations_per_residue, 1.0);
        assert_eq!(v.metrics.violations_extreme_ca_ca_distance, 0.0);
    }

    #[test]
    fn unknown_residues_and_numbering_gaps_are_not_checked() {
        let mut p = ca_trace(3);
        p.aatype = vec![rc::UNKNOWN_RESTYPE; 3];
        assert_eq!(find_violations(&p).num_residue_violations, 0);

        // CA–CA 3.8 Å beyond ideal: extreme, unless the numbering breaks the chain there.
        let mut p = ca_trace(2);
        p.atom_positions[[1, 1, 0]] += 3.8;
        let v = find_violations(&p);
        assert_eq!(v.metrics.violations_extreme_ca_ca_distance, 1.0);
        p.residue_index[1] = 5;
        let v = find_violations(&p);
        assert_eq!(v.metrics.violations_extreme_ca_ca_distance, 0.0);
        assert_eq!(v.between_residue_bond, vec![false; 2]);
        // Equal residue numbers (two chains numbered alike) are never checked for clashes.
        p.residue_index = vec![1, 1];
        p.chain_index = vec![0, 1];
        assert_eq!(find_violations(&p).between_residue_clash, vec![false; 2]);
    }

    #[test]
    fn empty_structure_has_no_violations() {
        let v = find_violations(&ca_trace(0));
        assert_eq!(v, Violations::default());
    }
}
