//! Anomaly scores from embeddings.
//!
//! The scores of the paper (Wilkinghoff et al., ICASSP 2025) and its baselines, computed exactly and fast:
//! every method works on cosine distances d(x, y) = ½(1 − ⟨x, y⟩) between unit vectors, evaluated by
//! blocked matrix products ([`kernel`]) so that memory stays bounded for large reference sets.
//!
//! A method ([`Method`]) is fitted on the reference set of one section ([`ReferenceSet`]) and then
//! scores the section's queries ([`Fitted`]). [`pipeline`] applies a method to a whole
//! [`asd_core::EmbeddingSet`], section by section. This crate does not depend on any deep-learning
//! framework.

pub mod bank;
pub mod bench;
pub mod choice;
pub mod density;
pub mod distance;
pub mod error;
pub mod kernel;
pub mod kmeans;
pub mod methods;
pub mod pipeline;
pub mod reference;
pub mod scorer;
pub mod smote;
pub mod submission;
pub mod threshold;

pub use choice::MethodChoice;
pub use distance::Distance;
pub use error::ScoringError;
pub use methods::{Fitted, Method, MethodSpec};
pub use reference::{ReferenceChoice, ReferenceSet};
pub use scorer::Scorer;
