//! The network behind the service: one thread owns it and embeds what the requests send, several
//! requests' clips in one batch when they queue up (many clients cost fewer, larger forward passes).

use asd_audio::{FeatureExtractor, LoadOptions};
use asd_model::embed::{EMBED_BATCH, embed_with_folded};
use asd_model::{ModelDir, ModelError};
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;

struct Job {
    waves: Vec<Vec<f32>>,
    reply: oneshot::Sender<Vec<Vec<f32>>>,
}

/// A handle to the embedding thread; cheap to clone.
#[derive(Clone)]
pub struct Embedder {
    tx: mpsc::Sender<Job>,
    clip_len: usize,
    load: LoadOptions,
    key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedderError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("the embedding thread has stopped")]
    Stopped,
}

/// A 64-bit FNV-1a digest of the weights file: which model a store's embeddings belong to.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The key of a model folder: its weights' digest.
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
                        let _ = j.reply.send(mine);
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
        })
    }

    /// Embeddings of clips already at the model's rate (any length: tiled or cropped from 0).
    pub async fn embed(&self, waves: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>, EmbedderError> {
        if waves.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { waves, reply })
            .map_err(|_| EmbedderError::Stopped)?;
        rx.await.map_err(|_| EmbedderError::Stopped)
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
