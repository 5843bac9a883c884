use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The file is usable; something about it deserves attention (e.g. no ground truth).
    Warning,
    /// The file cannot be used.
    Error,
}

/// A file the dataset reader could not use, or could use only in part, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub severity: Severity,
    pub reason: String,
}

impl Problem {
    pub fn error(path: &Path, reason: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            severity: Severity::Error,
            reason: reason.into(),
        }
    }
    pub fn warning(path: &Path, reason: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            severity: Severity::Warning,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{tag}: {}: {}", self.path.display(), self.reason)
    }
}
