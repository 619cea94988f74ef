//! Model files: DeepMind's npz → ONNX → npz is lossless, the ONNX file carries the configuration and
//! provenance, and loading names any missing, extra, misshaped or non-finite tensor.

use crate::common::{data, ferrofold};
use ferrofold::io::npz::Npz;
use ferrofold::model::params::model_file::{self, ModelFile};
use ferrofold::model::params::schema::SchemaError;
use ferrofold::pipeline::params::{self, ParamsError};

fn tiny_npz() -> std::path::PathBuf {
    data("model/tiny/params_model_1_ptm.npz")
}

#[test]
fn npz_to_onnx_to_npz_is_lossless() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("tiny.onnx");
    let back = dir.path().join("back.npz");
    let r = ferrofold(&[
        "params",
        "convert",
        tiny_npz().to_str().unwrap(),
        "-o",
        onnx.to_str().unwrap(),
        "--name",
        "tiny",
        "--structure-layers",
        "2",
        "--num-recycle",
        "1",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let r = ferrofold(&[
        "params",
        "export",
        onnx.to_str().unwrap(),
        "-o",
        back.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let a = Npz::read_path(tiny_npz()).unwrap();
    let b = Npz::read_path(&back).unwrap();
    assert_eq!(
        a.arrays.keys().collect::<Vec<_>>(),
        b.arrays.keys().collect::<Vec<_>>()
    );
    for (k, x) in &a.arrays {
        let y = &b.arrays[k];
        assert_eq!(x.shape, y.shape, "{k}");
        assert_eq!(x.descr, "<f4");
        assert_eq!(x.data, y.data, "{k} differs after the round trip");
    }
    let m = params::load(&onnx).unwrap();
    assert_eq!(m.name, "tiny");
    assert_eq!(m.config.structure_module.layers, 2);
    assert_eq!(m.config.num_recycle, 1);
    assert_eq!(m.config.evoformer.msa_channel, 32);
    assert_eq!(
        m.source_sha256,
        ferrofold::fsutil::checksum::sha256_file(&tiny_npz()).unwrap()
    );
    let info = ferrofold(&["params", "info", onnx.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&info.stdout).contains("parameters\t585370"));
}

fn tiny_model() -> ModelFile {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("t.onnx");
    params::convert(&tiny_npz(), &onnx, Some("tiny"), |_| {}).unwrap();
    model_file::read(&onnx).unwrap()
}

fn load_after(edit: impl FnOnce(&mut ModelFile)) -> Result<ModelFile, ParamsError> {
    let mut m = tiny_model();
    edit(&mut m);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("edited.onnx");
    model_file::write(&p, &m).unwrap();
    params::load(&p)
}

const KEY: &str =
    "alphafold/alphafold_iteration/evoformer/evoformer_iteration/outer_product_mean//output_w";

#[test]
fn loading_names_missing_extra_and_misshaped_tensors() {
    let e = load_after(|m| {
        m.weights.tensors.remove(KEY);
    })
    .unwrap_err();
    assert!(
        matches!(&e, ParamsError::Schema { source: SchemaError::Missing(k), .. } if k == KEY),
        "{e}"
    );
    let e = load_after(|m| {
        m.weights.tensors.insert(
            "alphafold/bogus//w".into(),
            ndarray::ArrayD::zeros(ndarray::IxDyn(&[2])),
        );
    })
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("unexpected tensor 'alphafold/bogus//w'"),
        "{e}"
    );
    let e = load_after(|m| {
        m.weights.tensors.insert(
            KEY.into(),
            ndarray::ArrayD::zeros(ndarray::IxDyn(&[2, 32, 16, 16])),
        );
    })
    .unwrap_err();
    assert!(
        e.to_string().contains(KEY) && e.to_string().contains("[2, 32, 16, 16]"),
        "{e}"
    );
    let e = load_after(|m| {
        m.config.evoformer.num_block = 3;
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("evoformer_iteration") && e.to_string().contains("shape [2,"),
        "{e}"
    );
}

#[test]
fn non_finite_weights_and_foreign_files_are_refused() {
    let e = load_after(|m| {
        m.weights.tensors.get_mut(KEY).unwrap()[[0, 0, 0, 0]] = f32::NAN;
    })
    .unwrap_err();
    assert!(
        e.to_string().contains(KEY) && e.to_string().contains("non-finite"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.onnx");
    std::fs::write(
        &junk,
        b"\x08\x07garbage that is not protobuf \xff\xff\xff\xff",
    )
    .unwrap();
    let r = ferrofold(&["params", "info", junk.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("junk.onnx"), "{err}");
    // A valid ONNX model that is not a ferrofold model file.
    let foreign = dir.path().join("foreign.onnx");
    let bytes = prost::Message::encode_to_vec(&model_file::proto::ModelProto {
        ir_version: Some(9),
        ..Default::default()
    });
    std::fs::write(&foreign, bytes).unwrap();
    let e = params::load(&foreign).unwrap_err().to_string();
    assert!(
        e.contains("not a ferrofold model file") && e.contains("ferrofold.format_version"),
        "{e}"
    );
    // Truncated file.
    let good = dir.path().join("good.onnx");
    params::convert(&tiny_npz(), &good, Some("tiny"), |_| {}).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(params::load(&cut)
        .unwrap_err()
        .to_string()
        .contains("cut.onnx"));
}

#[test]
fn preset_name_with_wrong_sizes_is_refused() {
    // The tiny file is named like model_1_ptm, but its sizes are not AlphaFold2's.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.onnx");
    let r = ferrofold(&[
        "params",
        "convert",
        tiny_npz().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("the configuration needs"));
    assert!(!out.exists(), "nothing written");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temporary left"
    );
}

/// Issue 14 (9): a bit flipped in the weights of a model file is detected (the weights' SHA-256 is
/// recorded in the file), not used silently; a file without the record (older ferrofold) still reads.
#[test]
fn a_bit_flipped_in_the_weights_is_detected() {
    use ferrofold::model::params::model_file::{meta, proto};
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.onnx");
    model_file::write(&path, &tiny_model()).unwrap();
    let good = std::fs::read(&path).unwrap();
    let mut m = proto::ModelProto::decode(good.as_slice()).unwrap();
    let t = &mut m.graph.as_mut().unwrap().initializer[3];
    let raw = t.raw_data.as_mut().unwrap();
    let mid = (raw.len() / 2) & !3; // the lowest mantissa bit of one value: still a finite number
    raw[mid] ^= 1;
    let flipped = dir.path().join("flipped.onnx");
    std::fs::write(&flipped, m.encode_to_vec()).unwrap();
    let e = params::load(&flipped).unwrap_err().to_string();
    assert!(
        e.contains("flipped.onnx") && e.contains("recorded checksum") && e.contains("corrupted"),
        "{e}"
    );
    // Without the record the same file is read (files from before it existed).
    m.metadata_props
        .retain(|p| p.key.as_deref() != Some(meta::WEIGHTS_SHA256));
    std::fs::write(&flipped, m.encode_to_vec()).unwrap();
    params::load(&flipped).unwrap();
}
