#!/usr/bin/env python3
"""ferrofold vs AlphaFold2 (DeepMind's JAX code, alphafold-colabfold 2.3.1, fp32, CPU) on the same work.

For each size (L residues, D MSA rows) this writes a synthetic query and a D-row A3M (seeded), then runs,
one after another on this machine:

  * AlphaFold2 "default": the shared reference harness (af2_oracle.py) with the shipped RunModel.predict,
    fixed-size padding (508 clusters + 5,120 extra rows), one call: compilation included;
  * AlphaFold2 "best": padding set to the real depth (clusters = min(D, 508), extra = the rest, at least 1),
    two calls in one process, the second timed (compiled, warm);
  * ferrofold: `features` from the same FASTA + A3M, then `predict` with the parameters AlphaFold2 was
    initialised with (its npz, converted by `ferrofold params convert`).

All at model_1_ptm channel widths with --blocks Evoformer blocks (4 extra-MSA blocks) and --recycles
recycles. Wall seconds (the model call for AlphaFold2, the predict stage's model time for ferrofold, and
each whole process), peak RSS of each process (/usr/bin/time), and GFLOP/s of the useful work (FLOPs of the
real sizes, counted by `ferrofold params info --len --depth`; AlphaFold2's default run computes on the
padded sizes, which are counted too). Results: a Markdown table appended to --out, with the machine, the
date and the commands.

Run with the reference harness's virtualenv (../shared/reference/setup.sh):
  /tmp/oracle/venv/bin/python benches/af2_side_by_side.py --sizes 64:32,64:512 --blocks 8 --recycles 1
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

AA = 'ACDEFGHIKLMNPQRSTVWY'


def synthetic_inputs(workdir, length, depth, seed):
    """A random query and `depth - 1` homologues (15-50 % substituted, some gap runs and insertions)."""
    rng = np.random.default_rng(seed)
    query = ''.join(rng.choice(list(AA), length))
    rows = [(f'q{length} synthetic query', query)]
    for i in range(1, depth):
        s = list(query)
        for j in np.flatnonzero(rng.random(length) < rng.uniform(0.15, 0.5)):
            s[j] = rng.choice(list(AA))
        if rng.random() < 0.4:
            a, g = int(rng.integers(0, max(1, length - 10))), int(rng.integers(2, 10))
            s[a:a + g] = ['-'] * len(s[a:a + g])
        out = []
        for c in s:
            out.append(c)
            if rng.random() < 0.015:
                out.append(''.join(rng.choice(list(AA.lower()), int(rng.integers(1, 4)))))
        rows.append((f'h{i} OS=Synthetic OX={2000 + i}', ''.join(out)))
    fasta = os.path.join(workdir, 'query.fasta')
    a3m = os.path.join(workdir, 'query.a3m')
    with open(fasta, 'w') as f:
        f.write(f'>{rows[0][0]}\n{query}\n')
    with open(a3m, 'w') as f:
        for d, s in rows:
            f.write(f'>{d}\n{s}\n')
    return fasta, a3m


def timed(cmd, log):
    """Runs cmd under /usr/bin/time -v; returns (wall s, peak RSS MiB); raises on failure."""
    t = time.time()
    with open(log, 'w') as f:
        f.write(' '.join(cmd) + '\n')
        f.flush()
        r = subprocess.run(['/usr/bin/time', '-v'] + cmd, stdout=f, stderr=subprocess.STDOUT)
    wall = time.time() - t
    text = open(log).read()
    if r.returncode != 0:
        raise SystemExit(f'failed ({r.returncode}): {" ".join(cmd)}; see {log}')
    rss = int(re.search(r'Maximum resident set size \(kbytes\): (\d+)', text).group(1)) / 1024
    return wall, rss


def gflop(ferrofold, model, length, depth):
    out = subprocess.run([ferrofold, 'params', 'info', model, '--len', str(length), '--depth', str(depth),
                          '--num-recycle', '0'], capture_output=True, text=True, check=True).stdout
    return float(re.search(r'gflop_per_iteration\t([0-9.]+)', out).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap.add_argument('--sizes', default='64:32,64:512', help='L:D pairs, comma-separated')
    ap.add_argument('--blocks', type=int, default=8)
    ap.add_argument('--recycles', type=int, default=1)
    ap.add_argument('--oracle', default=os.path.join(repo, '..', 'shared', 'reference', 'af2_oracle.py'))
    ap.add_argument('--ferrofold', default=os.path.join(repo, 'target', 'release', 'ferrofold'))
    ap.add_argument('--work', default='/tmp/ferrofold-af2-bench')
    ap.add_argument('--out', default=os.path.join(here, 'results', 'af2_side_by_side.md'))
    ap.add_argument('--modes', default='default,best,ferrofold')
    a = ap.parse_args()
    modes = a.modes.split(',')
    rows = []
    for spec in a.sizes.split(','):
        length, depth = (int(x) for x in spec.split(':'))
        wd = os.path.join(a.work, f'L{length}_D{depth}')
        os.makedirs(wd, exist_ok=True)
        fasta, a3m = synthetic_inputs(wd, length, depth, seed=length * 1000 + depth)
        common = [sys.executable, a.oracle, '--fasta', fasta, '--a3m', a3m, '--seed', '0',
                  '--evoformer-blocks', str(a.blocks), '--num-recycle', str(a.recycles),
                  '--driver', 'runmodel', '--templates', 'zero']
        res = {'L': length, 'D': depth}
        params = os.path.join(wd, 'af2_best', 'params_model_1_ptm.npz')
        if 'best' in modes or 'ferrofold' in modes:
            clusters = min(depth, 508)
            extra = max(depth - clusters, 1)
            out = os.path.join(wd, 'af2_best')
            # With templates on, AlphaFold2 reserves 4 of max_msa_clusters for template rows.
            wall, rss = timed(common + ['--out', out, '--calls', '2', '--max-msa-clusters', str(clusters + 4),
                                        '--max-extra-msa', str(extra)], os.path.join(wd, 'af2_best.log'))
            t = json.load(open(os.path.join(out, 'timings.json')))
            res['best'] = {'model_s': t['second_call_s'], 'process_s': wall, 'rss_mib': rss}
        if 'default' in modes:
            out = os.path.join(wd, 'af2_default')
            wall, rss = timed(common + ['--out', out, '--calls', '1'], os.path.join(wd, 'af2_default.log'))
            t = json.load(open(os.path.join(out, 'timings.json')))
            res['default'] = {'model_s': t['first_call_s'], 'process_s': wall, 'rss_mib': rss}
            if not os.path.exists(params):
                params = os.path.join(out, 'params_model_1_ptm.npz')
        if 'ferrofold' in modes:
            # Not AlphaFold2's own name, so the configuration is read off the weights (fewer blocks).
            name = f'model_1_ptm_{a.blocks}blocks'
            model = os.path.join(wd, f'{name}.onnx')
            subprocess.run([a.ferrofold, 'params', 'convert', params, '-o', model, '--name', name,
                            '--num-recycle', str(a.recycles)], check=True, capture_output=True)
            ff = os.path.join(wd, 'ferrofold')
            subprocess.run([a.ferrofold, 'features', fasta, '--msa', a3m, '-o', ff, '-q', '--overwrite'],
                           check=True)
            feats = os.path.join(ff, f'q{length}', 'features.h5')
            wall, rss = timed([a.ferrofold, 'predict', feats, '--model', model, '--num-recycle',
                               str(a.recycles), '--no-plots', '--overwrite', '-q'],
                              os.path.join(wd, 'ferrofold.log'))
            t = json.load(open(os.path.join(ff, f'q{length}', 'timings.json')))
            res['ferrofold'] = {'model_s': t[f'predict_and_compile_{name}'], 'process_s': wall,
                                'rss_mib': rss}
            iters = a.recycles + 1
            res['gflop'] = gflop(a.ferrofold, model, length, depth) * iters
            res['gflop_padded'] = gflop(a.ferrofold, model, length, 5628) * iters
        rows.append(res)
        print(json.dumps(res), flush=True)

    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
    lines = [f'\n## {datetime.date.today()} — {os.cpu_count()} cores ({cpu}), {platform.system()}\n',
             f'`{" ".join([os.path.basename(sys.executable)] + sys.argv)}`; model_1_ptm widths, {a.blocks} '
             f'Evoformer + 4 extra-MSA blocks, {a.recycles} recycle(s), random parameters (seed 0), fp32. '
             'Model = the prediction call (AlphaFold2 default: first call, compilation included; best: second '
             'call, padding = real depth) or ferrofold\'s predict stage model time; process = whole command. '
             'GFLOP/s over the useful work (real sizes); AlphaFold2 default computes on 508 + 5,120 padded rows '
             '(its padded-work rate in brackets).\n',
             '| L | D | run | model s | process s | peak RSS MiB | GFLOP/s | ferrofold speed-up (model) | RSS ratio |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        ff = r.get('ferrofold')
        for mode in ('default', 'best', 'ferrofold'):
            if mode not in r:
                continue
            m = r[mode]
            rate = r['gflop'] / m['model_s'] if 'gflop' in r else float('nan')
            extra = f" [{r['gflop_padded'] / m['model_s']:.1f}]" if mode == 'default' and 'gflop' in r else ''
            speed = f"{m['model_s'] / ff['model_s']:.1f}×" if ff and mode != 'ferrofold' else ''
            ratio = f"{ff['rss_mib'] / m['rss_mib']:.2f}" if ff and mode != 'ferrofold' else ''
            name = {'default': 'AlphaFold2 default', 'best': 'AlphaFold2 best case', 'ferrofold': 'ferrofold'}[mode]
            lines.append(f"| {r['L']} | {r['D']} | {name} | {m['model_s']:.1f} | {m['process_s']:.1f} | "
                         f"{m['rss_mib']:.0f} | {rate:.1f}{extra} | {speed} | {ratio} |")
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'a') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
