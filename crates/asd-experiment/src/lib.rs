//! End-to-end experiments as the paper runs them: ensembles of independently trained embedding models,
//! the scoring methods of Table I on all references and on source means, K and r sweeps (Figures 2, 3),
//! and a report. Everything is kept on disk: a re-run continues where it stopped.

pub mod config;
pub mod plots;
pub mod report;
pub mod run;
pub mod scoring;

pub use config::RunConfig;
pub use run::{Event, RunError, RunResults, read_results, run};
