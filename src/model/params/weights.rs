//! Parameters by AlphaFold2 path (`alphafold/alphafold_iteration/evoformer/...//query_w`), with scoped
//! lookup in the style of candle's `VarBuilder`: `scope.sub("msa_row_attention_with_pair_bias").get("feat_2d_weights")`.
//! Layer-stacked parameters keep their leading block axis: [`Scope::stacked`] says how many blocks, and
//! [`Scope::layer`] selects one. Every lookup states the full shape it needs, so a recording scope
//! ([`Scope::recorder`]) turns the loaders into the schema of the whole tree.

use std::collections::BTreeMap;

use std::cell::RefCell;

use ndarray::{ArrayD, ArrayView1, ArrayView2, ArrayViewD, Axis, Ix1, Ix2, IxDyn, ShapeBuilder};
use thiserror::Error;

/// Errors finding or shaping a parameter; each names the tensor.
#[derive(Debug, Error)]
pub enum WeightError {
    #[error("missing tensor '{0}'")]
    Missing(String),
    #[error("tensor '{name}' has shape {found:?}, expected {expected}")]
    Shape {
        name: String,
        found: Vec<usize>,
        expected: String,
    },
    #[error("tensor '{name}' is not float32 ({descr})")]
    Dtype { name: String, descr: String },
}

/// All parameters of one model, by full AlphaFold2 key (`scope//name`).
#[derive(Debug, Clone, Default)]
pub struct Weights {
    pub tensors: BTreeMap<String, ArrayD<f32>>,
}

impl Weights {
    /// The root scope `alphafold/alphafold_iteration`.
    pub fn root(&self) -> Scope<'_> {
        self.scope("alphafold/alphafold_iteration")
    }

    /// The scope at any module path.
    pub fn scope(&self, path: &str) -> Scope<'_> {
        Scope {
            source: Source::Weights(self),
            path: path.into(),
            stack: None,
            layer: None,
        }
    }

    /// Whether any tensor lives under `prefix`.
    pub(crate) fn has_prefix(&self, prefix: &str) -> bool {
        self.tensors
            .range(prefix.to_string()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(prefix))
    }
}

/// Where a scope's tensors come from: a parameter store, or a recorder that notes every tensor the
/// loaders ask for (name and full shape) and hands out zero views, so that the loaders alone describe
/// the parameter tree ([`crate::model::params::schema::expected`]).
#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    Weights(&'a Weights),
    Record(&'a RefCell<BTreeMap<String, Vec<usize>>>),
}

/// One zero that recorded tensors of any shape view (all strides 0).
static ZERO: [f32; 1] = [0.0];

/// A position in the parameter tree, optionally inside one block of a layer stack.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    source: Source<'a>,
    path: String,
    /// Blocks of the layer stack this scope is inside (parameters below carry a leading block axis).
    stack: Option<usize>,
    layer: Option<usize>,
}

impl<'a> Scope<'a> {
    /// The root of a recording: every tensor a loader asks for below it is noted in `record` with its full
    /// shape (the block axis of layer stacks included) and served as zeros.
    pub fn recorder(record: &'a RefCell<BTreeMap<String, Vec<usize>>>, path: &str) -> Self {
        Scope {
            source: Source::Record(record),
            path: path.into(),
            stack: None,
            layer: None,
        }
    }

    /// A child module.
    pub fn sub(&self, name: &str) -> Scope<'a> {
        Scope {
            source: self.source,
            path: format!("{}/{}", self.path, name),
            stack: self.stack,
            layer: self.layer,
        }
    }

    /// This module is a stack of `blocks` layers: its parameters carry a leading block axis of that
    /// length; select one block with [`Scope::layer`].
    pub fn stacked(&self, blocks: usize) -> Scope<'a> {
        Scope {
            source: self.source,
            path: self.path.clone(),
            stack: Some(blocks),
            layer: None,
        }
    }

    /// Block `i` of the layer stack.
    pub fn layer(&self, i: usize) -> Scope<'a> {
        Scope {
            source: self.source,
            path: self.path.clone(),
            stack: self.stack,
            layer: Some(i),
        }
    }

    /// The module path.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn key(&self, name: &str) -> String {
        format!("{}//{}", self.path, name)
    }

    /// Parameter `name` of this module with the shape `shape` (of one block inside a layer stack): a
    /// missing tensor or another shape is an error naming the tensor.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<ArrayViewD<'a, f32>, WeightError> {
        let key = self.key(name);
        let full: Vec<usize> = self
            .stack
            .into_iter()
            .chain(shape.iter().copied())
            .collect();
        let t = match self.source {
            Source::Record(record) => {
                record.borrow_mut().insert(key, full);
                return Ok(zeros(shape));
            }
            Source::Weights(w) => w
                .tensors
                .get(&key)
                .ok_or_else(|| WeightError::Missing(key.clone()))?,
        };
        if t.shape() != full.as_slice() {
            return Err(WeightError::Shape {
                name: key,
                found: t.shape().to_vec(),
                expected: format!("{full:?}"),
            });
        }
        Ok(match self.layer {
            Some(i) if self.stack.is_some() => t.view().index_axis_move(Axis(0), i),
            _ => t.view(),
        })
    }

    /// A vector parameter of length `n`.
    pub(crate) fn vector(&self, name: &str, n: usize) -> Result<ArrayView1<'a, f32>, WeightError> {
        Ok(self
            .tensor(name, &[n])?
            .into_dimensionality::<Ix1>()
            .expect("shape checked"))
    }

    /// A parameter of shape `rows ++ cols` viewed as a matrix `[prod(rows), prod(cols)]` (AlphaFold2's
    /// `Linear` with `num_input_dims`, and attention's `[c, H, d]` weights).
    pub fn matrix(
        &self,
        name: &str,
        rows: &[usize],
        cols: &[usize],
    ) -> Result<ArrayView2<'a, f32>, WeightError> {
        let shape: Vec<usize> = rows.iter().chain(cols).copied().collect();
        let t = self.tensor(name, &shape)?;
        let (r, c) = (rows.iter().product(), cols.iter().product());
        if matches!(self.source, Source::Record(_)) {
            return Ok(zeros(&[r, c]).into_dimensionality::<Ix2>().expect("2-D"));
        }
        t.into_shape_with_order((r, c))
            .map_err(|_| WeightError::Shape {
                name: self.key(name),
                found: shape.clone(),
                expected: "a contiguous tensor".into(),
            })
    }
}

/// A view of `shape` whose every element is the one static zero.
fn zeros<'a>(shape: &[usize]) -> ArrayViewD<'a, f32> {
    let strides = vec![0usize; shape.len()];
    ArrayViewD::from_shape(IxDyn(shape).strides(IxDyn(&strides)), &ZERO[..])
        .expect("zero strides index one element")
}
