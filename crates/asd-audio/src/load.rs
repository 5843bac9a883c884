//! One call from a file path to the model's input signal: decode, down-mix, resample.

use crate::decode::{Audio, ChannelMode, decode_bytes, decode_file};
use crate::error::AudioError;
use crate::resample::resample;
use std::path::Path;

/// The rate every model of this project works at.
pub const MODEL_RATE: u32 = 16_000;

#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub rate: u32,
    pub channel: ChannelMode,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            rate: MODEL_RATE,
            channel: ChannelMode::Average,
        }
    }
}

/// Decodes `path` and converts it to `opts.rate`.
pub fn load_clip(path: &Path, opts: &LoadOptions) -> Result<Audio, AudioError> {
    to_rate(decode_file(path, opts.channel)?, path, opts)
}

/// Decodes a clip held in memory (`name` stands for it in errors) and converts it to `opts.rate`.
pub fn load_bytes(bytes: Vec<u8>, name: &str, opts: &LoadOptions) -> Result<Audio, AudioError> {
    to_rate(
        decode_bytes(bytes, name, opts.channel)?,
        Path::new(name),
        opts,
    )
}

/// Decoded audio at `opts.rate` (resampled where it differs); `name` stands for it in errors.
pub fn convert_rate(audio: Audio, name: &str, opts: &LoadOptions) -> Result<Audio, AudioError> {
    to_rate(audio, Path::new(name), opts)
}

fn to_rate(audio: Audio, path: &Path, opts: &LoadOptions) -> Result<Audio, AudioError> {
    if audio.sample_rate == opts.rate {
        return Ok(audio);
    }
    let samples = resample(&audio.samples, audio.sample_rate, opts.rate).map_err(|source| {
        AudioError::Resample {
            path: path.to_path_buf(),
            from: audio.sample_rate,
            to: opts.rate,
            source,
        }
    })?;
    Ok(Audio {
        samples,
        sample_rate: opts.rate,
        channels: audio.channels,
    })
}
