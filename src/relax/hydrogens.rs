//! Completing a heavy-atom protein for the force field, as AlphaFold2's relax has pdbfixer do
//! (`cleanup.fix_pdb`: missing terminal OXT, then `addMissingHydrogens(pH=7)`):
//!
//! * which hydrogens: OpenMM's `hydrogens.xml` (shipped in `data/`, MIT) at pH 7 — a hydrogen is added when
//!   its `maxph` is at least 7 or the residue's variant names it; terminal hydrogens (`H2`, `H3`) on the
//!   N-terminal residue only;
//! * variants as OpenMM's `Modeller.addHydrogens` picks them at pH 7: a cysteine whose sulfur is disulfide-bonded
//!   (the pairing of OpenMM's PDB reader) is CYX; a histidine is HIE if a hydrogen 0.1 nm out from NE2 would
//!   hydrogen-bond an O or N of another residue (donor-acceptor ≤ 0.35 nm, D-H···A deviation < 50°) and one from
//!   ND1 would not, else HID;
//! * the order of atoms: each heavy atom followed by its hydrogens (the file's order), OXT last.
//!
//! DISCREPANCY: the positions. pdbfixer drops each hydrogen 0.1 nm from its parent with a random jitter and
//! relaxes it for 50 steps in a soft force field; ferrofold places them by ideal geometry (tetrahedral,
//! trigonal or bent at the parent, methyl/ammonium groups staggered, hydroxyls anti) and then relaxes the
//! hydrogens alone in Amber ff99SB ([`relax_hydrogens`]). OXT is placed in the carboxylate plane at 120°
//! (pdbfixer superposes a template). The restrained minimisation that follows moves every atom anyway;
//! `tests/it/relax_energy_parity.rs` compares the two placements after the same hydrogen-only minimisation.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::energy::{add, cross, dot, scale, sub, Restraints, Vec3};
use super::forcefield::ForceField;
use super::minimize::{minimize_frozen, MinimizeOptions, MinimizeReport};
use super::structure::{AllAtomStructure, Atom, Residue};
use super::system::{self, disulfide_pairs, SystemError};

/// OpenMM 8.6.1's `openmm/app/data/hydrogens.xml`.
pub const HYDROGENS_XML: &str = include_str!("data/hydrogens.xml");

/// The pH AlphaFold2's relax protonates at (pdbfixer's default).
pub const PH: f64 = 7.0;

#[derive(Debug, Clone)]
struct HydrogenDef {
    name: String,
    parent: String,
    /// `Some("N")`: N-terminal residues only (the only kind protein residues use).
    terminal: Option<String>,
    max_ph: f64,
    variants: Option<Vec<String>>,
}

fn definitions() -> &'static HashMap<String, Vec<HydrogenDef>> {
    static DEFS: OnceLock<HashMap<String, Vec<HydrogenDef>>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let doc = roxmltree::Document::parse(HYDROGENS_XML)
            .expect("the shipped hydrogens.xml parses (tested)");
        let mut out = HashMap::new();
        for r in doc
            .root_element()
            .children()
            .filter(|n| n.has_tag_name("Residue"))
        {
            let defs = r
                .children()
                .filter(|n| n.has_tag_name("H"))
                .map(|h| HydrogenDef {
                    name: h.attribute("name").unwrap_or_default().to_string(),
                    parent: h.attribute("parent").unwrap_or_default().to_string(),
                    terminal: h.attribute("terminal").map(str::to_string),
                    max_ph: h
                        .attribute("maxph")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(f64::INFINITY),
                    variants: h
                        .attribute("variant")
                        .map(|v| v.split(',').map(str::to_string).collect()),
                })
                .collect();
            out.insert(r.attribute("name").unwrap_or_default().to_string(), defs);
        }
        out
    })
}

#[derive(Debug, thiserror::Error)]
pub enum HydrogenError {
    #[error("residue {residue}: {what}")]
    Residue { residue: String, what: String },
    #[error(transparent)]
    System(#[from] SystemError),
}

fn unit(a: Vec3) -> Vec3 {
    let n = dot(a, a).sqrt();
    if n > 0.0 {
        scale(a, 1.0 / n)
    } else {
        [1.0, 0.0, 0.0]
    }
}
/// A unit vector perpendicular to `axis`, pointing towards `towards` where it can.
fn perpendicular(axis: Vec3, towards: Option<Vec3>) -> Vec3 {
    let t = towards.unwrap_or([0.0, 0.0, 1.0]);
    let p = sub(t, scale(axis, dot(t, axis)));
    if dot(p, p) > 1e-12 {
        unit(p)
    } else {
        let alt = if axis[0].abs() < 0.9 {
            [1.0, 0.0, 0.0]
        } else {
            [0.0, 1.0, 0.0]
        };
        unit(sub(alt, scale(axis, dot(alt, axis))))
    }
}

/// X–H bond lengths (nm) near Amber's equilibrium values; the constraints set them exactly.
fn bond_length(parent_element: &str) -> f64 {
    match parent_element {
        "N" => 0.101,
        "O" => 0.096,
        "S" => 0.1336,
        _ => 0.109,
    }
}

const TETRAHEDRAL: f64 = 1.910_633_236_249_018_5; // acos(-1/3)

/// Positions for `count` hydrogens on `parent` given its heavy neighbours and, per neighbour, a further
/// atom that fixes the torsion (for groups on a single bond).
fn place(
    parent: Vec3,
    element: &str,
    neighbours: &[Vec3],
    beyond: Option<Vec3>,
    count: usize,
) -> Vec<Vec3> {
    let len = bond_length(element);
    let total = neighbours.len() + count;
    let dirs: Vec<Vec3> = neighbours.iter().map(|&n| unit(sub(n, parent))).collect();
    let mut out = Vec::with_capacity(count);
    match (neighbours.len(), count) {
        (0, _) => {
            for k in 0..count {
                let mut d = [0.0; 3];
                d[k % 3] = 1.0;
                out.push(add(parent, scale(d, len)));
            }
        }
        (1, _) => {
            // One heavy neighbour: a cone around the bond, staggered (or anti) against the atom beyond it.
            let b = dirs[0];
            let towards = beyond.map(|r| sub(r, add(parent, b)));
            let e1 = perpendicular(b, towards);
            let e2 = cross(b, e1);
            let angle = match (total, element) {
                (2, "S") => 96.0f64.to_radians(),
                (2, _) => 108.5f64.to_radians(),
                (3, _) => 120.0f64.to_radians(),
                _ => TETRAHEDRAL,
            };
            // Torsions from the atom beyond: anti first, then the staggered or planar partners.
            let torsions: &[f64] = match total {
                3 => &[180.0, 0.0],
                _ => &[180.0, 60.0, -60.0],
            };
            for k in 0..count {
                let t = torsions[k % torsions.len()].to_radians();
                let radial = add(scale(e1, t.cos()), scale(e2, t.sin()));
                let d = add(scale(b, angle.cos()), scale(radial, angle.sin()));
                out.push(add(parent, scale(d, len)));
            }
        }
        (2, 1) => {
            // Trigonal (amide N-H, aromatic C-H) or tetrahedral with three heavy... both: opposite the bisector.
            out.push(add(
                parent,
                scale(unit(scale(add(dirs[0], dirs[1]), -1.0)), len),
            ));
        }
        (2, _) => {
            // Methylene-like: the two tetrahedral positions either side of the heavy atoms' plane.
            let bis = unit(scale(add(dirs[0], dirs[1]), -1.0));
            let normal = unit(cross(dirs[0], dirs[1]));
            let half = TETRAHEDRAL / 2.0;
            for k in 0..count {
                let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
                let d = add(scale(bis, half.cos()), scale(normal, sign * half.sin()));
                out.push(add(parent, scale(d, len)));
            }
        }
        _ => {
            let sum = dirs.iter().fold([0.0; 3], |acc, &d| add(acc, d));
            for _ in 0..count {
                out.push(add(parent, scale(unit(scale(sum, -1.0)), len)));
            }
        }
    }
    out
}

/// Heavy-atom bonds of a residue by atom name, from the force field's template of that residue type.
fn heavy_bonds(ff: &ForceField, name: &str) -> Vec<(String, String)> {
    let base = match name {
        "HIS" => "HID",
        other => other,
    };
    let Some(tpl) = ff.residue(base) else {
        return Vec::new();
    };
    let heavy = |i: usize| ff.types[tpl.atoms[i].1].element != "H";
    tpl.bonds
        .iter()
        .filter(|&&(a, b)| heavy(a) && heavy(b))
        .map(|&(a, b)| (tpl.atoms[a].0.clone(), tpl.atoms[b].0.clone()))
        .collect()
}

/// Adds OXT to chain ends that lack it and every hydrogen a residue takes at pH 7 (see the module docs).
/// Hydrogens already present in `heavy` are dropped and placed anew (as AlphaFold2's relax re-places them
/// in every outer iteration).
pub fn add_hydrogens(heavy: &AllAtomStructure) -> Result<AllAtomStructure, HydrogenError> {
    let ff = ForceField::amber99sb();
    let defs = definitions();
    // Heavy atoms per residue, by name, and OXT where a chain end lacks it.
    let mut residues: Vec<Vec<(String, String, Vec3)>> = heavy
        .residues
        .iter()
        .map(|r| {
            heavy.atoms[r.atoms.clone()]
                .iter()
                .filter(|a| !a.is_hydrogen())
                .map(|a| (a.name.clone(), a.element.clone(), a.position))
                .collect()
        })
        .collect();
    let find =
        |res: &[(String, String, Vec3)], name: &str| res.iter().find(|a| a.0 == name).map(|a| a.2);
    for chain in &heavy.chains {
        let Some(last) = chain.clone().last() else {
            continue;
        };
        let res = &residues[last];
        if find(res, "OXT").is_some() {
            continue;
        }
        let (Some(c), Some(ca), Some(o)) = (find(res, "C"), find(res, "CA"), find(res, "O")) else {
            return Err(HydrogenError::Residue {
                residue: heavy.residues[last].label(),
                what: "a chain's last residue needs C, CA and O to place OXT".into(),
            });
        };
        let d = unit(scale(add(unit(sub(ca, c)), unit(sub(o, c))), -1.0));
        residues[last].push(("OXT".into(), "O".into(), add(c, scale(d, 0.125))));
    }

    // Cysteines in disulfides, as OpenMM's reader pairs them.
    let cys: Vec<usize> = (0..residues.len())
        .filter(|&r| heavy.residues[r].name == "CYS")
        .collect();
    let sg: Vec<Option<Vec3>> = cys.iter().map(|&r| find(&residues[r], "SG")).collect();
    let mut cyx = vec![false; residues.len()];
    for (i, j) in disulfide_pairs(&sg) {
        cyx[cys[i]] = true;
        cyx[cys[j]] = true;
    }
    // Acceptors for the histidine rule: every O and N (before hydrogens are added).
    let acceptors: Vec<(usize, Vec3)> = residues
        .iter()
        .enumerate()
        .flat_map(|(r, atoms)| {
            atoms
                .iter()
                .filter(|a| a.1 == "O" || a.1 == "N")
                .map(move |a| (r, a.2))
        })
        .collect();

    let mut out = AllAtomStructure {
        chains: heavy.chains.clone(),
        ..Default::default()
    };
    for (ci, chain) in heavy.chains.iter().enumerate() {
        for r in chain.clone() {
            let res = &heavy.residues[r];
            let atoms = &residues[r];
            let n_terminal = r == chain.start;
            let label = res.label();
            let Some(hdefs) = defs.get(&res.name) else {
                return Err(HydrogenError::Residue {
                    residue: label,
                    what: format!(
                        "{} is not a standard amino acid (no hydrogen definitions)",
                        res.name
                    ),
                });
            };
            let bonds = heavy_bonds(ff, &res.name);
            let neighbours_of = |name: &str| -> Vec<(String, Vec3)> {
                let mut nb: Vec<(String, Vec3)> = bonds
                    .iter()
                    .filter_map(|(a, b)| {
                        let other = if a == name {
                            b
                        } else if b == name {
                            a
                        } else {
                            return None;
                        };
                        find(atoms, other).map(|p| (other.clone(), p))
                    })
                    .collect();
                if name == "N" && !n_terminal {
                    if let Some(c) = find(&residues[r - 1], "C") {
                        nb.push(("-C".into(), c));
                    }
                }
                if name == "C" && r + 1 < chain.end {
                    if let Some(n) = find(&residues[r + 1], "N") {
                        nb.push(("+N".into(), n));
                    }
                }
                if name == "C" {
                    if let Some(oxt) = find(atoms, "OXT") {
                        nb.push(("OXT".into(), oxt));
                    }
                }
                nb
            };
            let variant = match res.name.as_str() {
                "CYS" if cyx[r] => Some("CYX"),
                "HIS" => Some(histidine_variant(r, atoms, &neighbours_of, &acceptors)),
                _ => None,
            };
            let wanted: Vec<&HydrogenDef> = hdefs
                .iter()
                .filter(|h| !h.parent.is_empty())
                .filter(|h| match (&h.variants, variant) {
                    (Some(vs), Some(v)) => vs.iter().any(|x| x == v),
                    (Some(_), None) => PH <= h.max_ph,
                    (None, _) => PH <= h.max_ph,
                })
                .filter(|h| match h.terminal.as_deref() {
                    None => true,
                    Some(t) => n_terminal && t.contains('N'),
                })
                .collect();
            let start = out.atoms.len();
            for (name, element, pos) in atoms {
                out.atoms.push(Atom {
                    name: name.clone(),
                    element: element.clone(),
                    residue: r,
                    position: *pos,
                });
                let mine: Vec<&&HydrogenDef> =
                    wanted.iter().filter(|h| &h.parent == name).collect();
                if mine.is_empty() {
                    continue;
                }
                let nb = neighbours_of(name);
                // The atom that fixes the torsion of a group on a single bond: the neighbour's first other
                // heavy neighbour (for N of a chain's first residue: C; for the hydroxyl of Tyr: CE1).
                let beyond = if nb.len() == 1 {
                    let first = &nb[0].0;
                    neighbours_of(first)
                        .into_iter()
                        .find(|(n, _)| n != name)
                        .map(|(_, p)| p)
                } else {
                    None
                };
                let positions: Vec<Vec3> = nb.iter().map(|(_, p)| *p).collect();
                for (h, p) in mine
                    .iter()
                    .zip(place(*pos, element, &positions, beyond, mine.len()))
                {
                    out.atoms.push(Atom {
                        name: h.name.clone(),
                        element: "H".into(),
                        residue: r,
                        position: p,
                    });
                }
            }
            out.residues.push(Residue {
                name: res.name.clone(),
                chain: ci,
                chain_id: res.chain_id.clone(),
                number: res.number,
                insertion: res.insertion,
                atoms: start..out.atoms.len(),
            });
        }
    }
    Ok(out)
}

/// OpenMM's histidine rule at pH 7 (see the module docs).
fn histidine_variant(
    r: usize,
    atoms: &[(String, String, Vec3)],
    neighbours_of: &dyn Fn(&str) -> Vec<(String, Vec3)>,
    acceptors: &[(usize, Vec3)],
) -> &'static str {
    let pos = |n: &str| atoms.iter().find(|a| a.0 == n).map(|a| a.2);
    let bonded = |n: &str| -> bool {
        let Some(d) = pos(n) else { return false };
        let sum = neighbours_of(n)
            .iter()
            .fold([0.0; 3], |acc, (_, p)| add(acc, sub(d, *p)));
        let h = add(d, scale(unit(sum), 0.1));
        acceptors.iter().any(|&(ar, a)| {
            if ar == r {
                return false;
            }
            let da = sub(d, a);
            if dot(da, da).sqrt() > 0.35 {
                return false;
            }
            let c = dot(unit(sub(h, d)), unit(sub(a, h))).clamp(-1.0, 1.0);
            c.acos() < 50f64.to_radians()
        })
    };
    if !bonded("ND1") && bonded("NE2") {
        "HIE"
    } else {
        "HID"
    }
}

/// Relaxes the hydrogens alone (heavy atoms fixed) in Amber ff99SB from where they are: `iterations` L-BFGS
/// steps at most per constraint stage (0 = until the RMS force is at most `tolerance` kJ/mol/nm).
pub fn relax_hydrogens(
    s: &mut AllAtomStructure,
    iterations: usize,
    tolerance: f64,
) -> Result<MinimizeReport, HydrogenError> {
    let sys = system::build(ForceField::amber99sb(), s)?;
    let frozen: Vec<bool> = s.atoms.iter().map(|a| !a.is_hydrogen()).collect();
    let mut x = s.positions();
    let report = minimize_frozen(
        &sys,
        &Restraints::default(),
        &mut x,
        MinimizeOptions {
            tolerance,
            max_iterations: iterations,
        },
        Some(&frozen),
    );
    for (a, p) in s.atoms.iter_mut().zip(x) {
        a.position = p;
    }
    Ok(report)
}
