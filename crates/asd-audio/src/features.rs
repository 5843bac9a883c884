//! The network's two inputs, computed outside any autodiff graph: the magnitude spectrum of the whole
//! clip and the magnitude STFT with each frequency bin's temporal mean removed.

use ndarray::{Array2, ArrayViewMut2, Axis};
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

pub const N_FFT: usize = 1024;
pub const HOP: usize = 512;
pub const STFT_BINS: usize = N_FFT / 2 + 1;

/// Frames of an STFT without centring: ⌊(n − n_fft) / hop⌋ + 1.
pub fn stft_frames(n: usize) -> usize {
    if n < N_FFT { 0 } else { (n - N_FFT) / HOP + 1 }
}

/// Plans the FFTs once for a clip length; cheap to clone between worker threads.
#[derive(Clone)]
pub struct FeatureExtractor {
    len: usize,
    full: Arc<dyn RealToComplex<f32>>,
    frame: Arc<dyn RealToComplex<f32>>,
    window: Arc<Vec<f32>>,
}

impl std::fmt::Debug for FeatureExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureExtractor")
            .field("len", &self.len)
            .finish()
    }
}

impl FeatureExtractor {
    /// `len` is the clip length in samples (at least one STFT frame, even).
    pub fn new(len: usize) -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        // Periodic Hann, as torch.hann_window(1024) (the reference) computes it.
        let window = (0..N_FFT)
            .map(|n| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos()) as f32
            })
            .collect();
        Self {
            len,
            full: planner.plan_fft_forward(len),
            frame: planner.plan_fft_forward(N_FFT),
            window: Arc::new(window),
        }
    }

    pub fn clip_len(&self) -> usize {
        self.len
    }

    /// Length of [`Self::spectrum`]: the first half of the bins, Nyquist excluded.
    pub fn spectrum_len(&self) -> usize {
        self.len / 2
    }

    pub fn frames(&self) -> usize {
        stft_frames(self.len)
    }

    /// |FFT(x)| bins 0..len/2 of the full-length transform.
    pub fn spectrum(&self, x: &[f32]) -> Vec<f32> {
        assert_eq!(x.len(), self.len, "clip length fixed at planning time");
        let mut input = x.to_vec();
        let mut out = self.full.make_output_vec();
        let mut scratch = self.full.make_scratch_vec();
        // Lengths match by construction, so the transform cannot fail.
        let _ = self
            .full
            .process_with_scratch(&mut input, &mut out, &mut scratch);
        out[..self.len / 2].iter().map(|c| c.norm()).collect()
    }

    /// |STFT(x)| as (bins, frames), periodic Hann, no centring.
    pub fn stft_magnitude(&self, x: &[f32]) -> Array2<f32> {
        assert_eq!(x.len(), self.len, "clip length fixed at planning time");
        let frames = self.frames();
        let mut mag = Array2::<f32>::zeros((STFT_BINS, frames));
        let mut buf = self.frame.make_input_vec();
        let mut out = self.frame.make_output_vec();
        let mut scratch = self.frame.make_scratch_vec();
        for t in 0..frames {
            let seg = &x[t * HOP..t * HOP + N_FFT];
            for ((b, s), w) in buf.iter_mut().zip(seg).zip(self.window.iter()) {
                *b = s * w;
            }
            let _ = self
                .frame
                .process_with_scratch(&mut buf, &mut out, &mut scratch);
            for (f, c) in out.iter().enumerate() {
                mag[[f, t]] = c.norm();
            }
        }
        mag
    }

    /// The STFT branch's input: |STFT| with each bin's mean over time subtracted.
    pub fn stft_input(&self, x: &[f32]) -> Array2<f32> {
        let mut m = self.stft_magnitude(x);
        subtract_time_mean(m.view_mut());
        m
    }
}

/// Removes each row's (frequency bin's) mean over the columns (time).
pub fn subtract_time_mean(mut m: ArrayViewMut2<f32>) {
    for mut row in m.axis_iter_mut(Axis(0)) {
        let n = row.len().max(1) as f32;
        let mean = row.sum() / n;
        row.mapv_inplace(|v| v - mean);
    }
}

/// The MERL code's `STFT-raw` embedding (513 values) of one clip, exactly as its code computes it:
/// its STFT extractor's BatchNorm1d is left in training mode, so each bin's |STFT| over time is
/// normalised by the clip's own statistics (biased variance, eps 1e-5) before the mean of its absolute
/// value over time: embedding_f = mean_t |(m_t − mean m) / √(var m + 1e-5)|, with m_t = |STFT|(f, t)
/// (n_fft 1024, hop 512, periodic Hann, no centring). Not the plain temporal mean of |STFT| that the
/// reference's README describes. `None` for a clip shorter than one STFT frame (1 024 samples).
pub fn stft_raw_embedding(x: &[f32]) -> Option<Vec<f32>> {
    if x.len() < N_FFT {
        return None;
    }
    let m = FeatureExtractor::new(x.len()).stft_magnitude(x);
    Some(
        m.axis_iter(Axis(0))
            .map(|row| {
                let n = row.len() as f64;
                let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let var = row
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                let sd = (var + 1e-5).sqrt();
                (row.iter()
                    .map(|&v| ((f64::from(v) - mean) / sd).abs())
                    .sum::<f64>()
                    / n) as f32
            })
            .collect(),
    )
}
