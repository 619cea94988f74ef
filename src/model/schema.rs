//! Every parameter tensor a configuration implies, by AlphaFold2 path and shape, so that a model file can
//! be checked tensor by tensor on load (missing, extra and misshaped tensors are named). Mirrors the
//! parameter layout of DeepMind's monomer code (`params_model_*.npz`, unfused triangle multiplication).

use std::collections::BTreeMap;

use thiserror::Error;

use super::config::ModelConfig;
use super::weights::Weights;

/// Expected tensors: full key → shape.
pub type Schema = BTreeMap<String, Vec<usize>>;

struct Builder<'a> {
    map: &'a mut Schema,
    prefix: String,
    /// Leading block axis of layer-stacked modules.
    stack: Option<usize>,
}

impl Builder<'_> {
    fn at(&mut self, path: &str) -> Builder<'_> {
        Builder {
            map: self.map,
            prefix: format!("{}/{}", self.prefix, path),
            stack: self.stack,
        }
    }

    fn put(&mut self, name: &str, shape: &[usize]) {
        let mut full: Vec<usize> = self.stack.into_iter().collect();
        full.extend_from_slice(shape);
        self.map.insert(format!("{}//{}", self.prefix, name), full);
    }

    fn linear(&mut self, path: &str, c_in: usize, c_out: usize) {
        let mut b = self.at(path);
        b.put("weights", &[c_in, c_out]);
        b.put("bias", &[c_out]);
    }

    fn layer_norm(&mut self, path: &str, c: usize) {
        let mut b = self.at(path);
        b.put("scale", &[c]);
        b.put("offset", &[c]);
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &mut self,
        path: &str,
        c_q: usize,
        c_kv: usize,
        heads: usize,
        key_dim: usize,
        value_dim: usize,
        c_out: usize,
        gating: bool,
    ) {
        let mut b = self.at(path);
        b.put("query_w", &[c_q, heads, key_dim]);
        b.put("key_w", &[c_kv, heads, key_dim]);
        b.put("value_w", &[c_kv, heads, value_dim]);
        if gating {
            b.put("gating_w", &[c_q, heads, value_dim]);
            b.put("gating_b", &[heads, value_dim]);
        }
        b.put("output_w", &[heads, value_dim, c_out]);
        b.put("output_b", &[c_out]);
    }

    fn transition(&mut self, path: &str, c: usize, factor: usize) {
        let mut b = self.at(path);
        b.layer_norm("input_layer_norm", c);
        b.linear("transition1", c, c * factor);
        b.linear("transition2", c * factor, c);
    }

    fn triangle_multiplication(&mut self, path: &str, c_z: usize, ci: usize) {
        let mut b = self.at(path);
        b.layer_norm("layer_norm_input", c_z);
        for p in [
            "left_projection",
            "right_projection",
            "left_gate",
            "right_gate",
        ] {
            b.linear(p, c_z, ci);
        }
        b.layer_norm("center_layer_norm", ci);
        b.linear("output_projection", ci, c_z);
        b.linear("gating_linear", c_z, c_z);
    }

    fn triangle_attention(&mut self, path: &str, c_z: usize, heads: usize, key_dim: usize) {
        let mut b = self.at(path);
        b.layer_norm("query_norm", c_z);
        b.put("feat_2d_weights", &[c_z, heads]);
        b.attention(
            "attention",
            c_z,
            c_z,
            heads,
            key_dim / heads,
            key_dim / heads,
            c_z,
            true,
        );
    }

    fn evoformer_block(&mut self, c_m: usize, c_z: usize, extra: bool, cfg: &ModelConfig) {
        let h = cfg.msa_heads;
        {
            let mut r = self.at("msa_row_attention_with_pair_bias");
            r.layer_norm("query_norm", c_m);
            r.layer_norm("feat_2d_norm", c_z);
            r.put("feat_2d_weights", &[c_z, h]);
            r.attention("attention", c_m, c_m, h, c_m / h, c_m / h, c_m, true);
        }
        if extra {
            let mut g = self.at("msa_column_global_attention");
            g.layer_norm("query_norm", c_m);
            let mut a = g.at("attention");
            let d = c_m / h;
            a.put("query_w", &[c_m, h, d]);
            a.put("key_w", &[c_m, d]);
            a.put("value_w", &[c_m, d]);
            a.put("gating_w", &[c_m, h, d]);
            a.put("gating_b", &[h, d]);
            a.put("output_w", &[h, d, c_m]);
            a.put("output_b", &[c_m]);
        } else {
            let mut c = self.at("msa_column_attention");
            c.layer_norm("query_norm", c_m);
            c.attention("attention", c_m, c_m, h, c_m / h, c_m / h, c_m, true);
        }
        self.transition("msa_transition", c_m, cfg.transition_factor);
        {
            let oc = cfg.outer_product_channels;
            let mut o = self.at("outer_product_mean");
            o.layer_norm("layer_norm_input", c_m);
            o.linear("left_projection", c_m, oc);
            o.linear("right_projection", c_m, oc);
            o.put("output_w", &[oc, oc, c_z]);
            o.put("output_b", &[c_z]);
        }
        self.triangle_multiplication(
            "triangle_multiplication_outgoing",
            c_z,
            cfg.triangle_multiplication_channels,
        );
        self.triangle_multiplication(
            "triangle_multiplication_incoming",
            c_z,
            cfg.triangle_multiplication_channels,
        );
        self.triangle_attention("triangle_attention_starting_node", c_z, cfg.pair_heads, c_z);
        self.triangle_attention("triangle_attention_ending_node", c_z, cfg.pair_heads, c_z);
        self.transition("pair_transition", c_z, cfg.transition_factor);
    }
}

/// The tensors a configuration implies.
pub fn expected(cfg: &ModelConfig) -> Schema {
    let mut map = Schema::new();
    let (c_m, c_z, c_e, c_s) = (
        cfg.msa_channel,
        cfg.pair_channel,
        cfg.extra_msa_channel,
        cfg.seq_channel,
    );
    let mut root = Builder {
        map: &mut map,
        prefix: "alphafold/alphafold_iteration".into(),
        stack: None,
    };
    {
        let mut e = root.at("evoformer");
        e.linear("preprocess_1d", 22, c_m);
        e.linear("preprocess_msa", 49, c_m);
        e.linear("left_single", 22, c_z);
        e.linear("right_single", 22, c_z);
        e.linear("prev_pos_linear", cfg.prev_pos_num_bins, c_z);
        e.layer_norm("prev_msa_first_row_norm", c_m);
        e.layer_norm("prev_pair_norm", c_z);
        e.linear("pair_activiations", 2 * cfg.max_relative_feature + 1, c_z);
        e.linear("extra_msa_activations", 25, c_e);
        e.linear("single_activations", c_m, c_s);
        {
            let mut x = e.at("extra_msa_stack");
            x.stack = Some(cfg.extra_msa_stack_num_block);
            x.evoformer_block(c_e, c_z, true, cfg);
        }
        {
            let mut x = e.at("evoformer_iteration");
            x.stack = Some(cfg.evoformer_num_block);
            x.evoformer_block(c_m, c_z, false, cfg);
        }
        if cfg.templates {
            let tc = cfg.template_pair_channel;
            e.linear("template_single_embedding", 57, c_m);
            e.linear("template_projection", c_m, c_m);
            let mut t = e.at("template_embedding");
            t.attention(
                "attention",
                c_z,
                tc,
                cfg.template_heads,
                tc / cfg.template_heads,
                tc / cfg.template_heads,
                c_z,
                false,
            );
            let mut s = t.at("single_template_embedding");
            s.linear("embedding2d", 88, tc);
            s.layer_norm("output_layer_norm", tc);
            let mut p = s.at("template_pair_stack/__layer_stack_no_state");
            p.stack = Some(cfg.template_pair_blocks);
            p.triangle_multiplication("triangle_multiplication_outgoing", tc, tc);
            p.triangle_multiplication("triangle_multiplication_incoming", tc, tc);
            p.triangle_attention(
                "triangle_attention_starting_node",
                tc,
                cfg.template_heads,
                tc,
            );
            p.triangle_attention("triangle_attention_ending_node", tc, cfg.template_heads, tc);
            p.transition("pair_transition", tc, 2);
        }
    }
    {
        let sc = cfg.structure_channel;
        let mut sm = root.at("structure_module");
        sm.layer_norm("single_layer_norm", c_s);
        sm.layer_norm("pair_layer_norm", c_z);
        sm.linear("initial_projection", c_s, sc);
        let mut f = sm.at("fold_iteration");
        {
            let h = cfg.ipa_heads;
            let mut ipa = f.at("invariant_point_attention");
            ipa.linear("q_scalar", sc, h * cfg.ipa_scalar_qk);
            ipa.linear("kv_scalar", sc, h * (cfg.ipa_scalar_qk + cfg.ipa_scalar_v));
            ipa.linear("q_point_local", sc, h * cfg.ipa_point_qk * 3);
            ipa.linear(
                "kv_point_local",
                sc,
                h * (cfg.ipa_point_qk + cfg.ipa_point_v) * 3,
            );
            ipa.put("trainable_point_weights", &[h]);
            ipa.linear("attention_2d", c_z, h);
            ipa.linear(
                "output_projection",
                h * (c_z + cfg.ipa_scalar_v + cfg.ipa_point_v * 4),
                sc,
            );
        }
        f.layer_norm("attention_layer_norm", sc);
        for k in 0..cfg.structure_transition_layers {
            let name = if k == 0 {
                "transition".to_string()
            } else {
                format!("transition_{k}")
            };
            f.linear(&name, sc, sc);
        }
        f.layer_norm("transition_layer_norm", sc);
        f.linear("affine_update", sc, 6);
        let cc = cfg.sidechain_channel;
        let mut r = f.at("rigid_sidechain");
        r.linear("input_projection", sc, cc);
        r.linear("input_projection_1", c_s, cc); // from the initial (layer-normed) single representation
        for name in ["resblock1", "resblock2", "resblock1_1", "resblock2_1"] {
            r.linear(name, cc, cc);
        }
        r.linear("unnormalized_angles", cc, 14);
    }
    root.linear("distogram_head/half_logits", c_z, cfg.distogram_bins);
    root.linear("experimentally_resolved_head/logits", c_s, 37);
    root.linear("masked_msa_head/logits", c_m, 23);
    if let Some(bins) = cfg.pae_bins {
        root.linear("predicted_aligned_error_head/logits", c_z, bins);
    }
    {
        let sc = cfg.structure_channel;
        let mut l = root.at("predicted_lddt_head");
        l.layer_norm("input_layer_norm", sc);
        l.linear("act_0", sc, cfg.plddt_channels);
        l.linear("act_1", cfg.plddt_channels, cfg.plddt_channels);
        l.linear("logits", cfg.plddt_channels, cfg.plddt_bins);
    }
    map
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
        assert!(p("model_1").templates && p("model_2_ptm").templates && !p("model_3").templates);
        assert_eq!(
            (
                p("model_1").max_extra_msa,
                p("model_2").max_extra_msa,
                p("model_5_ptm").max_extra_msa
            ),
            (5120, 1024, 1024)
        );
        assert_eq!(
            (p("model_1").max_msa_clusters, p("model_4").max_msa_clusters),
            (508, 512)
        );
        assert_eq!(p("model_3").pae_bins, None);
        assert_eq!(p("model_3_ptm").pae_bins, Some(64));
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
