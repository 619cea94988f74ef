#!/usr/bin/env python3
"""Template featurisation fixtures (tests/data/templates/openfold_query/) from DeepMind's v2.3.2 featuriser.

  template_features.npz, deepmind_summary.json
      ../shared/reference/template_features.py on the OpenFold query's real pdb70_hits.hhr against the 8
      shared mmCIFs (max template date 2021-11-01).
  pdb70_hits_mutated.hhr, template_features_mutated.npz, deepmind_summary_mutated.json
      the same hits with three edits that exercise the other paths of the featuriser: 3U8V_A with 2 of its
      32 template residues changed (not found in the mmCIF SEQRES: realigned with kalign, >= 90 % identical),
      2CRB_A with one residue replaced by X (found by the X-wildcard match), 4ZEY_A with 5 of 20 changed
      (realignment refused: < 90 % identical).

Needs the harness venv, kalign (Debian: apt-get install kalign) and a v2.3.2 checkout in AF2_V232_SRC.
Usage: AF2_V232_SRC=... /tmp/oracle/venv/bin/python tests/reference/make_template_fixtures.py
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
SHARED = pathlib.Path(os.environ.get("FERROFOLD_SHARED", REPO.parent / "shared"))
OUT = REPO / "tests" / "data" / "templates" / "openfold_query"
HHR = REPO / "tests" / "data" / "msas" / "openfold_query" / "pdb70_hits.hhr"

# hit name -> {position in the ungapped template segment: replacement}
EDITS = {
    "3U8V_A": {3: "W", 10: "W"},
    "2CRB_A": {5: "X"},
    "4ZEY_A": {1: "W", 4: "W", 8: "W", 12: "W", 16: "W"},
}


def mutate(text):
    out, current, seen = [], None, {}
    for line in text.splitlines():
        if line.startswith(">"):
            current = line[1:7]
            seen[current] = 0
        name = line[2:17].strip() if line.startswith("T ") else ""
        if current in EDITS and name == current:
            head, rest = line[:17], line[17:]
            parts = rest.split()
            seq = list(parts[1])
            for k, c in enumerate(seq):
                if c != "-":
                    edit = EDITS[current].get(seen[current])
                    if edit:
                        seq[k] = edit
                    seen[current] += 1
            line = head + rest.replace(parts[1], "".join(seq), 1)
        out.append(line)
    return "\n".join(out) + "\n"


def run(hhr, tag):
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HHR=str(hhr))
        subprocess.run([sys.executable, str(SHARED / "reference" / "template_features.py"),
                        str(SHARED / "data" / "structures" / "mmcif"), "2021-11-01", tmp],
                       check=True, env=env, cwd=SHARED / "reference")
        shutil.copy(pathlib.Path(tmp) / "template_features_dm232.npz", OUT / f"template_features{tag}.npz")
        shutil.copy(pathlib.Path(tmp) / "summary.json", OUT / f"deepmind_summary{tag}.json")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    run(HHR, "")
    mutated = OUT / "pdb70_hits_mutated.hhr"
    mutated.write_text(mutate(HHR.read_text()))
    run(mutated, "_mutated")
    hhsearch_input()
    hmmsearch_fixture()


if __name__ == "__main__":
    main()


def hhsearch_input():
    """uniref90_for_hhsearch.a3m: what AlphaFold2 v2.3.2's monomer pipeline gives hhsearch for the query's
    uniref90 hits (truncated to 10,000 rows, deduplicated, empty columns removed, converted to A3M)."""
    from alphafold.data import parsers
    sto = (REPO / "tests/data/msas/openfold_query/uniref90_hits.sto").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".sto") as f:
        f.write(sto)
        f.flush()
        sto = parsers.truncate_stockholm_msa(f.name, 10000)
    sto = parsers.deduplicate_stockholm_msa(sto)
    sto = parsers.remove_empty_columns_from_stockholm_msa(sto)
    (OUT / "uniref90_for_hhsearch.a3m").write_text(parsers.convert_stockholm_to_a3m(sto))


def hmmsearch_fixture():
    """pdb_hits.sto + template_features_hmmsearch.npz: AlphaFold-Multimer's template path as DeepMind's v2.3.2
    code runs it for the query: its uniref90 hits (truncated, deduplicated, empty columns removed) through
    hmmbuild --hand and hmmsearch (DeepMind's flags) over tests/data/templates/pdb_seqres.txt, the hits parsed
    by parse_hmmsearch_a3m and featurised by HmmsearchHitFeaturizer (de-duplicated by template sequence)."""
    import json
    import numpy as np
    from alphafold.data import parsers
    from alphafold.data.tools import hmmbuild, hmmsearch
    sys.path.insert(0, str(SHARED / "reference"))
    import dm_source
    dm_templates = dm_source.load("templates")
    with tempfile.NamedTemporaryFile("w", suffix=".sto") as f:
        f.write((REPO / "tests/data/msas/openfold_query/uniref90_hits.sto").read_text())
        f.flush()
        sto = parsers.truncate_stockholm_msa(f.name, 10000)
    sto = parsers.deduplicate_stockholm_msa(sto)
    sto = parsers.remove_empty_columns_from_stockholm_msa(sto)
    (OUT / "uniref90_for_hmmsearch.sto").write_text(sto)
    searcher = hmmsearch.Hmmsearch(binary_path="/usr/bin/hmmsearch", hmmbuild_binary_path="/usr/bin/hmmbuild",
                                   database_path=str(REPO / "tests/data/templates/pdb_seqres.txt"))
    hits_sto = searcher.query(sto)
    (OUT / "pdb_hits.sto").write_text(hits_sto)
    query = parsers.parse_fasta((REPO / "tests/data/msas/openfold_query/short.fasta").read_text())[0][0]
    hits = searcher.get_template_hits(output_string=hits_sto, input_sequence=query)
    feat = dm_templates.HmmsearchHitFeaturizer(
        mmcif_dir=str(SHARED / "data/structures/mmcif"), max_template_date="2021-11-01", max_hits=20,
        kalign_binary_path="/usr/bin/kalign", release_dates_path=None, obsolete_pdbs_path=None)
    res = feat.get_templates(query_sequence=query, hits=hits)
    f = res.features
    np.savez(OUT / "template_features_hmmsearch.npz",
             **{k: (np.asarray(v).astype(np.bytes_) if np.asarray(v).dtype == object else np.asarray(v))
                for k, v in f.items()})
    print("hmmsearch:", [h.name for h in hits], "->",
          [x.decode() if isinstance(x, bytes) else x for x in f["template_domain_names"]], res.warnings, res.errors)
