//! What every request handler shares: the service's state and limits, the query extractor, id
//! parsing, running blocking work, and scoring decoded clips (used by /score and /stream).

use crate::embedder::Embedder;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::monitors::{MonitorError, Monitors};
use axum::extract::Query;
use std::sync::Arc;

/// Limits and defaults of a running service.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Largest request body (all clips of one request together), bytes.
    pub max_body_bytes: usize,
    /// Longest clip one request may carry, seconds; longer recordings go to /stream.
    pub max_clip_seconds: f64,
    /// Most clips one request may carry.
    pub max_clips: usize,
    /// Bearer token every route but /healthz asks for.
    pub token: Option<String>,
    /// Hosts and origins answered beside the service's own (`crate::origin`).
    pub origins: crate::origin::OriginPolicy,
    /// Connection limits and timeouts (`crate::conn`).
    pub connections: crate::conn::ConnLimits,
    /// URL every alert raise and clear is posted to (JSON), retried with backoff.
    pub alert_webhook: Option<String>,
    /// How often changed banks' states are saved and each monitor's history is pruned.
    pub maintenance_every: std::time::Duration,
    /// The MQTT broker clips come from (`crate::mqtt`), if any.
    pub mqtt: Option<crate::mqtt::MqttTarget>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 << 20,
            max_clip_seconds: 60.0,
            max_clips: 256,
            token: None,
            origins: crate::origin::OriginPolicy::default(),
            connections: crate::conn::ConnLimits::default(),
            alert_webhook: None,
            maintenance_every: std::time::Duration::from_secs(600),
            mqtt: None,
        }
    }
}

pub struct AppState {
    pub monitors: Arc<Monitors>,
    pub embedder: Embedder,
    pub metrics: Metrics,
    pub opts: ServeOptions,
}

pub type Shared = Arc<AppState>;

/// A query string, refused with a JSON message naming the bad parameter (axum's own rejection is text).
pub struct Q<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Q(q.0))
            .map_err(|e| ApiError::bad_request(format!("query string: {}", e.body_text())))
    }
}

pub fn parse_id(raw: &str, what: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .map_err(|_| ApiError::not_found(format!("no {what} '{raw}' (ids are numbers)")))
}

/// Runs blocking work (bank updates, the store, decoding) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await?
}

/// Embeds and scores decoded clips; shared by /score and /stream.
pub async fn score_waves(
    s: &Shared,
    id: u64,
    clips: Vec<(String, Vec<f32>)>,
    origin: &'static str,
) -> Result<Vec<crate::monitors::ClipScore>, ApiError> {
    let clips = clips.into_iter().map(|(n, w)| (n, w, None)).collect();
    score_waves_keyed(s, id, clips, origin).await
}

/// [`score_waves`] with a key per clip (MQTT's): a key scored before is a conflict (409).
pub async fn score_waves_keyed(
    s: &Shared,
    id: u64,
    clips: Vec<(String, Vec<f32>, Option<String>)>,
    origin: &'static str,
) -> Result<Vec<crate::monitors::ClipScore>, ApiError> {
    // Refuse before spending an inference on a bank that cannot score.
    let n = s.monitors.get(id)?.size()?;
    if n < 2 {
        return Err(MonitorError::TooFewReferences { monitor: id, n }.into());
    }
    let mut names = Vec::with_capacity(clips.len());
    let mut waves = Vec::with_capacity(clips.len());
    let mut keys = Vec::with_capacity(clips.len());
    for (name, wave, key) in clips {
        names.push(name);
        waves.push(wave);
        keys.push(key);
    }
    let emb = s.embedder.embed(waves).await?;
    let monitors = s.monitors.clone();
    let results = blocking(move || {
        let batch = names
            .into_iter()
            .zip(emb)
            .zip(keys)
            .map(|((n, x), k)| (n, x, k))
            .collect();
        Ok(monitors.score_keyed(id, batch, origin)?)
    })
    .await?;
    let anomalies = results.iter().filter(|r| r.anomaly == Some(true)).count();
    s.metrics.scored(results.len(), anomalies);
    Ok(results)
}
