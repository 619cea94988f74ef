//! The molecular-mechanics system of an all-atom protein under Amber ff99SB, built as OpenMM's
//! `ForceField.createSystem(topology, constraints=HBonds, nonbondedMethod=NoCutoff)` builds it (AlphaFold2's
//! relax, `amber_minimize._openmm_minimize`): residue templates, bonds, the angles and proper/improper
//! torsions the bond graph implies, parameters matched by atom class, X–H bonds as constraints (their
//! harmonic terms dropped), and the nonbonded exceptions of atoms within three bonds (1-2 and 1-3 excluded,
//! 1-4 scaled by the force field's `coulomb14scale` / `lj14scale`).
//!
//! DISCREPANCY: OpenMM matches residues to templates by bond-graph isomorphism; ferrofold matches by residue
//! name, chain position (N-/C-terminal templates) and atom names (with OpenMM's alternative names for the
//! terminal atoms), which picks the same templates for structures named as OpenMM and pdbfixer name them
//! (the protonation variants HID/HIE/HIP, CYS/CYX, ASP/ASH, GLU/GLH, LYS/LYN by the hydrogens present).
//! Anything else is refused with the residue and the atoms that did not fit.

use std::collections::BTreeSet;

use super::forcefield::{class_matches, ForceField, ResidueTemplate, TorsionTerm};
use super::structure::AllAtomStructure;

#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error("residue {residue}: {what}")]
    Residue { residue: String, what: String },
    #[error("no {term} parameters for atoms {atoms} (classes {classes})")]
    Parameters {
        term: &'static str,
        atoms: String,
        classes: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bond {
    pub atoms: [usize; 2],
    /// nm
    pub length: f64,
    /// kJ/mol/nm²
    pub k: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Angle {
    pub atoms: [usize; 3],
    /// radians
    pub angle: f64,
    /// kJ/mol/rad²
    pub k: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Torsion {
    pub atoms: [usize; 4],
    pub periodicity: u32,
    pub phase: f64,
    /// kJ/mol
    pub k: f64,
}

/// A distance constraint (an X–H bond at the force field's length).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constraint {
    pub atoms: [usize; 2],
    /// nm
    pub distance: f64,
}

/// A scaled 1-4 nonbonded pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair14 {
    pub atoms: [usize; 2],
    /// e², already scaled by `coulomb14scale`
    pub charge_prod: f64,
    /// nm
    pub sigma: f64,
    /// kJ/mol, already scaled by `lj14scale`
    pub epsilon: f64,
}

#[derive(Debug, Clone, Default)]
pub struct System {
    /// Per atom: the force field's type index, charge (e), σ (nm), ε (kJ/mol), mass (Da).
    pub types: Vec<usize>,
    pub charges: Vec<f64>,
    pub sigmas: Vec<f64>,
    pub epsilons: Vec<f64>,
    pub masses: Vec<f64>,
    /// The residue template each residue was matched to (`NMET`, `HIE`, `CYX`, ...).
    pub templates: Vec<String>,
    /// Every bond of the topology (constrained ones included), sorted pairs.
    pub topology_bonds: Vec<[usize; 2]>,
    /// Harmonic bond terms (X–H bonds are constraints instead).
    pub bonds: Vec<Bond>,
    pub constraints: Vec<Constraint>,
    pub angles: Vec<Angle>,
    /// Proper torsions, then impropers, one entry per Fourier term with k ≠ 0 (as OpenMM adds them).
    pub torsions: Vec<Torsion>,
    /// Per atom, the higher-indexed atoms it has no ordinary nonbonded interaction with (1-2, 1-3 and 1-4
    /// pairs; sorted).
    pub excluded_above: Vec<Vec<usize>>,
    /// The 1-4 pairs with their scaled parameters.
    pub pairs14: Vec<Pair14>,
    /// 1-2 and 1-3 pairs (OpenMM's zeroed exceptions), for counting against OpenMM.
    pub num_excluded_12_13: usize,
}

impl System {
    pub fn num_atoms(&self) -> usize {
        self.types.len()
    }
}

/// OpenMM's alternative names of protein atoms (`pdbNames.xml`, residue group "Protein"): a template's atom
/// may appear under any name of its group.
const PROTEIN_ALIASES: &[&[&str]] = &[
    &["H", "HN", "H1", "1H", "HN1", "HT1"],
    &["H2", "2H", "HN2", "HT2"],
    &["H3", "3H", "HN3", "HT3"],
    &["O", "O1", "OT1", "OCT1", "OC1"],
    &["OXT", "O2", "OT2", "OCT2", "OC2", "OT"],
];

fn aliases(name: &str) -> &'static [&'static str] {
    PROTEIN_ALIASES
        .iter()
        .find(|g| g.contains(&name))
        .copied()
        .unwrap_or(&[])
}

/// Template names a residue may take, before the terminal prefix.
fn variants(name: &str) -> Vec<&str> {
    match name {
        "HIS" => vec!["HID", "HIE", "HIP"],
        "CYS" => vec!["CYS", "CYX", "CYM"],
        "ASP" => vec!["ASP", "ASH"],
        "GLU" => vec!["GLU", "GLH"],
        "LYS" => vec!["LYS", "LYN"],
        other => vec![other],
    }
}

/// Maps a template's atoms to the residue's atoms by name (exact first, then OpenMM's alternative names),
/// elements checked; `None` unless every atom on both sides is paired.
fn match_template(
    ff: &ForceField,
    tpl: &ResidueTemplate,
    s: &AllAtomStructure,
    residue: usize,
) -> Option<Vec<usize>> {
    let range = s.residues[residue].atoms.clone();
    if range.len() != tpl.atoms.len() {
        return None;
    }
    let mut used = vec![false; range.len()];
    let mut map = vec![usize::MAX; tpl.atoms.len()];
    // Exact names first, so that an alternative name never takes an atom another template atom names.
    for pass in 0..2 {
        for (t, (tname, ty)) in tpl.atoms.iter().enumerate() {
            if map[t] != usize::MAX {
                continue;
            }
            let found = range.clone().position(|a| {
                let name = s.atoms[a].name.as_str();
                !used[a - range.start]
                    && if pass == 0 {
                        name == tname
                    } else {
                        aliases(tname).contains(&name)
                    }
            });
            if let Some(k) = found {
                let atom = range.start + k;
                if !s.atoms[atom]
                    .element
                    .eq_ignore_ascii_case(&ff.types[*ty].element)
                {
                    return None;
                }
                used[k] = true;
                map[t] = atom;
            }
        }
    }
    map.iter().all(|&a| a != usize::MAX).then_some(map)
}

fn describe_mismatch(
    ff: &ForceField,
    names: &[String],
    s: &AllAtomStructure,
    residue: usize,
) -> String {
    let have: BTreeSet<&str> = s.atoms[s.residues[residue].atoms.clone()]
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    let mut best: Option<(usize, String)> = None;
    for n in names {
        let Some(tpl) = ff.residue(n) else { continue };
        let want: BTreeSet<&str> = tpl.atoms.iter().map(|(a, _)| a.as_str()).collect();
        let missing: Vec<&str> = want
            .iter()
            .filter(|w| !have.contains(*w) && !aliases(w).iter().any(|a| have.contains(a)))
            .copied()
            .collect();
        let extra: Vec<&str> = have
            .iter()
            .filter(|h| !want.contains(*h) && !want.iter().any(|w| aliases(w).contains(h)))
            .copied()
            .collect();
        let score = missing.len() + extra.len();
        if best.as_ref().is_none_or(|(b, _)| score < *b) {
            best = Some((
                score,
                format!(
                    "closest template {n}: missing [{}], unexpected [{}]",
                    missing.join(" "),
                    extra.join(" ")
                ),
            ));
        }
    }
    best.map(|(_, d)| d)
        .unwrap_or_else(|| "no template of that name".into())
}

/// Picks each residue's template and maps its atoms; returns (template name, template atom → atom index).
fn assign_templates(
    ff: &ForceField,
    s: &AllAtomStructure,
) -> Result<Vec<(String, Vec<usize>)>, SystemError> {
    let mut out = Vec::with_capacity(s.residues.len());
    for chain in &s.chains {
        for r in chain.clone() {
            let res = &s.residues[r];
            let first = r == chain.start;
            let last = r + 1 == chain.end;
            if first && last {
                return Err(SystemError::Residue {
                    residue: res.label(),
                    what: "a chain of one residue (no Amber template is both N- and C-terminal; \
                           AlphaFold2's relax removes such chains)"
                        .into(),
                });
            }
            let prefix = if first {
                "N"
            } else if last {
                "C"
            } else {
                ""
            };
            let names: Vec<String> = variants(&res.name)
                .into_iter()
                .map(|v| format!("{prefix}{v}"))
                .collect();
            let found = names.iter().find_map(|n| {
                let tpl = ff.residue(n)?;
                match_template(ff, tpl, s, r).map(|m| (n.clone(), m))
            });
            match found {
                Some(f) => out.push(f),
                None => {
                    return Err(SystemError::Residue {
                        residue: res.label(),
                        what: format!(
                            "its atoms fit no Amber ff99SB template ({})",
                            describe_mismatch(ff, &names, s, r)
                        ),
                    })
                }
            }
        }
    }
    Ok(out)
}

/// A topology bond list (sorted pairs): template bonds, peptide bonds between consecutive residues of a
/// chain, and disulfides between CYX sulfurs as OpenMM's PDB reader finds them (each SG paired with the
/// closest earlier unpaired SG within 0.3 nm).
fn topology_bonds(
    ff: &ForceField,
    s: &AllAtomStructure,
    assigned: &[(String, Vec<usize>)],
) -> Result<Vec<[usize; 2]>, SystemError> {
    let mut bonds = BTreeSet::new();
    let mut external_count = vec![0usize; s.atoms.len()];
    let add = |bonds: &mut BTreeSet<[usize; 2]>, a: usize, b: usize| {
        bonds.insert([a.min(b), a.max(b)]);
    };
    for (tname, map) in assigned {
        let tpl = &ff.residues[tname];
        for &(a, b) in &tpl.bonds {
            add(&mut bonds, map[a], map[b]);
        }
    }
    let atom_named = |r: usize, name: &str| -> Option<usize> {
        let (tname, map) = &assigned[r];
        ff.residues[tname].atom_index(name).map(|t| map[t])
    };
    for chain in &s.chains {
        for r in chain.start..chain.end.saturating_sub(1) {
            let (Some(c), Some(n)) = (atom_named(r, "C"), atom_named(r + 1, "N")) else {
                return Err(SystemError::Residue {
                    residue: s.residues[r].label(),
                    what: "no C or next residue's N for the peptide bond".into(),
                });
            };
            add(&mut bonds, c, n);
            external_count[c] += 1;
            external_count[n] += 1;
        }
    }
    let cyx: Vec<usize> = (0..s.residues.len())
        .filter(|&r| assigned[r].0.ends_with("CYX"))
        .collect();
    let sg: Vec<Option<usize>> = cyx.iter().map(|&r| atom_named(r, "SG")).collect();
    let sg_positions: Vec<Option<[f64; 3]>> =
        sg.iter().map(|a| a.map(|a| s.atoms[a].position)).collect();
    for (i, j) in disulfide_pairs(&sg_positions) {
        let (a, b) = (
            sg[i].expect("paired SG exists"),
            sg[j].expect("paired SG exists"),
        );
        add(&mut bonds, a, b);
        external_count[a] += 1;
        external_count[b] += 1;
    }
    // Every template's external atoms must have exactly one bond outside the residue, and no other atom any.
    for (r, (tname, map)) in assigned.iter().enumerate() {
        let tpl = &ff.residues[tname];
        for (t, &atom) in map.iter().enumerate() {
            let want = tpl.external.iter().filter(|&&e| e == t).count();
            if external_count[atom] != want {
                let what = if tname.ends_with("CYX") {
                    "a cysteine without HG (CYX) has no disulfide partner: no other such SG within 0.3 nm"
                        .to_string()
                } else {
                    format!(
                        "atom {} has {} bonds to other residues, template {tname} expects {want}",
                        s.atoms[atom].name, external_count[atom]
                    )
                };
                return Err(SystemError::Residue {
                    residue: s.residues[r].label(),
                    what,
                });
            }
        }
    }
    Ok(bonds.into_iter().collect())
}

/// Disulfide bonds among cysteine sulfurs (positions in nm; `None` where a residue lacks SG), paired as
/// OpenMM's PDB reader pairs them: each SG, in order, with the closest earlier unpaired SG within 0.3 nm.
pub fn disulfide_pairs(sg: &[Option<[f64; 3]>]) -> Vec<(usize, usize)> {
    let mut paired = vec![false; sg.len()];
    let mut out = Vec::new();
    for i in 0..sg.len() {
        let Some(p1) = sg[i] else { continue };
        let mut best: Option<(f64, usize)> = None;
        for j in 0..i {
            let Some(p2) = sg[j] else { continue };
            let d = dist(p1, p2);
            if d < 0.3 && !paired[j] && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, j));
            }
        }
        if let Some((_, j)) = best {
            out.push((i, j));
            paired[i] = true;
            paired[j] = true;
        }
    }
    out
}

pub(crate) fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Builds the system for `s` under `ff`.
pub fn build(ff: &ForceField, s: &AllAtomStructure) -> Result<System, SystemError> {
    let assigned = assign_templates(ff, s)?;
    let n = s.atoms.len();
    let mut types = vec![usize::MAX; n];
    for (tname, map) in &assigned {
        for (t, &atom) in map.iter().enumerate() {
            types[atom] = ff.residues[tname].atoms[t].1;
        }
    }
    let bonds_topo = topology_bonds(ff, s, &assigned)?;
    let mut neighbours = vec![Vec::new(); n];
    for &[a, b] in &bonds_topo {
        neighbours[a].push(b);
        neighbours[b].push(a);
    }
    for nb in &mut neighbours {
        nb.sort_unstable();
    }
    let class = |a: usize| ff.types[types[a]].class.as_str();
    let element = |a: usize| ff.types[types[a]].element.as_str();
    let label = |atoms: &[usize]| -> (String, String) {
        let names = atoms
            .iter()
            .map(|&a| {
                let res = &s.residues[s.atoms[a].residue];
                format!("{}/{}", res.label(), s.atoms[a].name)
            })
            .collect::<Vec<_>>()
            .join(" - ");
        let classes = atoms
            .iter()
            .map(|&a| class(a))
            .collect::<Vec<_>>()
            .join("-");
        (names, classes)
    };

    let mut sys = System {
        types: types.clone(),
        charges: types.iter().map(|&t| ff.types[t].charge).collect(),
        sigmas: types.iter().map(|&t| ff.types[t].sigma).collect(),
        epsilons: types.iter().map(|&t| ff.types[t].epsilon).collect(),
        masses: types.iter().map(|&t| ff.types[t].mass).collect(),
        templates: assigned.iter().map(|(t, _)| t.clone()).collect(),
        topology_bonds: bonds_topo.clone(),
        ..Default::default()
    };

    // Bonds: the first parameter (file order) whose classes match either way; X–H bonds become constraints.
    for &[a, b] in &bonds_topo {
        let p = ff
            .bonds
            .iter()
            .find(|p| {
                (p.classes[0] == class(a) && p.classes[1] == class(b))
                    || (p.classes[0] == class(b) && p.classes[1] == class(a))
            })
            .ok_or_else(|| {
                let (atoms, classes) = label(&[a, b]);
                SystemError::Parameters {
                    term: "bond",
                    atoms,
                    classes,
                }
            })?;
        if element(a) == "H" || element(b) == "H" {
            sys.constraints.push(Constraint {
                atoms: [a, b],
                distance: p.length,
            });
        } else if p.k != 0.0 {
            sys.bonds.push(Bond {
                atoms: [a, b],
                length: p.length,
                k: p.k,
            });
        }
    }

    // Angles and propers, enumerated and ordered as OpenMM does (sorted unique tuples).
    let mut angles = BTreeSet::new();
    for &[a, b] in &bonds_topo {
        for &c in &neighbours[a] {
            if c != b {
                angles.insert(if c < b { [c, a, b] } else { [b, a, c] });
            }
        }
        for &c in &neighbours[b] {
            if c != a {
                angles.insert(if c > a { [a, b, c] } else { [c, b, a] });
            }
        }
    }
    let mut propers = BTreeSet::new();
    for &[a, b, c] in &angles {
        for &d in &neighbours[a] {
            if d != a && d != b && d != c {
                propers.insert(if d < c { [d, a, b, c] } else { [c, b, a, d] });
            }
        }
        for &d in &neighbours[c] {
            if d != a && d != b && d != c {
                propers.insert(if d > a { [a, b, c, d] } else { [d, c, b, a] });
            }
        }
    }
    for &[a, b, c] in &angles {
        let p = ff
            .angles
            .iter()
            .find(|p| {
                p.classes[1] == class(b)
                    && ((p.classes[0] == class(a) && p.classes[2] == class(c))
                        || (p.classes[0] == class(c) && p.classes[2] == class(a)))
            })
            .ok_or_else(|| {
                let (atoms, classes) = label(&[a, b, c]);
                SystemError::Parameters {
                    term: "angle",
                    atoms,
                    classes,
                }
            })?;
        if p.k != 0.0 {
            sys.angles.push(Angle {
                atoms: [a, b, c],
                angle: p.angle,
                k: p.k,
            });
        }
    }

    let push_terms = |out: &mut Vec<Torsion>, atoms: [usize; 4], terms: &[TorsionTerm]| {
        for t in terms.iter().filter(|t| t.k != 0.0) {
            out.push(Torsion {
                atoms,
                periodicity: t.periodicity,
                phase: t.phase,
                k: t.k,
            });
        }
    };
    // Propers: a definition without wildcards wins at once; otherwise the first with wildcards.
    for &q in &propers {
        let c = q.map(class);
        let matches = |p: &&super::forcefield::TorsionParam| {
            let pc = &p.classes;
            (0..4).all(|i| class_matches(&pc[i], c[i]))
                || (0..4).all(|i| class_matches(&pc[i], c[3 - i]))
        };
        let specific = ff
            .propers
            .iter()
            .filter(matches)
            .find(|p| !p.has_wildcard());
        let chosen = specific.or_else(|| ff.propers.iter().find(matches));
        if let Some(p) = chosen {
            push_terms(&mut sys.torsions, q, &p.terms);
        }
    }
    // Impropers: every atom with three or more neighbours, each combination of three (OpenMM's default
    // ordering: the central atom third; of the two free positions, carbon first, else the heavier element,
    // else the lower index). The last specific definition that matches wins, else the first with wildcards.
    for (centre, nb) in neighbours.iter().enumerate() {
        if nb.len() < 3 {
            continue;
        }
        for x in 0..nb.len() {
            for y in x + 1..nb.len() {
                for z in y + 1..nb.len() {
                    let trio = [nb[x], nb[y], nb[z]];
                    let mut found: Option<([usize; 4], &[TorsionTerm])> = None;
                    for p in &ff.impropers {
                        let wild = p.has_wildcard();
                        if found.is_some() && wild {
                            continue;
                        }
                        if !class_matches(&p.classes[0], class(centre)) {
                            continue;
                        }
                        for perm in PERMUTATIONS_3 {
                            let [t2, t3, t4] = perm.map(|i| trio[i]);
                            if class_matches(&p.classes[1], class(t2))
                                && class_matches(&p.classes[2], class(t3))
                                && class_matches(&p.classes[3], class(t4))
                            {
                                let (mut a1, mut a2) = (t2, t3);
                                let (e1, e2) = (element(a1), element(a2));
                                let (m1, m2) = (sys.masses[a1], sys.masses[a2]);
                                let heavier_second = e1 != "C" && (e2 == "C" || m1 < m2);
                                if (e1 == e2 && a1 > a2) || (e1 != e2 && heavier_second) {
                                    std::mem::swap(&mut a1, &mut a2);
                                }
                                found = Some(([a1, a2, centre, t4], &p.terms));
                                break;
                            }
                        }
                    }
                    if let Some((atoms, terms)) = found {
                        push_terms(&mut sys.torsions, atoms, terms);
                    }
                }
            }
        }
    }

    // Nonbonded exceptions: atoms within three bonds.
    sys.excluded_above = vec![Vec::new(); n];
    for i in 0..n {
        // Breadth-first to depth 3; the shortest path decides 1-2/1-3 vs 1-4.
        let mut depth: Vec<(usize, u8)> = vec![(i, 0)];
        let mut frontier = vec![i];
        for d in 1..=3u8 {
            let mut next = Vec::new();
            for &a in &frontier {
                for &b in &neighbours[a] {
                    if !depth.iter().any(|&(x, _)| x == b) {
                        depth.push((b, d));
                        next.push(b);
                    }
                }
            }
            frontier = next;
        }
        for &(j, d) in &depth {
            if j <= i {
                continue;
            }
            sys.excluded_above[i].push(j);
            if d == 3 {
                sys.pairs14.push(Pair14 {
                    atoms: [i, j],
                    charge_prod: sys.charges[i] * sys.charges[j] * ff.coulomb14scale,
                    sigma: 0.5 * (sys.sigmas[i] + sys.sigmas[j]),
                    epsilon: (sys.epsilons[i] * sys.epsilons[j]).sqrt() * ff.lj14scale,
                });
            } else {
                sys.num_excluded_12_13 += 1;
            }
        }
        sys.excluded_above[i].sort_unstable();
    }
    Ok(sys)
}

/// `itertools.permutations` of three positions, in its order.
const PERMUTATIONS_3: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];
