//! DCASE task 2 evaluation: AUC and partial AUC as scikit-learn computes them, the official
//! per-section definitions of the 2021–2026 evaluators (with the decisions' precision, recall
//! and F1 and the official score's jackknife CI95) (and DCASE 2020's per machine id), harmonic and
//! arithmetic means, mean ± std over trials, and the challenge's submission files.
//!
//! Independent of the model and the scoring methods: it reads scores and ground truth only.

pub mod dcase;
pub mod evaluator;
pub mod folder;
pub mod metrics;
pub mod submission;
pub mod summary;
pub mod table;

pub use dcase::{ClipTruth, EvalError, SectionResult, evaluate};
pub use metrics::{MetricError, auc, partial_auc};
pub use summary::{Summary, TrialStats};
