//! What can go wrong in a front-end: a file, a tensor, a configuration or an input, each named.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {problem}", path.display())]
    Checkpoint { path: PathBuf, problem: String },
    #[error("{}: tensor {name}: {problem}", path.display())]
    Tensor {
        path: PathBuf,
        name: String,
        problem: String,
    },
    #[error("{}: configuration: {problem}", path.display())]
    Config { path: PathBuf, problem: String },
    #[error("{0}")]
    Input(String),
    /// Stopped on request after `done` of `total` clips; what was done is saved where asked.
    #[error("stopped after {done} of {total} clips")]
    Interrupted { done: usize, total: usize },
}
