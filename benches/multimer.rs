//! Complex vs monomer at the same total length (issue: a 2-chain complex of 2 × 150 residues beside a
//! monomer of 300): `ferrofold features` and `ferrofold predict` (release binary, child processes, one
//! after the other) on
//! * the complex 1A3A A + its mutant (2 × 145 residues; real per-chain alignments from
//!   `tests/data/multimer/`, 1,303 species-paired rows: the pairing and merging are what the complex adds
//!   to the features stage), and one chain of it alone;
//! * predictions of the complex with an AlphaFold-Multimer model and of a 290-residue monomer with the same
//!   number of MSA rows with a monomer model: random weights at AlphaFold2's full widths (c_m 256,
//!   c_z 128, templates), 4 Evoformer blocks + 1 extra-MSA block, one iteration (48 + 4 blocks and 4 to 21
//!   iterations scale the trunk part linearly), each model's own row counts (multimer 508 + 2,048,
//!   model_1_ptm 508 + 5,120, capped by the rows the alignment has);
//! * peak RSS (`wait4`) beside the memory estimate `predict` checks `--memory-budget` against.
//!
//! Writes `benches/results/multimer.md`.
//!
//! ```text
//! cargo build --release && cargo bench --bench multimer
//! ```

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ferrofold::model::params::config::ModelConfig;
use ferrofold::model::params::model_file::{self, ModelFile};
use ferrofold::model::params::weights::Weights;
use ferrofold::model::plan::memory;
use ferrofold::rng::Rng;

#[path = "common/util.rs"]
mod util;
use util::{machine, now_utc, peak_rss};

/// A model file of `cfg`'s architecture with 4 + 1 blocks and random weights.
fn random_model(path: &Path, name: &str, mut cfg: ModelConfig) -> ModelFile {
    cfg.evoformer.num_block = 4;
    cfg.evoformer.extra_msa_num_block = 1;
    cfg.num_recycle = 0;
    let mut weights = Weights::default();
    for (key, shape) in ferrofold::model::params::schema::expected(&cfg) {
        let mut t = ferrofold::model::params::random::param_values(&key, &shape, 7);
        if key.ends_with("transition2//weights")
            || key.ends_with("output_projection//weights")
            || key.ends_with("//output_w")
        {
            t.mapv_inplace(|v| v * 0.1);
        }
        weights.tensors.insert(key, t);
    }
    let m = ModelFile {
        name: name.into(),
        config: cfg,
        weights,
        source_sha256: "generated: benches/multimer.rs".into(),
        license: "random weights".into(),
        weights_sha256: String::new(),
    };
    model_file::write(path, &m).unwrap();
    m
}

/// A monomer features file of `len` random residues with `rows` random MSA rows.
fn monomer_features(path: &Path, len: usize, rows: usize) {
    let mut rng = Rng::new(11);
    let seq: String = (0..len)
        .map(|_| b"ACDEFGHIKLMNPQRSTVWY"[rng.below(20)] as char)
        .collect();
    let q = ferrofold::Query {
        id: "mono".into(),
        description: "mono".into(),
        sequence: seq,
    };
    let mut built = ferrofold::features::builder::FeatureBuilder::single_sequence()
        .build(&q, "bench")
        .unwrap();
    let msa = &mut built.features.msa;
    let q0 = msa.msa.row(0).to_owned();
    msa.msa = ndarray::Array2::from_shape_fn((rows, len), |(r, c)| {
        if r == 0 {
            q0[c]
        } else {
            rng.below(22) as i32
        }
    });
    msa.deletion_matrix_int = ndarray::Array2::zeros((rows, len));
    msa.num_alignments = ndarray::Array1::from_elem(len, rows as i32);
    msa.msa_species_identifiers = vec![String::new(); rows];
    ferrofold::io::features_h5::write(path, &built.features, &Default::default()).unwrap();
}

fn first_sequence(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip_while(|l| !l.starts_with('>'))
        .skip(1)
        .take_while(|l| !l.starts_with('>'))
        .map(str::trim)
        .collect()
}

fn timed(cmd: &mut Command) -> (f64, u64) {
    let t = Instant::now();
    let (ok, rss) = peak_rss(cmd.stdout(std::process::Stdio::null()));
    assert!(ok, "{cmd:?} failed");
    (t.elapsed().as_secs_f64(), rss)
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join("target/release/ferrofold");
    assert!(
        bin.is_file(),
        "build the release binary first: cargo build --release"
    );
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let msas = root.join("tests/data/multimer");
    let a = first_sequence(&msas.join("1a3a_A/bfd_uniclust_hits.a3m"));
    let b = first_sequence(&msas.join("1a3a_Amut/bfd_uniclust_hits.a3m"));
    std::fs::write(
        d.join("complex.fasta"),
        format!(">1a3a_A\n{a}\n>1a3a_Amut\n{b}\n"),
    )
    .unwrap();
    std::fs::write(d.join("chain.fasta"), format!(">1a3a_A\n{a}\n")).unwrap();
    let features = |fasta: &str, extra: &[&str]| {
        let out = d.join(format!("feat_{fasta}"));
        let mut c = Command::new(&bin);
        c.arg("features")
            .arg(d.join(fasta))
            .arg("--msa-dir")
            .arg(&msas)
            .args(["-q", "-o"])
            .arg(&out)
            .args(extra);
        let (secs, _) = timed(&mut c);
        (secs, out)
    };
    let (chain_s, _) = features("chain.fasta", &[]);
    let (complex_s, complex_dir) = features("complex.fasta", &["--complex"]);
    let complex = complex_dir.join("complex/features.h5");
    let (f, _) = ferrofold::io::features_h5::multimer::read(&complex).unwrap();
    let (n, rows) = (f.aatype.len(), f.num_alignments as usize);
    println!(
        "features: one chain {chain_s:.2} s, complex {complex_s:.2} s ({n} residues, {rows} rows)"
    );

    let mono = d.join("mono.h5");
    monomer_features(&mono, n, rows);
    let mm_path = d.join("multimer.onnx");
    let mono_path = d.join("monomer.onnx");
    let mm = random_model(
        &mm_path,
        "bench_multimer",
        ModelConfig::multimer_preset("model_1").unwrap(),
    );
    let m1 = random_model(&mono_path, "bench_model_1_ptm", ModelConfig::model_1_ptm());
    let mut lines = Vec::new();
    for (what, feats, model, m, templates) in [
        (
            "complex 2 × 145, multimer model",
            &complex,
            &mm_path,
            &mm,
            4usize,
        ),
        ("monomer 290, model_1_ptm", &mono, &mono_path, &m1, 0),
    ] {
        let weights: u64 = m.weights.tensors.values().map(|t| t.len() as u64 * 4).sum();
        let est = memory::estimate(
            &m.config,
            memory::Sizes {
                num_res: n,
                num_alignments: rows,
                iterations: 1,
                threads: 0,
                templates,
            },
            weights,
            1 << 30,
        );
        let out = d.join(format!("pred_{}", m.name));
        let (secs, rss) = timed(
            Command::new(&bin)
                .arg("predict")
                .arg(feats)
                .arg("--model")
                .arg(model)
                .args(["--num-recycle", "0", "--no-plots", "-q", "-o"])
                .arg(&out),
        );
        let line = format!(
            "| {what} | {n} | {rows} | {} + {} | {secs:.1} | {:.0} | {:.0} | {:.2} |",
            m.config.input.max_msa_clusters.min(rows),
            m.config
                .input
                .max_extra_msa
                .min(rows.saturating_sub(m.config.input.max_msa_clusters)),
            mib(rss),
            mib(est.total),
            est.total as f64 / rss as f64
        );
        println!("{line}");
        lines.push(line);
    }
    let machine = machine();
    let when = now_utc();
    let results = root.join("benches/results/multimer.md");
    let mut text = std::fs::read_to_string(&results).unwrap_or_else(|_| {
        "# Complexes vs monomers\n\n`cargo bench --bench multimer` (see its header): `features` and `predict` \
         (one iteration, 4 + 1 blocks at full widths, random weights) of a 2-chain complex and of a monomer \
         of the same total length and MSA depth, child processes one after the other; peak RSS from \
         `wait4` beside the estimate `predict` checks `--memory-budget` against.\n"
            .to_string()
    });
    text.push_str(&format!(
        "\n## {when}\n\n{machine}, {} cores\n\nFeatures (`ferrofold features --msa-dir`, precomputed alignments): one chain (1A3A A) \
         {chain_s:.2} s; the complex (1A3A A + mutant, {rows} rows after pairing and merging) {complex_s:.2} s.\n\n\
         | prediction | residues | MSA rows | rows used (cluster + extra) | seconds | peak RSS MiB | estimate MiB | estimate / RSS |\n|---|---|---|---|---|---|---|---|\n{}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        lines.join("\n")
    ));
    std::fs::File::create(&results)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap();
}
