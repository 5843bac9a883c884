//! Sample-rate conversion with rubato's FFT resampler (band-limited, delay compensated).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// Converts a mono signal between rates. Returns the input unchanged when the rates agree.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, String> {
    if from == to {
        return Ok(samples.to_vec());
    }
    if from == 0 || to == 0 {
        return Err("sample rate 0".into());
    }
    let mut resampler = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Input)
        .map_err(|e| e.to_string())?;
    let input = InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| e.to_string())?;
    let out = resampler
        .process_all(&input, samples.len(), None)
        .map_err(|e| e.to_string())?;
    let mut data = out.take_data();
    // process_all rounds up to whole output chunks; keep exactly the length the rate ratio implies.
    let want = (samples.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    data.truncate(want);
    Ok(data)
}
