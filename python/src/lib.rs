//! `import ferrofold`: the library's stages for Python. Arrays are numpy arrays under AlphaFold2's names;
//! long computations release the GIL; errors are Python exceptions carrying the library's messages (which
//! name the file, line, dataset or tensor): `FileNotFoundError`/`OSError` for files that cannot be read,
//! `ValueError` for bad contents.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ndarray::ArrayD;
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods};
use pyo3::exceptions::{PyFileNotFoundError, PyKeyError, PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use ff::features::{names, RawFeatures};

fn value_err(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn existing(path: &std::path::Path) -> PyResult<()> {
    if path.exists() {
        Ok(())
    } else {
        Err(PyFileNotFoundError::new_err(format!(
            "{}: no such file",
            path.display()
        )))
    }
}

/// One protein sequence with an id (validated as AlphaFold2 reads sequences).
#[pyclass(module = "ferrofold", frozen)]
#[derive(Clone)]
struct Query {
    inner: ff::Query,
}

#[pymethods]
impl Query {
    #[new]
    fn new(id: &str, sequence: &str) -> PyResult<Self> {
        let rec = ff::io::fasta::FastaRecord::new(id, None, sequence.to_ascii_uppercase());
        ff::io::fasta::validate_protein(
            std::slice::from_ref(&rec),
            std::path::Path::new("<Query>"),
        )
        .map_err(value_err)?;
        Ok(Self {
            inner: ff::Query::from_record(&rec),
        })
    }

    /// The one record of a FASTA file (or a ColabFold .a3m / one-row .csv).
    #[staticmethod]
    fn from_fasta(path: PathBuf) -> PyResult<Self> {
        existing(&path)?;
        Ok(Self {
            inner: ff::Query::from_fasta_path(&path).map_err(value_err)?,
        })
    }

    #[getter]
    fn id(&self) -> String {
        self.inner.id.clone()
    }

    #[getter]
    fn sequence(&self) -> String {
        self.inner.sequence.clone()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Query(id={:?}, {} residues)",
            self.inner.id,
            self.inner.len()
        )
    }
}

/// Searches `db` (FASTA or FASTA.gz) for `query` with the built-in search and writes the hits as A3M to
/// `output`; returns `output`. The GIL is released while it runs.
#[pyfunction]
#[pyo3(signature = (query, db, output, evalue = 1e-3, max_hits = 10_000))]
fn search(
    py: Python<'_>,
    query: &Query,
    db: PathBuf,
    output: PathBuf,
    evalue: f64,
    max_hits: usize,
) -> PyResult<PathBuf> {
    existing(&db)?;
    let q = query.inner.clone();
    py.detach(|| -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let fasta = dir.path().join("query.fasta");
        std::fs::write(&fasta, format!(">{}\n{}\n", q.id, q.sequence))
            .map_err(|e| e.to_string())?;
        let opts = ff::search::SearchOptions {
            evalue,
            max_hits,
            ..Default::default()
        };
        ff::pipeline::db::search(&fasta, &db, &opts, &output)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .map_err(PyValueError::new_err)?;
    Ok(output)
}

/// Relaxes the model in `model` (PDB or mmCIF) with Amber as AlphaFold2 does (`ferrofold relax`): writes
/// `relaxed_<name>.pdb/.cif` into `output_dir` and its entry in `relax_metrics.json`; returns that entry as
/// a dict (energies in kcal/mol, RMSD in Å, remaining violations) with `pdb`, the relaxed file's path. `name`
/// defaults to the file name without extension and an `unrelaxed_` prefix. The GIL is released while it runs.
#[pyfunction]
#[pyo3(signature = (model, output_dir, name = None, stiffness = 10.0, tolerance = 2.39, max_outer_iterations = 3, overwrite = false))]
#[allow(clippy::too_many_arguments)]
fn relax(
    py: Python<'_>,
    model: PathBuf,
    output_dir: PathBuf,
    name: Option<String>,
    stiffness: f64,
    tolerance: f64,
    max_outer_iterations: usize,
    overwrite: bool,
) -> PyResult<Py<PyAny>> {
    existing(&model)?;
    if !(stiffness >= 0.0 && stiffness.is_finite() && tolerance > 0.0 && tolerance.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "stiffness {stiffness} must be finite and >= 0, tolerance {tolerance} finite and > 0"
        )));
    }
    if max_outer_iterations == 0 {
        return Err(PyValueError::new_err(
            "max_outer_iterations must be at least 1",
        ));
    }
    let name = name.unwrap_or_else(|| {
        let file = model
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = file.split('.').next().unwrap_or_default().to_string();
        stem.strip_prefix("unrelaxed_").unwrap_or(&stem).to_string()
    });
    if name.is_empty() || name.contains('/') {
        return Err(PyValueError::new_err(format!("{name:?}: not a model name")));
    }
    let opts = ff::relax::pipeline::RelaxOptions {
        stiffness,
        tolerance,
        max_outer_iterations,
        ..Default::default()
    };
    let report = py
        .detach(|| ff::pipeline::relax::relax_model(&model, &name, &output_dir, &opts, overwrite))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let mut metrics = report.metrics;
    if let Some(obj) = metrics.as_object_mut() {
        obj.insert("pdb".into(), report.pdb.display().to_string().into());
    }
    let json = py.import("json")?;
    Ok(json.call_method1("loads", (metrics.to_string(),))?.unbind())
}

/// AlphaFold2's raw features of one query, dict-like: `features["msa"]` is a numpy array (int32 or
/// float32) or, for the string features, a list of str.
#[pyclass(module = "ferrofold")]
#[derive(Clone)]
struct Features {
    inner: RawFeatures,
}

/// The numeric features under AlphaFold2's names.
fn numeric(f: &RawFeatures) -> Vec<(&'static str, Numeric)> {
    let s = &f.sequence;
    let m = &f.msa;
    let t = &f.templates;
    vec![
        (names::AATYPE, Numeric::I(s.aatype.clone().into_dyn())),
        (
            names::BETWEEN_SEGMENT_RESIDUES,
            Numeric::I(s.between_segment_residues.clone().into_dyn()),
        ),
        (
            names::RESIDUE_INDEX,
            Numeric::I(s.residue_index.clone().into_dyn()),
        ),
        (
            names::SEQ_LENGTH,
            Numeric::I(s.seq_length.clone().into_dyn()),
        ),
        (names::MSA, Numeric::I(m.msa.clone().into_dyn())),
        (
            names::DELETION_MATRIX_INT,
            Numeric::I(m.deletion_matrix_int.clone().into_dyn()),
        ),
        (
            names::NUM_ALIGNMENTS,
            Numeric::I(m.num_alignments.clone().into_dyn()),
        ),
        (
            names::TEMPLATE_AATYPE,
            Numeric::F(t.aatype.clone().into_dyn()),
        ),
        (
            names::TEMPLATE_ALL_ATOM_MASKS,
            Numeric::F(t.all_atom_masks.clone().into_dyn()),
        ),
        (
            names::TEMPLATE_ALL_ATOM_POSITIONS,
            Numeric::F(t.all_atom_positions.clone().into_dyn()),
        ),
        (
            names::TEMPLATE_SUM_PROBS,
            Numeric::F(t.sum_probs.clone().into_dyn()),
        ),
    ]
}

enum Numeric {
    I(ArrayD<i32>),
    F(ArrayD<f32>),
}

fn strings(f: &RawFeatures) -> Vec<(&'static str, Vec<String>)> {
    vec![
        (names::DOMAIN_NAME, vec![f.sequence.domain_name.clone()]),
        (names::SEQUENCE, vec![f.sequence.sequence.clone()]),
        (
            names::MSA_SPECIES_IDENTIFIERS,
            f.msa.msa_species_identifiers.clone(),
        ),
        (
            names::TEMPLATE_DOMAIN_NAMES,
            f.templates.domain_names.clone(),
        ),
        (names::TEMPLATE_SEQUENCE, f.templates.sequence.clone()),
    ]
}

#[pymethods]
impl Features {
    /// Builds features for `query` from alignment files (.a3m / .sto, AlphaFold2's merge order by file
    /// name: uniref90, bfd/uniclust, mgnify, then others), or the query alone when `msas` is empty.
    #[staticmethod]
    #[pyo3(signature = (query, msas = Vec::new()))]
    fn build(py: Python<'_>, query: &Query, msas: Vec<PathBuf>) -> PyResult<Self> {
        for m in &msas {
            existing(m)?;
        }
        let q = query.inner.clone();
        let built = py
            .detach(|| {
                let builder = if msas.is_empty() {
                    ff::FeatureBuilder::single_sequence()
                } else {
                    ff::FeatureBuilder::from_msas(
                        msas.into_iter().map(ff::MsaInput::from_path).collect(),
                    )
                };
                builder.build(&q, &format!("{}.fasta", q.id))
            })
            .map_err(value_err)?;
        Ok(Self {
            inner: built.features,
        })
    }

    /// Reads `features.h5` (ferrofold's) or AlphaFold2's `features.pkl` (read as data, never executed),
    /// validated as `ferrofold predict` validates them.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        existing(&path)?;
        let inner = if ff::io::features_pkl::is_pickle(&path) {
            ff::io::features_pkl::read(&path).map_err(value_err)?
        } else {
            ff::io::features_h5::read(&path).map_err(value_err)?.0
        };
        Ok(Self { inner })
    }

    /// Builds features from a dict of numpy arrays under AlphaFold2's names (as `dict(features)` gives,
    /// or AlphaFold2's own feature dict), validated: shapes, dtypes and values as `features.h5` is.
    #[staticmethod]
    fn from_dict(py: Python<'_>, d: &Bound<'_, PyDict>) -> PyResult<Self> {
        let tmp = tempfile::tempdir().map_err(value_err)?;
        let path = tmp.path().join("from_dict.h5");
        let mut w = ff::io::h5::Writer::new();
        for (k, v) in d.iter() {
            let name: String = k.extract()?;
            if let Ok(list) = v.cast::<PyList>() {
                let items: Vec<String> = list
                    .iter()
                    .map(|x| {
                        x.extract::<String>().or_else(|_| {
                            x.extract::<Vec<u8>>()
                                .map(|b| String::from_utf8_lossy(&b).into_owned())
                        })
                    })
                    .collect::<PyResult<_>>()?;
                w.strings(&name, &items);
                continue;
            }
            let np = py.import("numpy")?;
            let arr = np.call_method1("asarray", (v,))?;
            let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
            match kind.as_str() {
                "i" | "u" | "b" => {
                    let a = arr.call_method1("astype", ("int32",))?;
                    let a = a.cast::<PyArrayDyn<i32>>()?.readonly();
                    w.i32(&name, a.as_array());
                }
                "f" => {
                    let a = arr.call_method1("astype", ("float32",))?;
                    let a = a.cast::<PyArrayDyn<f32>>()?.readonly();
                    w.f32(&name, a.as_array());
                }
                "O" | "S" | "U" => {
                    let items: Vec<String> = arr
                        .call_method0("ravel")?
                        .try_iter()?
                        .map(|x| {
                            let x = x?;
                            x.extract::<String>().or_else(|_| {
                                x.extract::<Vec<u8>>()
                                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                            })
                        })
                        .collect::<PyResult<_>>()?;
                    w.strings(&name, &items);
                }
                other => {
                    return Err(PyValueError::new_err(format!(
                        "feature '{name}': unsupported numpy dtype kind '{other}'"
                    )))
                }
            }
        }
        w.attr_u32(
            ff::io::features_h5::attrs::FORMAT_VERSION,
            ff::io::features_h5::FORMAT_VERSION,
        );
        w.write(&path).map_err(value_err)?;
        let inner = ff::io::features_h5::read(&path)
            .map_err(|e| {
                // The message names the temporary; say "the dict" instead.
                PyValueError::new_err(
                    e.to_string()
                        .replace(&path.display().to_string(), "features dict"),
                )
            })?
            .0;
        Ok(Self { inner })
    }

    /// Writes `features.h5` (atomically).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        let prov = ff::io::features_h5::Provenance {
            tool: format!("{} (Python)", ff::TOOL),
            query_sequence: self.inner.sequence.sequence.clone(),
            ..Default::default()
        };
        ff::io::features_h5::write(&path, &self.inner, &prov).map_err(value_err)
    }

    #[getter]
    fn num_res(&self) -> usize {
        self.inner.num_res()
    }

    #[getter]
    fn num_alignments(&self) -> usize {
        self.inner.num_alignments()
    }

    fn keys(&self) -> Vec<&'static str> {
        let mut k: Vec<&'static str> = numeric(&self.inner).into_iter().map(|(n, _)| n).collect();
        k.extend(strings(&self.inner).into_iter().map(|(n, _)| n));
        k.sort_unstable();
        k
    }

    fn __contains__(&self, key: &str) -> bool {
        self.keys().contains(&key)
    }

    fn __len__(&self) -> usize {
        self.keys().len()
    }

    fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        if let Some((_, v)) = numeric(&self.inner).into_iter().find(|(n, _)| *n == key) {
            return Ok(match v {
                Numeric::I(a) => a.into_pyarray(py).into_any(),
                Numeric::F(a) => a.into_pyarray(py).into_any(),
            });
        }
        if let Some((_, v)) = strings(&self.inner).into_iter().find(|(n, _)| *n == key) {
            return Ok(PyList::new(py, v)?.into_any());
        }
        Err(PyKeyError::new_err(key.to_string()))
    }

    fn __iter__(slf: PyRef<'_, Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let keys = PyList::new(py, slf.keys())?;
        Ok(keys.try_iter()?.into_any().unbind())
    }

    fn __repr__(&self) -> String {
        format!(
            "Features({} residues, {} alignment rows, {} templates)",
            self.inner.num_res(),
            self.inner.num_alignments(),
            self.inner.templates.count()
        )
    }
}

/// A ferrofold model file (ONNX, AlphaFold2's parameters under their names).
#[pyclass(module = "ferrofold", frozen)]
struct Model {
    inner: Arc<ff::ModelFile>,
}

/// Raised through the block hook to stop a prediction (Ctrl-C); never a panic message.
struct Interrupted;

#[pymethods]
impl Model {
    /// Reads and checks a model file (every tensor against the configuration).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        existing(&path)?;
        let m = py
            .detach(|| ff::model::params::model_file::read(&path))
            .map_err(value_err)?;
        Ok(Self { inner: Arc::new(m) })
    }

    /// ferrofold's small demo model (random weights, deterministic; made on first use where the CLI
    /// keeps it): shows the pipeline, its structures mean nothing.
    #[staticmethod]
    fn demo(py: Python<'_>) -> PyResult<Self> {
        let path = ff::pipeline::params::demo_model_path();
        py.detach(|| ff::pipeline::params::ensure_demo_model(&path))
            .map_err(value_err)?;
        Self::load(py, path)
    }

    #[getter]
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// The configuration as a dict (the JSON the model file carries).
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let text = serde_json::to_string(&self.inner.config).map_err(value_err)?;
        py.import("json")?.call_method1("loads", (text,))
    }

    /// Predicts the structure of `features`: AlphaFold2's input pipeline (seeded) and the network with
    /// recycling, exactly as `ferrofold predict` runs it (same seed → the same arrays as its
    /// `result_*.h5`). `progress(done, total)` is called after every trunk block. The GIL is released
    /// while it runs; Ctrl-C stops it at the next block and raises KeyboardInterrupt. `device` is
    /// `ferrofold predict --device`: "auto" (a hardware GPU when there is one), "gpu" or "cpu".
    #[pyo3(signature = (features, seed = 0, num_recycle = None, threads = 0, progress = None, device = "auto"))]
    #[allow(clippy::too_many_arguments)]
    fn predict(
        &self,
        py: Python<'_>,
        features: &Features,
        seed: u64,
        num_recycle: Option<usize>,
        threads: usize,
        progress: Option<Py<PyAny>>,
        device: &str,
    ) -> PyResult<Prediction> {
        let device = match device {
            "auto" => ff::pipeline::predict::Device::Auto,
            "gpu" => ff::pipeline::predict::Device::Gpu,
            "cpu" => ff::pipeline::predict::Device::Cpu,
            other => {
                return Err(PyValueError::new_err(format!(
                    "device {other:?}: expected \"auto\", \"gpu\" or \"cpu\""
                )))
            }
        };
        let cfg = &self.inner.config;
        let iterations = num_recycle.unwrap_or(cfg.num_recycle) + 1;
        let total = iterations * (cfg.evoformer.extra_msa_num_block + cfg.evoformer.num_block);
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let interrupted = Arc::new(AtomicBool::new(false));
        let callback_error: Arc<std::sync::Mutex<Option<PyErr>>> = Default::default();
        let hook = {
            let (done, interrupted, callback_error) =
                (done.clone(), interrupted.clone(), callback_error.clone());
            ff::model::params::config::BlockHook(Arc::new(move || {
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                // Ctrl-C, seen by the calling thread (below), stops the prediction here.
                let stop = interrupted.load(Ordering::SeqCst)
                    || Python::attach(|py| {
                        if let Some(cb) = &progress {
                            if let Err(e) = cb.call1(py, (n, total)) {
                                *callback_error.lock().unwrap() = Some(e);
                                return true;
                            }
                        }
                        false
                    });
                if stop {
                    interrupted.store(true, Ordering::SeqCst);
                    // Unwinds out of the prediction without running the panic hook.
                    std::panic::resume_unwind(Box::new(Interrupted));
                }
            }))
        };
        let opts = ff::PredictOptions {
            seed,
            num_recycle,
            runtime: ff::RuntimeOptions {
                threads,
                on_block: Some(hook),
                ..ff::PredictOptions::default().runtime
            },
            device,
            ..Default::default()
        };
        let model = self.inner.clone();
        let raw = features.inner.clone();
        // The prediction runs on its own thread; this one waits without the GIL and, every 20 ms, lets
        // Python handle signals: only the main thread can, so a Ctrl-C is seen here and stops the
        // prediction at its next block.
        let result = py.detach(|| {
            std::thread::scope(|scope| {
                let worker = scope.spawn(|| {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        ff::pipeline::predict::predict_features(&model, &raw, &opts)
                    }))
                });
                while !worker.is_finished() {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    if !interrupted.load(Ordering::SeqCst) {
                        if let Err(e) = Python::attach(|py| py.check_signals()) {
                            *callback_error.lock().unwrap() = Some(e);
                            interrupted.store(true, Ordering::SeqCst);
                        }
                    }
                }
                worker.join().unwrap_or_else(|payload| Err(payload))
            })
        });
        // Ctrl-C or a raising progress callback wins, even where the prediction finished first.
        if interrupted.load(Ordering::SeqCst) {
            return Err(callback_error
                .lock()
                .unwrap()
                .take()
                .unwrap_or_else(|| PyKeyboardInterrupt::new_err("prediction interrupted")));
        }
        match result {
            Ok(Ok((pred, protein))) => Ok(Prediction::new(py, pred, protein, &self.inner.name)),
            Ok(Err(e)) => Err(value_err(e)),
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// Runs AlphaFold2's processed features (`processed_features.npz`: the dict
    /// `RunModel.process_features` returns, with a leading recycling axis) iteration by iteration, as
    /// `ferrofold predict --processed-features` does: reproduces an AlphaFold2 run input for input.
    #[pyo3(signature = (path, threads = 0))]
    fn predict_processed(
        &self,
        py: Python<'_>,
        path: PathBuf,
        threads: usize,
    ) -> PyResult<Prediction> {
        existing(&path)?;
        let model = self.inner.clone();
        let (pred, protein) = py
            .detach(|| -> Result<_, String> {
                let npz = ff::io::npz::Npz::read_path(&path).map_err(|e| e.to_string())?;
                let pf = ff::model::input::processed::ProcessedFeatures::read(&npz)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let opts = ff::PredictOptions {
                    runtime: ff::RuntimeOptions {
                        threads,
                        ..ff::PredictOptions::default().runtime
                    },
                    ..Default::default()
                };
                ff::pipeline::predict::predict_processed(&model, &pf, &opts)
                    .map_err(|e| e.to_string())
            })
            .map_err(PyValueError::new_err)?;
        Ok(Prediction::new(py, pred, protein, &self.inner.name))
    }

    fn __repr__(&self) -> String {
        format!("Model({:?})", self.inner.name)
    }
}

/// One prediction: atoms, confidences and the structure. The arrays were moved into numpy when the
/// prediction finished (no copy); each attribute returns the same array object.
#[pyclass(module = "ferrofold", frozen)]
struct Prediction {
    atom_positions: Py<PyArrayDyn<f32>>,
    atom_mask: Py<PyArrayDyn<f32>>,
    plddt: Py<PyArrayDyn<f32>>,
    pae: Option<Py<PyArrayDyn<f32>>>,
    ptm: Option<f32>,
    distogram_logits: Py<PyArrayDyn<f32>>,
    mean_plddt: f32,
    protein: ff::Protein,
    name: String,
}

fn to_numpy<D: ndarray::Dimension>(
    py: Python<'_>,
    a: ndarray::Array<f32, D>,
) -> Py<PyArrayDyn<f32>> {
    a.into_dyn().into_pyarray(py).unbind()
}

impl Prediction {
    fn new(py: Python<'_>, pred: ff::Prediction, protein: ff::Protein, name: &str) -> Self {
        let ff::Prediction {
            structure, heads, ..
        } = pred;
        let mean_plddt = heads.plddt.mean().unwrap_or(0.0);
        let (pae, ptm) = match heads.pae {
            Some(p) => (Some(to_numpy(py, p.predicted_aligned_error)), Some(p.ptm)),
            None => (None, None),
        };
        Self {
            atom_positions: to_numpy(py, structure.atom37_positions),
            atom_mask: to_numpy(py, structure.atom37_mask),
            plddt: to_numpy(py, heads.plddt),
            pae,
            ptm,
            distogram_logits: to_numpy(py, heads.distogram_logits),
            mean_plddt,
            protein,
            name: name.to_string(),
        }
    }
}

#[pymethods]
impl Prediction {
    /// `[N, 37, 3]` Å, AlphaFold2's atom37 order.
    #[getter]
    fn atom_positions<'py>(&self, py: Python<'py>) -> Bound<'py, PyArrayDyn<f32>> {
        self.atom_positions.bind(py).clone()
    }

    /// `[N, 37]`, 1 where the atom exists.
    #[getter]
    fn atom_mask<'py>(&self, py: Python<'py>) -> Bound<'py, PyArrayDyn<f32>> {
        self.atom_mask.bind(py).clone()
    }

    /// `[N]`, 0-100.
    #[getter]
    fn plddt<'py>(&self, py: Python<'py>) -> Bound<'py, PyArrayDyn<f32>> {
        self.plddt.bind(py).clone()
    }

    /// `[N, N]` Å predicted aligned error (models with a PAE head; else None).
    #[getter]
    fn pae<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArrayDyn<f32>>> {
        self.pae.as_ref().map(|p| p.bind(py).clone())
    }

    #[getter]
    fn ptm(&self) -> Option<f32> {
        self.ptm
    }

    /// `[N, N, 64]`.
    #[getter]
    fn distogram_logits<'py>(&self, py: Python<'py>) -> Bound<'py, PyArrayDyn<f32>> {
        self.distogram_logits.bind(py).clone()
    }

    #[getter]
    fn mean_plddt(&self) -> f32 {
        self.mean_plddt
    }

    /// The structure as PDB text (pLDDT in the B-factor column).
    fn to_pdb(&self) -> PyResult<String> {
        let mut out = Vec::new();
        ff::io::pdb::write(&self.protein, &mut out).map_err(value_err)?;
        String::from_utf8(out).map_err(value_err)
    }

    /// The structure as mmCIF text.
    fn to_mmcif(&self) -> PyResult<String> {
        let mut out = Vec::new();
        ff::io::mmcif::write(&self.protein, &self.name, &mut out).map_err(value_err)?;
        String::from_utf8(out).map_err(value_err)
    }

    /// Writes `unrelaxed.pdb`, `unrelaxed.cif` and `result.npz` (every array above) into `dir`.
    fn save(&self, py: Python<'_>, dir: PathBuf) -> PyResult<()> {
        std::fs::create_dir_all(&dir).map_err(|e| value_err(format!("{}: {e}", dir.display())))?;
        std::fs::write(dir.join("unrelaxed.pdb"), self.to_pdb()?)
            .map_err(|e| value_err(format!("{}: {e}", dir.display())))?;
        std::fs::write(dir.join("unrelaxed.cif"), self.to_mmcif()?)
            .map_err(|e| value_err(format!("{}: {e}", dir.display())))?;
        let np = py.import("numpy")?;
        let kw = PyDict::new(py);
        kw.set_item("final_atom_positions", self.atom_positions(py))?;
        kw.set_item("final_atom_mask", self.atom_mask(py))?;
        kw.set_item("plddt", self.plddt(py))?;
        kw.set_item("distogram_logits", self.distogram_logits(py))?;
        if let Some(p) = self.pae(py) {
            kw.set_item("predicted_aligned_error", p)?;
        }
        np.call_method("savez", (dir.join("result.npz"),), Some(&kw))?;
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!(
            "Prediction({:?}, {} residues, mean pLDDT {:.2})",
            self.name,
            self.protein.aatype.len(),
            self.mean_plddt()
        )
    }
}

#[pymodule]
fn ferrofold(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Query>()?;
    m.add_class::<Features>()?;
    m.add_class::<Model>()?;
    m.add_class::<Prediction>()?;
    m.add_function(wrap_pyfunction!(search, m)?)?;
    m.add_function(wrap_pyfunction!(relax, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
