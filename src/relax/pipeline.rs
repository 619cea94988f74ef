//! AlphaFold2's relax procedure (`amber_minimize.run_pipeline` as `relax.AmberRelaxation` runs it with
//! `run_alphafold.py`'s settings): up to three outer iterations of
//!
//! 1. hydrogens (and OXT) placed anew on the current heavy atoms ([`add_hydrogens`]);
//! 2. restrained minimisation: harmonic restraints of 10 kcal/mol/Å² on every heavy atom of the residues not
//!    yet excluded, towards where they start; X–H bonds constrained; until the RMS force is at most
//!    2.39 kcal/mol/nm = 10 kJ/mol/nm ([`minimize`]);
//! 3. AlphaFold2's structural violations of the minimised heavy atoms ([`find_violations`]); residues with a
//!    violation are released from the restraints for the next iteration;
//!
//! stopping as soon as no residue has a violation. The last minimised structure (with hydrogens, B-factors
//! from the input) is the result.
//!
//! DISCREPANCY: AlphaFold2 passes `tolerance=2.39` (kcal/mol), which OpenMM 7 read as an energy-change
//! tolerance and OpenMM 8 rejects as a unit mismatch; ferrofold reads it as an RMS force of 2.39 kcal/mol/nm
//! (10.0 kJ/mol/nm, OpenMM 8's default), as the reference harness's patched run does.

use std::time::Instant;

use ndarray::{Array2, Array3};
use tracing::info;

use super::energy::{Restraints, Vec3, KJ_PER_KCAL};
use super::hydrogens::{add_hydrogens, HydrogenError};
use super::minimize::{minimize, MinimizeOptions};
use super::structure::{AllAtomStructure, Atom, Residue};
use super::system::{self, SystemError};
use super::violations::{find_violations, ViolationMetrics};
use super::ForceField;
use crate::protein::Protein;
use crate::residue_constants as rc;

#[derive(Debug, Clone)]
pub struct RelaxOptions {
    /// Restraint spring constant, kcal/mol/Å² (AlphaFold2: 10).
    pub stiffness: f64,
    /// RMS force tolerance, kcal/mol/nm: AlphaFold2's 2.39 as OpenMM 8 reads it (= 10 kJ/mol/nm).
    pub tolerance: f64,
    /// L-BFGS iterations per minimisation; 0 = until converged (AlphaFold2: 0).
    pub max_iterations: usize,
    /// Outer iterations at most (AlphaFold2: 3).
    pub max_outer_iterations: usize,
    /// Residues (0-based) never restrained.
    pub exclude_residues: Vec<usize>,
}

impl Default for RelaxOptions {
    fn default() -> Self {
        RelaxOptions {
            stiffness: 10.0,
            tolerance: 2.39,
            max_iterations: 0,
            max_outer_iterations: 3,
            exclude_residues: Vec::new(),
        }
    }
}

/// AlphaFold2's relax debug data and violation counts, plus what ferrofold measured on the way.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RelaxMetrics {
    /// kcal/mol, of the last outer iteration's start (AlphaFold2's `initial_energy`)
    pub initial_energy: f64,
    /// kcal/mol, of the result
    pub final_energy: f64,
    /// Minimisation attempts of the last outer iteration (AlphaFold2 retries failures; ferrofold's
    /// minimiser does not fail, so 1).
    pub attempts: usize,
    /// Å, all atoms (hydrogens included), start of the last outer iteration to the result
    pub rmsd: f64,
    /// Per residue, 1 where the result still has a violation (AlphaFold2's `remaining_violations`)
    pub remaining_violations: Vec<f64>,
    pub remaining_violations_count: usize,
    /// Residues with a violation in the input (heavy atoms as given)
    pub violations_before_count: usize,
    pub violations_before: ViolationMetrics,
    pub violations_after: ViolationMetrics,
    pub outer_iterations: usize,
    /// Residues released from the restraints in the last outer iteration
    pub num_exclusions: usize,
    pub lbfgs_iterations: usize,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum RelaxError {
    #[error("residue {residue}: {what}")]
    Residue { residue: String, what: String },
    #[error(transparent)]
    Hydrogens(#[from] HydrogenError),
    #[error(transparent)]
    System(#[from] SystemError),
    #[error("the minimisation diverged: atoms collapsed onto each other; the model starts with {clashes} pairs of atoms of different residues closer than 1 Å (closest: {closest}), which Amber relaxation cannot resolve")]
    Diverged { clashes: usize, closest: String },
}

/// The relaxed structure: every atom with hydrogens (`all_atoms`), and its heavy atoms as a [`Protein`]
/// (B-factors from the input).
#[derive(Debug, Clone)]
pub struct Relaxed {
    pub all_atoms: AllAtomStructure,
    pub protein: Protein,
    pub metrics: RelaxMetrics,
}

fn residue_label(p: &Protein, i: usize) -> String {
    format!(
        "{}:{} {}",
        Protein::chain_id(p.chain_index[i]),
        rc::RESTYPE_3[p.aatype[i]],
        p.residue_index[i]
    )
}

/// The heavy atoms of `p` as an all-atom structure (AlphaFold2 hands relax its `to_pdb` text: coordinates
/// rounded to 0.001 Å), after the checks AlphaFold2's relax makes: standard residues with every heavy atom
/// (OXT optional), chains of two residues or more.
pub fn heavy_atoms(p: &Protein) -> Result<AllAtomStructure, RelaxError> {
    let n = p.num_res();
    let mut s = AllAtomStructure::default();
    let oxt = rc::atom37_index("OXT").expect("OXT is an atom37 name");
    for i in 0..n {
        if i > 0 && p.chain_index[i] != p.chain_index[i - 1] {
            s.chains.push(
                s.chains
                    .last()
                    .map_or(0, |c: &std::ops::Range<usize>| c.end)..i,
            );
        }
        let restype = p.aatype[i];
        if restype >= rc::UNKNOWN_RESTYPE {
            return Err(RelaxError::Residue {
                residue: residue_label(p, i),
                what: "unknown residue type: Amber relax needs the 20 standard amino acids".into(),
            });
        }
        let missing: Vec<&str> = (0..rc::ATOM_TYPE_NUM)
            .filter(|&a| {
                a != oxt && rc::restype_has_atom37(restype, a) && p.atom_mask[[i, a]] < 0.5
            })
            .map(|a| rc::ATOM_TYPES[a])
            .collect();
        if !missing.is_empty() {
            return Err(RelaxError::Residue {
                residue: residue_label(p, i),
                what: format!(
                    "heavy atoms missing: {} (relax needs complete residues)",
                    missing.join(" ")
                ),
            });
        }
        let start = s.atoms.len();
        for a in 0..rc::ATOM_TYPE_NUM {
            if p.atom_mask[[i, a]] < 0.5 {
                continue;
            }
            let name = rc::ATOM_TYPES[a];
            let pos: [f64; 3] = std::array::from_fn(|c| {
                let angstrom = (p.atom_positions[[i, a, c]] as f64 * 1000.0).round() / 1000.0;
                angstrom * 0.1
            });
            if pos.iter().any(|v| !v.is_finite()) {
                return Err(RelaxError::Residue {
                    residue: residue_label(p, i),
                    what: format!("atom {name} has a non-finite coordinate"),
                });
            }
            s.atoms.push(Atom {
                name: name.to_string(),
                element: name[..1].to_string(),
                residue: s.residues.len(),
                position: pos,
            });
        }
        s.residues.push(Residue {
            name: rc::RESTYPE_3[restype].to_string(),
            chain: 0,
            chain_id: Protein::chain_id(p.chain_index[i]).to_string(),
            number: p.residue_index[i],
            insertion: ' ',
            atoms: start..s.atoms.len(),
        });
    }
    if n > 0 {
        s.chains.push(s.chains.last().map_or(0, |c| c.end)..n);
    }
    // A gap in the numbering with the next residue's N far from this one's C is a chain break (missing
    // residues: an unrelaxed prediction leaves out residues of unknown type). OpenMM, and so AlphaFold2's
    // relax, bonds consecutive residues of a chain whatever their distance and would pull the ends
    // together; ferrofold refuses instead.
    for c in &s.chains {
        for r in c.start..c.end.saturating_sub(1) {
            let atom = |r: usize, name: &str| {
                s.atoms[s.residues[r].atoms.clone()]
                    .iter()
                    .find(|a| a.name == name)
                    .map(|a| a.position)
            };
            let gap = p.residue_index[r + 1] - p.residue_index[r];
            if let (true, Some(c_pos), Some(n_pos)) = (gap > 1, atom(r, "C"), atom(r + 1, "N")) {
                let d = system::dist(c_pos, n_pos) * 10.0;
                if d > 3.0 {
                    return Err(RelaxError::Residue {
                        residue: residue_label(p, r + 1),
                        what: format!(
                            "a chain break: {} residue number(s) missing after {} and {d:.1} Å between its C and \
                             this residue's N; Amber relax would close it with a peptide bond (relax the pieces \
                             as separate chains)",
                            gap - 1,
                            residue_label(p, r)
                        ),
                    });
                }
            }
        }
    }
    for (ci, c) in s.chains.clone().into_iter().enumerate() {
        if c.len() == 1 {
            return Err(RelaxError::Residue {
                residue: residue_label(p, c.start),
                what:
                    "a chain of one residue: Amber has no template that is both N- and C-terminal"
                        .into(),
            });
        }
        for r in c {
            s.residues[r].chain = ci;
        }
    }
    Ok(s)
}

/// The heavy atoms of an all-atom structure as a [`Protein`] (atom37), with `template`'s residue numbering,
/// chains and B-factors (per residue, as AlphaFold2's `overwrite_b_factors` sets them).
pub fn protein_of(s: &AllAtomStructure, template: &Protein) -> Protein {
    let n = s.residues.len();
    let mut positions = Array3::<f32>::zeros((n, rc::ATOM_TYPE_NUM, 3));
    let mut mask = Array2::<f32>::zeros((n, rc::ATOM_TYPE_NUM));
    for (i, r) in s.residues.iter().enumerate() {
        for a in &s.atoms[r.atoms.clone()] {
            if a.is_hydrogen() {
                continue;
            }
            if let Some(k) = rc::atom37_index(&a.name) {
                for c in 0..3 {
                    positions[[i, k, c]] = (a.position[c] * 10.0) as f32;
                }
                mask[[i, k]] = 1.0;
            }
        }
    }
    let mut b = Array2::<f32>::zeros((n, rc::ATOM_TYPE_NUM));
    for i in 0..n {
        let ca = template.b_factors[[i, 1]];
        b.row_mut(i).fill(ca);
    }
    Protein {
        aatype: template.aatype.clone(),
        atom_positions: positions,
        atom_mask: mask,
        residue_index: template.residue_index.clone(),
        chain_index: template.chain_index.clone(),
        b_factors: b,
    }
}

/// Relaxes `p` (see the module docs).
pub fn relax_protein(p: &Protein, opts: &RelaxOptions) -> Result<Relaxed, RelaxError> {
    let t0 = Instant::now();
    let ff = ForceField::amber99sb();
    let mut heavy = heavy_atoms(p)?;
    let before = find_violations(p);
    let mut exclude: std::collections::BTreeSet<usize> =
        opts.exclude_residues.iter().copied().collect();
    let k = opts.stiffness * KJ_PER_KCAL * 100.0;
    let minimize_opts = MinimizeOptions {
        tolerance: opts.tolerance * KJ_PER_KCAL,
        max_iterations: opts.max_iterations,
    };
    let mut outer = 0;
    let mut lbfgs_iterations = 0;
    loop {
        let mut all = add_hydrogens(&heavy)?;
        let sys = system::build(ff, &all)?;
        let restrained: Vec<usize> = (0..all.atoms.len())
            .filter(|&a| !all.atoms[a].is_hydrogen() && !exclude.contains(&all.atoms[a].residue))
            .collect();
        let mut x = all.positions();
        let restraints = Restraints {
            k,
            reference: restrained.iter().map(|&a| x[a]).collect(),
            atoms: restrained,
        };
        let start: Vec<Vec3> = x.clone();
        let report = minimize(&sys, &restraints, &mut x, minimize_opts);
        lbfgs_iterations += report.iterations;
        if report.diverged {
            let (clashes, closest) = close_contacts(&heavy);
            return Err(RelaxError::Diverged { clashes, closest });
        }
        for (a, pos) in all.atoms.iter_mut().zip(&x) {
            a.position = *pos;
        }
        // Violations of the minimised heavy atoms, read back as AlphaFold2 reads its PDB (0.001 Å).
        heavy = strip_hydrogens(&all, true);
        let relaxed_protein = protein_of(&heavy, p);
        let v = find_violations(&relaxed_protein);
        outer += 1;
        let msd: f64 = start
            .iter()
            .zip(&x)
            .map(|(a, b)| (0..3).map(|c| (a[c] - b[c]).powi(2)).sum::<f64>())
            .sum::<f64>()
            / x.len().max(1) as f64;
        info!(
            "relax iteration {outer}: energy {:.2} -> {:.2} kcal/mol, {} L-BFGS iterations, {} residue(s) with violations, {} excluded from restraints",
            report.initial_energy / KJ_PER_KCAL,
            report.final_energy / KJ_PER_KCAL,
            report.iterations,
            v.num_residue_violations,
            exclude.len()
        );
        let num_exclusions = exclude.len();
        exclude.extend(v.residue_violations());
        if v.num_residue_violations == 0 || outer >= opts.max_outer_iterations {
            let metrics = RelaxMetrics {
                initial_energy: report.initial_energy / KJ_PER_KCAL,
                final_energy: report.final_energy / KJ_PER_KCAL,
                attempts: 1,
                rmsd: msd.sqrt() * 10.0,
                remaining_violations: v
                    .per_residue
                    .iter()
                    .map(|&b| if b { 1.0 } else { 0.0 })
                    .collect(),
                remaining_violations_count: v.num_residue_violations,
                violations_before_count: before.num_residue_violations,
                violations_before: before.metrics,
                violations_after: v.metrics,
                outer_iterations: outer,
                num_exclusions,
                lbfgs_iterations,
                seconds: t0.elapsed().as_secs_f64(),
            };
            return Ok(Relaxed {
                all_atoms: all,
                protein: relaxed_protein,
                metrics,
            });
        }
    }
}

/// Pairs of heavy atoms of different residues closer than 1 Å, and the closest such pair, described.
fn close_contacts(s: &AllAtomStructure) -> (usize, String) {
    let mut count = 0;
    let mut best = (f64::INFINITY, 0, 0);
    for i in 0..s.atoms.len() {
        for j in i + 1..s.atoms.len() {
            if s.atoms[i].residue == s.atoms[j].residue {
                continue;
            }
            let d = system::dist(s.atoms[i].position, s.atoms[j].position) * 10.0;
            if d < 1.0 {
                count += 1;
            }
            if d < best.0 {
                best = (d, i, j);
            }
        }
    }
    let label = |a: usize| {
        format!(
            "{} {}",
            s.residues[s.atoms[a].residue].label(),
            s.atoms[a].name
        )
    };
    let closest = if best.0.is_finite() {
        format!("{} - {} at {:.2} Å", label(best.1), label(best.2), best.0)
    } else {
        "none".into()
    };
    (count, closest)
}

/// `s` without hydrogens; `round` rounds positions to 0.001 Å as a PDB file would.
fn strip_hydrogens(s: &AllAtomStructure, round: bool) -> AllAtomStructure {
    let mut out = AllAtomStructure {
        chains: s.chains.clone(),
        ..Default::default()
    };
    for r in &s.residues {
        let start = out.atoms.len();
        for a in s.atoms[r.atoms.clone()].iter().filter(|a| !a.is_hydrogen()) {
            let mut a = a.clone();
            if round {
                a.position = a.position.map(|v| (v * 10_000.0).round() / 10_000.0);
            }
            out.atoms.push(a);
        }
        let mut r2 = r.clone();
        r2.atoms = start..out.atoms.len();
        out.residues.push(r2);
    }
    out
}

/// PDB text of an all-atom structure in the layout OpenMM writes (AlphaFold2's relaxed models): `ATOM`
/// records with element symbols, a `TER` after each chain, `END`; `b_factors[r]` per residue.
pub fn to_pdb(s: &AllAtomStructure, b_factors: &[f32]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut serial = 1;
    for chain in &s.chains {
        let mut last = None;
        for r in chain.clone() {
            let res = &s.residues[r];
            for a in &s.atoms[res.atoms.clone()] {
                let name = if a.name.len() < 4 {
                    format!(" {:<3}", a.name)
                } else {
                    a.name.clone()
                };
                let b = b_factors.get(r).copied().unwrap_or(0.0);
                let _ = writeln!(
                    out,
                    "ATOM  {serial:>5} {name} {:>3} {:1}{:>4}{:1}   {:>8.3}{:>8.3}{:>8.3}{:>6.2}{:>6.2}          {:>2}  ",
                    res.name,
                    res.chain_id,
                    res.number,
                    res.insertion,
                    a.position[0] * 10.0,
                    a.position[1] * 10.0,
                    a.position[2] * 10.0,
                    1.0,
                    b,
                    a.element
                );
                serial += 1;
            }
            last = Some(res);
        }
        if let Some(res) = last {
            let _ = writeln!(
                out,
                "TER   {serial:>5}      {:>3} {:1}{:>4}{:1}",
                res.name, res.chain_id, res.number, res.insertion
            );
            serial += 1;
        }
    }
    out.push_str("END\n");
    out
}
