//! `asd._native.Model`: a trained model folder, embedding waveforms given as arrays.

use crate::errors::{os_error, value_error};
use asd_audio::FeatureExtractor;
use asd_audio::resample::resample;
use asd_model::embed::embed_with_folded;
use asd_model::network::EmbeddingNet;
use asd_model::{ModelDir, ModelError};
use burn::tensor::Device;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;

fn model_error(e: ModelError) -> PyErr {
    match e {
        ModelError::Io { .. } => os_error(e),
        other => value_error(other),
    }
}

// The network's tensors ask for 64-byte alignment, more than Python's allocator gives a class
// instance: they live in a box of their own.
#[pyclass(name = "Model", module = "asd._native", unsendable)]
pub struct NativeModel {
    inner: Box<Loaded>,
}

struct Loaded {
    folded: EmbeddingNet,
    fx: FeatureExtractor,
    device: Device,
    sample_rate: u32,
}

#[pymethods]
impl NativeModel {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let device = Device::flex();
        let (net, cfg) = py
            .detach(|| ModelDir::new(&path).load_net(&Device::flex()))
            .map_err(model_error)?;
        Ok(Self {
            inner: Box::new(Loaded {
                folded: net.folded_for_inference(),
                fx: FeatureExtractor::new(cfg.net.clip_len),
                device,
                sample_rate: cfg.sample_rate,
            }),
        })
    }

    /// Writes a model folder from the reference implementation's PyTorch weights (safetensors).
    #[staticmethod]
    fn import_torch(
        py: Python<'_>,
        weights: PathBuf,
        out: PathBuf,
        clip_len: usize,
    ) -> PyResult<()> {
        py.detach(|| asd_model::model_dir::import_torch(&weights, clip_len, &out))
            .map(|_| ())
            .map_err(model_error)
    }

    /// Writes a model folder holding a freshly initialised (untrained) network.
    #[staticmethod]
    fn init_untrained(py: Python<'_>, out: PathBuf, clip_len: usize, seed: u64) -> PyResult<()> {
        py.detach(|| asd_model::model_dir::write_seeded(&out, clip_len, seed))
            .map(|_| ())
            .map_err(model_error)
    }

    #[getter]
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate
    }

    #[getter]
    fn clip_len(&self) -> usize {
        self.inner.fx.clip_len()
    }

    /// Embeds each row of `waves` (one clip per row, at `sample_rate` Hz): resampled to the model's
    /// rate, tiled or cropped to its clip length, then the network in eval mode.
    fn embed<'py>(
        &self,
        py: Python<'py>,
        waves: PyReadonlyArray2<'py, f32>,
        sample_rate: u32,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let rows: Vec<Vec<f32>> = waves.as_array().outer_iter().map(|r| r.to_vec()).collect();
        let rows = if sample_rate == self.inner.sample_rate {
            rows
        } else {
            rows.iter()
                .map(|r| resample(r, sample_rate, self.inner.sample_rate))
                .collect::<Result<_, _>>()
                .map_err(|e| PyValueError::new_err(format!("waves: {e}")))?
        };
        let emb = embed_with_folded(
            &self.inner.folded,
            &self.inner.fx,
            &rows,
            &self.inner.device,
        );
        Ok(emb.into_pyarray(py))
    }
}
