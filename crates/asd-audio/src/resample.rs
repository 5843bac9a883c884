//! Sample-rate conversion with rubato's FFT resampler (band-limited, delay compensated).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// Why a signal could not be resampled.
#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    #[error("a sample rate of 0 Hz")]
    ZeroRate,
    #[error("the resampler cannot be built: {0}")]
    Construction(#[from] rubato::ResamplerConstructionError),
    #[error("the samples do not form a buffer: {0}")]
    Buffer(String),
    #[error("resampling failed: {0}")]
    Process(#[from] rubato::ResampleError),
    #[error("{count} samples lie beyond ±{limit:e} (the largest is {largest:e})", limit = crate::MAX_SAMPLE_MAGNITUDE)]
    OutOfRange { count: usize, largest: f32 },
}

/// How many samples lie beyond ±[`crate::MAX_SAMPLE_MAGNITUDE`] (or are not finite), and the largest
/// magnitude among them.
pub fn out_of_range(samples: &[f32]) -> (usize, f32) {
    samples
        .iter()
        .filter(|x| x.is_nan() || x.abs() > crate::MAX_SAMPLE_MAGNITUDE)
        .fold((0, 0.0f32), |(n, m), x| (n + 1, m.max(x.abs())))
}

/// Converts a mono signal between rates. Returns the input unchanged when the rates agree.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleError> {
    if from == to {
        return Ok(samples.to_vec());
    }
    if from == 0 || to == 0 {
        return Err(ResampleError::ZeroRate);
    }
    // The FFT's sums of samples near f32's limit overflow, and rubato panics on the NaN they give.
    let (count, largest) = out_of_range(samples);
    if count > 0 {
        return Err(ResampleError::OutOfRange { count, largest });
    }
    let mut resampler = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Input)?;
    let input = InterleavedSlice::new(samples, 1, samples.len())
        .map_err(|e| ResampleError::Buffer(e.to_string()))?;
    let out = resampler.process_all(&input, samples.len(), None)?;
    let mut data = out.take_data();
    // process_all rounds up to whole output chunks; keep exactly the length the rate ratio implies.
    let want = (samples.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    data.truncate(want);
    Ok(data)
}
