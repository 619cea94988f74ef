#!/usr/bin/env python3
"""tests/data/model/templates/torsions_jit.npz: AlphaFold2's `atom37_to_torsion_angles` on the templates
fixture's processed template features (iteration 0), jitted as the model runs it and eager (op by op, as
the harness's intermediates are recorded). The two differ where the geometry is degenerate (a pre-omega
after a residue the template lacks): XLA contracts `u - c * e0` in `rots_from_two_vecs` into a fused
multiply-add, and the masked angle the network still reads is rounding noise either way.

Usage (venv from ../shared/reference/setup.sh):
    /tmp/oracle/venv/bin/python tests/reference/make_template_torsions.py
"""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from alphafold.model import all_atom

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
BASE = REPO / "tests" / "data" / "model" / "templates"


def main():
    f = np.load(BASE / "processed_features.npz")
    args = (f["template_aatype"][0], f["template_all_atom_positions"][0], f["template_all_atom_masks"][0])

    def torsions(aatype, pos, mask):
        return all_atom.atom37_to_torsion_angles(aatype, pos, mask, placeholder_for_undefined=False)

    jit = jax.jit(torsions)(*args)
    with jax.disable_jit():
        eager = torsions(*(jnp.asarray(a) for a in args))
    out = {}
    for tag, r in (("jit", jit), ("eager", eager)):
        for k, v in r.items():
            out[f"{tag}/{k}"] = np.asarray(v)
    np.savez_compressed(BASE / "torsions_jit.npz", **out)
    d = np.abs(out["jit/torsion_angles_sin_cos"] - out["eager/torsion_angles_sin_cos"]).max(-1)
    print(f"jit vs eager: {(d > 1e-5).sum()} angles differ (max {d.max():.3f})")


if __name__ == "__main__":
    main()
