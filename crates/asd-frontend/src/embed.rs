//! A front-end as one thing that turns a 16 kHz clip into a vector, and the embedding of a whole
//! dataset into an embedding set with it.

use crate::beats::{Beats, Pooling};
use crate::error::FrontendError;
use crate::partial::{Partial, PartialMeta};
use asd_audio::{LoadOptions, load_clip, stft_raw_embedding};
use asd_core::EmbeddingSet;
use asd_dataset::Dataset;
use ndarray::Array2;
use rayon::prelude::*;
use std::path::PathBuf;

/// What embeds a run's clips, as a run configuration names it (`frontend = { kind = "beats", weights =
/// "BEATs_iter3_plus_AS2M.pt" }`): the trained network, or a frozen front-end.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FrontendSpec {
    /// The paper's two-branch network, trained per ensemble member.
    #[default]
    Network,
    /// BEATs from a checkpoint, used frozen.
    Beats {
        weights: PathBuf,
        /// The layer whose tokens are pooled (default the last).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        layer: Option<usize>,
        #[serde(default)]
        pooling: Pooling,
    },
    /// The reference's STFT-raw.
    Stft,
    /// The authors' `BEATs-act`: BEATs used frozen, with a small head trained on its embeddings per
    /// ensemble member (`asd run` only: the head is trained there).
    BeatsAct {
        weights: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        layer: Option<usize>,
        #[serde(default)]
        pooling: Pooling,
    },
}

impl FrontendSpec {
    /// Whether it needs no training.
    pub fn is_frozen(&self) -> bool {
        matches!(self, Self::Beats { .. } | Self::Stft)
    }

    /// Whether a head is trained on a frozen front-end's embeddings (`beats-act`).
    pub fn trains_head(&self) -> bool {
        matches!(self, Self::BeatsAct { .. })
    }

    /// The frozen front-end whose embeddings are computed first: itself, BEATs for `beats-act`,
    /// `None` for the network.
    pub fn base(&self) -> Option<FrontendSpec> {
        match self {
            Self::Network => None,
            Self::Beats { .. } | Self::Stft => Some(self.clone()),
            Self::BeatsAct {
                weights,
                layer,
                pooling,
            } => Some(Self::Beats {
                weights: weights.clone(),
                layer: *layer,
                pooling: *pooling,
            }),
        }
    }

    /// The frozen front-end (`None` for the network, which is trained; BEATs for `beats-act`).
    pub fn load(&self) -> Result<Option<Frontend>, FrontendError> {
        Ok(match self {
            Self::Network => None,
            Self::BeatsAct { .. } => return self.base().map_or(Ok(None), |b| b.load()),
            Self::Beats {
                weights,
                layer,
                pooling,
            } => Some(Frontend::beats(weights, *layer, *pooling)?),
            Self::Stft => Some(Frontend::StftRaw),
        })
    }

    /// `network`, `beats` or `stft`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Beats { .. } => "beats",
            Self::Stft => "stft",
            Self::BeatsAct { .. } => "beats-act",
        }
    }
}

/// A frozen front-end: no training, the same vector for the same clip.
pub enum Frontend {
    /// BEATs from a checkpoint, one layer's tokens pooled.
    Beats {
        model: Box<Beats>,
        /// The layer taken (`None`: the last).
        layer: Option<usize>,
        pooling: Pooling,
        source: PathBuf,
    },
    /// The MERL code's `STFT-raw` (513 values).
    StftRaw,
}

impl Frontend {
    /// BEATs loaded from a checkpoint.
    pub fn beats(
        path: &std::path::Path,
        layer: Option<usize>,
        pooling: Pooling,
    ) -> Result<Self, FrontendError> {
        let model = Beats::load(path)?;
        if let Some(l) = layer
            && l > model.layer_count()
        {
            return Err(FrontendError::Input(format!(
                "--layer {l}: {} has layers 0 (the input of the first) to {}",
                path.display(),
                model.layer_count()
            )));
        }
        Ok(Self::Beats {
            model: Box::new(model),
            layer,
            pooling,
            source: path.to_path_buf(),
        })
    }

    /// `beats` or `stft`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Beats { .. } => "beats",
            Self::StftRaw => "stft",
        }
    }

    /// The length of an embedding.
    pub fn dim(&self) -> usize {
        match self {
            Self::Beats { model, pooling, .. } => model.pooled_dim(*pooling),
            Self::StftRaw => asd_audio::STFT_BINS,
        }
    }

    /// The weights file it was loaded from, if any.
    pub fn weights_path(&self) -> Option<&std::path::Path> {
        match self {
            Self::Beats { source, .. } => Some(source),
            Self::StftRaw => None,
        }
    }

    /// One line saying what the front-end is, for logs and reports.
    pub fn describe(&self) -> String {
        match self {
            Self::Beats {
                model,
                layer,
                pooling,
                source,
            } => format!(
                "BEATs ({} layers, width {}, {} heads) from {}, layer {}, {} pooling, {}-d",
                model.cfg.encoder_layers,
                model.cfg.encoder_embed_dim,
                model.cfg.encoder_attention_heads,
                source.display(),
                layer.unwrap_or(model.layer_count()),
                pooling.name(),
                self.dim()
            ),
            Self::StftRaw => "STFT-raw (|STFT| per bin normalised by the clip's own statistics, mean |z| over time; 513-d)".into(),
        }
    }

    /// The embedding of one clip at 16 kHz.
    pub fn embed(&self, wave: &[f32]) -> Result<Vec<f32>, FrontendError> {
        match self {
            Self::Beats {
                model,
                layer,
                pooling,
                ..
            } => model.embed(wave, *layer, *pooling),
            Self::StftRaw => stft_raw_embedding(wave).ok_or_else(|| {
                FrontendError::Input(format!(
                    "a clip of {} samples is shorter than one STFT frame (1024 samples)",
                    wave.len()
                ))
            }),
        }
    }

    /// Embeddings of several clips (rows), in order; the first clip that fails is named by its row.
    pub fn embed_many(&self, waves: &[Vec<f32>]) -> Result<Array2<f32>, FrontendError> {
        let rows: Vec<Vec<f32>> = match self {
            // BEATs spreads each clip's work over the threads itself.
            Self::Beats { .. } => waves
                .iter()
                .enumerate()
                .map(|(i, w)| self.embed(w).map_err(|e| row_err(i, e)))
                .collect::<Result<_, _>>()?,
            Self::StftRaw => waves
                .par_iter()
                .enumerate()
                .map(|(i, w)| self.embed(w).map_err(|e| row_err(i, e)))
                .collect::<Result<_, _>>()?,
        };
        let d = self.dim();
        let mut out = Array2::<f32>::zeros((rows.len(), d));
        for (mut o, r) in out.rows_mut().into_iter().zip(&rows) {
            o.assign(&ndarray::ArrayView1::from(&r[..]));
        }
        Ok(out)
    }
}

fn row_err(i: usize, e: FrontendError) -> FrontendError {
    FrontendError::Input(format!("clip {i}: {e}"))
}

/// Unreadable clips: the file and why.
pub type Failures = Vec<(PathBuf, String)>;

/// Embeds every clip of a dataset (decoded with `load`, at 16 kHz, whole: no tiling or cropping);
/// clips that cannot be read or are too short are left out and returned with the reason. Clips are
/// decoded on a worker thread one batch ahead of the front-end. With `partial`, progress is saved in
/// shards and a later call goes on where an interrupted one stopped (`crate::partial`). `tick` sees
/// the clips done after each batch; returning false stops the work (what is done is saved) with
/// [`FrontendError::Interrupted`].
pub fn embed_dataset(
    fe: &Frontend,
    ds: &Dataset,
    load: LoadOptions,
    partial: Option<&Partial>,
    tick: &mut dyn FnMut(usize) -> bool,
) -> Result<(EmbeddingSet, Failures), FrontendError> {
    const BATCH: usize = 16;
    let load = LoadOptions {
        rate: crate::beats::BEATS_RATE,
        ..load
    };
    let all: Vec<PathBuf> = ds.clips.iter().map(|c| c.path.clone()).collect();
    let meta = PartialMeta {
        frontend: fe.describe(),
        weights: fe.weights_path().and_then(|p| {
            let m = std::fs::metadata(p).ok()?;
            let t = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
            Some((m.len(), t.as_nanos()))
        }),
        dim: fe.dim(),
        clips: all.len(),
        paths: format!(
            "fnv1a64:{:016x}",
            asd_core::hash::fnv1a(all.iter().flat_map(|p| {
                p.to_string_lossy()
                    .into_owned()
                    .into_bytes()
                    .into_iter()
                    .chain([b'\n'])
            }))
        ),
    };
    let resumed = match partial {
        Some(p) => p.open(&meta)?,
        None => Default::default(),
    };
    if resumed.done() > 0 {
        tracing::info!(
            "going on from {} clips embedded before ({} shards)",
            resumed.done(),
            resumed.shards
        );
    }
    let todo: Vec<usize> = (0..all.len())
        .filter(|i| !resumed.rows.contains_key(i) && !resumed.failed.contains_key(i))
        .collect();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(usize, Result<Vec<f32>, String>)>>(2);
    let producer = {
        let todo = todo.clone();
        std::thread::spawn(move || {
            for chunk in todo.chunks(BATCH) {
                let loaded = chunk
                    .par_iter()
                    .map(|&i| {
                        (
                            i,
                            load_clip(&all[i], &load)
                                .map(|a| a.samples)
                                .map_err(|e| e.to_string()),
                        )
                    })
                    .collect();
                if tx.send(loaded).is_err() {
                    break;
                }
            }
        })
    };
    let mut rows: Vec<(usize, Vec<f32>)> = resumed.rows.into_iter().collect();
    let mut failed: Vec<(usize, String)> = resumed.failed.into_iter().collect();
    let (mut pending_rows, mut pending_failed) = (Vec::new(), Vec::new());
    let mut shard = resumed.shards;
    let mut stopped = false;
    for batch in rx {
        let n = batch.len();
        let embedded: Vec<(usize, Result<Vec<f32>, String>)> = match fe {
            Frontend::StftRaw => batch
                .into_par_iter()
                .map(|(i, r)| (i, r.and_then(|w| fe.embed(&w).map_err(|e| e.to_string()))))
                .collect(),
            Frontend::Beats { .. } => batch
                .into_iter()
                .map(|(i, r)| (i, r.and_then(|w| fe.embed(&w).map_err(|e| e.to_string()))))
                .collect(),
        };
        for (i, r) in embedded {
            match r {
                Ok(v) => pending_rows.push((i, v)),
                Err(e) => pending_failed.push((i, e)),
            }
        }
        let go_on = tick(n);
        let full = partial.is_none_or(|p| pending_rows.len() + pending_failed.len() >= p.every);
        if full || !go_on {
            if let Some(p) =
                partial.filter(|_| !(pending_rows.is_empty() && pending_failed.is_empty()))
            {
                p.save(shard, &pending_rows, &pending_failed)?;
                shard += 1;
            }
            rows.append(&mut pending_rows);
            failed.append(&mut pending_failed);
        }
        if !go_on {
            stopped = true;
            break;
        }
    }
    // A stop leaves the producer blocked on a full channel: the receiver is gone now, so it ends.
    producer
        .join()
        .map_err(|_| FrontendError::Input("the decoding worker thread failed".into()))?;
    if stopped {
        return Err(FrontendError::Interrupted {
            done: rows.len() + failed.len(),
            total: ds.clips.len(),
        });
    }
    rows.append(&mut pending_rows);
    failed.append(&mut pending_failed);
    rows.sort_by_key(|(i, _)| *i);
    failed.sort_by_key(|(i, _)| *i);
    let d = fe.dim();
    let mut emb = Array2::<f32>::zeros((rows.len(), d));
    let mut records = Vec::with_capacity(rows.len());
    for (r, (i, v)) in rows.into_iter().enumerate() {
        emb.row_mut(r).assign(&ndarray::ArrayView1::from(&v[..]));
        records.push(ds.clips[i].record.clone());
    }
    let set = EmbeddingSet::new(emb, records).map_err(|e| FrontendError::Input(e.to_string()))?;
    let failures = failed
        .into_iter()
        .map(|(i, e)| (ds.clips[i].path.clone(), e))
        .collect();
    Ok((set, failures))
}
