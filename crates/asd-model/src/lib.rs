//! The paper's embedding system in burn: the two-branch network, its reference-compatible weights,
//! the AdaProj loss with mixup and feature exchange, training and embedding.

pub mod adaproj;
pub mod batch;
pub mod bench;
pub mod data;
pub mod device;
pub mod embed;
pub mod error;
pub mod fit;
pub mod head;
pub mod layers;
pub mod model_dir;
pub mod network;
pub mod ops;
pub mod params;
pub mod train;

pub use device::DeviceChoice;
pub use error::ModelError;
pub use model_dir::{ModelConfig, ModelDir, import_torch};
pub use network::{EmbeddingNet, NetConfig, l2_normalize};
pub use params::{ParamSource, SeededInit, TensorMap};
