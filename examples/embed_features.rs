//! Embedding the `features` stage in a lab tool: read a query, build AlphaFold2's raw features from
//! precomputed alignments, look at them, and write `features.h5`.
//!
//! ```text
//! cargo run --example embed_features -- tests/data/msas/openfold_query/short.fasta \
//!     tests/data/msas/openfold_query/uniref90_hits.sto tests/data/msas/openfold_query/bfd_uniclust_hits.a3m
//! ```

use ferrofold::features::builder::{FeatureBuilder, MsaInput};
use ferrofold::io::features_h5::{self, Provenance};
use ferrofold::Query;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let fasta = args
        .next()
        .ok_or("usage: embed_features QUERY.fasta [ALIGNMENT.a3m|.sto ...]")?;
    let query = Query::from_fasta_path(&fasta)?;
    let msas: Vec<MsaInput> = args.map(MsaInput::from_path).collect();
    let builder = if msas.is_empty() {
        FeatureBuilder::single_sequence()
    } else {
        FeatureBuilder::from_msas(msas)
    };
    let built = builder.build(&query, &fasta)?;
    for m in &built.msas {
        println!(
            "{:<9} {:>6} rows read, {:>6} used  {}",
            m.role.name(),
            m.rows,
            m.rows_used,
            m.path.display()
        );
    }
    let f = &built.features;
    let with_species = f
        .msa
        .msa_species_identifiers
        .iter()
        .filter(|s| !s.is_empty())
        .count();
    println!(
        "{}: {} residues, {} unique rows ({with_species} with a species)",
        query.id,
        f.num_res(),
        f.num_alignments()
    );

    let out = std::env::temp_dir().join(format!("{}_features.h5", query.id));
    features_h5::write(
        &out,
        f,
        &Provenance {
            tool: ferrofold::TOOL.into(),
            ..Default::default()
        },
    )?;
    let (back, _) = features_h5::read(&out)?;
    assert_eq!(&back, f);
    println!("wrote and re-read {}", out.display());
    Ok(())
}
