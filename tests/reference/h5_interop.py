"""HDF5 interoperability checks for ferrofold's files, run by tests/it/hdf5_interop.rs with h5py
(FERROFOLD_CIF_PYTHON's Python; .ci/run installs a pinned h5py, which carries its own libhdf5).

  h5_interop.py dump FILE            every dataset and root attribute as JSON (dtype, shape, values)
  h5_interop.py rewrite SRC DEST M   the same content written by h5py/libhdf5 in another layout:
      M = gzip     chunked datasets, gzip + shuffle, variable-length strings, h5py's default format
      M = v114     HDF5 1.14's newest format (libver=('earliest', 'v114')), chunked + gzip
      M = fixed    contiguous datasets, fixed-width byte strings (numpy 'S'), attributes as numpy bytes
      M = latest   the newest format of the h5py's libhdf5 (with HDF5 2.0: data layout version 5, which
                   ferrofold refuses with a message; tests/data/hdf5/ keeps one such file, made with h5py
                   3.16 / HDF5 2.0.0 from the reference harness's virtualenv)
"""
import json
import sys

import h5py
import numpy as np


def value(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray):
        return [value(x) for x in v.tolist()] if v.dtype.kind in "OS" else v.tolist()
    if isinstance(v, (list, tuple)):
        return [value(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def dump(path):
    out = {"datasets": {}, "attrs": {}}
    with h5py.File(path, "r") as f:
        for name, ds in f.items():
            data = ds[()]
            if ds.dtype.kind in "OS":
                data = np.array([x.decode("utf-8") if isinstance(x, bytes) else x for x in data.ravel()])
            out["datasets"][name] = {
                "dtype": str(ds.dtype) if ds.dtype.kind not in "OS" else "string",
                "shape": list(ds.shape),
                "values": value(np.asarray(data)) if ds.dtype.kind not in "OS" else data.tolist(),
            }
        for k, v in f.attrs.items():
            out["attrs"][k] = value(v)
    json.dump(out, sys.stdout)


def rewrite(src, dest, mode):
    libver = {"v114": ("earliest", "v114"), "latest": "latest"}.get(mode, "earliest")
    with h5py.File(src, "r") as f, h5py.File(dest, "w", libver=libver) as g:
        for name, ds in f.items():
            data = ds[()]
            if ds.dtype.kind in "OS":
                strings = [x if isinstance(x, bytes) else str(x).encode() for x in data]
                if mode == "fixed":
                    width = max([len(s) for s in strings] + [1])
                    g.create_dataset(name, data=np.array(strings, dtype=f"S{width}"))
                else:
                    kw = {"chunks": True, "compression": "gzip", "maxshape": (None,)}
                    g.create_dataset(name, data=np.array([s.decode() for s in strings], dtype=object),
                                     dtype=h5py.string_dtype(), **kw)
            elif mode == "fixed":
                g.create_dataset(name, data=data)
            else:
                kw = {"chunks": True, "compression": "gzip", "shuffle": True} if data.size else {}
                g.create_dataset(name, data=data, **kw)
        for k, v in f.attrs.items():
            if isinstance(v, str) and mode == "fixed":
                g.attrs[k] = np.bytes_(v.encode())
            else:
                g.attrs[k] = v


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(sys.argv[2])
    else:
        rewrite(sys.argv[2], sys.argv[3], sys.argv[4])
