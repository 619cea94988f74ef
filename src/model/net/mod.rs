//! The network, by algorithm family of the supplement (Jumper et al. 2021). Each module is a struct
//! that loads its own parameters from a [`Scope`](crate::model::params::weights::Scope) and computes
//! with `forward`.

pub mod alphafold;
pub mod embedders;
pub mod evoformer;
pub mod heads;
pub mod structure_module;
pub mod structure_module_multimer;
pub mod template_embedding;
pub mod template_embedding_multimer;
pub mod trunk;
