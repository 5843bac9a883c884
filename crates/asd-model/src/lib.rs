//! The paper's embedding system in burn: the two-branch network, its reference-compatible weights,
//! the AdaProj loss with mixup and feature exchange, training and embedding.

pub mod batch;
pub mod error;
pub mod layers;
pub mod network;
pub mod params;

pub use error::ModelError;
pub use network::{EmbeddingNet, NetConfig, l2_normalize};
pub use params::{ParamSource, SeededInit, TensorMap};
