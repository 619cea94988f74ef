#!/usr/bin/env python3
"""The parameter shapes of DeepMind's model_1_multimer_v3 and model_5_multimer_v3 (the official configuration,
unchanged) -> tests/data/multimer/params_shapes_multimer_v3.json, so that ferrofold's multimer presets can be
checked against the real parameter files' layout without downloading them.

Initialises colabfold 2.3.1's `modules_multimer.AlphaFold` with `model_config('model_<k>_multimer_v3')` on the
homodimer fixture's features (parameter shapes do not depend on the input) and records each parameter's key
(`scope//name`, the official npz layout) and shape; the values are not kept.

Usage: AF2_V232_SRC=... /tmp/oracle/venv/bin/python tests/reference/make_multimer_param_shapes.py
"""
import json
import os
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
SHARED = pathlib.Path(os.environ.get("FERROFOLD_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(SHARED / "reference"))
import mm_oracle  # noqa: E402

jax, jnp, hk = mm_oracle.jax, mm_oracle.jnp, mm_oracle.hk
OUT = REPO / "tests" / "data" / "multimer"


def shapes(model):
    cfg = mm_oracle.af_config.model_config(model)
    cfg.model.global_config.bfloat16 = False
    ex = dict(np.load(OUT / "homodimer_features.npz"))
    L = ex["aatype"].shape[0]
    ex["all_atom_positions"] = np.zeros([L, 37, 3], np.float32)
    feat = {k: v for k, v in ex.items() if v.dtype != object}
    e = cfg.model.embeddings_and_evoformer
    prev = {"prev_msa_first_row": np.zeros([L, e.msa_channel], np.float32),
            "prev_pair": np.zeros([L, L, e.pair_channel], np.float32),
            "prev_pos": np.zeros([L, 37, 3], np.float32)}

    def fwd(batch):
        return mm_oracle.modules_multimer.AlphaFold(cfg.model)(batch, is_training=False)

    batch = jax.tree_util.tree_map(jnp.asarray, {**feat, "prev": prev, "iter": 0})
    params = jax.eval_shape(lambda b: hk.transform(fwd).init(jax.random.PRNGKey(0), b), batch)
    return {f"{scope}//{name}": list(v.shape) for scope, d in params.items() for name, v in d.items()}


def main():
    out = {m: shapes(m) for m in ("model_1_multimer_v3", "model_5_multimer_v3")}
    (OUT / "params_shapes_multimer_v3.json").write_text(json.dumps(out, indent=0, sort_keys=True))
    print({m: (len(s), sum(int(np.prod(v)) for v in s.values())) for m, s in out.items()})


if __name__ == "__main__":
    main()
