"""Tests of the Python package (run by .ci/run after building the wheel with maturin):
round trips, bit-for-bit equality with the CLI, AlphaFold2 parity through Python, exceptions with the
library's messages, GIL release and Ctrl-C."""
import os
import subprocess
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import ferrofold

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
BIN = os.environ.get("FERROFOLD_BIN", str(ROOT / "target" / "debug" / "ferrofold"))
MSAS = DATA / "msas" / "2q2k_A"


def features_2q2k():
    q = ferrofold.Query.from_fasta(MSAS / "query.fasta")
    msas = [MSAS / f for f in ("uniref90_hits.sto", "bfd_uniclust_hits.a3m", "mgnify_hits.sto")]
    return ferrofold.Features.build(q, msas)


def test_features_equal_deepminds_and_round_trip(tmp_path):
    f = features_2q2k()
    want = np.load(MSAS / "af2_features.npz")
    for k in ("aatype", "msa", "deletion_matrix_int", "residue_index", "num_alignments"):
        assert np.array_equal(f[k], want[k].astype(np.int32)), k
    assert f["msa_species_identifiers"] == [s.decode() for s in want["msa_species_identifiers"]]
    f.save(tmp_path / "f.h5")
    g = ferrofold.Features.load(tmp_path / "f.h5")
    h = ferrofold.Features.from_dict({k: f[k] for k in f})
    for x in (g, h):
        assert sorted(x.keys()) == sorted(f.keys())
        for k in f:
            a, b = f[k], x[k]
            assert (np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b), k
    p = ferrofold.Features.load(DATA / "pickle" / "af2_real_p4.pkl")
    assert p.num_res == 40 and p["template_aatype"].shape == (0, 40, 22)


def test_predict_equals_the_cli_bit_for_bit(tmp_path):
    f = ferrofold.Features.build(ferrofold.Query.from_fasta(MSAS / "query.fasta"))
    f.save(tmp_path / "features.h5")
    out = tmp_path / "out"
    subprocess.run([BIN, "predict", str(tmp_path / "features.h5"), "--demo-model", "--seed", "3",
                    "-o", str(out), "-q"], check=True)
    p = ferrofold.Model.demo().predict(f, seed=3)
    with h5py.File(out / "result_ferrofold_demo_pred_0.h5", "r") as r:
        assert np.array_equal(p.atom_positions, r["final_atom_positions"][()])
        assert np.array_equal(p.plddt, r["plddt"][()])
        assert np.array_equal(p.pae, r["predicted_aligned_error"][()])
        assert np.array_equal(p.distogram_logits, r["distogram_logits"][()])
        assert p.ptm == r["ptm"][()]
    assert p.to_pdb() == (out / "unrelaxed_ferrofold_demo_pred_0.pdb").read_text()
    # The arrays were handed to numpy once: every access returns the same object.
    assert p.atom_positions is p.atom_positions and p.plddt is p.plddt
    p.save(tmp_path / "saved")
    assert np.array_equal(np.load(tmp_path / "saved" / "result.npz")["plddt"], p.plddt)


def test_predict_on_the_gpu_engine():
    # CI's adapter is lavapipe (software Vulkan): "gpu" uses it, "auto" would not.
    f = ferrofold.Features.build(ferrofold.Query.from_fasta(MSAS / "query.fasta"))
    m = ferrofold.Model.demo()
    gpu = m.predict(f, seed=3, device="gpu")
    cpu = m.predict(f, seed=3, device="cpu")
    assert np.abs(gpu.atom_positions - cpu.atom_positions).max() <= 1e-3
    assert np.abs(gpu.plddt - cpu.plddt).max() <= 0.01
    with pytest.raises(ValueError, match="tpu"):
        m.predict(f, device="tpu")


def test_processed_features_match_alphafold2(tmp_path):
    base = DATA / "model" / "small"
    model = tmp_path / "small.onnx"
    subprocess.run([BIN, "params", "convert", str(base / "params_model_1_ptm.npz"), "-o", str(model),
                    "--name", "small", "--structure-layers", "2"], check=True, capture_output=True)
    p = ferrofold.Model.load(model).predict_processed(base / "processed_features.npz")
    want = np.load(base / "outputs.npz")
    mask = want["final_atom_mask"] > 0.5
    assert np.abs(p.atom_positions[mask] - want["final_atom_positions"][mask]).max() <= 1e-3
    assert np.abs(p.plddt - want["plddt"]).max() <= 0.01
    assert np.abs(p.pae - want["predicted_aligned_error"]).max() <= 0.01
    assert abs(p.ptm - float(want["ptm"])) <= 1e-4


def test_errors_are_exceptions_with_the_librarys_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        ferrofold.Features.load(tmp_path / "nope.h5")
    with pytest.raises(ValueError, match="posix.system"):
        ferrofold.Features.load(DATA / "pickle" / "evil_os_system_p4.pkl")
    f = features_2q2k()
    d = {k: f[k] for k in f}
    d["msa"] = d["msa"][:, :-1]
    with pytest.raises(ValueError, match="'msa'"):
        ferrofold.Features.from_dict(d)
    d = {k: f[k] for k in f}
    d["template_aatype"] = np.full((1, f.num_res, 22), np.nan, np.float32)
    d["template_all_atom_masks"] = np.zeros((1, f.num_res, 37), np.float32)
    d["template_all_atom_positions"] = np.zeros((1, f.num_res, 37, 3), np.float32)
    d["template_domain_names"] = ["x"]
    d["template_sequence"] = ["x"]
    d["template_sum_probs"] = np.zeros((1, 1), np.float32)
    with pytest.raises(ValueError, match="non-finite"):
        ferrofold.Features.from_dict(d)
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bogus.onnx"):
        ferrofold.Model.load(bogus)
    with pytest.raises(ValueError, match="'Z'|letter|residue"):
        ferrofold.Query("q", "MK1Z")


def test_the_gil_is_released_and_ctrl_c_stops_a_prediction():
    f = features_2q2k()
    m = ferrofold.Model.demo()
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.005)

    t = threading.Thread(target=ticker)
    t.start()
    started = time.monotonic()
    m.predict(f, num_recycle=3)
    elapsed = time.monotonic() - started
    stop.set()
    t.join()
    during = [x for x in ticks if started < x < started + elapsed]
    assert len(during) >= 3, f"{len(during)} ticks in {elapsed:.2f} s"

    # A progress callback that raises stops the prediction with its exception.
    def boom(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        m.predict(f, progress=boom)
    # And a real Ctrl-C (SIGINT to this thread) at the next block. Python's own handler is installed
    # first: a process started in the background by a non-interactive shell inherits SIGINT ignored, and
    # interrupt_main() then does nothing.
    import _thread
    import signal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Timer(0.05, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt):
        m.predict(f, num_recycle=20)


def test_relax_writes_the_same_model_as_the_cli(tmp_path):
    src = DATA / "relax" / "1bpi_input.pdb"
    m = ferrofold.relax(src, tmp_path / "py")
    assert m["remaining_violations_count"] == 0
    assert m["final_energy"] < m["initial_energy"]
    assert len(m["remaining_violations"]) == 58
    subprocess.run([BIN, "relax", "-q", str(src), "-o", str(tmp_path / "cli")], check=True)
    assert Path(m["pdb"]).read_bytes() == (tmp_path / "cli" / "relaxed_1bpi_input.pdb").read_bytes()
    # Reused on a second call; bad input is a ValueError naming the residue.
    assert ferrofold.relax(src, tmp_path / "py")["input_sha256"] == m["input_sha256"]
    cut = tmp_path / "cut.pdb"
    cut.write_text("".join(l for l in src.read_text().splitlines(True)
                           if not (l.startswith("ATOM") and l[22:26].strip() == "4" and l[12:16].strip() == "CB")))
    with pytest.raises(ValueError, match="CB"):
        ferrofold.relax(cut, tmp_path / "bad")
