//! DCASE task 2 datasets: folder layouts, file-name conventions of every edition (2020–2026), the
//! evaluators' ground truth for anonymised files, dataset inspection, and a synthetic generator that
//! writes the same layout.

pub mod dataset;
pub mod edition;
pub mod filename;
pub mod inspect;
pub mod lengths;
pub mod problem;
pub mod synth;
pub mod truth;

pub use dataset::{Clip, Dataset, DatasetError, OpenOptions, Part, class_name};
pub use edition::Edition;
pub use filename::{NameScheme, ParsedName, attribute_pairs, parse_file_name};
pub use problem::{Problem, Severity};
