//! FASTA reader + AlphaFold2's residue validation + the batch's folder naming, on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.fasta");
    if let Ok(records) = ferrofold::io::fasta::parse_bytes(data, path) {
        let _ = ferrofold::io::fasta::validate_protein(&records, path);
        for r in &records {
            let q = ferrofold::query::Query::from_record(r);
            let _ = q.mapped_to_unknown();
            let name = ferrofold::pipeline::run::sanitize_id(&r.id);
            assert!(!name.contains('/') && !name.starts_with('.') && !name.is_empty());
            let _ = ferrofold::features::make_sequence_features(&q.sequence, &q.description);
        }
    }
});
