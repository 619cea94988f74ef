"""Fixtures of `ferrofold score` (tests/data/score/): perturbed copies of shipped experimental structures
and the lDDT each should get, from DeepMind's own lDDT (alphafold.model.lddt, Cα) and an independent
numpy all-atom lDDT written here. TM-score, GDT and RMSD are checked live against the TM-score program
(Debian's tm-align) by tests/it/score.rs, so they are not stored.

Run with the reference harness's virtualenv (numpy + alphafold):
    /tmp/oracle/venv/bin/python tests/reference/make_score_fixtures.py
Deterministic (fixed seeds).
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'data', 'score')
SRC = os.path.join(HERE, '..', 'data', 'structures')


def read(path):
    """ATOM records of the first model, first altloc, as (line, residue key, atom name, xyz)."""
    rows = []
    for line in open(path):
        if line.startswith('ENDMDL'):
            break
        if not line.startswith('ATOM'):
            continue
        if line[16] not in ' A':
            continue
        key = (line[21], int(line[22:26]), line[26])
        xyz = np.array([float(line[30:38]), float(line[38:46]), float(line[46:54])])
        rows.append([line, key, line[12:16].strip(), xyz])
    return rows


def write(path, rows, bfac=None, renumber=0, drop=()):
    with open(path, 'w') as f:
        for line, key, _, xyz in rows:
            if key[1] in drop:
                continue
            b = bfac[key] if bfac is not None else float(line[60:66])
            num = key[1] + renumber
            f.write('%s%4d%s%8.3f%8.3f%8.3f%s%6.2f%s\n' % (
                line[:22], num, line[26:30], xyz[0], xyz[1], xyz[2], line[54:60], b,
                line[66:].rstrip('\n')))
        f.write('END\n')


def rotation(axis, angle):
    axis = axis / np.linalg.norm(axis)
    a, (x, y, z) = angle, axis
    c, s = np.cos(a), np.sin(a)
    return np.array([[c + x * x * (1 - c), x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
                     [y * x * (1 - c) + z * s, c + y * y * (1 - c), y * z * (1 - c) - x * s],
                     [z * x * (1 - c) - y * s, z * y * (1 - c) + x * s, c + z * z * (1 - c)]])


def rigid(rows, rng):
    r = rotation(rng.normal(size=3), rng.uniform(0.5, 2.5))
    t = rng.normal(size=3) * 10
    for row in rows:
        row[3] = r @ row[3] + t


def pseudo_plddt(ref, model):
    """Per residue, 100 minus 15 × the Cα displacement before the rigid motion (clamped): a 'confidence'
    that tracks the error, so the correlation in the report means something."""
    out = {}
    for (a, b) in zip(ref, model):
        if a[2] == 'CA':
            out[a[1]] = float(np.clip(100 - 15 * np.linalg.norm(a[3] - b[3]), 0, 100))
    return {r[1]: out.get(r[1], 50.0) for r in model}


ATOM37 = set('N CA C CB O CG CG1 CG2 OG OG1 SG CD CD1 CD2 ND1 ND2 OD1 OD2 SD CE CE1 CE2 CE3 NE NE1 NE2 '
             'OE1 OE2 CH2 NH1 NH2 OH CZ CZ2 CZ3 NZ OXT'.split())


def lddt_all_atom(ref, model):
    """Global and per-residue all-atom lDDT: pairs of heavy atoms (AlphaFold2's 37 atom names) of
    different residues within 15 Å in the reference, preserved within 0.5/1/2/4 Å."""
    ref = [r for r in ref if r[2] in ATOM37]
    keys = sorted({r[1] for r in ref}, key=lambda k: (k[0], k[1], k[2]))
    idx = {k: i for i, k in enumerate(keys)}
    m_by = {(r[1], r[2]): r[3] for r in model}
    pts = [(idx[r[1]], r[3], m_by.get((r[1], r[2]))) for r in ref]
    kept = np.zeros(len(keys))
    pairs = np.zeros(len(keys))
    for i, (ri, a_ref, a_mod) in enumerate(pts):
        for j, (rj, b_ref, b_mod) in enumerate(pts):
            if ri == rj:
                continue
            d = np.linalg.norm(a_ref - b_ref)
            if d >= 15:
                continue
            pairs[ri] += 1
            if a_mod is not None and b_mod is not None:
                diff = abs(np.linalg.norm(a_mod - b_mod) - d)
                kept[ri] += sum(diff < t for t in (0.5, 1, 2, 4)) / 4
    return float(kept.sum() / pairs.sum()), [float(k / p) if p else None for k, p in zip(kept, pairs)]


def lddt_ca_deepmind(ref, model):
    from alphafold.model import lddt
    ca_r = np.array([r[3] for r in ref if r[2] == 'CA'])[None]
    m_by = {r[1]: r[3] for r in model if r[2] == 'CA'}
    ca_m = np.array([m_by[r[1]] for r in ref if r[2] == 'CA'])[None]
    mask = np.ones((1, ca_r.shape[1], 1))
    g = float(lddt.lddt(ca_m, ca_r, mask, per_residue=False)[0])
    per = [float(x) for x in np.asarray(lddt.lddt(ca_m, ca_r, mask, per_residue=True)[0])]
    return g, per


def case(name, ref_file, perturb, seed, **write_kw):
    rng = np.random.default_rng(seed)
    ref = read(os.path.join(SRC, ref_file))
    model = [[l, k, a, x.copy()] for l, k, a, x in ref]
    perturb(model, rng)
    bfac = pseudo_plddt(ref, model)
    rigid(model, rng)
    path = os.path.join(OUT, name + '.pdb')
    write(path, model, bfac, **write_kw)
    # lDDT of the coordinates as written (rounded to 0.001 Å), so that no pair sits on the other side of
    # a threshold than in the file the test reads.
    model = read(path)
    g_ca, per_ca = (None, None)
    g_all, per_all = (None, None)
    if not write_kw:
        g_ca, per_ca = lddt_ca_deepmind(ref, model)
        g_all, per_all = lddt_all_atom(ref, model)
    return {'model': name + '.pdb', 'reference': ref_file, 'lddt_ca': g_ca, 'lddt_ca_per_residue': per_ca,
            'lddt_all_atom': g_all, 'lddt_all_atom_per_residue': per_all}


def noise(sigma):
    def f(rows, rng):
        for r in rows:
            r[3] = r[3] + rng.normal(scale=sigma, size=3)
    return f


def hinge(first, last, pivot, angle, sigma):
    """Residues first..last rotate about an axis through residue `pivot`'s Cα, then noise on all."""
    def f(rows, rng):
        p = next(r[3] for r in rows if r[1][1] == pivot and r[2] == 'CA')
        rot = rotation(rng.normal(size=3), np.radians(angle))
        for r in rows:
            if first <= r[1][1] <= last:
                r[3] = rot @ (r[3] - p) + p
            r[3] = r[3] + rng.normal(scale=sigma, size=3)
    return f


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = [
        case('1ejg_noise_0.3', '1ejg_crambin.pdb', noise(0.3), 1),
        case('1ejg_noise_1.0', '1ejg_crambin.pdb', noise(1.0), 2),
        case('1ejg_noise_2.5', '1ejg_crambin.pdb', noise(2.5), 3),
        case('1bpi_hinge_25', '1bpi.pdb', hinge(1, 20, 20, 25, 0.4), 4),
        case('1bpi_loop', '1bpi.pdb', hinge(8, 18, 13, 60, 0.5), 5),
        # Renumbered and with 4 residues missing: residues pair by sequence alignment.
        case('1bpi_renumbered', '1bpi.pdb', noise(0.5), 6, renumber=100, drop=(30, 31, 32, 33)),
    ]
    # The renumbered model (no lDDT stored) is checked against the TM-score program only.
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(cases, f, indent=1)


if __name__ == '__main__':
    main()
