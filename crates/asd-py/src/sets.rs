//! `asd._native.read_embedding_set` / `write_embedding_set`: the project's embedding-set folders
//! (`embeddings.npy` + `index.csv`) as a matrix and columns of strings.

use crate::errors::{os_error, value_error};
use asd_core::{ClipRecord, EmbeddingSet, EmbeddingSetError};
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;

/// The columns of `index.csv`, in order.
use asd_core::embedding_set::INDEX_HEADER as COLUMNS;

fn set_error(e: EmbeddingSetError) -> PyErr {
    match e {
        EmbeddingSetError::Io { .. } => os_error(e),
        other => value_error(other),
    }
}

type Columns = Vec<Vec<String>>;

#[pyfunction]
pub fn read_embedding_set(
    py: Python<'_>,
    path: PathBuf,
) -> PyResult<(Bound<'_, PyArray2<f32>>, Columns)> {
    let set = py.detach(|| EmbeddingSet::read(&path)).map_err(set_error)?;
    let r = &set.records;
    let columns = vec![
        r.iter().map(|c| c.file.clone()).collect(),
        r.iter().map(|c| c.machine_type.clone()).collect(),
        r.iter().map(|c| c.section.clone()).collect(),
        r.iter().map(|c| c.domain.to_string()).collect(),
        r.iter().map(|c| c.split.to_string()).collect(),
        r.iter().map(|c| c.label.to_string()).collect(),
        r.iter().map(|c| c.attribute.clone()).collect(),
    ];
    Ok((set.embeddings.into_pyarray(py), columns))
}

/// Writes a set; `columns` follows [`COLUMNS`], each as long as `embeddings` has rows.
#[pyfunction]
pub fn write_embedding_set(
    py: Python<'_>,
    path: PathBuf,
    embeddings: PyReadonlyArray2<'_, f32>,
    columns: Columns,
) -> PyResult<()> {
    let emb = embeddings.as_array().to_owned();
    let n = emb.nrows();
    if columns.len() != COLUMNS.len() || columns.iter().any(|c| c.len() != n) {
        return Err(PyValueError::new_err(format!(
            "records: {} columns ({}) each of {n} values expected",
            COLUMNS.len(),
            COLUMNS.join(", ")
        )));
    }
    let record = |i: usize| -> PyResult<ClipRecord> {
        let word = |c: usize| columns[c][i].as_str();
        let bad =
            |e: asd_core::ParseValueError| PyValueError::new_err(format!("records: row {i}: {e}"));
        Ok(ClipRecord {
            file: word(0).to_string(),
            machine_type: word(1).to_string(),
            section: word(2).to_string(),
            domain: word(3).parse().map_err(bad)?,
            split: word(4).parse().map_err(bad)?,
            label: word(5).parse().map_err(bad)?,
            attribute: word(6).to_string(),
        })
    };
    let records = (0..n).map(record).collect::<PyResult<Vec<_>>>()?;
    let set = EmbeddingSet::new(emb, records).map_err(set_error)?;
    py.detach(|| set.write(&path)).map_err(set_error)
}
