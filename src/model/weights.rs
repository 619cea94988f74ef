//! Parameters by AlphaFold2 path (`alphafold/alphafold_iteration/evoformer/...//query_w`), with scoped
//! lookup in the style of candle's `VarBuilder`: `scope.sub("msa_row_attention_with_pair_bias").get("feat_2d_weights")`.
//! Layer-stacked parameters keep their leading block axis; [`Scope::layer`] selects one block.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{ArrayD, ArrayView1, ArrayView2, ArrayViewD, Axis, Ix1, Ix2};
use thiserror::Error;

use crate::io::npz::{Npz, NpzError};

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
    #[error(transparent)]
    Npz(#[from] NpzError),
}

/// All parameters of one model, by full AlphaFold2 key (`scope//name`).
#[derive(Debug, Clone, Default)]
pub struct Weights {
    pub tensors: BTreeMap<String, ArrayD<f32>>,
}

impl Weights {
    /// Reads DeepMind's `params_model_*.npz` layout (keys `scope//name`, float32).
    pub fn from_npz(path: impl AsRef<Path>) -> Result<Self, WeightError> {
        let npz = Npz::read_path(path)?;
        let mut tensors = BTreeMap::new();
        for (name, arr) in &npz.arrays {
            let t = arr.to_f32().ok_or_else(|| WeightError::Dtype {
                name: name.clone(),
                descr: arr.descr.clone(),
            })?;
            tensors.insert(name.clone(), t);
        }
        Ok(Self { tensors })
    }

    /// The root scope `alphafold/alphafold_iteration`.
    pub fn root(&self) -> Scope<'_> {
        self.scope("alphafold/alphafold_iteration")
    }

    /// The scope at any module path.
    pub fn scope(&self, path: &str) -> Scope<'_> {
        Scope {
            weights: self,
            path: path.into(),
            layer: None,
        }
    }

    /// Whether any tensor lives under `prefix`.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.tensors
            .range(prefix.to_string()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(prefix))
    }
}

/// A position in the parameter tree, optionally inside one block of a layer stack.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    weights: &'a Weights,
    path: String,
    layer: Option<usize>,
}

impl<'a> Scope<'a> {
    /// A child module.
    pub fn sub(&self, name: &str) -> Scope<'a> {
        Scope {
            weights: self.weights,
            path: format!("{}/{}", self.path, name),
            layer: self.layer,
        }
    }

    /// Block `i` of a layer stack (parameters below carry a leading block axis).
    pub fn layer(&self, i: usize) -> Scope<'a> {
        Scope {
            weights: self.weights,
            path: self.path.clone(),
            layer: Some(i),
        }
    }

    /// The module path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether this module has any parameters.
    pub fn exists(&self) -> bool {
        self.weights.has_prefix(&format!("{}/", self.path))
            || self.weights.has_prefix(&format!("{}//", self.path))
    }

    fn key(&self, name: &str) -> String {
        format!("{}//{}", self.path, name)
    }

    /// Parameter `name` of this module (block-selected inside a layer stack).
    pub fn get(&self, name: &str) -> Result<ArrayViewD<'a, f32>, WeightError> {
        let key = self.key(name);
        let t = self
            .weights
            .tensors
            .get(&key)
            .ok_or_else(|| WeightError::Missing(key.clone()))?;
        match self.layer {
            None => Ok(t.view()),
            Some(i) => {
                if t.ndim() == 0 || t.shape()[0] <= i {
                    return Err(WeightError::Shape {
                        name: key,
                        found: t.shape().to_vec(),
                        expected: format!("a leading block axis of more than {i}"),
                    });
                }
                Ok(t.view().index_axis_move(Axis(0), i))
            }
        }
    }

    /// A vector parameter of length `n` (None: any length).
    pub fn vec(&self, name: &str, n: Option<usize>) -> Result<ArrayView1<'a, f32>, WeightError> {
        let t = self.get(name)?;
        let found = t.shape().to_vec();
        let v = t.into_dimensionality::<Ix1>().map_err(|_| {
            self.shape_err(name, &found, n.map_or("[*]".into(), |n| format!("[{n}]")))
        })?;
        if n.is_some_and(|n| v.len() != n) {
            return Err(self.shape_err(name, &found, format!("[{}]", n.unwrap_or(0))));
        }
        Ok(v)
    }

    /// A parameter flattened to a matrix: the first `in_dims` axes become rows, the rest columns
    /// (AlphaFold2's `Linear` with `num_input_dims`, and attention's `[c, H, d]` weights).
    pub fn matrix(
        &self,
        name: &str,
        in_dims: usize,
        rows: Option<usize>,
        cols: Option<usize>,
    ) -> Result<ArrayView2<'a, f32>, WeightError> {
        let t = self.get(name)?;
        let shape = t.shape().to_vec();
        let expected = format!(
            "[{}] x [{}] (rows x columns)",
            rows.map_or("*".into(), |r| r.to_string()),
            cols.map_or("*".into(), |c| c.to_string())
        );
        if shape.len() < in_dims || !t.is_standard_layout() {
            return Err(self.shape_err(name, &shape, expected));
        }
        let r: usize = shape[..in_dims].iter().product();
        let c: usize = shape[in_dims..].iter().product();
        if rows.is_some_and(|x| x != r) || cols.is_some_and(|x| x != c) {
            return Err(self.shape_err(name, &shape, expected));
        }
        let m = t
            .into_shape_with_order((r, c))
            .map_err(|_| self.shape_err(name, &shape, "a contiguous tensor".into()))?;
        Ok(m.into_dimensionality::<Ix2>().expect("2-D"))
    }

    fn shape_err(&self, name: &str, found: &[usize], expected: String) -> WeightError {
        WeightError::Shape {
            name: self.key(name),
            found: found.to_vec(),
            expected,
        }
    }

    /// The full shape of a parameter (block-selected).
    pub fn shape(&self, name: &str) -> Result<Vec<usize>, WeightError> {
        Ok(self.get(name)?.shape().to_vec())
    }
}
