//! Uploaded clips: decoded from the request body (any format, rate and channel count the CLI reads),
//! resampled to the model's rate, length-checked.

use crate::error::BadClip;
use asd_audio::load::convert_rate;
use asd_audio::{LoadOptions, decode_bytes};

/// A decoded upload at the model's rate, or why it was refused.
pub fn decode_upload(
    bytes: Vec<u8>,
    name: &str,
    load: &LoadOptions,
    max_seconds: f64,
) -> Result<Vec<f32>, BadClip> {
    let bad = |error: String| BadClip {
        file: name.to_string(),
        error,
    };
    if bytes.is_empty() {
        return Err(bad(
            "empty body: send a WAV, FLAC, OGG or MP3 file".to_string()
        ));
    }
    // Rate and length are checked as decoded, before resampling sizes anything by them.
    let audio = decode_bytes(bytes, name, load.channel).map_err(|e| bad(e.to_string()))?;
    crate::limits::clip(audio.sample_rate, audio.samples.len(), max_seconds).map_err(bad)?;
    let audio = convert_rate(audio, name, load).map_err(|e| bad(e.to_string()))?;
    Ok(audio.samples)
}
