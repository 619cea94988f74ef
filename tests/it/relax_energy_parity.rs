//! Issue 22: the Amber ff99SB energy terms and forces against OpenMM's Reference platform (double precision)
//! on OpenMM's own hydrogenated structures (DeepMind's `clean_protein` of 1UBQ and 1BPI, the latter with three
//! disulfides); fixtures by `tests/reference/make_relax_fixtures.py`.

use ferrofold::io::npz::Npz;
use ferrofold::relax::energy::{evaluate, Restraints, Term, Vec3, KJ_PER_KCAL};
use ferrofold::relax::{system, AllAtomStructure, ForceField};

use crate::common::data;

fn scalar(npz: &Npz, key: &str) -> f64 {
    npz.get(key)
        .unwrap()
        .to_f64()
        .unwrap()
        .iter()
        .copied()
        .next()
        .unwrap()
}

fn forces(npz: &Npz, key: &str) -> Vec<Vec3> {
    let a = npz.get(key).unwrap().to_f64().unwrap();
    a.as_slice()
        .unwrap()
        .chunks(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect()
}

fn parity(name: &str) {
    let dir = data("relax");
    let s = AllAtomStructure::read_path(dir.join(format!("{name}_fixed.pdb"))).unwrap();
    let npz = Npz::read_path(dir.join(format!("{name}_energy.npz"))).unwrap();
    let sys = system::build(ForceField::amber99sb(), &s).unwrap();
    let x = s.positions();

    // The same terms as OpenMM's system, counted.
    let count = |k: &str| {
        npz.get(k)
            .unwrap()
            .to_i32()
            .unwrap()
            .iter()
            .copied()
            .next()
            .unwrap() as usize
    };
    assert_eq!(
        sys.constraints.len(),
        count("num_constraints"),
        "{name}: constraints"
    );
    assert_eq!(sys.bonds.len(), count("num_bonds"), "{name}: bonds");
    assert_eq!(sys.angles.len(), count("num_angles"), "{name}: angles");
    assert_eq!(
        sys.torsions.len(),
        count("num_torsions"),
        "{name}: torsion terms"
    );
    assert_eq!(
        sys.num_excluded_12_13 + sys.pairs14.len(),
        count("num_exceptions"),
        "{name}: exceptions"
    );

    // Restraints as the fixture made them: heavy atoms, k = 10 kcal/mol/Å², reference moved by a fixed offset.
    let offset = [0.01, -0.02, 0.015];
    let heavy: Vec<usize> = (0..s.atoms.len())
        .filter(|&a| !s.atoms[a].is_hydrogen())
        .collect();
    let restraints = Restraints {
        k: 10.0 * KJ_PER_KCAL * 100.0,
        reference: heavy
            .iter()
            .map(|&a| {
                [
                    x[a][0] + offset[0],
                    x[a][1] + offset[1],
                    x[a][2] + offset[2],
                ]
            })
            .collect(),
        atoms: heavy,
    };
    let cases: [(&str, Term); 6] = [
        ("bond", Term::Bond),
        ("angle", Term::Angle),
        ("torsion", Term::Torsion),
        ("coulomb", Term::Coulomb),
        ("lj", Term::LennardJones),
        ("restraint", Term::Restraint),
    ];
    let mut report = Vec::new();
    for (key, term) in cases {
        let mut f = vec![[0.0; 3]; x.len()];
        let e = evaluate(&sys, &restraints, &x, &[term], &mut f).total();
        let want = scalar(&npz, &format!("energy_{key}"));
        let rel = (e - want).abs() / want.abs();
        let want_f = forces(&npz, &format!("forces_{key}"));
        let fmax = want_f
            .iter()
            .flat_map(|v| v.iter())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let mut worst = 0.0f64;
        for (a, (got, w)) in f.iter().zip(&want_f).enumerate() {
            let d = ((got[0] - w[0]).powi(2) + (got[1] - w[1]).powi(2) + (got[2] - w[2]).powi(2))
                .sqrt();
            let norm = (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]).sqrt();
            // Relative to the atom's force, with a floor of 1e-6 of the largest force for atoms where it
            // nearly cancels.
            let r = d / norm.max(1e-6 * fmax);
            worst = worst.max(r);
            assert!(
                r <= 1e-5,
                "{name} {key}: atom {a} force {got:?} vs OpenMM {w:?} ({r:.2e} relative)"
            );
        }
        report.push(format!(
            "{key}: {e:.6} vs {want:.6} kJ/mol ({rel:.1e}), forces {worst:.1e}"
        ));
        assert!(
            rel <= 1e-6,
            "{name} {key}: {e} vs OpenMM {want} kJ/mol ({rel:.2e} relative)"
        );
    }
    eprintln!("{name}: {}", report.join("; "));
}

#[test]
fn amber_terms_match_openmm_on_ubiquitin() {
    parity("1ubq");
}

#[test]
fn amber_terms_match_openmm_on_bpti_with_disulfides() {
    parity("1bpi");
}

/// Restrained minimisation from OpenMM's hydrogenated structure, as AlphaFold2's relax runs it (restraints
/// towards the starting heavy atoms, 10 kcal/mol/Å²; RMS force tolerance 10 kJ/mol/nm), against OpenMM's
/// LocalEnergyMinimizer on the Reference platform from the same start.
fn minimisation(name: &str) {
    use ferrofold::relax::minimize::{constraint_error, minimize, MinimizeOptions};
    let dir = data("relax");
    let s = AllAtomStructure::read_path(dir.join(format!("{name}_fixed.pdb"))).unwrap();
    let npz = Npz::read_path(dir.join(format!("{name}_openmm_min.npz"))).unwrap();
    let sys = system::build(ForceField::amber99sb(), &s).unwrap();
    let mut x = s.positions();
    let heavy: Vec<usize> = (0..s.atoms.len())
        .filter(|&a| !s.atoms[a].is_hydrogen())
        .collect();
    let restraints = Restraints {
        k: 10.0 * KJ_PER_KCAL * 100.0,
        reference: heavy.iter().map(|&a| x[a]).collect(),
        atoms: heavy.clone(),
    };
    let t = std::time::Instant::now();
    let report = minimize(&sys, &restraints, &mut x, MinimizeOptions::default());
    let seconds = t.elapsed().as_secs_f64();
    let (einit, efinal) = (scalar(&npz, "einit"), scalar(&npz, "efinal"));
    assert!(
        (report.initial_energy - einit).abs() <= 1e-6 * einit.abs(),
        "{name}: initial energy {} vs OpenMM {einit}",
        report.initial_energy
    );
    let theirs = forces(&npz, "positions");
    let msd: f64 = heavy
        .iter()
        .map(|&a| {
            (0..3)
                .map(|c| (x[a][c] - theirs[a][c]).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / heavy.len() as f64;
    let rmsd_angstrom = msd.sqrt() * 10.0;
    eprintln!(
        "{name}: ferrofold {:.1} -> {:.1} kJ/mol ({} iterations, {} evaluations, {seconds:.2} s, RMS force {:.2}); \
         OpenMM {einit:.1} -> {efinal:.1} kJ/mol ({:.1} s); heavy-atom RMSD between the minima {rmsd_angstrom:.3} Å",
        report.initial_energy,
        report.final_energy,
        report.iterations,
        report.evaluations,
        report.rms_force,
        scalar(&npz, "seconds"),
    );
    assert!(
        constraint_error(&sys, &x) <= 1e-8,
        "{name}: constraints not exact"
    );
    // Issue 22's outcome limits: the final energy within 1 % of OpenMM's (or lower), 0.2 Å heavy-atom RMSD.
    assert!(
        report.final_energy <= efinal + 0.01 * efinal.abs(),
        "{name}: final energy {} vs OpenMM {efinal}",
        report.final_energy
    );
    assert!(
        rmsd_angstrom <= 0.2,
        "{name}: {rmsd_angstrom} Å from OpenMM's minimum"
    );
}

#[test]
fn restrained_minimisation_reaches_openmms_minimum_on_ubiquitin() {
    minimisation("1ubq");
}

#[test]
fn restrained_minimisation_reaches_openmms_minimum_on_bpti() {
    minimisation("1bpi");
}

/// Distances (Å) of hydrogens from their counterparts, each with its label.
type Distances = Vec<(f64, String)>;

/// Hydrogens: ferrofold's placement on pdbfixer's heavy atoms against pdbfixer's own hydrogens, both relaxed
/// alone in Amber ff99SB (heavy atoms fixed) to the same tolerance. Names, counts and order per residue must be
/// pdbfixer's; positions are compared per parent atom, hydrogens of one parent and one force-field type being
/// interchangeable (a methyl's three hydrogens may be named in any rotation). Returns the distances (Å) of
/// hydrogens on fixed positions and on rotors (methyl, ammonium, hydroxyl, thiol: a parent with one heavy
/// neighbour and free rotation), each with its label.
fn hydrogen_distances(
    name: &str,
    ours: &AllAtomStructure,
    theirs: &AllAtomStructure,
) -> (Distances, Distances) {
    use ferrofold::relax::hydrogens::relax_hydrogens;
    assert_eq!(ours.residues.len(), theirs.residues.len());
    for (a, b) in ours.residues.iter().zip(&theirs.residues) {
        let na: Vec<&str> = ours.atoms[a.atoms.clone()]
            .iter()
            .map(|x| x.name.as_str())
            .collect();
        let nb: Vec<&str> = theirs.atoms[b.atoms.clone()]
            .iter()
            .map(|x| x.name.as_str())
            .collect();
        assert_eq!(na, nb, "{name}: atoms of {}", b.label());
    }
    let (mut ours, mut theirs) = (ours.clone(), theirs.clone());
    relax_hydrogens(&mut ours, 0, 0.1).unwrap();
    relax_hydrogens(&mut theirs, 0, 0.1).unwrap();
    let sys = system::build(ForceField::amber99sb(), &ours).unwrap();
    let mut parent = vec![usize::MAX; ours.atoms.len()];
    for c in &sys.constraints {
        let [i, j] = c.atoms;
        if ours.atoms[i].is_hydrogen() {
            parent[i] = j;
        } else {
            parent[j] = i;
        }
    }
    let heavy_neighbours = |a: usize| {
        sys.topology_bonds
            .iter()
            .filter(|b| b.contains(&a))
            .filter(|b| !ours.atoms[b[0]].is_hydrogen() && !ours.atoms[b[1]].is_hydrogen())
            .count()
    };
    let hydrogens_on = |a: usize| parent.iter().filter(|&&p| p == a).count();
    let (mut fixed, mut rotor) = (Vec::new(), Vec::new());
    for h in 0..ours.atoms.len() {
        if !ours.atoms[h].is_hydrogen() {
            continue;
        }
        let p = parent[h];
        let best = (0..ours.atoms.len())
            .filter(|&k| {
                ours.atoms[k].is_hydrogen() && parent[k] == p && sys.types[k] == sys.types[h]
            })
            .map(|k| {
                let (a, b) = (ours.atoms[h].position, theirs.atoms[k].position);
                ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
                    * 10.0
            })
            .fold(f64::INFINITY, f64::min);
        let label = format!(
            "{} {}",
            ours.residues[ours.atoms[h].residue].label(),
            ours.atoms[h].name
        );
        let is_rotor = heavy_neighbours(p) == 1
            && (hydrogens_on(p) == 3 || matches!(ours.atoms[p].element.as_str(), "O" | "S"));
        if is_rotor {
            rotor.push((best, label));
        } else {
            fixed.push((best, label));
        }
    }
    (fixed, rotor)
}

fn strip_hydrogens(s: &AllAtomStructure) -> AllAtomStructure {
    let mut out = AllAtomStructure {
        chains: s.chains.clone(),
        ..Default::default()
    };
    for r in &s.residues {
        let start = out.atoms.len();
        out.atoms.extend(
            s.atoms[r.atoms.clone()]
                .iter()
                .filter(|a| !a.is_hydrogen())
                .cloned(),
        );
        let mut r2 = r.clone();
        r2.atoms = start..out.atoms.len();
        out.residues.push(r2);
    }
    out
}

fn far(d: &[(f64, String)]) -> usize {
    d.iter().filter(|(x, _)| *x > 0.1).count()
}

#[test]
fn hydrogens_are_placed_as_pdbfixer_places_them() {
    use ferrofold::relax::hydrogens::add_hydrogens;
    let read = |f: &str| AllAtomStructure::read_path(data("relax").join(f)).unwrap();
    // pdbfixer against itself: its hydrogens start with an unseeded random jitter.
    let (pf_fixed, pf_rotor) = hydrogen_distances(
        "pdbfixer",
        &read("1ubq_fixed.pdb"),
        &read("1ubq_fixed_rerun.pdb"),
    );
    eprintln!(
        "pdbfixer vs pdbfixer (1UBQ, two runs): {}/{} fixed-position and {}/{} rotor hydrogens farther than 0.1 Å",
        far(&pf_fixed), pf_fixed.len(), far(&pf_rotor), pf_rotor.len()
    );
    for name in ["1ubq", "1bpi"] {
        let theirs = read(&format!("{name}_fixed.pdb"));
        let ours = add_hydrogens(&strip_hydrogens(&theirs)).unwrap();
        let (fixed, rotor) = hydrogen_distances(name, &ours, &theirs);
        let worst = |d: &[(f64, String)]| {
            d.iter()
                .cloned()
                .fold((0.0, String::new()), |a, b| if b.0 > a.0 { b } else { a })
        };
        eprintln!(
            "{name}: ferrofold vs pdbfixer: {}/{} fixed-position hydrogens farther than 0.1 Å (worst {:?}), \
             {}/{} rotor hydrogens (worst {:?})",
            far(&fixed), fixed.len(), worst(&fixed), far(&rotor), rotor.len(), worst(&rotor)
        );
        // Hydrogens on fixed positions agree within 0.1 Å, but for at most 1 % of them (1BPI's N-terminal
        // Arg HE settles 0.11 Å off pdbfixer's: a shallow out-of-plane well) and none beyond 0.25 Å.
        assert!(
            far(&fixed) * 100 <= fixed.len() && worst(&fixed).0 <= 0.25,
            "{name}: hydrogens on fixed positions differ: {} beyond 0.1 Å, worst {:?}",
            far(&fixed),
            worst(&fixed)
        );
        // Rotors settle in one of several minima depending on where they start; ferrofold's may differ from
        // pdbfixer's no more often than pdbfixer's two runs differ from each other (plus 5 % of the rotors).
        let limit = far(&pf_rotor) as f64 / pf_rotor.len() as f64 + 0.05;
        assert!(
            (far(&rotor) as f64 / rotor.len() as f64) <= limit,
            "{name}: {} of {} rotor hydrogens differ (pdbfixer vs itself: {})",
            far(&rotor),
            rotor.len(),
            far(&pf_rotor)
        );
    }
}

/// The whole relax (hydrogens, restrained minimisation, violations, outer iterations) against DeepMind's
/// relax on OpenMM from the same heavy atoms: no remaining violations where OpenMM has none, final energy
/// within 1 % of OpenMM's (or lower), heavy-atom RMSD to OpenMM's relaxed model ≤ 0.2 Å.
#[test]
fn relax_reaches_deepminds_relaxed_models() {
    use ferrofold::relax::pipeline::{relax_protein, RelaxOptions};
    for name in ["1ubq", "1bpi", "1ejg", "1ubi"] {
        let input =
            ferrofold::io::pdb::read_path(data("relax").join(format!("{name}_input.pdb")), None)
                .unwrap();
        let t = std::time::Instant::now();
        let ours = relax_protein(&input, &RelaxOptions::default()).unwrap();
        let seconds = t.elapsed().as_secs_f64();
        let theirs =
            ferrofold::io::pdb::read_path(data("relax").join(format!("{name}_relaxed.pdb")), None)
                .unwrap();
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(data("relax").join(format!("{name}_relax.json"))).unwrap(),
        )
        .unwrap();
        let (their_e, their_v) = (
            json["final_energy"].as_f64().unwrap(),
            json["remaining_violations"].as_u64().unwrap(),
        );
        assert_eq!(ours.protein.num_res(), theirs.num_res(), "{name}");
        let (mut sum, mut n) = (0.0f64, 0usize);
        for i in 0..theirs.num_res() {
            for a in 0..37 {
                if theirs.atom_mask[[i, a]] > 0.5 && ours.protein.atom_mask[[i, a]] > 0.5 {
                    for c in 0..3 {
                        let d = (ours.protein.atom_positions[[i, a, c]]
                            - theirs.atom_positions[[i, a, c]])
                            as f64;
                        sum += d * d;
                    }
                    n += 1;
                }
            }
        }
        let rmsd = (sum / n as f64).sqrt();
        let m = &ours.metrics;
        eprintln!(
            "{name}: ferrofold {:.1} -> {:.1} kcal/mol, {} violations, RMSD to input {:.2} Å, {seconds:.1} s; \
             OpenMM {:.1} -> {their_e:.1} kcal/mol, {their_v} violations, RMSD {:.2} Å, {:.1} s; heavy-atom RMSD \
             between the relaxed models {rmsd:.3} Å ({n} atoms)",
            m.initial_energy,
            m.final_energy,
            m.remaining_violations_count,
            m.rmsd,
            json["initial_energy"].as_f64().unwrap(),
            json["rmsd"].as_f64().unwrap(),
            json["seconds"].as_f64().unwrap(),
        );
        if their_v == 0 {
            assert_eq!(m.remaining_violations_count, 0, "{name}: violations remain");
        }
        assert!(
            m.final_energy <= their_e + 0.01 * their_e.abs(),
            "{name}: {} vs {their_e}",
            m.final_energy
        );
        assert!(rmsd <= 0.2, "{name}: {rmsd} Å from OpenMM's relaxed model");
    }
}
