#!/usr/bin/env python3
"""Write the pickle fixtures (tests/data/pickle/) read by the tests in src/io/pickle.rs.

Run once per numpy major version (the file names carry it), plus once in the AlphaFold2 venv:

    /tmp/oracle/venv/bin/python make_pickle_fixtures.py      # numpy 1.26 + alphafold: np1_*, af2_real_*, evil_*
    /tmp/np2/bin/python make_pickle_fixtures.py              # numpy 2.x: np2_*

For every valid fixture `X.pkl` it also writes `X.expected`, one line per top-level key:

    key <TAB> kind <TAB> shape <TAB> values

kind is the Rust ArrayData variant (bool i8 u8 i16 u16 i32 i64 u32 u64 f32 f64 bytes str object); shape
is comma-separated ('-' for 0-d); values are in C order, space-separated: integers in decimal, floats as
the hex of their IEEE bits (so NaN, -0.0 and subnormals compare exactly), bytes/str items as 'x' + hex
(str as UTF-8), object items as b:<hex> s:<hex> i:<int> f:<hex64> n (None). Python ints, floats and bools
at the top level are written as 0-d i64 / f64 / bool arrays, as load_array_dict returns them.

Everything is deterministic (no RNG), so fixtures are reproducible bit for bit.
"""
import os
import pickle
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'data', 'pickle')
TAG = 'np%d' % int(np.__version__.split('.')[0])
MAX_SIZE = 20 * 1024

KINDS = {
    'b1': 'bool', 'i1': 'i8', 'u1': 'u8', 'i2': 'i16', 'u2': 'u16', 'i4': 'i32', 'i8': 'i64',
    'u4': 'u32', 'u8': 'u64', 'f4': 'f32', 'f8': 'f64',
}


def _f32_hex(x):
  return '%08x' % struct.unpack('<I', struct.pack('<f', x))[0]


def _f64_hex(x):
  return '%016x' % struct.unpack('<Q', struct.pack('<d', x))[0]


def _obj_item(v):
  if v is None:
    return 'n'
  if isinstance(v, bytes):
    return 'b:' + v.hex()
  if isinstance(v, str):
    return 's:' + v.encode('utf-8').hex()
  if isinstance(v, (bool, np.bool_)):
    raise ValueError('bool object items are not used in fixtures')
  if isinstance(v, int):
    return 'i:%d' % v
  if isinstance(v, float):
    return 'f:' + _f64_hex(v)
  raise ValueError('unsupported object item %r' % (v,))


def expected_line(key, value):
  if isinstance(value, (bool, np.bool_)) and not isinstance(value, np.ndarray):
    value = np.array(bool(value))
  elif isinstance(value, int):
    value = np.array(value, dtype=np.int64)
  elif isinstance(value, float):
    value = np.array(value, dtype=np.float64)
  a = np.asarray(value)  # numpy scalars -> 0-d arrays
  flat = a.ravel(order='C')
  if a.dtype.kind == 'O':
    kind, vals = 'object', [_obj_item(v) for v in flat]
  elif a.dtype.kind == 'S':
    kind, vals = 'bytes', ['x' + bytes(v).hex() for v in flat]
  elif a.dtype.kind == 'U':
    kind, vals = 'str', ['x' + str(v).encode('utf-8').hex() for v in flat]
  else:
    kind = KINDS['%s%d' % (a.dtype.kind, a.dtype.itemsize)]
    if kind == 'f32':
      vals = [_f32_hex(float(v)) for v in flat]
    elif kind == 'f64':
      vals = [_f64_hex(float(v)) for v in flat]
    elif kind == 'bool':
      vals = ['1' if v else '0' for v in flat]
    else:
      vals = ['%d' % int(v) for v in flat]
  shape = ','.join(str(d) for d in a.shape) if a.ndim else '-'
  return '%s\t%s\t%s\t%s' % (key, kind, shape, ' '.join(vals))


def write(name, obj, protocol, expected=True):
  data = pickle.dumps(obj, protocol=protocol)
  assert len(data) < MAX_SIZE, (name, len(data))
  # Round trip through the real unpickler: the fixture must be a pickle Python itself accepts.
  if expected:
    back = pickle.loads(data)
    assert list(back) == list(obj)
  with open(os.path.join(OUT, name + '.pkl'), 'wb') as f:
    f.write(data)
  if expected:
    with open(os.path.join(OUT, name + '.expected'), 'w') as f:
      for k, v in obj.items():
        f.write(expected_line(k, v) + '\n')
  print('%-28s %6d bytes' % (name + '.pkl', len(data)))


# --- AlphaFold2-like feature dict, real feature names and dtypes ---------------------------------
# make_sequence_features / make_msa_features / TemplateHitFeaturizer (alphafold/data/pipeline.py,
# templates.py): aatype int32 one-hot [N,21], between_segment_residues int32 [N], domain_name object
# bytes [1], residue_index int32 [N], seq_length int32 [N] (N repeated), sequence object bytes [1],
# deletion_matrix_int int32 [S,N], msa int32 [S,N], num_alignments int32 [N] (S repeated),
# msa_species_identifiers object bytes [S], template_* float32 / object [T,...], template_sum_probs [T,1].

RESTYPES = 'ARNDCQEGHILKMFPSTWYV'
HHBLITS = 'ACDEFGHIKLMNPQRSTVWYX-'  # residue_constants.HHBLITS_AA_TO_ID: ids 0..21 in this order


def af2_like():
  seq = 'MKVLAX'
  n, s, t = len(seq), 3, 2
  aatype = np.zeros((n, 21), np.int32)
  for i, c in enumerate(seq):
    aatype[i, RESTYPES.index(c) if c in RESTYPES else 20] = 1
  msa_rows = ['MKVLAX', 'MRV-AX', '--VLGX']
  msa = np.array([[HHBLITS.index(c) for c in r] for r in msa_rows], np.int32)
  deletion = np.zeros((s, n), np.int32)
  deletion[1, 2] = 3
  deletion[2, 4] = 1
  t_aatype = np.zeros((t, n, 22), np.float32)
  for k in range(t):
    for i in range(n):
      t_aatype[k, i, (i + 3 * k) % 22] = 1.0
  t_mask = np.zeros((t, n, 37), np.float32)
  t_mask[:, :, :5] = 1.0
  t_mask[1, 0, :] = 0.0
  t_pos = np.zeros((t, n, 37, 3), np.float32)
  # Exactly representable coordinates (multiples of 1/8) on the backbone atoms only, like real
  # templates where most of the 37 atom slots are zero.
  for k in range(t):
    for i in range(n):
      for a in range(4):
        t_pos[k, i, a] = [3.8 * i + 0.125 * a, -1.5 * a + k, 0.125 * (i + a + k)]
  return {
      'aatype': aatype,
      'between_segment_residues': np.zeros((n,), np.int32),
      'domain_name': np.array(['query test'.encode('utf-8')], dtype=np.object_),
      'residue_index': np.array(range(n), dtype=np.int32),
      'seq_length': np.array([n] * n, dtype=np.int32),
      'sequence': np.array([seq.encode('utf-8')], dtype=np.object_),
      'deletion_matrix_int': deletion,
      'msa': msa,
      'num_alignments': np.array([s] * n, dtype=np.int32),
      'msa_species_identifiers': np.array([b'', b'HUMAN', b''], dtype=np.object_),
      'template_aatype': t_aatype,
      'template_all_atom_masks': t_mask,
      'template_all_atom_positions': t_pos,
      'template_domain_names': np.array([b'1abc_A', b'2xyz_B'], dtype=object),
      'template_sequence': np.array([b'MKVLAX', b'MRVLAX'], dtype=object),
      'template_sum_probs': np.array([[12.5], [3.25]], dtype=np.float32),
  }


def misc():
  shared = np.arange(3, dtype=np.float32)
  readonly = np.arange(4, dtype=np.float64) / 4
  readonly.flags.writeable = False
  return {
      'fortran_i16': np.asfortranarray(np.arange(24, dtype=np.int16).reshape(2, 3, 4)),
      'fortran_f64': np.asfortranarray(np.arange(6, dtype=np.float64).reshape(3, 2) - 2.5),
      'fortran_obj': np.asfortranarray(
          np.array([[b'a', b'b', b'c'], [b'd', b'e', b'f']], dtype=object)),
      'big_endian_i4': np.arange(-3, 3, dtype='>i4'),
      'big_endian_f8': np.array([1.5, -2.25, np.nan], dtype='>f8'),
      'big_endian_u2': np.array([1, 258, 65535], dtype='>u2'),
      'fortran_big_endian_f4': np.asfortranarray(np.arange(6, dtype='>f4').reshape(2, 3)),
      'i8': np.array([-128, 0, 127], np.int8),
      'u8': np.array([0, 200, 255], np.uint8),
      'u32': np.array([0, 4000000000], np.uint32),
      'u64': np.array([0, 2**64 - 1], np.uint64),
      'i64': np.array([-2**63, 2**63 - 1], np.int64),
      'bool': np.array([[True, False], [False, True]]),
      'f32_special': np.array([np.nan, -0.0, np.inf, -np.inf, 1e-45, 3.4e38], np.float32),
      'zero_d_i64': np.array(-7, np.int64),
      'zero_d_obj': np.array(b'lonely', dtype=object),
      'scalar_f32': np.float32(2.5),
      'scalar_f64': np.float64(-0.1),
      'scalar_i32': np.int32(-9),
      'scalar_bool': np.bool_(True),
      'py_int': 42,
      'py_neg_int': -100000,
      'py_big_int': 2**40,
      'py_neg_big_int': -2**40 - 1,
      'py_float': 0.1,
      'py_bool': True,
      'empty_f32': np.zeros((0, 3), np.float32),
      'empty_obj': np.zeros((0,), dtype=object),
      'empty_bytes': np.array([], dtype='S3'),
      'S_fixed': np.array([[b'ab', b''], [b'a\x00b', b'xyz']]),
      'U_fixed': np.array(['h\u00e9llo', '', '\U0001f9ecx']),
      'U_big_endian': np.array(['abc', 'd', '\u00ff']).astype('>U3'),
      'obj_mixed': np.array([b'ab', 'str', 3, 2.5, None], dtype=object),
      'non_contiguous': np.arange(10, dtype=np.int32)[::2],
      'readonly_f64': readonly,
      'shared_a': shared,
      'shared_b': shared,
  }


# --- Hostile pickles: nothing here may ever be executed by the reader -----------------------------

class Evil:
  """Unpickling this in Python would run the callable; the reader must refuse the global instead."""

  def __init__(self, fn, args):
    self.fn, self.args = fn, args

  def __reduce__(self):
    return self.fn, self.args


def hostile():
  import builtins
  import subprocess
  ok = np.zeros(2, np.int32)
  out = {
      'evil_os_system_p2': ({'aatype': ok, 'x': Evil(os.system, ('echo pwned',))}, 2),
      'evil_os_system_p4': ({'aatype': ok, 'x': Evil(os.system, ('echo pwned',))}, 4),
      'evil_eval_p4': ({'x': Evil(builtins.eval, ("__import__('os').system('echo pwned')",))}, 4),
      'evil_popen_p5': ({'x': Evil(subprocess.Popen, (['echo', 'pwned'],))}, 5),
      # Inside an object array's item list: items go through the same allow-list.
      'evil_in_object_array_p4': (
          {'sequence': np.array([Evil(os.system, ('echo pwned',))], dtype=object)}, 4),
      # A numpy class that is not a plain ndarray (masked arrays pickle their own reconstructor).
      'masked_array_p4': ({'m': np.ma.masked_array([1, 2], mask=[0, 1])}, 4),
  }
  for name, (obj, proto) in out.items():
    write(name, obj, proto, expected=False)


def af2_real():
  """The real DeepMind code path: pipeline.make_sequence_features + make_msa_features on the
  reference harness's tiny40 inputs, zero-hit template features as TemplateHitFeaturizer writes them,
  pickled with protocol 4 exactly as run_alphafold.py does."""
  from alphafold.data import parsers, pipeline, templates
  ref = '/work/shared/reference/testdata'
  with open(os.path.join(ref, 'tiny40.fasta')) as f:
    seqs, descs = parsers.parse_fasta(f.read())
  seq, desc = seqs[0], descs[0]
  with open(os.path.join(ref, 'tiny40.a3m')) as f:
    msa = parsers.parse_a3m(f.read())
  feats = dict(pipeline.make_sequence_features(sequence=seq, description=desc, num_res=len(seq)))
  feats.update(pipeline.make_msa_features([msa]))
  # TemplateHitFeaturizer.get_templates with no hits: np.array([], dtype=TEMPLATE_FEATURES[name]).
  for name, dtype in templates.TEMPLATE_FEATURES.items():
    feats[name] = np.array([], dtype=dtype)
  write('af2_real_p4', feats, 4)


def main():
  os.makedirs(OUT, exist_ok=True)
  for proto in (2, 4, 5):
    write('%s_af2_like_p%d' % (TAG, proto), af2_like(), proto)
    write('%s_misc_p%d' % (TAG, proto), misc(), proto)
  if TAG == 'np1':
    hostile()
    try:
      import alphafold  # noqa: F401
    except ImportError:
      print('alphafold not importable: af2_real_p4 not written', file=sys.stderr)
    else:
      af2_real()


if __name__ == '__main__':
  main()
