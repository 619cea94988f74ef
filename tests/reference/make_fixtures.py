#!/usr/bin/env python3
"""Regenerates the small reference fixtures under tests/data/ with DeepMind's own AlphaFold2 code.

Run with the reference harness's virtualenv (../shared/reference/setup.sh makes it at /tmp/oracle/venv):

    /tmp/oracle/venv/bin/python tests/reference/make_fixtures.py

Writes
  tests/data/structures/1ubq_af2.pdb   AlphaFold2's `protein.to_pdb(protein.from_pdb_string(...))` of the
                                       ATOM records of 1ubq.pdb: the byte-exact layout our PDB writer must give.

The feature fixtures (tests/data/msas/*/af2_features.npz) are not made here: they are DeepMind's pipeline
output shipped in ../shared/data/msas (see tests/data/README.md) and copied unchanged.
CI never runs this script; it only reads what it wrote.
"""
import pathlib
import sys

from alphafold.common import protein

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE.parent / "data"


def main() -> int:
    src = DATA / "structures" / "1ubq.pdb"
    atom_lines = [l for l in src.read_text().splitlines() if l.startswith("ATOM")]
    prot = protein.from_pdb_string("\n".join(atom_lines) + "\nEND\n")
    out = DATA / "structures" / "1ubq_af2.pdb"
    out.write_text(protein.to_pdb(prot))
    print(f"wrote {out} ({len(atom_lines)} ATOM records in, {prot.aatype.shape[0]} residues)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
