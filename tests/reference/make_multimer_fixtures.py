#!/usr/bin/env python3
"""AlphaFold-Multimer feature fixtures (tests/data/multimer/) from DeepMind's multimer data pipeline.

  homodimer_features.npz   2Q2K A + 2Q2K B (one entity: no pairing, MSAs merged side by side)
  heteromer_features.npz   2Q2K A + 1A3A A (two entities: species pairing of the UniProt rows)

Both are what `pipeline_multimer.DataPipeline.process` returns (`pair_and_merge` + `pad_msa(512)`), made by
../shared/reference/mm_oracle.py's `build_features` (DeepMind v2.3.2 `make_msa_features` with
de-duplication, the installed `pipeline_multimer`, `msa_pairing`, `feature_processing`, identical to
v2.3.2) from the per-chain files in tests/data/msas/2q2k_A/ and tests/data/multimer/1a3a_A/ (the latter's
uniclust a3m stands in for UniProt hits), templates from DeepMind v2.3.2's HmmsearchHitFeaturizer (2Q2K: a
hit on its own structure in tests/data/templates/mmcif over residues 1-60 of 70, so that v2.3.2's
duplicate-of-query prefilter lets it through; 1A3A: none, so one all-zero template). Saved compressed,
without `all_atom_positions` (all zeros).

Needs the harness venv, kalign and a v2.3.2 checkout in AF2_V232_SRC.
Usage: AF2_V232_SRC=... /tmp/oracle/venv/bin/python tests/reference/make_multimer_fixtures.py
"""
import gzip
import os
import pathlib
import shutil
import sys
import tempfile

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
SHARED = pathlib.Path(os.environ.get("FERROFOLD_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(SHARED / "reference"))
import mm_oracle  # noqa: E402

DATA = REPO / "tests" / "data"
OUT = DATA / "multimer"

# The chains, from the repository's own copies of the files.
mm_oracle.CHAINS = {
    "2q2k_A": {k: str(DATA / "msas" / "2q2k_A" / f) for k, f in [
        ("uniref90", "uniref90_hits.sto"), ("bfd", "bfd_uniclust_hits.a3m"),
        ("mgnify", "mgnify_hits.sto"), ("uniprot", "uniprot_hits.sto")]},
    "2q2k_B": {k: str(DATA / "msas" / "2q2k_B" / f) for k, f in [
        ("uniref90", "uniref90_hits.sto"), ("bfd", "bfd_uniclust_hits.a3m"),
        ("mgnify", "mgnify_hits.sto"), ("uniprot", "uniprot_hits.sto")]},
    "1a3a_A": {"bfd": str(OUT / "1a3a_A" / "bfd_uniclust_hits.a3m"),
               "uniprot": str(OUT / "1a3a_A" / "uniprot_hits.a3m")},
}


dm_templates = mm_oracle.dm_source.load("templates")
mm_parsers = mm_oracle.parsers
SELF_HIT_RESIDUES = 60


def template_features_for(chain, seq, mmcif_dir):
    """v2.3.2's HmmsearchHitFeaturizer (the multimer template path) on a hit over the chain's first 60 residues."""
    feat = dm_templates.HmmsearchHitFeaturizer(
        mmcif_dir=mmcif_dir, max_template_date="2100-01-01", max_hits=20,
        kalign_binary_path="/usr/bin/kalign", release_dates_path=None, obsolete_pdbs_path=None)
    hits = []
    if chain.startswith("2q2k"):
        n = SELF_HIT_RESIDUES
        aligned = seq[:n] + "-" * (len(seq) - n)
        a3m = (f">query\n{seq}\n>2q2k_{chain[-1]}/1-{n} [subseq from] mol:protein length:{len(seq)}  ParR\n"
               f"{aligned}\n")
        hits = mm_parsers.parse_hmmsearch_a3m(query_sequence=seq, a3m_string=a3m, skip_first=True)
    res = feat.get_templates(query_sequence=seq, hits=hits)
    return dict(res.features), list(res.errors) + list(res.warnings)


mm_oracle.template_features_for = template_features_for


def main():
    # DeepMind's featuriser reads plain .cif files: the gzipped copies unpacked into a scratch folder.
    with tempfile.TemporaryDirectory() as tmp:
        for f in (DATA / "templates" / "mmcif").glob("*.cif.gz"):
            with gzip.open(f, "rb") as src, open(os.path.join(tmp, f.name[:-3]), "wb") as dst:
                shutil.copyfileobj(src, dst)
        for name, chains in [("homodimer", ["2q2k_A", "2q2k_B"]), ("heteromer", ["2q2k_A", "1a3a_A"])]:
            ex, homo, notes = mm_oracle.build_features(chains, tmp)
            ex = {k: np.asarray(v) for k, v in ex.items() if k != "all_atom_positions"}
            assert not np.any(mm_oracle.build_features(chains, tmp)[0]["all_atom_positions"])
            np.savez_compressed(OUT / f"{name}_features.npz", **ex)
            print(name, "homomer" if homo else "paired", "rows", int(ex["num_alignments"]),
                  "notes", notes)


if __name__ == "__main__":
    main()
