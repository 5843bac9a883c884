//! `asd._native.BEATs`: a pretrained BEATs checkpoint used frozen (no deep-learning framework).

use crate::errors::{os_error, value_error};
use asd_audio::resample::resample;
use asd_frontend::{Beats, FrontendError, Pooling};
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;

fn frontend_error(e: FrontendError) -> PyErr {
    match e {
        FrontendError::Io { .. } => os_error(e),
        other => value_error(other),
    }
}

#[pyclass(name = "BEATs", module = "asd._native")]
pub struct NativeBeats {
    inner: Box<Beats>,
}

#[pymethods]
impl NativeBeats {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let m = py.detach(|| Beats::load(&path)).map_err(frontend_error)?;
        Ok(Self { inner: Box::new(m) })
    }

    /// The checkpoint's configuration as a JSON text.
    #[getter]
    fn config(&self) -> String {
        serde_json::to_string(&self.inner.cfg).unwrap_or_default()
    }

    #[getter]
    fn layers(&self) -> usize {
        self.inner.layer_count()
    }

    /// Embeds each row of `waves` (at `sample_rate` Hz, resampled to 16 kHz): one layer's tokens
    /// pooled (`freq-patch-mean` or `mean`); `layer` < 0 is the last.
    fn embed<'py>(
        &self,
        py: Python<'py>,
        waves: PyReadonlyArray2<'py, f32>,
        sample_rate: u32,
        pooling: &str,
        layer: i64,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let pooling: Pooling = pooling.parse().map_err(PyValueError::new_err)?;
        let layer = usize::try_from(layer).ok();
        let rows: Vec<Vec<f32>> = waves.as_array().outer_iter().map(|r| r.to_vec()).collect();
        let model = &self.inner;
        let out = py.detach(|| -> Result<ndarray::Array2<f32>, String> {
            let d = model.pooled_dim(pooling);
            let mut out = ndarray::Array2::<f32>::zeros((rows.len(), d));
            for (i, r) in rows.iter().enumerate() {
                let w = if sample_rate == asd_frontend::beats::BEATS_RATE {
                    r.clone()
                } else {
                    resample(r, sample_rate, asd_frontend::beats::BEATS_RATE)
                        .map_err(|e| format!("waves: clip {i}: {e}"))?
                };
                let v = model
                    .embed(&w, layer, pooling)
                    .map_err(|e| format!("waves: clip {i}: {e}"))?;
                out.row_mut(i).assign(&ndarray::ArrayView1::from(&v[..]));
            }
            Ok(out)
        });
        Ok(out.map_err(PyValueError::new_err)?.into_pyarray(py))
    }
}
