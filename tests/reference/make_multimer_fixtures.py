#!/usr/bin/env python3
"""AlphaFold-Multimer feature fixtures (tests/data/multimer/) from DeepMind's multimer data pipeline.

  homodimer_features.npz   2Q2K A + 2Q2K B (one entity: no pairing, MSAs merged side by side)
  heteromer_features.npz   2Q2K A + 1A3A A (two entities: species pairing of the UniProt rows)
  mutant_features.npz      1A3A A + 1A3A A with residue 65 changed to W (two entities sharing every
                           species: 1,303 paired rows, ties in similarity within species and in the
                           row-index products that order the pairs). DeepMind's code sorts both with
                           unstable sorts (pandas' and numpy's quicksort, which numpy runs as an AVX-512
                           sorting network where the CPU has one), so its order of ties depends on the
                           machine; this fixture is made with those two sorts made stable (ties keep row
                           order), the order ferrofold documents. Everything else is DeepMind's code.

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
    "1a3a_Amut": {"bfd": str(OUT / "1a3a_Amut" / "bfd_uniclust_hits.a3m"),
                  "uniprot": str(OUT / "1a3a_Amut" / "uniprot_hits.a3m")},
}
MUTATION = (64, "W")  # 0-based residue, new letter


def mutate_query_row(src, dst):
    """Copies an alignment with its first (query) row's residue MUTATION[0] replaced."""
    pos, new = MUTATION
    lines = open(src).read().split("\n")
    if src.endswith(".a3m"):
        i = next(k for k, l in enumerate(lines) if l.startswith(">")) + 1
        seq = list(lines[i])
        assert seq[pos] != new
        seq[pos] = new
        lines[i] = "".join(seq)
    else:
        first = next(l.split()[0] for l in lines if l.strip() and not l.startswith("#") and l != "//")
        for k, l in enumerate(lines):
            if l.split() and l.split()[0] == first and not l.startswith("#"):
                name, row = l.split()
                start = l.index(row, len(name))
                residues = [j for j, c in enumerate(row) if c not in "-."]
                row = list(row)
                row[residues[pos]] = new
                lines[k] = l[:start] + "".join(row)
                break
    open(dst, "w").write("\n".join(lines))


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
        letter = chain[5]
        n = SELF_HIT_RESIDUES
        aligned = seq[:n] + "-" * (len(seq) - n)
        a3m = (f">query\n{seq}\n>2q2k_{letter}/1-{n} [subseq from] mol:protein length:{len(seq)}  ParR\n"
               f"{aligned}\n")
        hits = mm_parsers.parse_hmmsearch_a3m(query_sequence=seq, a3m_string=a3m, skip_first=True)
    res = feat.get_templates(query_sequence=seq, hits=hits)
    return dict(res.features), list(res.errors) + list(res.warnings)


mm_oracle.template_features_for = template_features_for


def stable_sorts():
    """msa_pairing's two sorts, made stable (the only change; see the module docstring)."""
    msa_pairing = mm_oracle.msa_pairing
    np_ = np

    def match(dfs):
        take = np_.min([len(d) for d in dfs if d is not None])
        rows = []
        for d in dfs:
            if d is not None:
                rows.append(d.sort_values("msa_similarity", ascending=False, kind="stable")
                            .msa_row.iloc[:take].values)
            else:
                rows.append([-1] * take)
        return list(np_.array(rows).transpose())

    def reorder(by_count):
        out = []
        for k in sorted(by_count, reverse=True):
            rows = by_count[k]
            product = abs(np_.array([np_.prod(r) for r in rows]))
            out.extend(rows[np_.argsort(product, kind="stable")])
        return np_.array(out)

    saved = (msa_pairing._match_rows_by_sequence_similarity, msa_pairing.reorder_paired_rows)
    msa_pairing._match_rows_by_sequence_similarity = match
    msa_pairing.reorder_paired_rows = reorder
    return saved


def main():
    os.makedirs(OUT / "1a3a_Amut", exist_ok=True)
    for f in ("bfd_uniclust_hits.a3m", "uniprot_hits.a3m"):
        mutate_query_row(str(OUT / "1a3a_A" / f), str(OUT / "1a3a_Amut" / f))
    # DeepMind's featuriser reads plain .cif files: the gzipped copies unpacked into a scratch folder.
    with tempfile.TemporaryDirectory() as tmp:
        for f in (DATA / "templates" / "mmcif").glob("*.cif.gz"):
            with gzip.open(f, "rb") as src, open(os.path.join(tmp, f.name[:-3]), "wb") as dst:
                shutil.copyfileobj(src, dst)
        for name, chains in [("homodimer", ["2q2k_A", "2q2k_B"]), ("heteromer", ["2q2k_A", "1a3a_A"]),
                             ("mutant", ["1a3a_A", "1a3a_Amut"])]:
            saved = stable_sorts() if name == "mutant" else None
            ex, homo, notes = mm_oracle.build_features(chains, tmp)
            if saved:
                (mm_oracle.msa_pairing._match_rows_by_sequence_similarity,
                 mm_oracle.msa_pairing.reorder_paired_rows) = saved
            ex = {k: np.asarray(v) for k, v in ex.items() if k != "all_atom_positions"}
            np.savez_compressed(OUT / f"{name}_features.npz", **ex)
            print(name, "homomer" if homo else "paired", "rows", int(ex["num_alignments"]),
                  "notes", notes)


if __name__ == "__main__":
    main()
