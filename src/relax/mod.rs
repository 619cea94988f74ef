//! Amber relaxation (AlphaFold2's relax stage, `alphafold/relax/` in v2.3.2) in native Rust: Amber ff99SB as
//! OpenMM ships it, the system OpenMM's `createSystem` builds for AlphaFold2 (X–H bonds constrained, no cutoff,
//! vacuum), harmonic restraints on heavy atoms, analytic forces. OpenMM is the test reference
//! (`tests/reference/make_relax_fixtures.py`).

pub mod energy;
pub mod forcefield;
pub mod hydrogens;
pub mod minimize;
pub mod pipeline;
pub mod structure;
pub mod system;
pub mod violations;

pub use energy::{Energies, Restraints, Term};
pub use forcefield::ForceField;
pub use structure::AllAtomStructure;
pub use system::System;
