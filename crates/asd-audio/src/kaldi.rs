//! The Kaldi log-mel filter bank as torchaudio's `compliance.kaldi.fbank` computes it with its
//! defaults (what BEATs' `preprocess` calls): 25 ms frames every 10 ms taken only where a whole frame
//! fits (`snip_edges`), no dither, each frame's mean removed, pre-emphasis 0.97 (the first sample
//! against itself), the Povey window (a symmetric Hann window to the power 0.85), zero-padded to the
//! next power of two, power spectrum, triangular mel filters between 20 Hz and the Nyquist frequency
//! on the mel scale 1127 · ln(1 + f/700), log of the energies floored at float32's epsilon.
//! Computed in f64 and returned as f32 (torchaudio computes in f32; the two agree to ~1e-7).

use ndarray::Array2;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// The filter bank's settings; [`KaldiFbank::beats`] is what BEATs uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FbankConfig {
    pub sample_rate: u32,
    pub mel_bins: usize,
    /// Frame length and shift, milliseconds.
    pub frame_ms: f64,
    pub shift_ms: f64,
    pub low_hz: f64,
    pub preemphasis: f64,
}

impl Default for FbankConfig {
    /// torchaudio's defaults with BEATs' 128 bins at 16 kHz.
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            mel_bins: 128,
            frame_ms: 25.0,
            shift_ms: 10.0,
            low_hz: 20.0,
            preemphasis: 0.97,
        }
    }
}

/// A planned filter bank: window, FFT and mel filters computed once.
pub struct KaldiFbank {
    frame_len: usize,
    shift: usize,
    padded: usize,
    window: Vec<f64>,
    /// Per mel bin: the first FFT bin with a non-zero weight and the weights from there.
    filters: Vec<(usize, Vec<f64>)>,
    fft: Arc<dyn RealToComplex<f64>>,
    preemphasis: f64,
}

fn mel(f: f64) -> f64 {
    1127.0 * (1.0 + f / 700.0).ln()
}

impl KaldiFbank {
    pub fn new(c: FbankConfig) -> Self {
        let rate = f64::from(c.sample_rate);
        let frame_len = (rate * c.frame_ms / 1000.0).round() as usize;
        let shift = (rate * c.shift_ms / 1000.0).round() as usize;
        let padded = frame_len.max(1).next_power_of_two();
        let n = frame_len as f64;
        let window = (0..frame_len)
            .map(|i| {
                let hann = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1.0)).cos();
                hann.powf(0.85)
            })
            .collect();
        let fft_bins = padded / 2;
        let bin_hz = rate / padded as f64;
        let (lo, hi) = (mel(c.low_hz), mel(rate / 2.0));
        let delta = (hi - lo) / (c.mel_bins + 1) as f64;
        let filters = (0..c.mel_bins)
            .map(|b| {
                let left = lo + b as f64 * delta;
                let centre = lo + (b + 1) as f64 * delta;
                let right = lo + (b + 2) as f64 * delta;
                let w: Vec<f64> = (0..fft_bins)
                    .map(|k| {
                        let m = mel(bin_hz * k as f64);
                        let up = (m - left) / (centre - left);
                        let down = (right - m) / (right - centre);
                        up.min(down).max(0.0)
                    })
                    .collect();
                let first = w.iter().position(|&v| v > 0.0).unwrap_or(0);
                let last = w.iter().rposition(|&v| v > 0.0).map_or(first, |l| l + 1);
                (first, w[first..last.max(first)].to_vec())
            })
            .collect();
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(padded);
        Self {
            frame_len,
            shift,
            padded,
            window,
            filters,
            fft,
            preemphasis: c.preemphasis,
        }
    }

    /// BEATs' filter bank: 128 bins at 16 kHz, 25 ms / 10 ms.
    pub fn beats() -> Self {
        Self::new(FbankConfig::default())
    }

    /// Frames of a signal of `n` samples (0 when shorter than one frame).
    pub fn frames(&self, n: usize) -> usize {
        if n < self.frame_len {
            0
        } else {
            1 + (n - self.frame_len) / self.shift
        }
    }

    /// Samples needed for `frames` frames.
    pub fn samples_for(&self, frames: usize) -> usize {
        if frames == 0 {
            0
        } else {
            (frames - 1) * self.shift + self.frame_len
        }
    }

    /// Log mel energies (frames × mel bins) of `x`, whose samples are used as given (BEATs scales its
    /// [-1, 1] waves by 2¹⁵ first: [`KaldiFbank::compute_scaled`]).
    pub fn compute(&self, x: &[f32]) -> Array2<f32> {
        self.compute_scaled(x, 1.0)
    }

    /// [`KaldiFbank::compute`] of `x · scale`.
    pub fn compute_scaled(&self, x: &[f32], scale: f64) -> Array2<f32> {
        let frames = self.frames(x.len());
        let bins = self.filters.len();
        let mut out = Array2::<f32>::zeros((frames, bins));
        let mut buf = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f64; self.padded / 2 + 1];
        let eps = f64::from(f32::EPSILON);
        for t in 0..frames {
            let seg = &x[t * self.shift..t * self.shift + self.frame_len];
            let mean = seg.iter().map(|&v| f64::from(v) * scale).sum::<f64>() / seg.len() as f64;
            let mut prev = f64::from(seg[0]) * scale - mean;
            for (i, &v) in seg.iter().enumerate() {
                let cur = f64::from(v) * scale - mean;
                buf[i] = (cur - self.preemphasis * prev) * self.window[i];
                prev = cur;
            }
            buf[self.frame_len..].iter_mut().for_each(|v| *v = 0.0);
            // Lengths match by construction, so the transform cannot fail.
            let _ = self
                .fft
                .process_with_scratch(&mut buf, &mut spec, &mut scratch);
            for (p, c) in power.iter_mut().zip(&spec) {
                *p = c.norm_sqr();
            }
            for (b, (first, w)) in self.filters.iter().enumerate() {
                let e: f64 = w.iter().zip(&power[*first..]).map(|(w, p)| w * p).sum();
                out[[t, b]] = e.max(eps).ln() as f32;
            }
        }
        out
    }
}
