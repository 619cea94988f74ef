#!/usr/bin/env python3
"""A ColabFold complex alignment and the multimer features ColabFold makes from it (tests/data/multimer/).

  colabfold_complex.a3m            ColabFold's own `msa_to_str` (colabfold 1.6.3) of an A2B complex:
                                   1A3A A twice and 1A3A A with residue 65 changed to W once; unpaired rows:
                                   the first 200 rows of each chain's bfd_uniclust_hits.a3m; paired rows: the
                                   first 80 rows of each chain's uniprot_hits.a3m, row k with row k
  colabfold_complex_features.npz   ColabFold's `unserialize_msa` + `generate_input_feature(model_type=
                                   'alphafold2_multimer_v3', max_seq=508)` on that file, with one change:
                                   AlphaFold2 v2.3.2's `make_msa_features` (which drops repeated rows; the
                                   alphafold-colabfold fork ColabFold imports does not), as ferrofold does
                                   for every alignment. Compressed, without `all_atom_positions` (zeros).

Needs the harness venv, AF2_V232_SRC, and colabfold 1.6.3 importable without its heavy extras, e.g.
  pip download --no-deps colabfold==1.6.3 importlib-metadata==8.7.0 zipp tqdm==4.67.1 appdirs -d W
  and unzip the wheels into a folder on PYTHONPATH.
Usage: PYTHONPATH=DIR AF2_V232_SRC=... /tmp/oracle/venv/bin/python tests/reference/make_colabfold_complex_fixture.py
"""
import os
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
SHARED = pathlib.Path(os.environ.get("FERROFOLD_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(SHARED / "reference"))
import dm_source  # noqa: E402

dm_pipeline = dm_source.load("pipeline")
from alphafold.data import pipeline  # noqa: E402

pipeline.make_msa_features = dm_pipeline.make_msa_features  # v2.3.2's, with de-duplication
from colabfold.batch import generate_input_feature, unserialize_msa  # noqa: E402
from colabfold.input import msa_to_str  # noqa: E402

OUT = REPO / "tests" / "data" / "multimer"


def records(path, n):
    """The first n records of an a3m as (header, one-line sequence)."""
    out, cur = [], None
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith(">"):
            if cur:
                out.append(cur)
            cur = [line, ""]
        elif cur is not None:
            cur[1] += line.strip()
    if cur:
        out.append(cur)
    return out[:n]


def a3m(recs):
    return "".join(f"{h}\n{s}\n" for h, s in recs)


def main():
    chains = ["1a3a_A", "1a3a_Amut"]
    unpaired = [a3m(records(OUT / c / "bfd_uniclust_hits.a3m", 200)) for c in chains]
    paired = [a3m(records(OUT / c / "uniprot_hits.a3m", 80)) for c in chains]
    seqs = [records(OUT / c / "bfd_uniclust_hits.a3m", 1)[0][1] for c in chains]
    text = msa_to_str(unpaired, paired, seqs, [2, 1])
    (OUT / "colabfold_complex.a3m").write_text(text)
    u, p, q, cards, templates = unserialize_msa([text], None)
    assert q == seqs and cards == [2, 1]
    feat, _ = generate_input_feature(q, cards, u, p, templates, is_complex=True,
                                     model_type="alphafold2_multimer_v3", max_seq=508)
    ex = {k: np.asarray(v) for k, v in feat.items() if k != "all_atom_positions"}
    np.savez_compressed(OUT / "colabfold_complex_features.npz", **ex)
    print("rows", int(ex["num_alignments"]), "residues", ex["aatype"].shape[0], "keys", sorted(ex))


if __name__ == "__main__":
    main()
