#!/usr/bin/env python3
"""Relax fixtures from DeepMind's relax code on OpenMM (issue 22).

For each input structure this writes, under tests/data/relax/:

* `<name>_fixed.pdb`: DeepMind's `amber_minimize.clean_protein` of the structure's protein (pdbfixer: missing
  heavy atoms and OXT added, hydrogens added at pH 7; OpenMM's atom names): the all-atom structure the force
  field is evaluated on.
* `1ubq_fixed_rerun.pdb`: the same `clean_protein` run a second time: pdbfixer starts each hydrogen with a
  random jitter (unseeded), so this measures how far pdbfixer's own hydrogens move from run to run.
* `<name>_energy.npz`: OpenMM's per-term energies (kJ/mol) and forces (kJ/mol/nm) of that structure on the
  double-precision Reference platform, in the system DeepMind's `_openmm_minimize` builds (amber99sb.xml, X-H
  bonds constrained, no cutoff) plus its heavy-atom restraint (k = 10 kcal/mol/A^2) towards the positions moved
  by (0.01, -0.02, 0.015) nm so that the restraint is not zero. The nonbonded term is also split into Coulomb
  and Lennard-Jones by evaluating it once with all charges zeroed. Keys: `energy_<term>`, `forces_<term>`,
  terms `bond, angle, torsion, nonbonded, coulomb, lj, restraint`; `num_constraints`, `num_bonds`,
  `num_angles`, `num_torsions`, `num_exceptions`; `constraints` (pairs of atom indices).
* `<name>_openmm_min.npz`: OpenMM's minimisation of `<name>_fixed.pdb` as DeepMind's `_openmm_minimize` runs
  it (restraints towards the starting heavy atoms, k = 10 kcal/mol/A^2; tolerance 2.39 kcal/mol read as OpenMM
  8's force tolerance 10 kJ/mol/nm; no iteration limit) on the Reference platform: `einit`, `efinal` (kJ/mol),
  `positions` (nm) and the per-term energies at the minimum (`final_<term>`).
* `<name>_input.pdb`, `<name>_relaxed.pdb`, `<name>_relax.json`: the structure's protein as AlphaFold2 reads it
  (`protein.to_pdb(protein.from_pdb_string(...))` of its ATOM records), and DeepMind's whole relax (`AmberRelaxation(max_iterations=0,
  tolerance=2.39, stiffness=10, max_outer_iterations=3)`, CPU platform, with the reference harness's OpenMM 8
  tolerance fix) of the structure: the relaxed model and its debug data (energies in kcal/mol, attempts,
  RMSD, remaining violations).

Usage: /tmp/oracle/venv/bin/python tests/reference/make_relax_fixtures.py
(the reference harness's venv with `pip install openmm==8.6.1 pdbfixer==1.12.0`; AF2_V232_SRC not needed:
the installed package's relax/ is v2.3.2's).
"""
import io
import os
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = REPO / "tests" / "data" / "relax"
STRUCTURES = REPO / "tests" / "data" / "structures"

# OpenMM 8's simtk shim lacks simtk.openmm.app.internal, which DeepMind's amber_minimize imports
# (the reference harness's relax_test.py does the same).
import openmm  # noqa: E402
import openmm.app as app  # noqa: E402
import openmm.app.internal  # noqa: E402
import openmm.app.internal.pdbstructure  # noqa: E402
import openmm.unit as u  # noqa: E402

sys.modules["simtk.openmm.app.internal"] = openmm.app.internal
sys.modules["simtk.openmm.app.internal.pdbstructure"] = openmm.app.internal.pdbstructure
from absl import logging  # noqa: E402

logging.set_verbosity(logging.WARNING)
from alphafold.common import protein  # noqa: E402
from alphafold.relax import amber_minimize  # noqa: E402

OFFSET = openmm.Vec3(0.01, -0.02, 0.015)  # nm
STIFFNESS = 10.0 * u.kilocalories_per_mole / u.angstroms**2


def energies(pdb_text):
    pdb = app.PDBFile(io.StringIO(pdb_text))
    ff = app.ForceField("amber99sb.xml")
    system = ff.createSystem(pdb.topology, constraints=app.HBonds)
    restraint = openmm.CustomExternalForce("0.5 * k * ((x-x0)^2 + (y-y0)^2 + (z-z0)^2)")
    restraint.addGlobalParameter("k", STIFFNESS)
    for p in ["x0", "y0", "z0"]:
        restraint.addPerParticleParameter(p)
    positions = pdb.positions.value_in_unit(u.nanometers)
    for i, atom in enumerate(pdb.topology.atoms()):
        if atom.element.name != "hydrogen":
            restraint.addParticle(i, positions[i] + OFFSET)
    system.addForce(restraint)
    names = {openmm.HarmonicBondForce: "bond", openmm.HarmonicAngleForce: "angle",
             openmm.PeriodicTorsionForce: "torsion", openmm.NonbondedForce: "nonbonded",
             openmm.CustomExternalForce: "restraint"}
    groups = {}
    out = {}
    for i, f in enumerate(system.getForces()):
        f.setForceGroup(i)
        name = names.get(type(f))
        if name is not None:
            groups[name] = i
        if isinstance(f, openmm.NonbondedForce):
            assert f.getNonbondedMethod() == openmm.NonbondedForce.NoCutoff
            out["num_exceptions"] = np.int64(f.getNumExceptions())
        elif isinstance(f, openmm.HarmonicBondForce):
            out["num_bonds"] = np.int64(f.getNumBonds())
        elif isinstance(f, openmm.HarmonicAngleForce):
            out["num_angles"] = np.int64(f.getNumAngles())
        elif isinstance(f, openmm.PeriodicTorsionForce):
            out["num_torsions"] = np.int64(f.getNumTorsions())
    out["num_constraints"] = np.int64(system.getNumConstraints())
    out["constraints"] = np.array([system.getConstraintParameters(i)[:2]
                                   for i in range(system.getNumConstraints())], np.int64)

    def evaluate(sys_, group):
        ctx = openmm.Context(sys_, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
        ctx.setPositions(pdb.positions)
        st = ctx.getState(getEnergy=True, getForces=True, groups={group})
        e = st.getPotentialEnergy().value_in_unit(u.kilojoules_per_mole)
        frc = st.getForces(asNumpy=True).value_in_unit(u.kilojoules_per_mole / u.nanometers)
        return e, np.asarray(frc, np.float64)

    for name, g in groups.items():
        out[f"energy_{name}"], out[f"forces_{name}"] = evaluate(system, g)
    # Lennard-Jones alone: the same system with every charge (and exception charge product) zeroed.
    nb = system.getForce(groups["nonbonded"])
    for i in range(nb.getNumParticles()):
        _, sigma, eps = nb.getParticleParameters(i)
        nb.setParticleParameters(i, 0.0, sigma, eps)
    for i in range(nb.getNumExceptions()):
        a, b, _, sigma, eps = nb.getExceptionParameters(i)
        nb.setExceptionParameters(i, a, b, 0.0, sigma, eps)
    out["energy_lj"], out["forces_lj"] = evaluate(system, groups["nonbonded"])
    out["energy_coulomb"] = out["energy_nonbonded"] - out["energy_lj"]
    out["forces_coulomb"] = out["forces_nonbonded"] - out["forces_lj"]
    return out


def openmm_minimize(pdb_text):
    pdb = app.PDBFile(io.StringIO(pdb_text))
    system = app.ForceField("amber99sb.xml").createSystem(pdb.topology, constraints=app.HBonds)
    amber_minimize._add_restraints(system, pdb, STIFFNESS, "non_hydrogen", [])
    names = {openmm.HarmonicBondForce: "bond", openmm.HarmonicAngleForce: "angle",
             openmm.PeriodicTorsionForce: "torsion", openmm.NonbondedForce: "nonbonded",
             openmm.CustomExternalForce: "restraint"}
    for i, f in enumerate(system.getForces()):
        f.setForceGroup(i)
    ctx = openmm.Context(system, openmm.LangevinIntegrator(0, 0.01, 0.0),
                         openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(pdb.positions)
    kj = u.kilojoules_per_mole
    out = {"einit": ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(kj)}
    openmm.LocalEnergyMinimizer.minimize(ctx, 10.0, 0)
    st = ctx.getState(getEnergy=True, getPositions=True)
    out["efinal"] = st.getPotentialEnergy().value_in_unit(kj)
    out["positions"] = np.asarray(st.getPositions(asNumpy=True).value_in_unit(u.nanometers), np.float64)
    for i, f in enumerate(system.getForces()):
        if type(f) in names:
            e = ctx.getState(getEnergy=True, groups={i}).getPotentialEnergy().value_in_unit(kj)
            out[f"final_{names[type(f)]}"] = e
    return out


def deepmind_relax(prot):
    from alphafold.relax import relax
    from simtk import unit
    orig = amber_minimize._openmm_minimize

    def patched(pdb_str, max_iterations, tolerance, stiffness, restraint_set, exclude_residues, use_gpu):
        tol = tolerance.value_in_unit(unit.kilocalories_per_mole) * 4.184 * unit.kilojoules_per_mole / unit.nanometer
        return orig(pdb_str, max_iterations, tol, stiffness, restraint_set, exclude_residues, use_gpu)

    amber_minimize._openmm_minimize = patched
    try:
        r = relax.AmberRelaxation(max_iterations=0, tolerance=2.39, stiffness=10.0, exclude_residues=[],
                                  max_outer_iterations=3, use_gpu=False)
        pdb, debug, violations = r.process(prot=prot)
    finally:
        amber_minimize._openmm_minimize = orig
    debug = {k: float(v) for k, v in debug.items()}
    debug["remaining_violations"] = int(np.sum(violations))
    return pdb, debug


def read_protein(src):
    # ATOM records only (1UBQ's waters are HETATM records that Biopython would read as residues), first model
    text = (STRUCTURES / src).read_text().split("ENDMDL")[0]
    atoms = "".join(line + "\n" for line in text.splitlines() if line.startswith(("ATOM", "TER")))
    return protein.from_pdb_string(atoms + "END\n")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    import json
    import time
    for name, src in [("1ubq", "1ubq.pdb"), ("1bpi", "1bpi.pdb")]:
        prot = read_protein(src)
        fixed = amber_minimize.clean_protein(prot, checks=True)
        (OUT / f"{name}_fixed.pdb").write_text(fixed)
        if name == "1ubq":
            (OUT / f"{name}_fixed_rerun.pdb").write_text(amber_minimize.clean_protein(prot, checks=True))
        e = energies(fixed)
        np.savez_compressed(OUT / f"{name}_energy.npz", **e)
        print(name, {k: float(v) for k, v in e.items() if k.startswith("energy_")})
        t = time.time()
        m = openmm_minimize(fixed)
        m["seconds"] = time.time() - t
        np.savez_compressed(OUT / f"{name}_openmm_min.npz", **m)
        print(name, "minimised", m["einit"], "->", m["efinal"], f"{m['seconds']:.1f} s")
    for name, src in [("1ubq", "1ubq.pdb"), ("1bpi", "1bpi.pdb"), ("1ejg", "1ejg_crambin.pdb"),
                      ("1ubi", "1ubi_ubiquitin.pdb")]:
        prot = read_protein(src)
        (OUT / f"{name}_input.pdb").write_text(protein.to_pdb(prot))
        t = time.time()
        pdb, debug = deepmind_relax(prot)
        debug["seconds"] = time.time() - t
        (OUT / f"{name}_relaxed.pdb").write_text(pdb)
        (OUT / f"{name}_relax.json").write_text(json.dumps(debug, indent=1) + "\n")
        print(name, "relaxed", debug)


if __name__ == "__main__":
    main()
