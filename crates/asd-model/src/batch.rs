//! Turning clips into the network's input tensors.

use asd_audio::{FeatureExtractor, STFT_BINS};
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

/// Features of a batch, still on the host: spectra (B × L/2) and mean-normalised |STFT| (B × 513 × T).
#[derive(Debug, Clone)]
pub struct HostBatch {
    pub batch: usize,
    pub spectrum_len: usize,
    pub frames: usize,
    pub spectrum: Vec<f32>,
    pub stft: Vec<f32>,
}

impl HostBatch {
    /// Computes the features of equally long clips, in parallel.
    pub fn from_clips(fx: &FeatureExtractor, clips: &[Vec<f32>]) -> Self {
        let feats: Vec<(Vec<f32>, Vec<f32>)> = clips
            .par_iter()
            .map(|c| {
                let stft = fx.stft_input(c);
                (fx.spectrum(c), stft.iter().copied().collect())
            })
            .collect();
        let mut spectrum = Vec::with_capacity(clips.len() * fx.spectrum_len());
        let mut stft = Vec::with_capacity(clips.len() * STFT_BINS * fx.frames());
        for (s, t) in feats {
            spectrum.extend(s);
            stft.extend(t);
        }
        Self {
            batch: clips.len(),
            spectrum_len: fx.spectrum_len(),
            frames: fx.frames(),
            spectrum,
            stft,
        }
    }

    pub fn to_device(&self, device: &Device) -> (Tensor<2>, Tensor<3>) {
        let s = Tensor::from_data(
            TensorData::new(self.spectrum.clone(), [self.batch, self.spectrum_len]),
            device,
        );
        let t = Tensor::from_data(
            TensorData::new(self.stft.clone(), [self.batch, STFT_BINS, self.frames]),
            device,
        );
        (s, t)
    }
}
