//! One iteration of the trunk: Jumper et al. (2021) Suppl. Alg. 2 "Inference" lines 5-17 without the
//! structure module: embeddings (Alg. 3-5), recycling (Alg. 32), extra-MSA stack (Alg. 18-19), Evoformer
//! (Alg. 6) and the single-representation projection (Alg. 2 line 17).
//! Template models (model_1/2) add the template pair embedding after relpos (Alg. 2 lines 9-13) and the
//! template torsion rows below the MSA for the Evoformer (lines 7-8); the rows are dropped again from the
//! MSA representation the Evoformer returns, as AlphaFold2 does.

use ndarray::{Array2, Array3, Axis};

use crate::model::input::trunk_inputs::{ChainIds, Recycled, TrunkInputs};
use crate::model::net::embedders::{ExtraMsaEmbedder, InputEmbedder, RecyclingEmbedder, RelPos};
use crate::model::net::evoformer::{Activations, EvoformerStack, StackKind};
use crate::model::net::template_embedding::TemplateEmbedding;
use crate::model::net::template_embedding_multimer::MultimerTemplateEmbedding;
use crate::model::ops::primitives::Linear;
use crate::model::params::config::{ModelConfig, ModelKind, RuntimeOptions};
use crate::model::params::weights::{Scope, WeightError};

/// The trunk's outputs for one iteration.
#[derive(Debug, Clone)]
pub struct TrunkOutput {
    /// `[S, N, c_m]`
    pub msa: Array3<f32>,
    /// `[N, N, c_z]`
    pub pair: Array3<f32>,
    /// `[N, c_s]`
    pub single: Array2<f32>,
}

impl TrunkOutput {
    /// `[N, c_m]`, the first MSA row (recycled).
    pub fn msa_first_row(&self) -> Array2<f32> {
        self.msa.index_axis(Axis(0), 0).to_owned()
    }
}

/// Everything below `alphafold_iteration/evoformer`.
#[derive(Debug, Clone)]
pub struct Trunk<'w> {
    pub input_embedder: InputEmbedder<'w>,
    pub recycling_embedder: RecyclingEmbedder<'w>,
    pub relpos: RelPos<'w>,
    pub extra_msa_embedder: ExtraMsaEmbedder<'w>,
    pub extra_msa_stack: EvoformerStack<'w>,
    pub evoformer: EvoformerStack<'w>,
    pub single_activations: Linear<'w>,
    /// model_1/2 and the multimer models only.
    pub template_embedding: Option<Templates<'w>>,
}

/// The template module of a monomer model or of AlphaFold-Multimer (one per loaded network: the size
/// difference of the variants does not matter).
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Templates<'w> {
    Monomer(TemplateEmbedding<'w>),
    Multimer(MultimerTemplateEmbedding<'w>),
}

impl<'w> Templates<'w> {
    /// The monomer models' template module, if this is one.
    pub fn as_monomer(&self) -> Option<&TemplateEmbedding<'w>> {
        match self {
            Self::Monomer(t) => Some(t),
            Self::Multimer(_) => None,
        }
    }
}

impl<'w> Trunk<'w> {
    /// Below the `alphafold_iteration` scope.
    pub fn load(root: &Scope<'w>, cfg: &ModelConfig) -> Result<Self, WeightError> {
        let evo = root.sub("evoformer");
        Ok(Self {
            input_embedder: InputEmbedder::load(&evo, cfg)?,
            recycling_embedder: RecyclingEmbedder::load(&evo, cfg)?,
            relpos: RelPos::load(&evo, cfg)?,
            extra_msa_embedder: ExtraMsaEmbedder::load(&evo, cfg)?,
            extra_msa_stack: EvoformerStack::load(
                &evo.sub("extra_msa_stack"),
                StackKind::ExtraMsa,
                cfg.evoformer.extra_msa_num_block,
                cfg,
            )?,
            evoformer: EvoformerStack::load(
                &evo.sub("evoformer_iteration"),
                StackKind::Evoformer,
                cfg.evoformer.num_block,
                cfg,
            )?,
            single_activations: Linear::load(
                &evo.sub("single_activations"),
                cfg.evoformer.msa_channel,
                cfg.evoformer.seq_channel,
            )?,
            template_embedding: match (cfg.evoformer.templates, cfg.kind) {
                (false, _) => None,
                (true, ModelKind::Monomer) => {
                    Some(Templates::Monomer(TemplateEmbedding::load(&evo, cfg)?))
                }
                (true, ModelKind::Multimer) => Some(Templates::Multimer(
                    MultimerTemplateEmbedding::load(&evo, cfg)?,
                )),
            },
        })
    }

    /// Runs embeddings, recycling, the extra-MSA stack and the Evoformer for one iteration.
    pub fn forward(&self, x: &TrunkInputs, prev: &Recycled, rt: &RuntimeOptions) -> TrunkOutput {
        let n = x.num_res();
        let templates = self
            .template_embedding
            .as_ref()
            .filter(|_| x.templates.count() > 0);
        // Template rows go below the MSA: room for them is allocated with it.
        let t_rows = templates.map_or(0, |_| x.templates.count());
        let (mut msa, mut pair) = self.input_embedder.forward_with_room(x, t_rows);
        let aatype: Vec<i32> = x.aatype.to_vec();
        self.recycling_embedder
            .forward(&mut msa, &mut pair, prev, &aatype);
        self.relpos
            .forward(&mut pair, &x.residue_index.to_vec(), x.chains.as_ref());

        let seq_mask = &x.seq_mask;
        let pair_mask = Array2::from_shape_fn((n, n), |(i, j)| seq_mask[i] * seq_mask[j]);
        if let Some(te) = templates {
            let update = match te {
                Templates::Monomer(te) => te.pair_update(&pair, &x.templates, &pair_mask, rt),
                Templates::Multimer(te) => {
                    let one_chain;
                    let chains = match &x.chains {
                        Some(c) => c,
                        None => {
                            one_chain = ChainIds::single(n);
                            &one_chain
                        }
                    };
                    te.pair_update(&pair, &x.templates, chains, &pair_mask, rt)
                }
            };
            pair += &update;
        }

        let extra = self.extra_msa_embedder.forward(x);
        let mut act = Activations { msa: extra, pair };
        self.extra_msa_stack
            .forward(&mut act, &x.extra_msa_mask, &pair_mask, rt);

        let num_msa = msa.dim().0 - t_rows;
        let msa_mask = match templates {
            Some(te) => {
                let (rows, rows_mask) = match te {
                    Templates::Monomer(te) => te.msa_rows(&x.templates),
                    Templates::Multimer(te) => te.msa_rows(&x.templates),
                };
                msa.slice_mut(ndarray::s![num_msa.., .., ..]).assign(&rows);
                ndarray::concatenate(Axis(0), &[x.msa_mask.view(), rows_mask.view()])
                    .expect("same residues")
            }
            None => x.msa_mask.clone(),
        };
        let mut act = Activations {
            msa,
            pair: act.pair,
        };
        self.evoformer.forward(&mut act, &msa_mask, &pair_mask, rt);
        if act.msa.dim().0 > num_msa {
            act.msa = act.msa.slice_move(ndarray::s![..num_msa, .., ..]);
        }

        let single = self
            .single_activations
            .forward(act.msa.index_axis(Axis(0), 0));
        TrunkOutput {
            msa: act.msa,
            pair: act.pair,
            single,
        }
    }
}
