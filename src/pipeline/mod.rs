//! The stages as library functions over validated options. The CLI only parses arguments into these.

pub mod db;
pub mod features;
pub mod hash;
pub mod inspect;
pub mod params;
pub mod predict;
pub mod run;
