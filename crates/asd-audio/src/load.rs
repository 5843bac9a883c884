//! One call from a file path to the model's input signal: decode, down-mix, resample.

use crate::decode::{Audio, ChannelMode, decode_bytes, decode_file};
use crate::error::AudioError;
use crate::resample::resample;
use std::path::Path;

/// The rate every model of this project works at.
pub const MODEL_RATE: u32 = 16_000;

/// Samples in `seconds` at [`MODEL_RATE`], rounded to the nearest: the one conversion from a clip
/// length given in seconds (flags, configs) to the network's input length.
pub fn model_samples(seconds: f64) -> usize {
    (seconds * f64::from(MODEL_RATE)).round() as usize
}

/// Seconds of `samples` at [`MODEL_RATE`]: the inverse of [`model_samples`], for reports.
pub fn model_seconds(samples: usize) -> f64 {
    samples as f64 / f64::from(MODEL_RATE)
}

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

#[cfg(test)]
mod seconds_tests {
    use super::*;

    #[test]
    fn seconds_and_samples_convert_both_ways() {
        assert_eq!(model_samples(10.0), 160_000);
        assert_eq!(model_samples(4.38), 70_080);
        // Rounded to the nearest sample, not truncated.
        assert_eq!(model_samples(1.0 / 16_000.0 * 2.6), 3);
        for n in [0, 1, 70_080, 160_000] {
            assert_eq!(model_samples(model_seconds(n)), n);
        }
    }
}
