use std::path::PathBuf;

/// Why a clip could not be used. Every variant names the file, so a caller can list all bad files.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a supported audio file ({reason})")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: corrupt audio data ({reason})")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "{path}: truncated: the header announces {expected} frames but only {found} could be read"
    )]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{path}: holds no audio samples")]
    Empty { path: PathBuf },
    #[error("{path}: {count} samples are NaN or infinite")]
    NonFinite { path: PathBuf, count: usize },
    #[error(
        "{path}: {count} samples lie beyond ±{limit:e} (the largest is {largest:e}); float samples are nominally within ±1"
    )]
    OutOfRange {
        path: PathBuf,
        count: usize,
        largest: f32,
        limit: f32,
    },
    #[error("{path}: channel {channel} requested but the file has {channels} channel(s)")]
    NoSuchChannel {
        path: PathBuf,
        channel: usize,
        channels: usize,
    },
    #[error("{path}: cannot resample from {from} Hz to {to} Hz: {source}")]
    Resample {
        path: PathBuf,
        from: u32,
        to: u32,
        source: crate::resample::ResampleError,
    },
}

impl AudioError {
    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            AudioError::Io { path, .. }
            | AudioError::Format { path, .. }
            | AudioError::Corrupt { path, .. }
            | AudioError::Truncated { path, .. }
            | AudioError::Empty { path }
            | AudioError::NonFinite { path, .. }
            | AudioError::OutOfRange { path, .. }
            | AudioError::NoSuchChannel { path, .. }
            | AudioError::Resample { path, .. } => path,
        }
    }
}
