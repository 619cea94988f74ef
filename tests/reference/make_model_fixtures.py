#!/usr/bin/env python3
"""Regenerates the model parity fixtures (tests/data/model/<name>/) with DeepMind's AlphaFold2 code.

Runs the reference harness (../shared/reference/af2_oracle.py: alphafold-colabfold==2.3.1, JAX, fp32, CPU)
at test sizes with random, non-degenerate parameters from a seed, on real MSAs, and keeps what the Rust
tests read, compressed:

  params_model_1_ptm.npz   parameters in DeepMind's official layout (scope//name, unfused tri-mult)
  processed_features.npz   RunModel.process_features output (the model's exact inputs, per recycle)
  recycles.npz             {r}/prev_msa_first_row, {r}/prev_pair, {r}/prev_pos after each iteration r
  outputs.npz              final outputs and representations of the last iteration
  unrelaxed.pdb, config.json, summary.json

The harness has no flag for the structure module's width; to keep the fixtures small this script shrinks it
(and the pLDDT head) through the harness's own config hook before calling its main().

Usage (venv from ../shared/reference/setup.sh):
    /tmp/oracle/venv/bin/python tests/reference/make_model_fixtures.py [NAME ...]
"""
import importlib.util
import json
import os
import pathlib
import shutil
import sys
import tempfile

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
SHARED = pathlib.Path(os.environ.get("FERROFOLD_SHARED", REPO.parent / "shared"))
ORACLE = SHARED / "reference" / "af2_oracle.py"
OUT = REPO / "tests" / "data" / "model"

# name -> (oracle arguments, structure-module channel, pLDDT-head channel)
FIXTURES = {
    # PDB 2Q2K chain A (70 residues) with its real jackhmmer uniref90 hits (16 sequences), converted to A3M
    # by AlphaFold2's own `convert_stockholm_to_a3m` (see make_tiny_a3m below); templates on (official
    # layout, zero template hits), 2 iterations.
    "tiny": ([
        "--fasta", str(REPO / "tests/data/msas/2q2k_A/query.fasta"),
        "--a3m", str(OUT / "tiny/2q2k_A_uniref90.a3m"),
        "--seed", "0", "--data-seed", "0",
        "--evoformer-blocks", "2", "--extra-msa-blocks", "1", "--msa-channel", "32", "--pair-channel", "16",
        "--extra-msa-channel", "16", "--seq-channel", "64", "--structure-layers", "2", "--num-recycle", "1",
        "--max-msa-clusters", "12", "--max-extra-msa", "16", "--fuse-tri-mult", "0",
    ], 64, 32),
    # The OpenFold 73-residue query with its real 1,024-sequence BFD alignment; templates off, 3 iterations,
    # other widths and block counts.
    "small": ([
        "--fasta", str(REPO / "tests/data/msas/openfold_query/short.fasta"),
        "--a3m", str(REPO / "tests/data/msas/openfold_query/bfd_uniclust_hits.a3m"),
        "--seed", "1", "--data-seed", "3",
        "--evoformer-blocks", "3", "--extra-msa-blocks", "2", "--msa-channel", "48", "--pair-channel", "24",
        "--extra-msa-channel", "8", "--seq-channel", "32", "--structure-layers", "2", "--num-recycle", "2",
        "--max-msa-clusters", "20", "--max-extra-msa", "48", "--templates", "off", "--fuse-tri-mult", "0",
    ], 48, 24),
    # The OpenFold query again, now with its real templates: DeepMind v2.3.2's featuriser on its
    # pdb70_hits.hhr against the shared mmCIFs (tests/data/templates/openfold_query/template_features.npz,
    # 7 templates, 4 used), 2 iterations; the template pair stack at AlphaFold2's full width (64 channels,
    # 4 heads, 2 blocks). Also records the template module's intermediates (recycle 0, eager).
    "templates": ([
        "--fasta", str(REPO / "tests/data/msas/openfold_query/short.fasta"),
        "--a3m", str(REPO / "tests/data/msas/openfold_query/bfd_uniclust_hits.a3m"),
        "--template-features", str(REPO / "tests/data/templates/openfold_query/template_features.npz"),
        "--dump-template-intermediates",
        "--seed", "2", "--data-seed", "1",
        "--evoformer-blocks", "2", "--extra-msa-blocks", "1", "--msa-channel", "32", "--pair-channel", "16",
        "--extra-msa-channel", "16", "--seq-channel", "64", "--structure-layers", "2", "--num-recycle", "1",
        "--max-msa-clusters", "16", "--max-extra-msa", "32", "--fuse-tri-mult", "0",
    ], 64, 32),
    # Same templates, other widths, 3 of the 7 templates, 3 iterations.
    "templates_small": ([
        "--fasta", str(REPO / "tests/data/msas/openfold_query/short.fasta"),
        "--a3m", str(REPO / "tests/data/msas/openfold_query/bfd_uniclust_hits.a3m"),
        "--template-features", str(REPO / "tests/data/templates/openfold_query/template_features.npz"),
        "--max-templates", "3",
        "--seed", "3", "--data-seed", "2",
        "--evoformer-blocks", "3", "--extra-msa-blocks", "2", "--msa-channel", "48", "--pair-channel", "24",
        "--extra-msa-channel", "8", "--seq-channel", "32", "--structure-layers", "2", "--num-recycle", "2",
        "--max-msa-clusters", "20", "--max-extra-msa", "48", "--fuse-tri-mult", "0",
    ], 48, 24),
}

# Processed features the network reads.
MODEL_INPUTS = [
    "aatype", "residue_index", "seq_mask", "target_feat", "msa_feat", "msa_mask", "extra_msa", "extra_msa_mask",
    "extra_has_deletion", "extra_deletion_value", "atom14_atom_exists", "atom37_atom_exists",
    "residx_atom14_to_atom37", "residx_atom37_to_atom14", "template_aatype", "template_all_atom_masks",
    "template_all_atom_positions", "template_mask", "template_pseudo_beta", "template_pseudo_beta_mask",
    "bert_mask", "true_msa", "seq_length", "template_sum_probs",
]


def dropped_output(key):
    """Outputs that duplicate another array in outputs.npz (or the full MSA representation, unused)."""
    duplicates = {"distogram/logits", "structure_module/final_atom_positions", "structure_module/final_atom_mask",
                  "repr_msa"}
    return key.startswith(("representations/", "prev/")) or key in duplicates


def kept_intermediate(key):
    """The template-module seams the Rust tests check: template 0's pair features and pair stack, every
    template's embedding (the pointwise attention's keys), the pointwise attention, the torsion rows."""
    scope = "alphafold/alphafold_iteration/evoformer/"
    single = scope + "template_embedding/single_template_embedding/"
    return key in {
        single + "embedding2d/out#0",
        single + "template_pair_stack/in0#0",
        single + "template_pair_stack/out#0",
        scope + "template_embedding/in0#0",
        scope + "template_embedding/out#0",
        scope + "template_single_embedding/in0#0",
        scope + "template_projection/out#0",
    } or key.startswith(single + "out#")


def load_oracle(sm_channel, lddt_channel):
    spec = importlib.util.spec_from_file_location("af2_oracle", ORACLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    original = mod.build_config

    def build_config(a):
        cfg = original(a)
        sm = cfg.model.heads.structure_module
        sm.num_channel = sm_channel
        sm.sidechain.num_channel = sm_channel // 2
        cfg.model.heads.predicted_lddt.num_channels = lddt_channel
        return cfg

    mod.build_config = build_config
    return mod


def make_tiny_a3m():
    """tests/data/model/tiny/2q2k_A_uniref90.a3m from tests/data/msas/2q2k_A/uniref90_hits.sto."""
    from alphafold.data import parsers
    sto = (REPO / "tests/data/msas/2q2k_A/uniref90_hits.sto").read_text()
    dest = OUT / "tiny/2q2k_A_uniref90.a3m"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(parsers.convert_stockholm_to_a3m(sto))


def make(name):
    if name == "tiny":
        make_tiny_a3m()
    args, sm_channel, lddt_channel = FIXTURES[name]
    mod = load_oracle(sm_channel, lddt_channel)
    with tempfile.TemporaryDirectory() as tmp:
        sys.argv = ["af2_oracle.py", "--out", tmp, *args]
        mod.main()
        dest = OUT / name
        dest.mkdir(parents=True, exist_ok=True)
        t = pathlib.Path(tmp)
        params = np.load(t / "params_model_1_ptm.npz")
        np.savez_compressed(dest / "params_model_1_ptm.npz", **{k: params[k] for k in params.files})
        feats = np.load(t / "processed_features.npz")
        np.savez_compressed(dest / "processed_features.npz", **{k: feats[k] for k in MODEL_INPUTS if k in feats.files})
        rec = np.load(t / "recycles.npz")
        np.savez_compressed(dest / "recycles.npz", **{k: rec[k] for k in rec.files})
        out = np.load(t / "outputs.npz")
        keep = {k: out[k] for k in out.files if not dropped_output(k)}
        np.savez_compressed(dest / "outputs.npz", **keep)
        if (t / "template_intermediates.npz").exists():
            rec = np.load(t / "template_intermediates.npz")
            np.savez_compressed(dest / "template_intermediates.npz",
                                **{k: rec[k] for k in rec.files if kept_intermediate(k)})
        for f in ("unrelaxed.pdb", "config.json", "summary.json"):
            shutil.copy(t / f, dest / f)
    size = sum(f.stat().st_size for f in dest.iterdir())
    print(f"{name}: {size / 1e6:.2f} MB in {dest}")


def main():
    names = sys.argv[1:] or list(FIXTURES)
    for n in names:
        make(n)


if __name__ == "__main__":
    main()
