//! Every bound the service puts on what a client sends, in one place per kind (docs/monitor.md lists
//! them). Text is counted in characters (Unicode scalar values), not bytes.

use crate::error::ApiError;

/// A monitor's name: 1 to 200 characters.
pub const MAX_NAME_CHARS: usize = 200;
/// `machine_type` and `section`: at most 64 characters each (empty: not given).
pub const MAX_FIELD_CHARS: usize = 64;
/// A condition tag: at most 200 characters.
pub const MAX_CONDITION_CHARS: usize = 200;
/// The file name of a raw-body upload or a stream (`?name=`): at most 255 characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// The lowest sample rate of an uploaded clip or a stream, Hz (below it nothing a machine sounds like
/// survives resampling to 16 kHz).
pub const MIN_RATE_HZ: u32 = 1_000;
/// The highest sample rate of a stream, Hz.
pub const MAX_RATE_HZ: u32 = 384_000;
/// The shortest uploaded clip, seconds.
pub const MIN_CLIP_SECONDS: f64 = 0.25;
/// The shortest hop between two scored windows of a stream, seconds (a shorter hop would score, and
/// record, a window per handful of samples).
pub const MIN_HOP_SECONDS: f64 = 0.25;
/// The longest hop, seconds.
pub const MAX_HOP_SECONDS: f64 = 3600.0;

/// Checks a text field: at most `max` characters, no control characters, and not blank when
/// `required`. The error names the field and the limit.
pub fn text(what: &str, value: &str, max: usize, required: bool) -> Result<(), String> {
    let n = value.chars().count();
    if required && value.trim().is_empty() {
        return Err(format!("{what} must not be empty (1 to {max} characters)"));
    }
    if n > max {
        return Err(format!(
            "{what} has {n} characters; at most {max} are allowed"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{what} must not hold control characters"));
    }
    Ok(())
}

/// [`text`] as a 400 answer.
pub fn text_field(what: &str, value: &str, max: usize, required: bool) -> Result<(), ApiError> {
    text(what, value, max, required).map_err(ApiError::bad_request)
}

/// The rate and length of a decoded upload, before it is resampled.
pub fn clip(rate: u32, samples: usize, max_seconds: f64) -> Result<(), String> {
    if rate < MIN_RATE_HZ {
        return Err(format!(
            "sample rate {rate} Hz; this service takes clips of {MIN_RATE_HZ} Hz or more"
        ));
    }
    let secs = samples as f64 / f64::from(rate);
    if secs < MIN_CLIP_SECONDS {
        return Err(format!(
            "clip is {secs:.3} s long; this service takes clips of {MIN_CLIP_SECONDS} s or more"
        ));
    }
    if secs > max_seconds {
        return Err(format!(
            "clip is {secs:.1} s long; this service takes clips up to {max_seconds} s \
             (--max-clip-seconds); send long recordings to /stream, which scores them window by window"
        ));
    }
    Ok(())
}

/// A stream's rate and hop.
pub fn stream(rate: u32, hop_seconds: f64) -> Result<(), String> {
    if !(MIN_RATE_HZ..=MAX_RATE_HZ).contains(&rate) {
        return Err(format!(
            "rate {rate} Hz outside {MIN_RATE_HZ} to {MAX_RATE_HZ}"
        ));
    }
    if !(MIN_HOP_SECONDS..=MAX_HOP_SECONDS).contains(&hop_seconds) {
        return Err(format!(
            "hop_seconds {hop_seconds} outside [{MIN_HOP_SECONDS}, {MAX_HOP_SECONDS}]"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_counted_in_characters_at_the_limit_and_one_past_it() {
        let at = "é".repeat(MAX_NAME_CHARS); // 400 bytes, 200 characters
        assert!(text("name", &at, MAX_NAME_CHARS, true).is_ok());
        let past = "é".repeat(MAX_NAME_CHARS + 1);
        let e = text("name", &past, MAX_NAME_CHARS, true).unwrap_err();
        assert!(e.contains("201 characters") && e.contains("200"), "{e}");
        assert!(
            text(
                "machine_type",
                &"x".repeat(MAX_FIELD_CHARS),
                MAX_FIELD_CHARS,
                false
            )
            .is_ok()
        );
        assert!(
            text(
                "machine_type",
                &"x".repeat(MAX_FIELD_CHARS + 1),
                MAX_FIELD_CHARS,
                false
            )
            .is_err()
        );
        assert!(text("section", "", MAX_FIELD_CHARS, false).is_ok());
        assert!(text("name", "  ", MAX_NAME_CHARS, true).is_err());
        assert!(text("name", "a\u{0}b", MAX_NAME_CHARS, true).is_err());
        assert!(text("name", "line\nbreak", MAX_NAME_CHARS, true).is_err());
    }

    #[test]
    fn clips_and_streams_at_their_limits_and_one_past_them() {
        // Rate: 1000 Hz passes, 999 Hz (and the probe's 1 Hz) does not.
        assert!(clip(MIN_RATE_HZ, 1_000, 60.0).is_ok());
        assert!(
            clip(MIN_RATE_HZ - 1, 1_000, 60.0)
                .unwrap_err()
                .contains("sample rate")
        );
        assert!(clip(1, 5, 60.0).is_err());
        // Length: 0.25 s passes, one sample less does not; the maximum passes, one sample more not.
        assert!(clip(16_000, 4_000, 60.0).is_ok());
        assert!(
            clip(16_000, 3_999, 60.0)
                .unwrap_err()
                .contains("0.25 s or more")
        );
        assert!(clip(16_000, 960_000, 60.0).is_ok());
        assert!(
            clip(16_000, 960_001, 60.0)
                .unwrap_err()
                .contains("--max-clip-seconds")
        );
        // Streams: the hop at 0.25 s passes, below it (the probe's 1e-9) not; rates as uploads.
        assert!(stream(16_000, MIN_HOP_SECONDS).is_ok());
        assert!(stream(16_000, 0.249).is_err());
        assert!(stream(16_000, 1e-9).is_err());
        assert!(stream(16_000, MAX_HOP_SECONDS).is_ok());
        assert!(stream(16_000, MAX_HOP_SECONDS + 1.0).is_err());
        assert!(stream(16_000, f64::NAN).is_err());
        assert!(stream(MAX_RATE_HZ, 1.0).is_ok());
        assert!(stream(MAX_RATE_HZ + 1, 1.0).is_err());
        assert!(stream(MIN_RATE_HZ - 1, 1.0).is_err());
    }
}
