//! Audio input and the network's input features.
//!
//! A clip goes file → [`decode_file`] (mono) → [`resample()`](resample::resample) to 16 kHz → [`fit_length`] →
//! [`FeatureExtractor`] (|FFT| half spectrum and mean-normalised |STFT|).

pub mod decode;
pub mod error;
pub mod features;
pub mod kaldi;
pub mod length;
pub mod load;
pub mod resample;
pub mod wav;

pub use decode::{Audio, ChannelMode, decode_bytes, decode_file, probe_seconds};
pub use error::AudioError;
pub use features::{
    FeatureExtractor, HOP, N_FFT, STFT_BINS, stft_frames, stft_raw_embedding, subtract_time_mean,
};
pub use kaldi::{FbankConfig, KaldiFbank};
pub use length::{fit_length, random_offset};
pub use load::{LoadOptions, MODEL_RATE, load_bytes, load_clip, model_samples, model_seconds};
pub use resample::resample;
pub use wav::{write_wav_i16, write_wav_i16_channels};

/// The largest sample magnitude taken (float samples are nominally within ±1; integer formats decode
/// into it). Beyond it an FFT's sums and squares overflow f32, so such audio is refused where it is
/// read, with the count and the largest value.
pub const MAX_SAMPLE_MAGNITUDE: f32 = 1.0e6;
