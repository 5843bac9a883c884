//! `asd._native.Scorer`: [`asd_scoring::Scorer`] behind a Python class.

use crate::errors::value_error;
use asd_scoring::{Distance, MethodSpec, Scorer};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray2, ToPyArray};
use pyo3::prelude::*;

#[pyclass(name = "Scorer", module = "asd._native")]
pub struct NativeScorer {
    inner: Scorer,
}

#[pymethods]
impl NativeScorer {
    /// Fits `method` (a full name such as `ratio_k16`) on the references.
    #[new]
    fn new(
        py: Python<'_>,
        method: &str,
        standardize: bool,
        references: PyReadonlyArray2<'_, f32>,
        is_source: Vec<bool>,
        distance: &str,
    ) -> PyResult<Self> {
        let spec: MethodSpec = method.parse().map_err(value_error)?;
        let distance: Distance = distance.parse().map_err(value_error)?;
        let refs = references.as_array();
        let inner = py
            .detach(|| Scorer::fit_with(spec, standardize, refs, &is_source, distance))
            .map_err(value_error)?;
        Ok(Self { inner })
    }

    fn score<'py>(
        &self,
        py: Python<'py>,
        queries: PyReadonlyArray2<'py, f32>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let q = queries.as_array();
        let scores = py.detach(|| self.inner.score(q)).map_err(value_error)?;
        Ok(scores.into_pyarray(py))
    }

    #[pyo3(signature = (queries=None))]
    fn loo_scores<'py>(
        &self,
        py: Python<'py>,
        queries: Option<PyReadonlyArray2<'py, f32>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let q = queries.as_ref().map(|q| q.as_array());
        let scores = py
            .detach(|| self.inner.loo_scores(q))
            .map_err(value_error)?;
        Ok(scores.into_pyarray(py))
    }

    #[pyo3(signature = (percentile, queries=None))]
    fn threshold(
        &self,
        py: Python<'_>,
        percentile: f64,
        queries: Option<PyReadonlyArray2<'_, f32>>,
    ) -> PyResult<Option<f64>> {
        let q = queries.as_ref().map(|q| q.as_array());
        py.detach(|| self.inner.threshold(percentile, q))
            .map_err(value_error)
    }

    fn add(
        &mut self,
        py: Python<'_>,
        references: PyReadonlyArray2<'_, f32>,
        is_source: Vec<bool>,
    ) -> PyResult<()> {
        let x = references.as_array();
        let inner = &mut self.inner;
        py.detach(|| inner.add(x, &is_source)).map_err(value_error)
    }

    fn remove(&mut self, py: Python<'_>, indices: Vec<usize>) -> PyResult<()> {
        let inner = &mut self.inner;
        py.detach(|| inner.remove(&indices)).map_err(value_error)
    }

    #[getter]
    fn method(&self) -> String {
        self.inner.spec().to_string()
    }

    #[getter]
    fn n_references(&self) -> usize {
        self.inner.len()
    }

    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// `(asked, available)` when K exceeds the neighbours the references have.
    #[getter]
    fn k_clipped(&self) -> Option<(usize, usize)> {
        self.inner.k_clipped()
    }

    #[getter]
    fn densities<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f64>>> {
        self.inner.densities().map(|d| d.into_pyarray(py))
    }

    #[getter]
    fn references<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f32>> {
        self.inner.references().to_pyarray(py)
    }

    #[getter]
    fn is_source(&self) -> Vec<bool> {
        self.inner.is_source().to_vec()
    }
}

/// The synthetic target references of SMOTE (`asd_scoring::smote`): rows to append, as targets.
#[pyfunction]
pub fn smote_rows<'py>(
    py: Python<'py>,
    references: PyReadonlyArray2<'py, f32>,
    is_source: Vec<bool>,
    k: usize,
    seed: u64,
    distance: &str,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let distance: Distance = distance.parse().map_err(value_error)?;
    let refs = references.as_array();
    let rows = py
        .detach(|| {
            Scorer::smote_rows(
                refs,
                &is_source,
                distance,
                asd_scoring::smote::Smote { k, seed },
            )
        })
        .map_err(value_error)?;
    Ok(rows.into_pyarray(py))
}
