#!/usr/bin/env python3
"""ferrofold vs OpenFold (PyTorch, fp32, CPU) on the same parameters and the same processed features.

For each size L:C:E (L residues, C MSA cluster rows, E extra rows) this writes a synthetic query and a
(C+E)-row A3M (seeded, as benches/af2_side_by_side.py does), then, one after another on this machine:

  * the reference harness (../shared/reference/af2_oracle.py) makes random model_1_ptm-width parameters
    in DeepMind's npz layout (--blocks Evoformer, --extra-blocks extra-MSA blocks) and AlphaFold2's
    processed features for them (its own input pipeline: clusters + 4 zero template rows, extra rows, one
    iteration per --recycles + 1); for sizes up to --check-max-len it also runs AlphaFold2 itself (JAX);
  * OpenFold (aqlaboratory/openfold, CPU path; its CUDA kernels are not built: its fused softmax kernel,
    which the Evoformer's MSA row attention calls, is stood in for by torch's softmax in place) loads the
    same npz with its own
    `import_jax_weights_` and runs the same processed features (the recycling axis moved last, as OpenFold
    wants, template torsion features computed by OpenFold's own `atom37_to_torsion_angles`), twice in one
    process under torch.no_grad: first and second call timed;
  * ferrofold: `params convert` of the same npz, `predict --processed-features` of the same features.

Outputs are checked against each other (and against AlphaFold2 where it ran): final atoms, pLDDT, pTM.
Threads: --threads for all three (torch.set_num_threads, XLA's and ferrofold's --threads). Peak RSS of each
process from /usr/bin/time. Results: a Markdown table appended to --out with the machine, date, commands.

Setup (nothing of OpenFold is committed):
  python3 -m venv /tmp/ofvenv
  /tmp/ofvenv/bin/pip install torch==2.15.0 numpy==1.26.4 ml_collections dm-tree scipy biopython pyyaml modelcif
  fetch aqlaboratory/openfold and unpack its openfold/ package: git archive HEAD openfold | tar -x -C /tmp/openfold_src
Run with the reference harness's virtualenv (../shared/reference/setup.sh):
  /tmp/oracle/venv/bin/python benches/openfold_side_by_side.py --sizes 146:64:256,384:128:1024 \\
      --openfold-python /tmp/ofvenv/bin/python --openfold-src /tmp/openfold_src
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


# OpenFold's Evoformer MSA row attention calls its fused CUDA softmax kernel (`attn_core_inplace_cuda`,
# built only with CUDA). On CPU the same operation, done by torch: the row softmax of the logits, in place.
STUB = '''"""CPU stand-in for OpenFold's CUDA kernel attn_core_inplace_cuda: softmax over the last axis, in place."""
import torch


def forward_(logits, rows, cols):
    logits.copy_(torch.softmax(logits, dim=-1))
'''


def worker(a):
    """Runs inside OpenFold's virtualenv: load, run twice, save outputs, print timings as JSON."""
    import resource
    stub = os.path.join(a.work_dir, 'of_stub')
    os.makedirs(stub, exist_ok=True)
    with open(os.path.join(stub, 'attn_core_inplace_cuda.py'), 'w') as f:
        f.write(STUB)
    sys.path[:0] = [a.openfold_src, stub]
    import torch
    torch.set_num_threads(a.threads)
    from openfold.config import model_config
    from openfold.data import data_transforms
    from openfold.model.model import AlphaFold
    from openfold.utils.import_weights import import_jax_weights_

    c = model_config('model_1_ptm', train=False, low_prec=False)
    c.model.evoformer_stack.no_blocks = a.blocks
    c.model.extra_msa.extra_msa_stack.no_blocks = a.extra_blocks
    t = time.perf_counter()
    model = AlphaFold(c)
    import_jax_weights_(model, a.params, version='model_1_ptm')
    model = model.eval()
    load_s = time.perf_counter() - t

    raw = dict(np.load(a.features))
    batch = {}
    for k, v in raw.items():
        name = 'template_all_atom_mask' if k == 'template_all_atom_masks' else k
        if v.dtype.kind in 'SUO':
            continue
        batch[name] = torch.from_numpy(np.ascontiguousarray(np.moveaxis(v, 0, -1)))
    # Template torsion features, as OpenFold's data pipeline makes them (per iteration: the last axis).
    iters = batch['aatype'].shape[-1]
    tors = None
    for r in range(iters):
        prot = {k: batch[k][..., r] for k in ('template_aatype', 'template_all_atom_positions',
                                               'template_all_atom_mask')}
        prot['template_aatype'] = prot['template_aatype'].long()
        out = data_transforms.atom37_to_torsion_angles('template_')(prot)
        keys = ('template_torsion_angles_sin_cos', 'template_alt_torsion_angles_sin_cos',
                'template_torsion_angles_mask')
        tors = tors or {k: [] for k in keys}
        for k in keys:
            tors[k].append(out[k])
    for k, v in tors.items():
        batch[k] = torch.stack(v, dim=-1)
    for k in ('aatype', 'residue_index', 'extra_msa', 'template_aatype', 'true_msa', 'seq_length',
              'residx_atom14_to_atom37', 'residx_atom37_to_atom14'):
        if k in batch:
            batch[k] = batch[k].long()
    calls = []
    outputs = None
    with torch.no_grad():
        for _ in range(2):
            t = time.perf_counter()
            outputs = model(batch)
            calls.append(time.perf_counter() - t)
    o = {
        'final_atom_positions': outputs['final_atom_positions'].numpy(),
        'plddt': outputs['plddt'].numpy(),
        'ptm': np.asarray(outputs['ptm_score'].numpy()) if 'ptm_score' in outputs else np.asarray(np.nan),
    }
    np.savez(a.out, **o)
    print(json.dumps({'load_s': load_s, 'first_s': calls[0], 'second_s': calls[1],
                      'peak_rss_mib_self': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def compare(a, b):
    """Largest differences between two output sets: atoms (Å), pLDDT, pTM."""
    d = {}
    if 'final_atom_positions' in a and 'final_atom_positions' in b:
        d['atoms_A'] = float(np.abs(a['final_atom_positions'] - b['final_atom_positions']).max())
    d['plddt'] = float(np.abs(a['plddt'] - b['plddt']).max())
    if 'ptm' in a and 'ptm' in b:
        d['ptm'] = float(abs(float(a['ptm']) - float(b['ptm'])))
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    repo = os.path.dirname(HERE)
    ap.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--params', help=argparse.SUPPRESS)
    ap.add_argument('--features', help=argparse.SUPPRESS)
    ap.add_argument('--work-dir', help=argparse.SUPPRESS)
    ap.add_argument('--sizes', default='146:64:256', help='L:clusters:extra triples, comma-separated')
    ap.add_argument('--blocks', type=int, default=8)
    ap.add_argument('--extra-blocks', type=int, default=1)
    ap.add_argument('--recycles', type=int, default=0)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--check-max-len', type=int, default=160,
                    help='also run AlphaFold2 (JAX) at sizes up to this length, to check the outputs')
    ap.add_argument('--oracle', default=os.path.join(repo, '..', 'shared', 'reference', 'af2_oracle.py'))
    ap.add_argument('--ferrofold', default=os.path.join(repo, 'target', 'release', 'ferrofold'))
    ap.add_argument('--openfold-python', default='/tmp/ofvenv/bin/python')
    ap.add_argument('--openfold-src', default='/tmp/openfold_src')
    ap.add_argument('--work', default='/tmp/ferrofold-openfold-bench')
    ap.add_argument('--out', default=os.path.join(HERE, 'results', 'openfold_side_by_side.md'))
    a = ap.parse_args()
    if a.worker:
        return worker(a)
    from af2_side_by_side import synthetic_inputs, timed

    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads),
               XLA_FLAGS=f'--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={a.threads}')
    rows = []
    for spec in a.sizes.split(','):
        length, clusters, extra = (int(x) for x in spec.split(':'))
        wd = os.path.join(a.work, f'L{length}_C{clusters}_E{extra}')
        os.makedirs(wd, exist_ok=True)
        fasta, a3m = synthetic_inputs(wd, length, clusters + extra, seed=length * 1000 + clusters + extra)
        oracle_out = os.path.join(wd, 'af2')
        check = length <= a.check_max_len
        cmd = [sys.executable, a.oracle, '--fasta', fasta, '--a3m', a3m, '--seed', '0', '--out', oracle_out,
               '--evoformer-blocks', str(a.blocks), '--extra-msa-blocks', str(a.extra_blocks),
               '--num-recycle', str(a.recycles), '--templates', 'zero',
               '--max-msa-clusters', str(clusters + 4), '--max-extra-msa', str(extra)]
        cmd += ['--driver', 'loop', '--calls', '1', '--aot'] if check else ['--save-params-only']
        res = {'L': length, 'C': clusters, 'E': extra}
        wall, rss = timed(cmd, os.path.join(wd, 'af2.log'))
        if check:
            t = json.load(open(os.path.join(oracle_out, 'timings.json')))
            # Compiled ahead of time: "first" = compilation + the call, "second" = the call.
            res['af2'] = {'first_s': t['aot_compile_s'] + t['first_call_s'], 'second_s': t['first_call_s'],
                          'process_s': wall, 'rss_mib': rss}
        params = os.path.join(oracle_out, 'params_model_1_ptm.npz')
        feats = os.path.join(oracle_out, 'processed_features.npz')

        of_out = os.path.join(wd, 'openfold_outputs.npz')
        log = os.path.join(wd, 'openfold.log')
        t0 = time.time()
        with open(log, 'w') as f:
            r = subprocess.run(['/usr/bin/time', '-v', a.openfold_python, os.path.abspath(__file__), '--worker',
                                '--params', params, '--features', feats, '--out', of_out, '--work-dir', wd,
                                '--openfold-src', a.openfold_src, '--blocks', str(a.blocks),
                                '--extra-blocks', str(a.extra_blocks), '--threads', str(a.threads)],
                               stdout=f, stderr=subprocess.STDOUT, env=env)
        of_wall = time.time() - t0
        text = open(log).read()
        if r.returncode != 0:
            raise SystemExit(f'OpenFold failed; see {log}')
        of = json.loads(next(l for l in text.splitlines() if l.startswith('{"load_s"')))
        of_rss = int(re.search(r'Maximum resident set size \(kbytes\): (\d+)', text).group(1)) / 1024
        res['openfold'] = {**of, 'process_s': of_wall, 'rss_mib': of_rss}

        name = f'model_1_ptm_{a.blocks}_{a.extra_blocks}blocks'
        model = os.path.join(wd, f'{name}.onnx')
        subprocess.run([a.ferrofold, 'params', 'convert', params, '-o', model, '--name', name,
                        '--num-recycle', str(a.recycles)], check=True, capture_output=True)
        ff = os.path.join(wd, 'ferrofold')
        wall, rss = timed([a.ferrofold, 'predict', '--processed-features', feats, '--model', model,
                           '--threads', str(a.threads), '--no-plots', '--overwrite', '-q', '-o', ff,
                           '--result-format', 'npz', '--relax', 'none', '--device', 'cpu'], os.path.join(wd, 'ferrofold.log'))
        timings = json.load(open(os.path.join(ff, 'timings.json')))
        model_s = next(v for k, v in timings.items() if k.startswith('predict') and name in k)
        res['ferrofold'] = {'model_s': model_s, 'process_s': wall, 'rss_mib': rss}

        ours = np.load(os.path.join(ff, f'result_{name}_pred_0.npz'))
        ours = {'final_atom_positions': ours['final_atom_positions'], 'plddt': ours['plddt'],
                'ptm': ours['ptm'] if 'ptm' in ours else np.asarray(np.nan)}
        theirs = dict(np.load(of_out))
        res['ferrofold_vs_openfold'] = compare(ours, theirs)
        if check:
            af2 = dict(np.load(os.path.join(oracle_out, 'outputs.npz')))
            res['openfold_vs_af2'] = compare(theirs, af2)
            res['ferrofold_vs_af2'] = compare(ours, af2)
        rows.append(res)
        print(json.dumps(res), flush=True)

    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
    lines = [f'\n## {datetime.date.today()} — {os.cpu_count()} cores ({cpu}), {platform.system()}, '
             f'{a.threads} threads\n',
             f'`{" ".join([os.path.basename(sys.executable)] + sys.argv)}`; model_1_ptm widths, {a.blocks} '
             f'Evoformer + {a.extra_blocks} extra-MSA blocks, {a.recycles + 1} iteration(s), random parameters '
             '(seed 0), fp32, the same AlphaFold2 processed features for all. Model s: OpenFold\'s first and '
             'second call in one process; ferrofold\'s predict-stage model time; AlphaFold2 (where run): '
             'compilation + call, and the call alone (compiled ahead of time). Process s and peak RSS: the whole command.\n',
             '| L | clusters + extra | run | model s (first / second) | process s | peak RSS MiB | '
             'ferrofold speed-up vs second call | RSS ratio (ferrofold / it) | max |Δ| vs ferrofold (atoms Å, pLDDT, pTM) |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        ff = r['ferrofold']
        for key, label in (('af2', 'AlphaFold2 (JAX)'), ('openfold', 'OpenFold (PyTorch)')):
            if key not in r:
                continue
            m = r[key]
            d = r.get(f'ferrofold_vs_{key}', r.get('ferrofold_vs_openfold') if key == 'openfold' else {})
            delta = ', '.join(f'{v:.1e}' for v in d.values()) if d else ''
            lines.append(f"| {r['L']} | {r['C']} + {r['E']} | {label} | {m['first_s']:.1f} / {m['second_s']:.1f} | "
                         f"{m['process_s']:.1f} | {m['rss_mib']:.0f} | {m['second_s'] / ff['model_s']:.2f}× | "
                         f"{ff['rss_mib'] / m['rss_mib']:.2f} | {delta} |")
        lines.append(f"| {r['L']} | {r['C']} + {r['E']} | ferrofold | {ff['model_s']:.1f} | {ff['process_s']:.1f} | "
                     f"{ff['rss_mib']:.0f} | | | |")
    for r in rows:
        if 'openfold_vs_af2' in r:
            lines.append(f"\nL={r['L']}: OpenFold vs AlphaFold2 max |Δ| {r['openfold_vs_af2']}; "
                         f"ferrofold vs AlphaFold2 {r['ferrofold_vs_af2']}.")
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'a') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
