//! The stages as library functions over validated options. The CLI only parses arguments into these.

pub mod colabfold;
pub(crate) mod complex;
pub mod db;
pub mod features;
pub mod inspect;
pub mod params;
pub mod predict;
pub mod predict_complex;
pub mod relax;
pub(crate) mod reuse;
pub mod run;
