//! Fuzzing entry points: each takes arbitrary bytes and drives one reader as far as it goes, panicking
//! only on a bug. `fuzz/fuzz_targets/*` call these under libFuzzer (`cargo +nightly fuzz run <name>`);
//! `tests/fuzz_regressions.rs` replays the inputs kept in `tests/data/fuzz/<name>/` through them.
#![doc(hidden)]

use std::path::Path;

use crate::features::{
    make_msa_features, make_sequence_features, names, single_sequence_msa, RawFeatures,
    TemplateFeatures,
};
use crate::io::a3m::A3m;
use crate::io::features_h5::{self, Provenance};
use crate::io::h5::edit::{Contents, Data};
use crate::io::stockholm::Stockholm;
use crate::model::input::pipeline::{process_features, PipelineConfig};
use crate::model::params::config::ModelConfig;

fn base() -> (RawFeatures, Provenance) {
    let seq = "MKVLA";
    let sequence = make_sequence_features(seq, "fuzz").unwrap();
    let msa = single_sequence_msa(seq, "fuzz");
    let msa = make_msa_features(&[("fuzz", &msa)]).unwrap();
    let raw = RawFeatures {
        sequence,
        msa,
        templates: TemplateFeatures::empty(seq.len()),
    };
    let prov = Provenance {
        tool: "fuzz".into(),
        query_sequence: seq.into(),
        databases: "[]".into(),
        command: "fuzz".into(),
        input_hash: "0".into(),
        created: "0".into(),
    };
    (raw, prov)
}

/// FASTA reader + AlphaFold2's residue validation + the batch's folder naming, on arbitrary bytes.
pub fn fasta(data: &[u8]) {
    let path = Path::new("fuzz.fasta");
    if let Ok(records) = crate::io::fasta::parse_bytes(data, path) {
        let _ = crate::io::fasta::validate_protein(&records, path);
        for r in &records {
            let q = crate::query::Query::from_record(r);
            let _ = q.mapped_to_unknown();
            let name = crate::pipeline::run::sanitize_id(&r.id);
            assert!(!name.contains('/') && !name.starts_with('.') && !name.is_empty());
            let _ = crate::features::make_sequence_features(&q.sequence, &q.description);
        }
    }
}

/// A3M reader → query columns → AlphaFold2's MSA features, on arbitrary text.
pub fn a3m(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.a3m");
    if let Ok(a3m) = A3m::parse(text, path) {
        if let Ok(msa) = a3m.to_msa(path) {
            let _ = crate::features::make_msa_features(&[("fuzz", &msa)]);
            let mut out = Vec::new();
            let _ = a3m.write(&mut out);
        }
    }
}

/// Stockholm reader, AlphaFold2's truncation and conversion to A3M → MSA features, on arbitrary text.
pub fn stockholm(data: &[u8]) {
    let Some((&limit, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let path = Path::new("fuzz.sto");
    if let Ok(mut sto) = Stockholm::parse(text, path) {
        let _ = sto.to_a3m(Some(limit as usize), path);
        sto.truncate(limit as usize);
        if let Ok(msa) = sto.to_msa(path) {
            let _ = crate::features::make_msa_features(&[("fuzz", &msa)]);
        }
        let mut out = Vec::new();
        let _ = sto.write(&mut out);
    }
}

/// ONNX model container: protobuf decoding, metadata, tensors, then the check against AlphaFold2's
/// parameter schema for the configuration the file claims, on arbitrary bytes.
pub fn onnx(data: &[u8]) {
    if let Ok(m) = crate::model::params::model_file::decode(data, Path::new("fuzz.onnx")) {
        let _ = crate::model::params::schema::check(&m.weights, &m.config);
    }
}

/// PDB and mmCIF reading through pdbtbx into atom37 (our wrapper), on arbitrary bytes.
pub fn structure(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ext = if kind % 2 == 0 { "pdb" } else { "cif" };
    let path = dir.path().join(format!("fuzz.{ext}"));
    std::fs::write(&path, rest).unwrap();
    if let Ok(p) = crate::io::structure::read_path(&path, None) {
        let mut out = Vec::new();
        let _ = crate::io::pdb::write(&p, &mut out);
    }
}

/// A valid `features.h5` for a short query in a fresh folder (kept alive by the returned guard).
fn base_file() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    crate::features::RawFeatures,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.h5");
    let (raw, prov) = base();
    features_h5::write(&path, &raw, &prov).unwrap();
    (dir, path, raw)
}

/// Our validation of what a `features.h5` holds. A valid file for a short query is written first.
/// With an even first byte the input then replaces (or deletes) up to four of its datasets with arrays
/// of any type, rank, shape and contents; with an odd one it overwrites bytes of the file itself (pairs
/// of a position and a value), which exercises the HDF5 reader on damaged metadata and data. Whatever
/// `features_h5::read` accepts must then go through the model's input pipeline without a panic.
pub fn features_h5(data: &[u8]) {
    let (_dir, path, _) = base_file();
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        let mut file = std::fs::read(&path).unwrap();
        let len = file.len();
        for pair in data.chunks(3) {
            if let [hi, lo, v] = *pair {
                let at = (((hi as usize) << 8) | lo as usize) % len;
                file[at] = v;
            }
        }
        std::fs::write(&path, file).unwrap();
    } else {
        let mut c = Contents::read(&path, &[features_h5::attrs::FORMAT_VERSION]).unwrap();
        let mut bytes = data.iter().copied();
        for _ in 0..4 {
            let Some(sel) = bytes.next() else { break };
            let name = names::ALL[sel as usize % names::ALL.len()];
            let kind = bytes.next().unwrap_or(0) % 4;
            let ndim = (bytes.next().unwrap_or(0) % 4) as usize;
            let dims: Vec<usize> = (0..ndim)
                .map(|_| (bytes.next().unwrap_or(1) % 7) as usize)
                .collect();
            let count: usize = dims.iter().product();
            let shape = ndarray::IxDyn(&dims);
            let data = match kind {
                0 => {
                    let v: Vec<i32> = (0..count)
                        .map(|_| bytes.next().unwrap_or(0) as i8 as i32)
                        .collect();
                    Some(Data::I32(
                        ndarray::ArrayD::from_shape_vec(shape, v).unwrap(),
                    ))
                }
                1 => {
                    let v: Vec<f32> = (0..count)
                        .map(|_| {
                            let b = bytes.next().unwrap_or(0);
                            match b {
                                255 => f32::NAN,
                                254 => f32::INFINITY,
                                _ => b as f32 / 16.0 - 4.0,
                            }
                        })
                        .collect();
                    Some(Data::F32(
                        ndarray::ArrayD::from_shape_vec(shape, v).unwrap(),
                    ))
                }
                // Strings are one-dimensional in HDF5 files made by h5py and by ferrofold.
                2 => Some(Data::Strings(
                    (0..dims.first().copied().unwrap_or(1))
                        .map(|_| {
                            let len = bytes.next().unwrap_or(0) % 8;
                            (0..len)
                                .map(|_| (b'A' + bytes.next().unwrap_or(0) % 26) as char)
                                .collect()
                        })
                        .collect(),
                )),
                _ => None, // deleted
            };
            match data {
                Some(d) => c.datasets.insert(name.into(), d),
                None => c.datasets.remove(name),
            };
        }
        c.write(&path).unwrap();
    }
    if let Ok((raw, _)) = features_h5::read(&path) {
        let cfg = PipelineConfig::for_model(&ModelConfig::model_1_ptm());
        let _ = process_features(&raw, &cfg, 1, 0, true);
    }
}

/// Claimed shapes against real sizes: a valid `features.h5` for a short query, then up to four datasets
/// replaced by chunked ones (a few stored values) whose *claimed* shape (any rank, dimensions up to
/// 2^40) differs from what is stored: the rest is the fill value, stored nowhere. `num_alignments`
/// may claim any row count. Whatever `features_h5::read` accepts must go through the input pipeline;
/// nothing may allocate what is only claimed (the fuzzer's RSS limit catches that).
pub fn features_h5_claims(data: &[u8]) {
    let (_dir, path, raw) = base_file();
    let mut c = Contents::read(&path, &[features_h5::attrs::FORMAT_VERSION]).unwrap();
    let mut bytes = data.iter().copied();
    let mut next = || bytes.next().unwrap_or(0);
    let mut claims: Vec<(&str, Vec<usize>, Vec<usize>, crate::io::h5::Kind)> = Vec::new();
    for k in 0..4usize {
        let sel = next();
        if sel == 0 && next() == 0 {
            break;
        }
        let name = names::ALL[sel as usize % names::ALL.len()];
        if claims.iter().any(|(n, ..)| *n == name) {
            continue;
        }
        let ndim = 1 + (next() % 3) as usize;
        // Dimensions from 0 up to 2^40: real sizes, a little more, or absurd.
        let dims: Vec<usize> = (0..ndim)
            .map(|_| match next() % 4 {
                0 => (next() % 8) as usize,
                1 => (next() as usize) << 8,
                2 => 1usize << (20 + next() % 21),
                _ => raw.num_res(),
            })
            .collect();
        // Stored: a distinct small shape (1 + k rows, then ones), chunked by itself.
        let mut stored = vec![1usize; ndim];
        stored[0] = 1 + k;
        let kind = match next() % 3 {
            0 => crate::io::h5::Kind::I32,
            1 => crate::io::h5::Kind::F32,
            _ => crate::io::h5::Kind::Str,
        };
        c.datasets.remove(name);
        claims.push((name, stored, dims, kind));
    }
    let mut writer = c.writer();
    for (name, stored, _, kind) in &claims {
        writer.chunked(name, stored, stored, kind.clone());
    }
    writer.write(&path).unwrap();
    for (_, stored, dims, _) in &claims {
        // Claims whose element count overflows 64 bits are not made (HDF5 refuses such shapes).
        if dims
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
            .is_some_and(|c| c <= 1 << 60)
        {
            let _ = crate::io::h5::edit::claim_shape(&path, stored, dims);
        }
    }
    if let Ok((raw, _)) = features_h5::read(&path) {
        let cfg = PipelineConfig::for_model(&ModelConfig::model_1_ptm());
        let _ = process_features(&raw, &cfg, 1, 0, true);
    }
}

/// Template inputs: with an even first byte the rest is an `.hhr` file (parsed; each hit's query
/// mapping built against a fixed query); with an odd one it is the mmCIF file of the one hit of a fixed
/// `.hhr`, featurised from a temporary folder (CIF syntax, the mmCIF reading, atom placement). Whatever
/// the input, no panic.
pub fn templates(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let query = "MAAHKGAEHHHKAAEHHEQAAKHHHAAAEHHEKGEHEQAAHHADTAYAHHKHAEEHAAQAAKHDAEHHAPKPH";
    if mode % 2 == 0 {
        if let Ok(hits) = crate::io::hhr::parse(text, Path::new("fuzz.hhr")) {
            for h in &hits {
                let _ = crate::templates::query_to_hit_mapping(h, query);
                let _ = crate::templates::pdb_id_and_chain(&h.name);
            }
        }
        return;
    }
    let hhr = "No 1\n>1ABC_A fuzz\nProbab=7.51  E-value=3.8e+02  Score=16.19  Aligned_cols=12  Identities=23%  Similarity=0.398  Sum_probs=13.1  Template_Neff=4.500\n\nQ query             7 AEHHHKAAEHHE   18 (73)\nT 1ABC_A            1 AEHHHKAAEHHE   12 (20)\n";
    let hits = crate::io::hhr::parse(hhr, Path::new("fuzz.hhr")).expect("fixed hits parse");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1abc.cif"), text).unwrap();
    let settings = crate::templates::TemplateSettings {
        mmcif_dir: dir.path().to_path_buf(),
        max_template_date: crate::templates::Date {
            year: 9999,
            month: 12,
            day: 31,
        },
        max_hits: 20,
        kalign: None,
        obsolete: Default::default(),
        tool_timeout: std::time::Duration::from_secs(10),
        style: if mode % 4 == 3 {
            crate::templates::FeaturizerStyle::Hmmsearch
        } else {
            crate::templates::FeaturizerStyle::Hhsearch
        },
    };
    let _ = crate::templates::featurize(query, &hits, &settings);
}

#[cfg(test)]
mod template_seed_tests {
    /// The small mmCIF seed reaches the end of the featuriser: one template.
    #[test]
    fn the_small_mmcif_seed_gives_a_template() {
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/fuzz/templates/seed_cif_small"
        ))
        .unwrap();
        let text = std::str::from_utf8(&data[1..]).unwrap();
        let d = crate::io::cif::parse(text).unwrap();
        let m = crate::templates::mmcif::from_dict("1abc", &d).unwrap();
        assert_eq!(m.seqres("A"), Some("AEHHHKAAEHHE"));
        assert_eq!(m.release_date.as_deref(), Some("2001-02-03"));
    }
}
