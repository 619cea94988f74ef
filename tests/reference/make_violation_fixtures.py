"""Fixtures of ferrofold's structural-violation check (`src/relax/violations.rs`), made with DeepMind's own
`alphafold.relax.amber_minimize.find_violations` / `get_violation_metrics` (v2.3.2's, as installed by
alphafold-colabfold 2.3.1): what AlphaFold2's relax measures on every structure it minimises.

Writes tests/data/relax/violations/:
* `1ubq_relaxed.pdb.gz`, `1bpi_relaxed.pdb.gz`: gzipped snapshots of `relax/1ubq_relaxed.pdb` and
  `relax/1bpi_relaxed.pdb` (DeepMind's relax output, with hydrogens) as they were when this script ran (the relax
  fixtures are regenerated on their own, and their hydrogens differ run to run).
* `<case>.pdb`: perturbed copies (AF2's `protein.to_pdb`) of the first 40 residues of that 1BPI snapshot
  (heavy atoms, as `protein.from_pdb_string` reads it), each perturbation deterministic (fixed numpy seed):
  a stretched peptide bond and a torn one (extreme Ca-Ca), a chain break by numbering over a torn bond,
  a clash between two segments, a stretched side-chain bond, a bent side-chain angle, noise, missing side-chain
  atoms plus an UNK residue, and two chains whose residue numbers overlap.
* `expected.json`: for those, the two snapshots and `structures/1ubq_af2.pdb`: AF2's per-residue masks (total and per kind), the number of violating
  residues and the five violation metrics (float32 values, written exactly), each computed from the PDB file
  as re-read by `protein.from_pdb_string` (so the Rust side reads the very same coordinates), with what that
  reader made of the file (aatype, residue numbers, heavy-atom count, sum of coordinates).
* `atom14_bounds.npz`: `residue_constants.make_atom14_dists_bounds(1.5, 12)` (relax's settings), float32
  [21, 14, 14] `lower_bound` / `upper_bound`.

Usage: /tmp/oracle/venv/bin/python tests/reference/make_violation_fixtures.py
(the reference harness's venv with openmm installed, which amber_minimize imports).
"""
import gzip
import json
import pathlib
import re
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE.parent / "data"
OUT = DATA / "relax" / "violations"

# OpenMM 8's simtk shim lacks simtk.openmm.app.internal, which DeepMind's amber_minimize imports.
import openmm.app.internal  # noqa: E402
import openmm.app.internal.pdbstructure  # noqa: E402

sys.modules["simtk.openmm.app.internal"] = openmm.app.internal
sys.modules["simtk.openmm.app.internal.pdbstructure"] = openmm.app.internal.pdbstructure
from absl import logging  # noqa: E402

logging.set_verbosity(logging.WARNING)
from alphafold.common import protein  # noqa: E402
from alphafold.common import residue_constants as rc  # noqa: E402
from alphafold.relax import amber_minimize  # noqa: E402

METRICS = [
    "violations_extreme_ca_ca_distance",
    "violations_between_residue_bond",
    "violations_between_residue_clash",
    "violations_within_residue",
    "violations_per_residue",
]
N, CA, C = rc.atom_order["N"], rc.atom_order["CA"], rc.atom_order["C"]


def read(path):
    path = pathlib.Path(path)
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    return protein.from_pdb_string(text)


def replace(p, **kw):
    fields = dict(
        atom_positions=p.atom_positions.copy(),
        atom_mask=p.atom_mask.copy(),
        aatype=p.aatype.copy(),
        residue_index=p.residue_index.copy(),
        chain_index=p.chain_index.copy(),
        b_factors=p.b_factors.copy(),
    )
    fields.update(kw)
    return protein.Protein(**fields)


def unit(v):
    return v / np.linalg.norm(v)


def res_pos(p, resnum):
    """Row of residue number `resnum` (chain A numbering of the base fragment)."""
    return int(np.flatnonzero(p.residue_index == resnum)[0])


def translate_from(p, start, vec):
    """Moves every residue from row `start` on by `vec` (Angstrom)."""
    x = p.atom_positions.copy()
    x[start:] += vec * p.atom_mask[start:, :, None]
    return replace(p, atom_positions=x)


def along_bond(p, row):
    """Unit vector C(row-1) -> N(row)."""
    return unit(p.atom_positions[row, N] - p.atom_positions[row - 1, C])


def rotate(v, axis, angle):
    axis = unit(axis)
    return (v * np.cos(angle) + np.cross(axis, v) * np.sin(angle)
            + axis * np.dot(axis, v) * (1 - np.cos(angle)))


def min_distance(a, b):
    xa = a.atom_positions[a.atom_mask > 0.5]
    xb = b.atom_positions[b.atom_mask > 0.5]
    return np.sqrt(((xa[:, None] - xb[None]) ** 2).sum(-1)).min()


def slide_into_contact(p, start, target=1.6):
    """Moves rows `start..` away along x, then back in 0.05 A steps until a heavy atom of the moved part is
    closer than `target` to one of the rest; the two parts keep their own geometry."""
    head = replace(p, atom_positions=p.atom_positions[:start], atom_mask=p.atom_mask[:start])
    for shift in np.arange(20.0, -20.0, -0.05):
        moved = translate_from(p, start, np.array([shift, 0.0, 0.0]))
        tail = replace(moved, atom_positions=moved.atom_positions[start:], atom_mask=moved.atom_mask[start:])
        if min_distance(head, tail) < target:
            return moved
    raise RuntimeError("no contact")


def perturbed(base):
    rng = np.random.default_rng(0)
    cases = {}
    n = base.aatype.shape[0]

    # The peptide bond 19-20 stretched by 0.4 A (beyond 12 sd, Ca-Ca still within 1.5 A of ideal) and 29-30
    # torn by 3 A.
    r20, r30 = res_pos(base, 20), res_pos(base, 30)
    p = translate_from(base, r20, 0.4 * along_bond(base, r20))
    cases["stretched_bond"] = translate_from(p, r30, 3.0 * along_bond(p, r30))

    # The same tear across a gap in the numbering: no peptide bond is checked there.
    p = translate_from(base, r20, 3.0 * along_bond(base, r20))
    ri = p.residue_index.copy()
    ri[r20:] += 10
    cases["gap_torn_bond"] = replace(p, residue_index=ri)

    # Residues 20-40 numbered after a gap (no bond to 19) and slid against 1-19: clashes only.
    p = replace(base, residue_index=np.where(np.arange(n) >= r20, base.residue_index + 100, base.residue_index))
    cases["segment_clash"] = slide_into_contact(p, r20)

    # The same contact as two chains, the second numbered so that the closest residue pair across the
    # contact shares its number: AF2 compares residue numbers only (never chains), so that pair is not
    # checked for clashes.
    p = cases["segment_clash"]
    rows = [replace(p, atom_positions=p.atom_positions[r:r + 1], atom_mask=p.atom_mask[r:r + 1])
            for r in range(n)]
    _, i, j = min((min_distance(rows[i], rows[j]), i, j) for i in range(r20) for j in range(r20, n))
    ri = p.residue_index.copy()
    ri[r20:] = np.arange(n - r20) + 1 + (p.residue_index[i] - (j - r20 + 1))
    cases["two_chains"] = replace(p, residue_index=ri, chain_index=np.where(np.arange(n) >= r20, 1, 0))

    # Lys15: CE and NZ pushed 0.5 A outwards along CD->CE (bond CD-CE and the angles around it).
    x = base.atom_positions.copy()
    k = res_pos(base, 15)
    cd, ce, nz = rc.atom_order["CD"], rc.atom_order["CE"], rc.atom_order["NZ"]
    shift = 0.5 * unit(x[k, ce] - x[k, cd])
    x[k, ce] += shift
    x[k, nz] += shift
    cases["sidechain_bond"] = replace(base, atom_positions=x)

    # Phe4: the ring (CG onwards) rotated about CB by 50 degrees towards CA, closing CA-CB-CG (to ~64 degrees)
    # without stretching a bond.
    x = base.atom_positions.copy()
    f = res_pos(base, 4)
    cb = x[f, rc.atom_order["CB"]]
    axis = np.cross(x[f, CA] - cb, x[f, rc.atom_order["CG"]] - cb)
    for name in ["CG", "CD1", "CD2", "CE1", "CE2", "CZ"]:
        a = rc.atom_order[name]
        x[f, a] = cb + rotate(x[f, a] - cb, axis, np.deg2rad(-50.0))
    cases["sidechain_angle"] = replace(base, atom_positions=x)

    # Gaussian noise, 0.2 A per coordinate.
    x = base.atom_positions + rng.normal(0.0, 0.2, base.atom_positions.shape) * base.atom_mask[..., None]
    cases["noise"] = replace(base, atom_positions=x)

    # Lys26 without CE and NZ, Lys15 without NZ (AF2 counts them as present, at the origin, where those of
    # different residues clash) and Gly12 as UNK (ignored).
    m = base.atom_mask.copy()
    a = base.aatype.copy()
    m[res_pos(base, 26), [ce, nz]] = 0.0
    m[res_pos(base, 15), nz] = 0.0
    a[res_pos(base, 12)] = rc.restype_num
    cases["missing_atoms_unk"] = replace(base, atom_mask=m, aatype=a)
    return cases


def expected(p):
    v, m = amber_minimize.find_violations(p)
    metrics = amber_minimize.get_violation_metrics(p)
    between = v["between_residues"]
    as_list = lambda a: [int(round(float(x))) for x in np.asarray(a)]
    total = np.asarray(v["total_per_residue_violations_mask"])
    assert metrics["num_residue_violations"] == int(total.sum())
    return {
        "num_res": int(p.aatype.shape[0]),
        # what AF2's reader made of the file, for checking ferrofold's reader against it
        "aatype": [int(a) for a in p.aatype],
        "residue_index": [int(r) for r in p.residue_index],
        "num_atoms": int(p.atom_mask.sum()),
        "position_sum": float((p.atom_positions.astype(np.float64) * p.atom_mask[..., None]).sum()),
        "per_residue": as_list(total),
        "between_residue_bond": as_list(between["connections_per_residue_violation_mask"]),
        "between_residue_clash": as_list(np.max(np.asarray(between["clashes_per_atom_clash_mask"]), axis=-1)),
        "within_residue": as_list(np.max(np.asarray(v["within_residues"]["per_atom_violations"]), axis=-1)),
        "num_residue_violations": int(metrics["num_residue_violations"]),
        "metrics": {k: float(np.float32(m[k])) for k in METRICS},
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name in ["1ubq_relaxed", "1bpi_relaxed"]:
        raw = (DATA / "relax" / f"{name}.pdb").read_bytes()
        with gzip.GzipFile(OUT / f"{name}.pdb.gz", "wb", compresslevel=9, mtime=0) as fh:
            fh.write(raw)
    shipped = {
        "1ubq_relaxed": "relax/violations/1ubq_relaxed.pdb.gz",
        "1bpi_relaxed": "relax/violations/1bpi_relaxed.pdb.gz",
        "1ubq_af2": "structures/1ubq_af2.pdb",
    }
    out = {}
    for name, rel in shipped.items():
        out[name] = {"pdb": rel, **expected(read(DATA / rel))}

    full = read(OUT / "1bpi_relaxed.pdb.gz")
    base = replace(full, **{k: getattr(full, k)[:40] for k in
                            ["atom_positions", "atom_mask", "aatype", "residue_index", "chain_index",
                             "b_factors"]})
    for name, p in perturbed(base).items():
        path = OUT / f"{name}.pdb"
        path.write_text(protein.to_pdb(p))
        again = read(path)  # what both sides see: the written file
        out[name] = {"pdb": f"relax/violations/{name}.pdb", **expected(again)}

    text = json.dumps(out, indent=1)
    text = re.sub(r"\[[-0-9,\s]*\]", lambda m: "".join(m.group(0).split()), text)  # number lists on one line
    (OUT / "expected.json").write_text(text + "\n")
    bounds = rc.make_atom14_dists_bounds(overlap_tolerance=1.5, bond_length_tolerance_factor=12)
    np.savez_compressed(OUT / "atom14_bounds.npz", lower_bound=bounds["lower_bound"],
                        upper_bound=bounds["upper_bound"])
    for name, e in out.items():
        print(f"{name:20s} n={e['num_res']:3d} violating={e['num_residue_violations']:3d} "
              + " ".join(f"{k[11:]}={v:.4f}" for k, v in e["metrics"].items()))


if __name__ == "__main__":
    main()
