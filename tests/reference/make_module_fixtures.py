#!/usr/bin/env python3
"""Per-sub-module Evoformer fixtures: each sub-module of AlphaFold2's `EvoformerIteration` (DeepMind's monomer
code, `alphafold-colabfold==2.3.1`, fp32) run on its own by its Haiku module at small widths, recording the
update it returns (before the residual add), so a parity failure points at one sub-module. Also records the
two small-width blocks (main Evoformer and extra-MSA flavour) built from the same parameters, and checks here
that chaining the recorded sub-modules reproduces them.

Parameters and inputs come from the generator of make_block_fixture.py (SplitMix64 over FNV-1a of the tensor
name; `ferrofold::model::params::random` reproduces it bit for bit), parameters named by their AlphaFold2 path
inside the block: `evoformer_iteration/<module>/...//<name>` (main stack), `extra_msa_stack/<module>/...//<name>`
(extra-MSA stack). Each sub-module is constructed and called exactly as EvoformerIteration does (same config,
global config, names, masks, `is_training=False`; deterministic, so the dropout wrapper adds the returned update
unchanged). Output: tests/data/model/modules/ (params.json, outputs.npz; about 0.15 MB). Regenerating gives
byte-identical files.

Usage (venv from ../shared/reference/setup.sh):
    /tmp/oracle/venv/bin/python tests/reference/make_module_fixtures.py
"""
import io
import json
import os
import pathlib
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import haiku as hk
import jax
import numpy as np
from alphafold.model import config as af_config
from alphafold.model import modules

import make_block_fixture as block_fixture
from make_block_fixture import uniform

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE.parent / "data" / "model" / "modules"
SEED = 11
N_SEQ, N_RES = 5, 11
C_M, C_Z, C_E = 32, 16, 16
MSA_HEADS, PAIR_HEADS = 4, 2          # model_1_ptm: 8 (c_m 256, c_e 64) and 4 (c_z 128)
NUM_OUTER_CHANNEL = 8                 # model_1_ptm: 32
TRI_MULT_CHANNEL = C_Z                # model_1_ptm: 128 = c_z
MAIN, EXTRA = "evoformer_iteration", "extra_msa_stack"

# npz key (= module name) -> (scope, input tensor name, output layout)
MODULES = {
    "msa_row_attention_with_pair_bias": (MAIN, "input/msa", "[N_seq, N_res, c_m]"),
    "msa_column_attention": (MAIN, "input/msa", "[N_seq, N_res, c_m]"),
    "msa_column_global_attention": (EXTRA, "input/extra_msa", "[N_seq, N_res, c_e]"),
    "msa_transition": (MAIN, "input/msa", "[N_seq, N_res, c_m]"),
    "outer_product_mean": (MAIN, "input/msa", "[N_res, N_res, c_z]"),
    "triangle_multiplication_outgoing": (MAIN, "input/pair", "[N_res, N_res, c_z]"),
    "triangle_multiplication_incoming": (MAIN, "input/pair", "[N_res, N_res, c_z]"),
    "triangle_attention_starting_node": (MAIN, "input/pair", "[N_res, N_res, c_z]"),
    "triangle_attention_ending_node": (MAIN, "input/pair", "[N_res, N_res, c_z]"),
    "pair_transition": (MAIN, "input/pair", "[N_res, N_res, c_z]"),
}


def param_values(key, shape, seed):
    """make_block_fixture.param_values with an explicit seed (same rules as params::random::param_values)."""
    name = key.split("//")[-1]
    u = uniform(key, int(np.prod(shape)), seed)
    if name == "scale":
        v = 1.0 + 0.1 * u
    elif name in ("offset", "bias") or name.endswith("_b"):
        v = 0.1 * u
    else:
        fan_in = int(np.prod(shape[:-1])) if name == "output_w" else int(shape[0])
        v = u * np.sqrt(3.0 / fan_in)
    return v.astype(np.float32).reshape(shape)


def input_values(name, shape, seed=SEED):
    return uniform(name, int(np.prod(shape)), seed).astype(np.float32).reshape(shape)


def configs():
    cfg = af_config.model_config("model_1_ptm")
    evo = cfg.model.embeddings_and_evoformer.evoformer   # shared by both stacks, as in EmbeddingsAndEvoformer
    gc = cfg.model.global_config
    gc.deterministic = True
    evo.msa_row_attention_with_pair_bias.num_head = MSA_HEADS
    evo.msa_column_attention.num_head = MSA_HEADS        # also the global column attention's heads
    evo.triangle_attention_starting_node.num_head = PAIR_HEADS
    evo.triangle_attention_ending_node.num_head = PAIR_HEADS
    evo.outer_product_mean.num_outer_channel = NUM_OUTER_CHANNEL
    for blk in (evo.triangle_multiplication_incoming, evo.triangle_multiplication_outgoing):
        blk.num_intermediate_channel = TRI_MULT_CHANNEL
        blk.fuse_projection_weights = False             # DeepMind's monomer layout, as block_full
    return evo, gc


class SubModules(hk.Module):
    """The sub-modules of one EvoformerIteration, each built and called exactly as EvoformerIteration.__call__
    builds and calls it (via dropout_wrapper, is_training=False: `module(input_act, mask, is_training=False,
    **kwargs)`; deterministic, so the update is added unchanged). Returns each module's update; with
    chain=True the updates are also added in EvoformerIteration's order (the result must equal the block)."""

    def __init__(self, config, global_config, is_extra_msa, name):
        super().__init__(name=name)
        self.config, self.global_config, self.is_extra_msa = config, global_config, is_extra_msa

    def __call__(self, msa, pair, msa_mask, pair_mask, chain):
        c, gc = self.config, self.global_config
        if self.is_extra_msa:
            column = modules.MSAColumnGlobalAttention(c.msa_column_attention, gc,
                                                      name="msa_column_global_attention")
        else:
            column = modules.MSAColumnAttention(c.msa_column_attention, gc, name="msa_column_attention")
        row = modules.MSARowAttentionWithPairBias(c.msa_row_attention_with_pair_bias, gc,
                                                  name="msa_row_attention_with_pair_bias")
        opm = modules.OuterProductMean(config=c.outer_product_mean, global_config=gc,
                                       num_output_channel=int(pair.shape[-1]), name="outer_product_mean")
        assert not c.outer_product_mean.first
        steps = [  # (target, module, its input, takes pair_act) in EvoformerIteration's order
            ("msa", row, "msa", True),
            ("msa", column, "msa", False),
            ("msa", modules.Transition(c.msa_transition, gc, name="msa_transition"), "msa", False),
            ("pair", opm, "msa", False),
            ("pair", modules.TriangleMultiplication(c.triangle_multiplication_outgoing, gc,
                                                    name="triangle_multiplication_outgoing"), "pair", False),
            ("pair", modules.TriangleMultiplication(c.triangle_multiplication_incoming, gc,
                                                    name="triangle_multiplication_incoming"), "pair", False),
            ("pair", modules.TriangleAttention(c.triangle_attention_starting_node, gc,
                                               name="triangle_attention_starting_node"), "pair", False),
            ("pair", modules.TriangleAttention(c.triangle_attention_ending_node, gc,
                                               name="triangle_attention_ending_node"), "pair", False),
            ("pair", modules.Transition(c.pair_transition, gc, name="pair_transition"), "pair", False),
        ]
        act = {"msa": msa, "pair": pair}
        mask = {"msa": msa_mask, "pair": pair_mask}
        updates = {}
        for target, module, source, with_pair in steps:
            kwargs = {"pair_act": act["pair"]} if with_pair else {}   # the current pair activations
            u = module(act[source], mask[source], is_training=False, **kwargs)
            updates[module.module_name.split("/")[-1]] = u
            if chain:
                act[target] = act[target] + u
        return updates, act


def masks():
    msa_mask = np.ones((N_SEQ, N_RES), np.float32)
    msa_mask[N_SEQ - 1, N_RES // 2:] = 0.0      # a ragged last row, as real alignments have
    msa_mask[2, 3:5] = 0.0                      # a gap inside a row
    msa_mask[1, N_RES - 1] = 0.0
    # Asymmetric on purpose (a transposed mask in the ending-node / incoming orientation shows up), and no
    # row or column is fully masked.
    pair_mask = np.ones((N_RES, N_RES), np.float32)
    pair_mask[2, N_RES // 2:] = 0.0             # part of one row
    pair_mask[7:, 1] = 0.0                      # part of one column
    pair_mask[4, 9] = 0.0
    pair_mask[9, 0] = 0.0
    assert msa_mask.sum(0).min() > 0 and msa_mask.sum(1).min() > 0
    assert pair_mask.sum(0).min() > 0 and pair_mask.sum(1).min() > 0
    return msa_mask, pair_mask


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.sqrt(((a - b) ** 2).sum() / (b ** 2).sum()))


def main():
    evo, gc = configs()
    # The local generator with an explicit seed is make_block_fixture's at its seed.
    k = "evoformer_iteration/outer_product_mean//output_w"
    assert np.array_equal(param_values(k, (3, 4, 5), block_fixture.SEED), block_fixture.param_values(k, (3, 4, 5)))

    msa = input_values("input/msa", (N_SEQ, N_RES, C_M))
    extra = input_values("input/extra_msa", (N_SEQ, N_RES, C_E))
    pair = input_values("input/pair", (N_RES, N_RES, C_Z))
    msa_mask, pair_mask = masks()
    key = jax.random.PRNGKey(0)

    def sub_modules(name, is_extra, chain):
        return hk.transform(lambda m, z, mm, pm: SubModules(evo, gc, is_extra, name)(m, z, mm, pm, chain))

    def block(name, is_extra):
        return hk.transform(lambda m, z, mm, pm: modules.EvoformerIteration(
            evo, gc, is_extra_msa=is_extra, name=name)(
                {"msa": m, "pair": z}, {"msa": mm, "pair": pm}, is_training=False, safe_key=None))

    runs = {  # name -> (transform, MSA input)
        "sub": (sub_modules(MAIN, False, False), msa), "extra_sub": (sub_modules(EXTRA, True, False), extra),
        "chain": (sub_modules(MAIN, False, True), msa), "extra_chain": (sub_modules(EXTRA, True, True), extra),
        "block": (block(MAIN, False), msa), "extra_block": (block(EXTRA, True), extra),
    }
    # Shapes from haiku's own init; values from the generator.
    shapes = {}
    for fn, m in runs.values():
        for scope, group in fn.init(key, m, pair, msa_mask, pair_mask).items():
            for name, arr in group.items():
                k = f"{scope}//{name}"
                assert shapes.get(k, arr.shape) == arr.shape, k
                shapes[k] = arr.shape
    params = {}
    for k, shape in shapes.items():
        scope, name = k.split("//")
        params.setdefault(scope, {})[name] = param_values(k, shape, SEED)
    res = {}
    for run, (fn, m) in runs.items():
        used = fn.init(key, m, pair, msa_mask, pair_mask)
        res[run] = jax.tree_util.tree_map(np.asarray, jax.jit(fn.apply)(
            {s: params[s] for s in used}, key, m, pair, msa_mask, pair_mask))
    updates = {k: v for k, v in res["sub"][0].items() if k in MODULES}
    updates["msa_column_global_attention"] = res["extra_sub"][0]["msa_column_global_attention"]
    assert set(updates) == set(MODULES)
    blk, xblk = res["block"], res["extra_block"]

    # Check: the sub-modules, chained as EvoformerIteration chains them, give the block (validates the calls).
    for chain, out in (("chain", blk), ("extra_chain", xblk)):
        act = res[chain][1]
        em, ez = rel_err(act["msa"], out["msa"]), rel_err(act["pair"], out["pair"])
        print(f"{chain}ed sub-modules vs EvoformerIteration: relative error msa {em:.1e}, pair {ez:.1e}")
        assert em < 1e-5 and ez < 1e-5, chain

    module_tensors = {}
    for mod, (scope, _, _) in MODULES.items():
        prefix = f"{scope}/{mod}"
        module_tensors[mod] = {k: list(s) for k, s in sorted(shapes.items())
                               if k.startswith(prefix + "/")}
    arrays = {**{k: v for k, v in sorted(updates.items())},
              "block/msa": np.asarray(blk["msa"]), "block/pair": np.asarray(blk["pair"]),
              "extra_block/msa": np.asarray(xblk["msa"]), "extra_block/pair": np.asarray(xblk["pair"]),
              "msa_mask": msa_mask, "pair_mask": pair_mask,
              # to check the generators agree: one parameter of each stack and every input
              "probe_param": params[f"{MAIN}/msa_row_attention_with_pair_bias"]["feat_2d_weights"],
              "probe_param_global": params[f"{EXTRA}/msa_column_global_attention/attention"]["key_w"],
              "probe_msa": msa, "probe_extra_msa": extra, "probe_pair": pair}
    OUT.mkdir(parents=True, exist_ok=True)
    write_npz(OUT / "outputs.npz", arrays)
    spec = {
        "seed": SEED,
        "sizes": {"n_seq": N_SEQ, "n_res": N_RES, "c_m": C_M, "c_z": C_Z, "c_e": C_E,
                  "msa_heads": MSA_HEADS, "pair_heads": PAIR_HEADS, "num_outer_channel": NUM_OUTER_CHANNEL,
                  "tri_mult_channel": TRI_MULT_CHANNEL, "transition_factor": 4},
        "inputs": {"input/msa": [N_SEQ, N_RES, C_M], "input/extra_msa": [N_SEQ, N_RES, C_E],
                   "input/pair": [N_RES, N_RES, C_Z]},
        "modules": {mod: {"scope": f"{scope}/{mod}", "input": inp,
                          **({"pair_input": "input/pair"} if mod == "msa_row_attention_with_pair_bias" else {}),
                          "mask": "pair_mask" if inp == "input/pair" else "msa_mask",
                          "output": mod, "output_shape": list(updates[mod].shape), "output_layout": layout,
                          "tensors": module_tensors[mod]}
                    for mod, (scope, inp, layout) in MODULES.items()},
        "blocks": {"block": {"scope": MAIN, "msa_input": "input/msa", "pair_input": "input/pair"},
                   "extra_block": {"scope": EXTRA, "msa_input": "input/extra_msa", "pair_input": "input/pair"}},
        "tensors": {k: list(s) for k, s in sorted(shapes.items())},
    }
    (OUT / "params.json").write_text(json.dumps(spec, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(shapes)} tensors, {sum(int(np.prod(s)) for s in shapes.values()):,} parameters; "
          f"{len(arrays)} arrays -> {OUT} ({total:,} bytes)")
    for mod in MODULES:
        u = updates[mod]
        print(f"  {mod:34s} {str(u.shape):14s} std {u.std():.3f}")


def write_npz(path, arrays):
    """np.savez_compressed with a fixed zip timestamp, so regenerating gives byte-identical files."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


if __name__ == "__main__":
    main()
