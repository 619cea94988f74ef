//! Embedding the whole pipeline in a lab tool, in memory: features for a query (single-sequence mode
//! here; give alignments as in `embed_features`), one model on them, the structure written as PDB.
//!
//! ```text
//! cargo run --release --example embed_predict -- examples/data/opuBA_150.fasta models/ferrofold_demo.onnx out.pdb
//! ```
//!
//! (`ferrofold params demo` writes the demo model, whose weights are random: the structure means
//! nothing, the plumbing is the point.)

use ferrofold::{FeatureBuilder, PredictOptions, Query};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [fasta, model, out] = args.as_slice() else {
        return Err("usage: embed_predict QUERY.fasta MODEL.onnx OUT.pdb".into());
    };
    let query = Query::from_fasta_path(fasta)?;
    let built = FeatureBuilder::single_sequence().build(&query, fasta)?;
    let model = ferrofold::pipeline::params::load(model.as_ref())?;
    let opts = PredictOptions {
        num_recycle: Some(1),
        ..Default::default()
    };
    let (prediction, protein) =
        ferrofold::pipeline::predict::predict_features(&model, &built.features, &opts)?;
    ferrofold::io::pdb::write_path(&protein, out)?;
    let plddt = &prediction.heads.plddt;
    println!(
        "{}: {} residues, mean pLDDT {:.1}, pTM {}, {} iterations -> {out}",
        query.id,
        plddt.len(),
        plddt.mean().unwrap_or(0.0),
        prediction
            .heads
            .pae
            .as_ref()
            .map_or("-".into(), |p| format!("{:.3}", p.ptm)),
        prediction.iterations
    );
    Ok(())
}
