#!/usr/bin/env python3
"""Full-size Evoformer block fixture: one model_1_ptm EvoformerIteration (c_m 256, c_z 128, 8 / 4 heads,
DeepMind's monomer configuration) run by AlphaFold2's own Haiku module on a short input.

Parameters and inputs are not stored: both sides generate them from a seed with the counter-based generator
below (SplitMix64 over an FNV-1a hash of the tensor name), which `ferrofold::model::params::random` reproduces
bit for bit. Only the tensor names/shapes and AlphaFold2's outputs are written, to
tests/data/model/block_full/ (about 0.2 MB).

Usage (venv from ../shared/reference/setup.sh):
    /tmp/oracle/venv/bin/python tests/reference/make_block_fixture.py
"""
import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import haiku as hk
import jax
import numpy as np
from alphafold.model import config as af_config
from alphafold.model import modules

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE.parent / "data" / "model" / "block_full"
SEED = 7
N_SEQ, N_RES = 6, 12
MASK64 = (1 << 64) - 1


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def uniform(name, count, seed=SEED):
    """count values in [-1, 1): SplitMix64 finaliser of (fnv1a64(name) ^ seed) + (i+1) * golden gamma."""
    base = np.uint64(fnv1a64(name) ^ seed)
    i = np.arange(1, count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = base + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) * 2.0**-53 * 2.0 - 1.0)


def param_values(key, shape):
    """Deterministic, non-degenerate values for parameter `scope//name` (rules shared with the Rust side)."""
    name = key.split("//")[-1]
    u = uniform(key, int(np.prod(shape)))
    if name == "scale":
        v = 1.0 + 0.1 * u
    elif name in ("offset", "bias") or name.endswith("_b"):
        v = 0.1 * u
    else:
        fan_in = int(np.prod(shape[:-1])) if name == "output_w" else int(shape[0])
        v = u * np.sqrt(3.0 / fan_in)
    return v.astype(np.float32).reshape(shape)


def main():
    cfg = af_config.model_config("model_1_ptm")
    evo = cfg.model.embeddings_and_evoformer.evoformer
    gc = cfg.model.global_config
    gc.deterministic = True
    for blk in (evo.triangle_multiplication_incoming, evo.triangle_multiplication_outgoing):
        blk.fuse_projection_weights = False

    def forward(msa, pair, msa_mask, pair_mask):
        it = modules.EvoformerIteration(evo, gc, is_extra_msa=False, name="evoformer_iteration")
        return it({"msa": msa, "pair": pair}, {"msa": msa_mask, "pair": pair_mask}, is_training=False,
                  safe_key=None)

    fn = hk.transform(forward)
    msa = (uniform("input/msa", N_SEQ * N_RES * 256)).astype(np.float32).reshape(N_SEQ, N_RES, 256)
    pair = (uniform("input/pair", N_RES * N_RES * 128)).astype(np.float32).reshape(N_RES, N_RES, 128)
    msa_mask = np.ones((N_SEQ, N_RES), np.float32)
    msa_mask[N_SEQ - 1, N_RES // 2:] = 0.0   # a ragged last row, as real alignments have
    pair_mask = np.ones((N_RES, N_RES), np.float32)
    shapes = fn.init(jax.random.PRNGKey(0), msa, pair, msa_mask, pair_mask)
    params, names = {}, {}
    for scope, group in shapes.items():
        params[scope] = {}
        for name, arr in group.items():
            key = f"{scope}//{name}"
            params[scope][name] = param_values(key, arr.shape)
            names[key] = list(arr.shape)
    out = jax.jit(fn.apply)(params, jax.random.PRNGKey(0), msa, pair, msa_mask, pair_mask)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / "outputs.npz", msa=np.asarray(out["msa"]), pair=np.asarray(out["pair"]),
                        msa_mask=msa_mask, pair_mask=pair_mask,
                        # first values of one parameter and of the MSA input, to check the generators agree
                        probe_param=params["evoformer_iteration/msa_row_attention_with_pair_bias"]["feat_2d_weights"],
                        probe_msa=msa)
    (OUT / "params.json").write_text(json.dumps({"seed": SEED, "n_seq": N_SEQ, "n_res": N_RES,
                                                 "tensors": dict(sorted(names.items()))}, indent=1))
    print(f"{len(names)} tensors, {sum(int(np.prod(s)) for s in names.values()):,} parameters -> {OUT}")


if __name__ == "__main__":
    main()
