//! AlphaFold2's structural-violation check (`ferrofold::relax::violations`) against DeepMind's own
//! `amber_minimize.find_violations` / `get_violation_metrics` (v2.3.2) on relaxed and crystal structures and on
//! perturbed copies made to violate; fixtures by `tests/reference/make_violation_fixtures.py`.

use ferrofold::io::npz::Npz;
use ferrofold::relax::violations::{atom14_dists_bounds, find_violations, Violations};
use serde_json::Value;

use crate::common::data;

fn expected() -> serde_json::Map<String, Value> {
    let path = data("relax/violations/expected.json");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn mask(v: &Value) -> Vec<bool> {
    ints(v).into_iter().map(|x| x == 1).collect()
}

/// ferrofold's reading of the case's PDB file, checked against AF2's (`protein.from_pdb_string`), and its
/// violations.
fn check(name: &str, e: &Value) -> Violations {
    let p = ferrofold::io::pdb::read_path(data(e["pdb"].as_str().unwrap()), None).unwrap();
    let aatype: Vec<i64> = p.aatype.iter().map(|&a| a as i64).collect();
    assert_eq!(aatype, ints(&e["aatype"]), "{name}: aatype");
    let ri: Vec<i64> = p.residue_index.iter().map(|&r| r as i64).collect();
    assert_eq!(ri, ints(&e["residue_index"]), "{name}: residue_index");
    // Heavy atoms only (hydrogens dropped) and the same coordinates.
    let atoms = p.atom_mask.iter().filter(|&&m| m > 0.5).count() as i64;
    assert_eq!(
        atoms,
        e["num_atoms"].as_i64().unwrap(),
        "{name}: atoms read"
    );
    let sum: f64 = p
        .atom_positions
        .indexed_iter()
        .map(|((i, j, _), &x)| f64::from(x) * f64::from(p.atom_mask[[i, j]]))
        .sum();
    let want = e["position_sum"].as_f64().unwrap();
    assert!(
        (sum - want).abs() < 1e-6 * want.abs().max(1.0),
        "{name}: coordinates {sum} vs {want}"
    );

    let v = find_violations(&p);
    for (field, got) in [
        ("per_residue", &v.per_residue),
        ("between_residue_bond", &v.between_residue_bond),
        ("between_residue_clash", &v.between_residue_clash),
        ("within_residue", &v.within_residue),
    ] {
        assert_eq!(*got, mask(&e[field]), "{name}: {field}");
    }
    assert_eq!(
        v.num_residue_violations as i64,
        e["num_residue_violations"].as_i64().unwrap(),
        "{name}: num_residue_violations"
    );
    let m = &v.metrics;
    for (key, got) in [
        (
            "violations_extreme_ca_ca_distance",
            m.violations_extreme_ca_ca_distance,
        ),
        (
            "violations_between_residue_bond",
            m.violations_between_residue_bond,
        ),
        (
            "violations_between_residue_clash",
            m.violations_between_residue_clash,
        ),
        ("violations_within_residue", m.violations_within_residue),
        ("violations_per_residue", m.violations_per_residue),
    ] {
        let want = e["metrics"][key].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-5 * want.abs(),
            "{name}: {key} {got} vs AF2's {want}"
        );
    }
    v
}

#[test]
fn violations_match_deepminds_on_every_case() {
    let cases = expected();
    assert_eq!(cases.len(), 11);
    for (name, e) in &cases {
        check(name, e);
    }
}

#[test]
fn relaxed_and_crystal_structures_have_none() {
    let cases = expected();
    for name in ["1ubq_relaxed", "1bpi_relaxed", "1ubq_af2"] {
        let v = check(name, &cases[name]);
        assert_eq!(v.num_residue_violations, 0, "{name}");
    }
}

#[test]
fn each_perturbation_is_caught_by_its_own_check() {
    let cases = expected();
    let v = |name: &str| check(name, &cases[name]).metrics;

    let stretched = v("stretched_bond");
    assert!(stretched.violations_between_residue_bond > 0.0);
    assert!(stretched.violations_extreme_ca_ca_distance > 0.0);
    // The same tear over a gap in the numbering is a chain break, not a bad bond.
    let gap = v("gap_torn_bond");
    assert_eq!(gap.violations_between_residue_bond, 0.0);
    assert_eq!(gap.violations_extreme_ca_ca_distance, 0.0);

    let clash = v("segment_clash");
    assert!(clash.violations_between_residue_clash > 0.0);
    assert_eq!(clash.violations_between_residue_bond, 0.0);
    assert_eq!(clash.violations_within_residue, 0.0);
    // The same contact between two chains whose clashing residues share a number goes unseen, as in AF2.
    assert_eq!(v("two_chains").violations_between_residue_clash, 0.0);

    for name in ["sidechain_bond", "sidechain_angle"] {
        let m = v(name);
        assert!(m.violations_within_residue > 0.0, "{name}");
        assert_eq!(m.violations_between_residue_bond, 0.0, "{name}");
    }
    let noise = v("noise");
    assert!(noise.violations_between_residue_bond > 0.5 && noise.violations_within_residue > 0.5);
    // Missing side-chain atoms sit at the origin: bad bonds to them, and clashes between two residues' ones.
    let missing = v("missing_atoms_unk");
    assert!(
        missing.violations_within_residue > 0.0 && missing.violations_between_residue_clash > 0.0
    );
}

#[test]
fn atom14_bounds_match_deepminds_table() {
    let npz = Npz::read_path(data("relax/violations/atom14_bounds.npz")).unwrap();
    for (key, upper) in [("lower_bound", false), ("upper_bound", true)] {
        let want = npz.get(key).unwrap().to_f32().unwrap();
        assert_eq!(want.shape(), &[21, 14, 14]);
        for restype in 0..21 {
            let (lo, hi) = atom14_dists_bounds(restype);
            let got = if upper { hi } else { lo };
            for a in 0..14 {
                for b in 0..14 {
                    assert_eq!(
                        got[a][b],
                        want[[restype, a, b]],
                        "{key}[{restype}][{a}][{b}]"
                    );
                }
            }
        }
    }
}
