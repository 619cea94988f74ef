#!/usr/bin/env python3
"""AlphaFold-Multimer model fixtures (tests/data/multimer/model_<name>/) from DeepMind's multimer model.

Runs ../shared/reference/mm_oracle.py's model (colabfold 2.3.1 `modules_multimer.AlphaFold`, JAX, fp32,
Python-side recycling, random non-degenerate parameters in the official model_x_multimer_v3 layout) on the
committed feature fixtures (homodimer_features.npz, heteromer_features.npz: DeepMind's multimer data
pipeline, see make_multimer_fixtures.py) at test sizes, and keeps what the Rust tests read:

  params_model_1_multimer_v3.npz  parameters, official flat layout (fused triangle-multiplication weights)
  sampling.npz   per iteration r: {r}/order (sample_msa's row permutation: the first num_msa rows are the
                 cluster centres, the rest the extra rows, in order), {r}/masked_msa and {r}/bert_mask
                 (make_masked_msa's output) -- the in-model random choices, injected by the tests as the
                 monomer tests inject theirs
  outputs.npz    final atom positions and mask, pLDDT, PAE, pTM, ipTM, the single representation and first
                 MSA row of the last iteration, {r}/prev_pos of every iteration
  config.json, summary.json

One change to DeepMind's code: the template unit vector (`rigid[:, None].inverse().apply_to_point(points)`,
the direction from residue i's backbone frame to residue j) is computed as R_i^T (t_j - t_i) instead of
R_i^T t_j + R_i^T (-t_i). The two are equal in exact arithmetic, and DeepMind's eager code gives exactly 0 on
the diagonal with either; but XLA's jitted program rounds the two halves differently, and the difference
(up to 4e-6 Å) is then normalised to a vector of up to unit length on about a third of the diagonal pairs a
template covers (machine-dependent noise that moves the pair representation's diagonal by ~0.1 and the
PAE's diagonal by ~0.05 Å). ferrofold computes the exact value, 0.

The harness has no flag for the structure module's width; to keep the fixtures small this script shrinks it
(and the pLDDT head) in the configuration it builds.

Usage: AF2_V232_SRC=... /tmp/oracle/venv/bin/python tests/reference/make_multimer_model_fixtures.py [NAME ...]
"""
import argparse
import copy
import functools
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
modules_multimer = mm_oracle.modules_multimer
OUT = REPO / "tests" / "data" / "multimer"

# name -> (features, sizes, structure-module channel, sidechain channel, pLDDT-head channel)
FIXTURES = {
    # 2Q2K A+B: one entity, no pairing; 2 iterations.
    "tiny": ("homodimer", dict(seed=0, data_seed=0, evoformer_blocks=2, extra_msa_blocks=1, msa_channel=32,
                               pair_channel=16, extra_msa_channel=16, seq_channel=64, template_channel=16,
                               structure_layers=2, num_recycle=1, num_msa=16, num_extra_msa=32), 64, 32, 32),
    # 2Q2K A + 1A3A A: two entities, species-paired rows; other widths, 3 iterations.
    "small": ("heteromer", dict(seed=1, data_seed=2, evoformer_blocks=3, extra_msa_blocks=2, msa_channel=48,
                                pair_channel=24, extra_msa_channel=8, seq_channel=32, template_channel=32,
                                structure_layers=3, num_recycle=2, num_msa=24, num_extra_msa=64), 48, 24, 24),
}

RECORD = {}


class _InverseRigid:
    """`rigid.inverse()` applied as R^T (p - t): exactly 0 for p = t (see the module notes)."""

    def __init__(self, rigid):
        self.rigid = rigid

    def apply_to_point(self, point):
        return self.rigid.rotation.inverse().apply_to_point(point - self.rigid.translation)


# Used only by the template unit vector on the inference path (and by losses, which do not run).
mm_oracle.modules_multimer.geometry.Rigid3Array.inverse = lambda self: _InverseRigid(self)


def install_recorders():
    """Records sample_msa's permutation and make_masked_msa's output (jax.debug.callback: concrete values
    under jit), one entry per apply."""
    def rec(name, x):
        RECORD.setdefault(name, []).append(np.asarray(x))

    orig_sort, orig_mask = modules_multimer.gumbel_argsort_sample_idx, modules_multimer.make_masked_msa

    def gumbel_argsort_sample_idx(key, logits):
        perm = orig_sort(key, logits)
        jax.debug.callback(functools.partial(rec, "order"), perm)
        return perm

    def make_masked_msa(batch, key, config, epsilon=1e-6):
        out = orig_mask(batch, key, config, epsilon)
        jax.debug.callback(functools.partial(rec, "masked_msa"), out["msa"])
        jax.debug.callback(functools.partial(rec, "bert_mask"), out["bert_mask"])
        return out

    modules_multimer.gumbel_argsort_sample_idx = gumbel_argsort_sample_idx
    modules_multimer.make_masked_msa = make_masked_msa


def make(name):
    feats_name, sizes, sm_channel, sc_channel, plddt_channel = FIXTURES[name]
    ex = dict(np.load(OUT / f"{feats_name}_features.npz"))
    L = ex["aatype"].shape[0]
    ex.setdefault("all_atom_positions", np.zeros([L, 37, 3], np.float32))
    feat = {k: v for k, v in ex.items() if v.dtype != object and v.dtype.kind not in "SU"}
    a = argparse.Namespace(**sizes)
    cfg = mm_oracle.build_config(a)
    sm = cfg.model.heads.structure_module
    sm.num_channel = sm_channel
    sm.sidechain.num_channel = sc_channel
    cfg.model.heads.predicted_lddt.num_channels = plddt_channel

    def fwd(batch):
        return modules_multimer.AlphaFold(cfg.model)(batch, is_training=False, return_representations=True)

    icfg = copy.deepcopy(cfg)
    icfg.model.global_config.zero_init = False

    def ifwd(batch):
        return modules_multimer.AlphaFold(icfg.model)(batch, is_training=False, return_representations=True)

    jfeat = jax.tree_util.tree_map(jnp.asarray, {**feat, "prev": mm_oracle.zero_prev(cfg, L)})
    params = hk.transform(ifwd).init(jax.random.PRNGKey(a.seed), {**jfeat, "iter": 0})
    params = {s: {n: np.asarray(v) for n, v in d.items()}
              for s, d in hk.data_structures.to_mutable_dict(params).items()}
    params = mm_oracle.perturb(params, a.seed)

    RECORD.clear()
    apply = jax.jit(hk.transform(fwd).apply)
    prev = mm_oracle.zero_prev(cfg, L)
    key = jax.random.PRNGKey(a.data_seed)
    out = {}
    for r in range(cfg.model.num_recycle + 1):
        res = apply(params, key, {**feat, "iter": r, "prev": prev})
        res = jax.tree_util.tree_map(np.asarray, jax.block_until_ready(res))
        prev = res["prev"]
        out[f"{r}/prev_pos"] = prev["prev_pos"]
    assert all(len(v) == cfg.model.num_recycle + 1 for v in RECORD.values()), {k: len(v) for k, v in RECORD.items()}

    conf = mm_oracle.confidence
    pae = res["predicted_aligned_error"]
    ptm = conf.predicted_tm_score(logits=pae["logits"], breaks=pae["breaks"], residue_weights=feat["seq_mask"])
    iptm = conf.predicted_tm_score(logits=pae["logits"], breaks=pae["breaks"], residue_weights=feat["seq_mask"],
                                   asym_id=feat["asym_id"])
    pae_ang = conf.compute_predicted_aligned_error(logits=pae["logits"], breaks=pae["breaks"])
    out.update({
        "final_atom_positions": res["structure_module"]["final_atom_positions"],
        "final_atom_mask": res["structure_module"]["final_atom_mask"],
        "plddt": conf.compute_plddt(res["predicted_lddt"]["logits"]).astype(np.float32),
        "predicted_aligned_error": pae_ang["predicted_aligned_error"].astype(np.float32),
        "ptm": np.float32(ptm), "iptm": np.float32(iptm),
        "single": res["representations"]["single"],
        "msa_first_row": res["representations"]["msa_first_row"],
    })
    d = OUT / f"model_{name}"
    os.makedirs(d, exist_ok=True)
    np.savez_compressed(d / "params_model_1_multimer_v3.npz", **mm_oracle.orc.flatten_haiku(params))
    np.savez_compressed(d / "sampling.npz", **{f"{r}/{k}": v[r].astype(np.int32 if k != "bert_mask" else np.float32)
                                             for k, vs in RECORD.items() for r in range(len(vs)) for v in [vs]})
    np.savez_compressed(d / "outputs.npz", **{k: np.asarray(v) for k, v in out.items()})
    (d / "config.json").write_text(cfg.to_json_best_effort(indent=1))
    pos = out["final_atom_positions"]
    summary = {"features": feats_name, "L": L, "ptm": float(ptm), "iptm": float(iptm),
               "mean_plddt": float(out["plddt"].mean()),
               "ca_ca_mean": float(np.linalg.norm(pos[1:, 1] - pos[:-1, 1], axis=-1).mean()), **sizes,
               "structure_channel": sm_channel, "sidechain_channel": sc_channel, "plddt_channel": plddt_channel}
    (d / "summary.json").write_text(json.dumps(summary, indent=1))
    # Debugging aid, not committed: every representation of the last iteration.
    dbg = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"ferrofold_multimer_{name}_debug.npz"
    np.savez(dbg, **mm_oracle.orc.flatten_tree(res))
    print(name, json.dumps(summary), "debug:", dbg, flush=True)


def main():
    install_recorders()
    for name in sys.argv[1:] or list(FIXTURES):
        make(name)


if __name__ == "__main__":
    main()
