"""ferrofold from Python: features from shipped alignments, a prediction with the demo model, the
structure read back with gemmi (or Biopython). Run from the repository root after `pip install ./python`:

    python examples/python_predict.py

The demo model has random weights: the structure shows the pipeline, it means nothing.
"""
import io
from pathlib import Path

import ferrofold

root = Path(__file__).resolve().parents[1]
msas = root / "tests" / "data" / "msas" / "2q2k_A"

query = ferrofold.Query.from_fasta(msas / "query.fasta")
features = ferrofold.Features.build(
    query, [msas / "uniref90_hits.sto", msas / "bfd_uniclust_hits.a3m", msas / "mgnify_hits.sto"]
)
print(features, "msa", features["msa"].shape, features["msa"].dtype)

model = ferrofold.Model.demo()
prediction = model.predict(features, seed=0, progress=lambda done, total: print(f"\rblock {done}/{total}", end=""))
print()
print(prediction, "pTM", round(prediction.ptm, 4), "atoms", prediction.atom_positions.shape)

pdb = prediction.to_pdb()
try:
    import gemmi

    structure = gemmi.read_pdb_string(pdb)
    chain = structure[0][0]
    print("gemmi:", len(chain), "residues in chain", chain.name, "first", chain[0].name, chain[0]["CA"][0].pos)
except ImportError:
    from Bio.PDB import PDBParser

    structure = PDBParser(QUIET=True).get_structure("prediction", io.StringIO(pdb))
    print("Biopython:", len(list(structure.get_residues())), "residues")
prediction.save("python_prediction")
print("wrote python_prediction/unrelaxed.pdb, unrelaxed.cif, result.npz")
