//! Uploaded clips: decoded from the request body (any format, rate and channel count the CLI reads),
//! resampled to the model's rate, length-checked.

use crate::error::BadClip;
use asd_audio::{LoadOptions, load_bytes};

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
    let audio = load_bytes(bytes, name, load).map_err(|e| bad(e.to_string()))?;
    let secs = audio.duration_s();
    if secs > max_seconds {
        return Err(bad(format!(
            "clip is {secs:.1} s long; this service takes clips up to {max_seconds} s \
             (--max-clip-seconds); send long recordings to /stream, which scores them window by window"
        )));
    }
    Ok(audio.samples)
}
