//! What embeds the service's clips: the trained network or a frozen front-end (BEATs, STFT-raw: no
//! training at all). One thread owns it and embeds what the requests send, several requests' clips in
//! one batch when they queue up (many clients cost fewer, larger forward passes).

use crate::monitors::Space;
#[cfg(feature = "network")]
use asd_audio::FeatureExtractor;
use asd_audio::LoadOptions;
use asd_frontend::{Frontend, FrontendError, FrontendSpec};
#[cfg(feature = "network")]
use asd_model::embed::{EMBED_BATCH, embed_with_folded};
#[cfg(feature = "network")]
use asd_model::{ModelDir, ModelError};
use asd_scoring::Distance;
#[cfg(feature = "network")]
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;

struct Job {
    waves: Vec<Vec<f32>>,
    reply: oneshot::Sender<Result<Vec<Vec<f32>>, String>>,
}

/// A handle to the embedding thread; cheap to clone.
#[derive(Clone)]
pub struct Embedder {
    tx: mpsc::Sender<Job>,
    clip_len: usize,
    load: LoadOptions,
    key: String,
    space: Space,
    frontend: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedderError {
    #[cfg(feature = "network")]
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A model folder given to a build without the trained network.
    #[error("{0}: this build serves frozen front-ends only (built without the feature `network`)")]
    NoNetwork(String),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("the embedding thread has stopped")]
    Stopped,
    #[error(transparent)]
    Frontend(#[from] FrontendError),
    /// A clip the front-end cannot embed (shorter than one BEATs patch).
    #[error("{0}")]
    Clip(String),
}

/// The length of a /stream window for a frozen front-end: 10 s, DCASE's clip length.
const FRONTEND_WINDOW: usize = 160_000;

/// A 64-bit FNV-1a digest of the weights file: which model a store's embeddings belong to.
fn fnv1a(bytes: &[u8]) -> u64 {
    asd_core::hash::fnv1a(bytes.iter().copied())
}

/// The key of a model folder: its weights' digest.
#[cfg(feature = "network")]
pub fn model_key(model_dir: &Path) -> Result<String, EmbedderError> {
    let path = ModelDir::new(model_dir).path(asd_model::model_dir::WEIGHTS_FILE);
    let bytes = std::fs::read(&path).map_err(|e| EmbedderError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(format!("fnv1a64:{:016x}", fnv1a(&bytes)))
}

impl Embedder {
    /// Loads the model (on the CPU) and starts its thread.
    #[cfg(feature = "network")]
    pub fn start(model_dir: &Path) -> Result<Self, EmbedderError> {
        let key = model_key(model_dir)?;
        let device = asd_model::DeviceChoice::Cpu.device()?;
        let (net, cfg) = ModelDir::new(model_dir).load_net(&device)?;
        let clip_len = cfg.net.clip_len;
        let load = cfg.load_options();
        let folded = net.folded_for_inference();
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("asd-embed".into())
            .spawn(move || {
                let fx = FeatureExtractor::new(clip_len);
                while let Ok(first) = rx.recv() {
                    let mut jobs = vec![first];
                    let mut clips = jobs[0].waves.len();
                    while clips < EMBED_BATCH {
                        match rx.try_recv() {
                            Ok(j) => {
                                clips += j.waves.len();
                                jobs.push(j);
                            }
                            Err(_) => break,
                        }
                    }
                    let counts: Vec<usize> = jobs.iter().map(|j| j.waves.len()).collect();
                    let waves: Vec<Vec<f32>> =
                        jobs.iter_mut().flat_map(|j| j.waves.drain(..)).collect();
                    let emb = embed_with_folded(&folded, &fx, &waves, &device);
                    let mut rows = emb.outer_iter().map(|r| r.to_vec());
                    for (j, n) in jobs.into_iter().zip(counts) {
                        let mine: Vec<Vec<f32>> = rows.by_ref().take(n).collect();
                        // A request that gave up (client gone) no longer listens; nothing to do.
                        let _ = j.reply.send(Ok(mine));
                    }
                }
            })
            .map_err(|e| EmbedderError::Io {
                path: "asd-embed thread".into(),
                message: e.to_string(),
            })?;
        Ok(Self {
            tx,
            clip_len,
            load,
            key,
            space: Space::NETWORK,
            frontend: format!("the trained network of {}", model_dir.display()),
        })
    }

    /// A frozen front-end (no model folder, no training) and its thread. Clips are embedded whole.
    pub fn start_frontend(spec: &FrontendSpec) -> Result<Self, EmbedderError> {
        let Some(fe) = spec.load()? else {
            return Err(EmbedderError::Clip(
                "the network is not a frozen front-end: give --model".into(),
            ));
        };
        let key = match spec {
            FrontendSpec::Beats {
                weights,
                layer,
                pooling,
            } => {
                let bytes = std::fs::read(weights).map_err(|e| EmbedderError::Io {
                    path: weights.display().to_string(),
                    message: e.to_string(),
                })?;
                format!(
                    "beats:fnv1a64:{:016x}:layer={}:pooling={}",
                    fnv1a(&bytes),
                    layer.map_or_else(|| "last".to_string(), |l| l.to_string()),
                    pooling.name()
                )
            }
            _ => spec.name().to_string(),
        };
        let space = Space {
            dim: fe.dim(),
            distance: Distance::Euclidean,
        };
        let frontend = fe.describe();
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("asd-embed".into())
            .spawn(move || frontend_loop(&fe, &rx))
            .map_err(|e| EmbedderError::Io {
                path: "asd-embed thread".into(),
                message: e.to_string(),
            })?;
        Ok(Self {
            tx,
            clip_len: FRONTEND_WINDOW,
            load: LoadOptions::default(),
            key,
            space,
            frontend,
        })
    }

    /// Embeddings of clips already at the model's rate (the network: any length, tiled or cropped
    /// from 0; a front-end: whole clips).
    pub async fn embed(&self, waves: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>, EmbedderError> {
        if waves.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { waves, reply })
            .map_err(|_| EmbedderError::Stopped)?;
        rx.await
            .map_err(|_| EmbedderError::Stopped)?
            .map_err(EmbedderError::Clip)
    }

    /// The embeddings' length and distance.
    pub fn space(&self) -> Space {
        self.space
    }

    /// What embeds the clips, in words.
    pub fn frontend(&self) -> &str {
        &self.frontend
    }

    pub fn clip_len(&self) -> usize {
        self.clip_len
    }

    pub fn load_options(&self) -> LoadOptions {
        self.load
    }

    pub fn model_key(&self) -> &str {
        &self.key
    }
}

/// A front-end's thread: each request's clips in order; a clip it cannot embed fails its request.
fn frontend_loop(fe: &Frontend, rx: &mpsc::Receiver<Job>) {
    while let Ok(job) = rx.recv() {
        let out: Result<Vec<Vec<f32>>, String> = job
            .waves
            .iter()
            .enumerate()
            .map(|(i, w)| fe.embed(w).map_err(|e| format!("clip {i}: {e}")))
            .collect();
        let _ = job.reply.send(out);
    }
}
