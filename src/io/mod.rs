//! File formats: one reader/writer pair per format, each with its own error type that names the file,
//! the line and the field that failed.

pub mod a3m;
pub mod cif;
pub mod colabfold;
pub mod confidence;
pub mod fasta;
pub mod features_h5;
pub mod features_pkl;
pub mod h5;
pub mod hhr;
pub mod mmcif;
pub mod msa;
pub mod npz;
pub mod pdb;
pub mod pickle;
pub mod results_h5;
pub mod stockholm;
pub mod structure;
