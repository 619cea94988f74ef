#!/usr/bin/env python3
"""Checks a ferrofold mmCIF prediction with two independent readers (used by `cargo test`):
gemmi (the structure, its entity sequence and the PDBx categories AlphaFold DB files carry) and
python-modelcif (the ModelCIF model list and quality metrics). Exit 0 and one line 'ok ...' when all hold;
otherwise a line naming what is wrong and exit 1.

    python check_modelcif.py FILE.cif MEAN_PLDDT N_RESIDUES [CHAIN_LENGTHS ENTITIES]

For a complex, CHAIN_LENGTHS lists the chains' residue counts (`70,31`) and ENTITIES the number of distinct
sequences: each chain must have its length and its entity's full sequence, and the file that many entities.
"""
import sys

import gemmi
import modelcif.reader

path, mean_plddt, n_res = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
chain_lengths = [int(x) for x in sys.argv[4].split(",")] if len(sys.argv) > 4 else [n_res]
n_entities = int(sys.argv[5]) if len(sys.argv) > 5 else 1
problems = []
doc = gemmi.cif.read(path)
block = doc.sole_block()
for cat in ("_entity.", "_entity_poly.", "_entity_poly_seq.", "_chem_comp.", "_pdbx_poly_seq_scheme.",
            "_ma_qa_metric_global.", "_ma_qa_metric_local.", "_software.", "_audit_conform.", "_atom_type.",
            "_struct_asym.", "_atom_site.", "_ma_model_list.", "_ma_data."):
    if not block.find_mmcif_category(cat):
        problems.append(f"no {cat[:-1]}")
st = gemmi.read_structure(path)
st.setup_entities()
if len(st.entities) != n_entities:
    problems.append(f"{len(st.entities)} entities, expected {n_entities}")
chains = list(st[0])
if [len(c) for c in chains] != chain_lengths:
    problems.append(f"chains of {[len(c) for c in chains]} residues, expected {chain_lengths}")
for c in chains:
    ent = st.get_entity_of(c.get_polymer())
    full = gemmi.one_letter_code(ent.full_sequence) if ent else ""
    if full != gemmi.one_letter_code([r.name for r in c]):
        problems.append(f"chain {c.name}: its entity's sequence is not the chain's")
seq = "".join(gemmi.one_letter_code([r.name for r in c]) for c in chains)
if len(seq) != n_res:
    problems.append(f"{len(seq)} residues, expected {n_res}")
with open(path) as f:
    systems = modelcif.reader.read(f)
if len(systems) != 1:
    problems.append(f"python-modelcif reads {len(systems)} systems")
else:
    models = [m for g in systems[0].model_groups for m in g]
    if len(models) != 1:
        problems.append(f"python-modelcif finds {len(models)} models")
    else:
        globals_ = [q for q in models[0].qa_metrics if isinstance(q, modelcif.qa_metric.Global)]
        locals_ = [q for q in models[0].qa_metrics if isinstance(q, modelcif.qa_metric.Local)]
        if len(globals_) != 1 or abs(globals_[0].value - mean_plddt) > 0.01:
            problems.append(f"global pLDDT {[g.value for g in globals_]}, expected {mean_plddt:.2f}")
        if len(locals_) != n_res:
            problems.append(f"{len(locals_)} local pLDDT values, expected {n_res}")
if problems:
    print("; ".join(problems))
    sys.exit(1)
print(f"ok: {len(seq)} residues, global pLDDT {mean_plddt:.2f}, {len(block.get_mmcif_category_names())} categories")
