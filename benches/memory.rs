//! Memory-estimate sweep: is `--memory-budget` a bound? For a grid of query lengths × MSA rows (the
//! raw alignment before sampling), writes a features file with that many random rows, runs
//! `ferrofold predict` (release build, demo model, no recycling, no plots) as a child process, and
//! compares its peak RSS (`wait4`'s `ru_maxrss`) with the estimate the stage checks against the budget
//! (`model::plan::memory::estimate` at the same sizes). Every estimate must be above its measurement.
//! Writes `benches/results/memory.md`.
//!
//! ```text
//! cargo build --release && cargo bench --bench memory            # the full grid (~2 min)
//! cargo bench --bench memory -- --quick                          # two sizes
//! ```

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ferrofold::features::builder::FeatureBuilder;
use ferrofold::io::features_h5;
use ferrofold::model::plan::memory;
use ferrofold::rng::Rng;
use ferrofold::Query;

fn features_file(path: &Path, len: usize, rows: usize) {
    let mut rng = Rng::new(len as u64 * 1_000_003 + rows as u64);
    let seq: String = (0..len)
        .map(|_| b"ACDEFGHIKLMNPQRSTVWY"[rng.below(20)] as char)
        .collect();
    let query = Query {
        id: "q".into(),
        description: "q".into(),
        sequence: seq,
    };
    let mut built = FeatureBuilder::single_sequence()
        .build(&query, "bench")
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
    msa.deletion_matrix_int =
        ndarray::Array2::from_shape_fn((rows, len), |(r, _)| (r > 0 && rng.below(10) == 0) as i32);
    msa.num_alignments = ndarray::Array1::from_elem(len, rows as i32);
    msa.msa_species_identifiers = (0..rows).map(|r| format!("SPECIES{}", r % 97)).collect();
    features_h5::write(path, &built.features, &Default::default()).unwrap();
}

#[path = "common/util.rs"]
mod util;
use util::{machine, now_utc, peak_rss};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join("target/release/ferrofold");
    assert!(
        bin.is_file(),
        "build the release binary first: cargo build --release"
    );
    let tmp = tempfile::tempdir().unwrap();
    let model_path = tmp.path().join("ferrofold_demo.onnx");
    ferrofold::pipeline::params::ensure_demo_model(&model_path).unwrap();
    let model = ferrofold::pipeline::params::load(&model_path).unwrap();
    let weights: u64 = model
        .weights
        .tensors
        .values()
        .map(|t| t.len() as u64 * 4)
        .sum();
    let grid: Vec<(usize, usize)> = if quick {
        vec![(64, 10_000), (128, 100_000)]
    } else {
        [64usize, 256]
            .iter()
            .flat_map(|&l| [1_000usize, 10_000, 100_000, 300_000].map(|r| (l, r)))
            .collect()
    };
    let mut rows_md = Vec::new();
    let mut all_above = true;
    for (len, rows) in grid {
        let f = tmp.path().join(format!("f_{len}_{rows}.h5"));
        features_file(&f, len, rows);
        let est = memory::estimate(
            &model.config,
            memory::Sizes {
                num_res: len,
                num_alignments: rows,
                iterations: 1,
                threads: 0,
                templates: 0,
            },
            weights,
            1 << 30,
        );
        let t = Instant::now();
        let out = tmp.path().join(format!("p_{len}_{rows}"));
        let (ok, rss) = peak_rss(
            Command::new(&bin)
                .arg("predict")
                .arg(&f)
                .arg("--model")
                .arg(&model_path)
                // The CPU engine, without relaxation (it is not in the model's estimate, and random
                // features give clashing models it refuses). With `--device auto` on a machine with
                // lavapipe, probing the adapter adds ~50 MiB of driver memory the estimate does not
                // hold (the results file has the numbers).
                .args([
                    "--num-recycle",
                    "0",
                    "--no-plots",
                    "--relax",
                    "none",
                    "--device",
                    "cpu",
                ])
                .args(["-q", "-o"])
                .arg(&out)
                .stdout(std::process::Stdio::null()),
        );
        assert!(ok, "predict failed at L={len}, rows={rows}");
        let secs = t.elapsed().as_secs_f64();
        let ratio = est.total as f64 / rss as f64;
        all_above &= est.total > rss;
        let line = format!(
            "| {len} | {rows} | {:.0} | {:.0} | {:.2} | {} | {secs:.1} |",
            est.total as f64 / (1 << 20) as f64,
            rss as f64 / (1 << 20) as f64,
            ratio,
            if est.total > rss { "yes" } else { "**NO**" },
        );
        println!("{line}");
        rows_md.push(line);
        let _ = std::fs::remove_file(&f);
    }
    let machine = machine();
    let when = now_utc();
    let results = root.join("benches/results/memory.md");
    let mut text = std::fs::read_to_string(&results).unwrap_or_else(|_| {
        "# Memory estimate vs measured peak RSS\n\n`ferrofold predict` on random features files (demo model, `--num-recycle 0 --no-plots`), \
         peak RSS from `wait4`; the estimate is `model::plan::memory::estimate` at the same sizes, the number \
         `--memory-budget` is checked against. The estimate must be above the measurement everywhere.\n"
            .to_string()
    });
    text.push_str(&format!(
        "\n## {when}\n\n{machine}, {} cores; `cargo bench --bench memory{}`\n\n| L | MSA rows | estimate MiB | measured MiB | estimate / measured | above | seconds |\n|---|---|---|---|---|---|---|\n{}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if quick { " -- --quick" } else { "" },
        rows_md.join("\n")
    ));
    std::fs::File::create(&results)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap();
    println!("estimate above the measurement everywhere: {all_above}");
    assert!(all_above, "the estimate was below a measurement");
}
