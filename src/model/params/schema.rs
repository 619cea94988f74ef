//! Every parameter tensor a configuration implies, by AlphaFold2 path and shape, so that a model file can
//! be checked tensor by tensor on load (missing, extra and misshaped tensors are named). The schema is not
//! written down anywhere: it is what the network's loaders ask for, recorded by loading the network from a
//! recording scope ([`Scope::recorder`]), so it cannot drift from the code that reads the parameters.
//! It matches the parameter layout of DeepMind's monomer code (`params_model_*.npz`, unfused triangle
//! multiplication; checked against AlphaFold2's own parameter count below).

use std::cell::RefCell;
use std::collections::BTreeMap;

use thiserror::Error;

use crate::model::net::alphafold::AlphaFold;
use crate::model::params::config::ModelConfig;
use crate::model::params::weights::{Scope, Weights};

/// Expected tensors: full key → shape.
pub type Schema = BTreeMap<String, Vec<usize>>;

/// The tensors a configuration implies (for a configuration that passes `ModelConfig::validate`).
pub fn expected(cfg: &ModelConfig) -> Schema {
    let record = RefCell::new(Schema::new());
    AlphaFold::load_scope(cfg, &Scope::recorder(&record, AlphaFold::ROOT))
        .expect("a recording scope serves every tensor");
    record.into_inner()
}

/// A mismatch between weights and configuration, naming the tensor.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    #[error("impossible configuration: {0}")]
    Config(String),
    #[error("missing tensor '{0}'")]
    Missing(String),
    #[error("unexpected tensor '{0}' (not part of this configuration)")]
    Extra(String),
    #[error("tensor '{name}' has shape {found:?}, the configuration needs {expected:?}")]
    Shape {
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
}

/// Checks `w` against `cfg`: every expected tensor present with its shape, nothing else. Returns the
/// first problem in key order.
pub fn check(w: &Weights, cfg: &ModelConfig) -> Result<(), SchemaError> {
    cfg.validate().map_err(SchemaError::Config)?;
    let exp = expected(cfg);
    for (name, shape) in &exp {
        match w.tensors.get(name) {
            None => return Err(SchemaError::Missing(name.clone())),
            Some(t) if t.shape() != shape.as_slice() => {
                return Err(SchemaError::Shape {
                    name: name.clone(),
                    found: t.shape().to_vec(),
                    expected: shape.clone(),
                })
            }
            _ => {}
        }
    }
    if let Some(name) = w.tensors.keys().find(|k| !exp.contains_key(*k)) {
        return Err(SchemaError::Extra(name.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_follow_alphafold2s_config_diffs() {
        let p = |n: &str| ModelConfig::preset(n).unwrap();
        assert!(
            p("model_1").evoformer.templates
                && p("model_2_ptm").evoformer.templates
                && !p("model_3").evoformer.templates
        );
        assert_eq!(
            (
                p("model_1").input.max_extra_msa,
                p("model_2").input.max_extra_msa,
                p("model_5_ptm").input.max_extra_msa
            ),
            (5120, 1024, 1024)
        );
        assert_eq!(
            (
                p("model_1").input.max_msa_clusters,
                p("model_4").input.max_msa_clusters
            ),
            (508, 512)
        );
        assert_eq!(p("model_3").heads.pae_bins, None);
        assert_eq!(p("model_3_ptm").heads.pae_bins, Some(64));
        assert!(ModelConfig::preset("model_6").is_none());
        // model_3 has no template tensors and no PAE head: 338 - 87 template tensors - 2 = 249.
        let n3 = expected(&p("model_3")).len();
        assert!(
            n3 < 338
                && !expected(&p("model_3"))
                    .keys()
                    .any(|k| k.contains("template"))
        );
    }

    #[test]
    fn model_1_ptm_has_alphafold2s_parameter_count() {
        // AlphaFold2's model_1_ptm: 338 arrays, 93,237,338 parameters (reference harness README).
        let s = expected(&ModelConfig::model_1_ptm());
        assert_eq!(s.len(), 338);
        let n: usize = s.values().map(|v| v.iter().product::<usize>()).sum();
        assert_eq!(n, 93_237_338);
    }
}
