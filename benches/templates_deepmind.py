#!/usr/bin/env python3
"""DeepMind's template featuriser (AlphaFold2 v2.3.2 `HhsearchHitFeaturizer`, through the reference harness's
`dm_source`) on the hits `cargo bench --bench templates -- --usable-only` times: the OpenFold query's
pdb70_hits.hhr taken twice without the 1HF9 hits (18 hits), against the 8 shared mmCIF files (plain .cif, as
DeepMind's code reads them). Prints one JSON line like the Rust bench.

    AF2_V232_SRC=... /tmp/oracle/venv/bin/python benches/templates_deepmind.py [--repeats 5]
"""
import json, os, pathlib, sys, time
REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED = pathlib.Path(os.environ.get("FERROFOLD_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(SHARED / "reference"))
from absl import logging
logging.set_verbosity(logging.ERROR)
from alphafold.data import parsers
import dm_source

templates = dm_source.load("templates")
repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 5
query = parsers.parse_fasta((REPO / "tests/data/msas/openfold_query/short.fasta").read_text())[0][0]
hits = parsers.parse_hhr((REPO / "tests/data/msas/openfold_query/pdb70_hits.hhr").read_text())
hits = [h for h in hits + hits if not h.name.startswith("1HF9")]
feat = templates.HhsearchHitFeaturizer(mmcif_dir=str(SHARED / "data/structures/mmcif"), max_template_date="2021-11-01",
                                       max_hits=20, kalign_binary_path="/usr/bin/kalign", release_dates_path=None,
                                       obsolete_pdbs_path=None)
times = []
for _ in range(repeats):
    t = time.perf_counter()
    r = feat.get_templates(query_sequence=query, hits=hits)
    times.append(time.perf_counter() - t)
first = times[0]   # cold: mmcif_parsing.parse and the file reads are lru-cached across calls
times.sort()
print(json.dumps({"hits": len(hits), "templates": len(r.features["template_domain_names"]), "repeats": repeats,
                  "first_s": round(first, 3), "best_s": round(times[0], 3), "median_s": round(times[len(times) // 2], 3),
                  "per_hit_ms": round(times[len(times) // 2] * 1e3 / len(hits), 1)}))
