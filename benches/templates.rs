//! Template featurisation time per target: the OpenFold query's real `pdb70_hits.hhr` (10 hits) taken
//! twice, so that 20 hits reach the featuriser (AlphaFold2's `max_hits`), against the 8 test mmCIF files
//! (gzipped, as `pdb_mmcif` is usually kept). With `--usable-only` the two 1HF9 hits (no mmCIF file:
//! DeepMind's featuriser raises on them) are left out, so the 18 hits are those
//! `benches/templates_deepmind.py` gives DeepMind's featuriser, for a side-by-side ratio. Each hit's structure is read, parsed and placed on the query;
//! the first of `--repeats` runs (default 5), the best and the median are printed as one JSON line
//! (ferrofold keeps no structures between runs; DeepMind's featuriser caches parsed files across calls, so
//! compare first runs).
//!
//! ```text
//! cargo bench --bench templates
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn main() {
    let repeats: usize = std::env::args()
        .skip_while(|a| a != "--repeats")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let text = std::fs::read_to_string(data("msas/openfold_query/pdb70_hits.hhr")).unwrap();
    let mut hits = ferrofold::io::hhr::parse(&text, Path::new("pdb70_hits.hhr")).unwrap();
    let twice = hits.clone();
    hits.extend(twice);
    if std::env::args().any(|a| a == "--usable-only") {
        hits.retain(|h| !h.name.starts_with("1HF9"));
    }
    let query = ferrofold::Query::from_fasta_path(data("msas/openfold_query/short.fasta"))
        .unwrap()
        .sequence;
    let settings = ferrofold::templates::TemplateSettings {
        mmcif_dir: data("templates/mmcif"),
        max_template_date: "2021-11-01".parse().unwrap(),
        max_hits: 20,
        kalign: ferrofold::search::tools::find("kalign", None, "kalign").ok(),
        obsolete: Default::default(),
        tool_timeout: std::time::Duration::from_secs(60),
        style: Default::default(),
    };
    let mut times = Vec::new();
    let mut used = 0;
    for _ in 0..repeats {
        let t = Instant::now();
        let (f, _) = ferrofold::templates::featurize(&query, &hits, &settings).unwrap();
        times.push(t.elapsed().as_secs_f64());
        used = f.count();
    }
    let first = times[0];
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"hits\": {}, \"templates\": {used}, \"repeats\": {repeats}, \"first_s\": {first:.3}, \"best_s\": {:.3}, \"median_s\": {:.3}, \"per_hit_ms\": {:.1}}}",
        hits.len(),
        times[0],
        times[times.len() / 2],
        times[times.len() / 2] * 1e3 / hits.len() as f64
    );
}
