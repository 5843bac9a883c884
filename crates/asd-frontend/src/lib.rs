//! Front-ends: what turns a clip into an embedding without training. BEATs, the pretrained audio
//! transformer the authors' code offers as `BEATs-raw`, read from its published checkpoints; the
//! `STFT-raw` embedding lives with the other audio features (`asd_audio::stft_raw_embedding`).
//!
//! This crate depends on no deep-learning framework (the forward pass runs on host memory with the
//! workspace's SGEMM), so the monitor and the Python package embed with it without burn. A next
//! frozen front-end (EAT, openL3) goes here beside `beats`.

pub mod beats;
pub mod checkpoint;
pub mod embed;
pub mod error;
pub mod partial;

pub use beats::{Beats, BeatsConfig, Pooling};
pub use checkpoint::Checkpoint;
pub use embed::{Frontend, FrontendSpec, embed_dataset};
pub use error::FrontendError;
pub use partial::Partial;
