#!/usr/bin/env python3
"""Checks a ferrofold model file with the official ONNX tooling: `onnx.checker.check_model(full_check=True)`
passes, and every initializer equals the tensor of the same name in DeepMind's .npz it was converted from.

    pip install onnx numpy
    ferrofold params convert params_model_1_ptm.npz -o model_1_ptm.onnx
    python tests/reference/check_onnx.py model_1_ptm.onnx params_model_1_ptm.npz
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main(onnx_path, npz_path):
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model, full_check=True)
    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    ref = np.load(npz_path)
    assert sorted(tensors) == sorted(ref.files), "tensor names differ"
    for k in ref.files:
        assert tensors[k].dtype == np.float32 and np.array_equal(tensors[k], ref[k]), k
    meta = {p.key: p.value for p in model.metadata_props}
    print(f"ok: check_model passed, {len(tensors)} tensors equal, model {meta.get('ferrofold.model_name')}, "
          f"format {meta.get('ferrofold.format_version')}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
