use asd_core::IoOp;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: cannot {op}: {source}")]
    Io {
        path: PathBuf,
        op: IoOp,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid safetensors file: {reason}")]
    Safetensors { path: PathBuf, reason: String },
    #[error("{path}: not a valid safetensors file")]
    SafetensorsFormat {
        path: PathBuf,
        #[source]
        source: safetensors::SafeTensorError,
    },
    #[error("weights: tensor '{0}' is missing")]
    Missing(String),
    #[error("weights: tensor '{name}' has shape {got:?}, the network needs {want:?}")]
    Shape {
        name: String,
        got: Vec<usize>,
        want: Vec<usize>,
    },
    #[error("weights: tensor '{name}' has dtype {dtype}, expected F32 (or F64/F16/BF16)")]
    Dtype { name: String, dtype: String },
    #[error(
        "weights: tensor '{name}' holds {count} NaN or infinite value(s); the model is unusable"
    )]
    NotFinite { name: String, count: usize },
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Input(String),
}

/// Maps an I/O error to one naming `path` and what was being done to it.
pub(crate) fn io_err(path: &Path, op: IoOp) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}
