//! Embedding clips with a trained model (eval mode): whole datasets into an embedding set, or raw
//! waveforms given as a NumPy array.

use crate::batch::HostBatch;
use crate::error::ModelError;
use crate::layers::host;
use crate::network::EmbeddingNet;
use asd_audio::{FeatureExtractor, LoadOptions, fit_length, load_clip};
use asd_core::EmbeddingSet;
use asd_dataset::Dataset;
use burn::tensor::Device;
use ndarray::Array2;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;

pub const EMBED_BATCH: usize = 32;

/// Embeds equally long waveforms (each row is one clip, already at the model's rate); rows of another
/// length are tiled or cropped from offset 0.
pub fn embed_waves(
    net: &EmbeddingNet,
    clip_len: usize,
    waves: &[Vec<f32>],
    device: &Device,
) -> Array2<f32> {
    let fx = FeatureExtractor::new(clip_len);
    // Inference only: BatchNorm folded into its neighbours (same numbers, one pass fewer per layer).
    embed_with_folded(&net.folded_for_inference(), &fx, waves, device)
}

/// [`embed_waves`] for a caller that keeps the folded network ([`EmbeddingNet::folded_for_inference`])
/// and the feature extractor of its clip length, as a service embedding clip after clip does.
pub fn embed_with_folded(
    folded: &EmbeddingNet,
    fx: &FeatureExtractor,
    waves: &[Vec<f32>],
    device: &Device,
) -> Array2<f32> {
    let clip_len = fx.clip_len();
    let mut out = Array2::<f32>::zeros((waves.len(), 512));
    for (b, chunk) in waves.chunks(EMBED_BATCH).enumerate() {
        let fitted: Vec<Vec<f32>> = chunk.iter().map(|w| fit_length(w, clip_len, 0)).collect();
        let (s, t) = HostBatch::from_clips(fx, &fitted).to_device(device);
        let v = host(folded.embed(s, t, false));
        for (r, row) in v.chunks(512).enumerate() {
            out.row_mut(b * EMBED_BATCH + r)
                .assign(&ndarray::ArrayView1::from(row));
        }
    }
    out
}

/// Embeds every clip of a dataset; unreadable clips are left out and returned with the reason.
/// Decoding and features run on worker threads one batch ahead of the network.
pub fn embed_dataset(
    net: &EmbeddingNet,
    clip_len: usize,
    load: LoadOptions,
    ds: &Dataset,
    device: &Device,
    tick: &mut dyn FnMut(usize),
) -> Result<(EmbeddingSet, Vec<(PathBuf, String)>), ModelError> {
    let (rows, failures) = embed_rows(net, clip_len, load, ds, device, tick)?;
    Ok((to_set(ds, rows, 512)?, failures))
}

/// Embeds every clip once per channel of `channels` (`None` = the mean of all channels) and
/// concatenates the channels' embeddings in that order, scaled by 1/√k so the result is a unit vector
/// again: with the near and the far microphone, the cosine distance between two clips is then the
/// mean of the two channels' distances (the far-aware `near+far` policy). A clip that fails on any
/// channel is left out, with the reason. One channel is [`embed_dataset`].
pub fn embed_dataset_channels(
    net: &EmbeddingNet,
    clip_len: usize,
    rate: u32,
    channels: &[Option<usize>],
    ds: &Dataset,
    device: &Device,
    tick: &mut dyn FnMut(usize),
) -> Result<(EmbeddingSet, Vec<(PathBuf, String)>), ModelError> {
    let k = channels.len().max(1);
    let mut joined: std::collections::BTreeMap<usize, Vec<f32>> = Default::default();
    let mut failures = Vec::new();
    for (c, &ch) in channels.iter().enumerate() {
        let load = crate::model_dir::load_options(ch);
        let load = LoadOptions { rate, ..load };
        let (rows, bad) = embed_rows(net, clip_len, load, ds, device, tick)?;
        failures.extend(bad);
        let rows: std::collections::BTreeMap<usize, Vec<f32>> = rows.into_iter().collect();
        if c == 0 {
            joined = rows;
        } else {
            joined.retain(|i, _| rows.contains_key(i));
            for (i, v) in joined.iter_mut() {
                v.extend_from_slice(&rows[i]);
            }
        }
    }
    let scale = 1.0 / (k as f32).sqrt();
    let rows: Vec<(usize, Vec<f32>)> = joined
        .into_iter()
        .map(|(i, v)| (i, v.into_iter().map(|x| x * scale).collect()))
        .collect();
    Ok((to_set(ds, rows, 512 * k)?, failures))
}

fn to_set(
    ds: &Dataset,
    mut rows: Vec<(usize, Vec<f32>)>,
    dim: usize,
) -> Result<EmbeddingSet, ModelError> {
    rows.sort_by_key(|(i, _)| *i);
    let mut emb = Array2::<f32>::zeros((rows.len(), dim));
    let mut records = Vec::with_capacity(rows.len());
    for (r, (i, v)) in rows.into_iter().enumerate() {
        emb.row_mut(r).assign(&ndarray::ArrayView1::from(&v[..]));
        records.push(ds.clips[i].record.clone());
    }
    EmbeddingSet::new(emb, records).map_err(|e| ModelError::Input(e.to_string()))
}

/// (index in `ds.clips`, embedding) of every readable clip, and the unreadable ones.
#[allow(clippy::type_complexity)]
fn embed_rows(
    net: &EmbeddingNet,
    clip_len: usize,
    load: LoadOptions,
    ds: &Dataset,
    device: &Device,
    tick: &mut dyn FnMut(usize),
) -> Result<(Vec<(usize, Vec<f32>)>, Vec<(PathBuf, String)>), ModelError> {
    let net = net.folded_for_inference();
    let clips = ds.clips.clone();
    let (tx, rx) = sync_channel::<(Vec<usize>, HostBatch, Vec<(PathBuf, String)>)>(2);
    let producer = std::thread::spawn(move || {
        let fx = FeatureExtractor::new(clip_len);
        let idx: Vec<usize> = (0..clips.len()).collect();
        for chunk in idx.chunks(EMBED_BATCH) {
            let loaded: Vec<(usize, Result<Vec<f32>, String>)> = chunk
                .par_iter()
                .map(|&i| {
                    let r = load_clip(&clips[i].path, &load)
                        .map(|a| fit_length(&a.samples, clip_len, 0))
                        .map_err(|e| e.to_string());
                    (i, r)
                })
                .collect();
            let mut ok = Vec::new();
            let mut waves = Vec::new();
            let mut bad = Vec::new();
            for (i, r) in loaded {
                match r {
                    Ok(w) => {
                        ok.push(i);
                        waves.push(w);
                    }
                    Err(e) => bad.push((clips[i].path.clone(), e)),
                }
            }
            let hb = HostBatch::from_clips(&fx, &waves);
            if tx.send((ok, hb, bad)).is_err() {
                break;
            }
        }
    });
    let mut rows: Vec<(usize, Vec<f32>)> = Vec::with_capacity(ds.clips.len());
    let mut failures = Vec::new();
    for (ok, hb, bad) in rx {
        failures.extend(bad);
        if !ok.is_empty() {
            let (s, t) = hb.to_device(device);
            let v = host(net.embed(s, t, false));
            for (k, i) in ok.iter().enumerate() {
                rows.push((*i, v[k * 512..(k + 1) * 512].to_vec()));
            }
        }
        tick(ok.len() + failures.len());
    }
    producer
        .join()
        .map_err(|_| ModelError::Input("the embedding worker thread failed".into()))?;
    Ok((rows, failures))
}
