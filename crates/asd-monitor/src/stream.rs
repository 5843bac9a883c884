//! `POST /v1/monitors/{id}/stream`: raw PCM in (a microphone pipe), one score per full window out, as
//! newline-delimited JSON written while the body is still arriving.

use crate::error::ApiError;
use crate::http::{Q, Shared, parse_id, score_waves};
use crate::monitors::MonitorError;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SampleFormat {
    S16le,
    S32le,
    F32le,
}

impl SampleFormat {
    fn bytes(self) -> usize {
        match self {
            SampleFormat::S16le => 2,
            SampleFormat::S32le | SampleFormat::F32le => 4,
        }
    }

    fn decode(self, b: &[u8]) -> f32 {
        match self {
            SampleFormat::S16le => f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0,
            SampleFormat::S32le => {
                i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0
            }
            SampleFormat::F32le => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// s16le (default), s32le or f32le, interleaved.
    pub format: Option<SampleFormat>,
    /// Sample rate of the stream (default 16000).
    pub rate: Option<u32>,
    /// Channels, interleaved (default 1); averaged, as the CLI does.
    pub channels: Option<usize>,
    /// Seconds between window starts (default: one window, no overlap).
    pub hop_seconds: Option<f64>,
    /// Name of the stream in the history (default "stream").
    pub name: Option<String>,
}

/// Turns a byte stream into mono samples, keeping a partial frame for the next chunk.
pub struct PcmDecoder {
    format: SampleFormat,
    channels: usize,
    pending: Vec<u8>,
}

impl PcmDecoder {
    pub fn new(format: SampleFormat, channels: usize) -> Self {
        Self {
            format,
            channels,
            pending: Vec::new(),
        }
    }

    /// Appends the mono samples of every complete frame; `Err` names a non-finite float sample.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<f32>) -> Result<(), String> {
        self.pending.extend_from_slice(chunk);
        let frame = self.channels * self.format.bytes();
        let whole = self.pending.len() / frame * frame;
        let scale = 1.0 / self.channels as f32;
        for f in self.pending[..whole].chunks_exact(frame) {
            let v: f32 = f
                .chunks_exact(self.format.bytes())
                .map(|b| self.format.decode(b))
                .sum::<f32>()
                * scale;
            if !v.is_finite() {
                return Err("the stream holds a NaN or infinite sample".into());
            }
            out.push(v);
        }
        self.pending.drain(..whole);
        Ok(())
    }

    /// Bytes of an incomplete frame left at the end.
    pub fn leftover(&self) -> usize {
        self.pending.len()
    }
}

fn line(v: serde_json::Value) -> Result<Bytes, std::io::Error> {
    let mut s = v.to_string();
    s.push('\n');
    Ok(Bytes::from(s))
}

pub async fn stream(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Q(q): Q<StreamQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "monitor")?;
    let n = s.monitors.get(id)?.size()?;
    if n < 2 {
        return Err(MonitorError::TooFewReferences { monitor: id, n }.into());
    }
    let format = q.format.unwrap_or(SampleFormat::S16le);
    let rate = q.rate.unwrap_or(asd_audio::MODEL_RATE);
    let channels = q.channels.unwrap_or(1);
    if !(1000..=384_000).contains(&rate) {
        return Err(ApiError::bad_request(format!(
            "rate {rate} Hz outside 1000 to 384000"
        )));
    }
    if !(1..=64).contains(&channels) {
        return Err(ApiError::bad_request(format!(
            "channels {channels} outside 1 to 64"
        )));
    }
    let clip_len = s.embedder.clip_len();
    let window_s = clip_len as f64 / f64::from(asd_audio::MODEL_RATE);
    let hop_s = q.hop_seconds.unwrap_or(window_s);
    if !(hop_s > 0.0 && hop_s <= 3600.0) {
        return Err(ApiError::bad_request(format!(
            "hop_seconds {hop_s} outside (0, 3600]"
        )));
    }
    let window = (window_s * f64::from(rate)).round() as usize;
    let hop = ((hop_s * f64::from(rate)).round() as usize).max(1);
    let name = q.name.unwrap_or_else(|| "stream".to_string());
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        let mut data = body.into_data_stream();
        let mut dec = PcmDecoder::new(format, channels);
        let mut samples: Vec<f32> = Vec::new();
        let mut start: u64 = 0;
        let mut windows = 0usize;
        let mut failed = None;
        'read: while let Some(chunk) = data.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    failed = Some(format!("reading the stream: {e}"));
                    break;
                }
            };
            if let Err(e) = dec.push(&chunk, &mut samples) {
                failed = Some(e);
                break;
            }
            while samples.len() >= window {
                let mut w = samples[..window].to_vec();
                if rate != asd_audio::MODEL_RATE {
                    match asd_audio::resample(&w, rate, asd_audio::MODEL_RATE) {
                        Ok(r) => w = r,
                        Err(e) => {
                            failed = Some(format!("resampling: {e}"));
                            break 'read;
                        }
                    }
                }
                let t0 = start as f64 / f64::from(rate);
                let file = format!("{name}@{t0:.2}s");
                match score_waves(&s, id, vec![(file, w)], "stream").await {
                    Ok(r) => {
                        let mut v = serde_json::to_value(&r[0]).unwrap_or_default();
                        v["window"] = windows.into();
                        v["start_seconds"] = t0.into();
                        if tx.send(line(v)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        failed = Some(e.message);
                        break 'read;
                    }
                }
                windows += 1;
                let step = hop.min(samples.len());
                samples.drain(..step);
                start += step as u64;
                if hop > step {
                    // A hop longer than the window skips samples still to come.
                    let mut skip = hop - step;
                    while skip > 0 {
                        let Some(Ok(c)) = data.next().await else {
                            break 'read;
                        };
                        let mut more = Vec::new();
                        if dec.push(&c, &mut more).is_err() {
                            break 'read;
                        }
                        let take = skip.min(more.len());
                        skip -= take;
                        start += take as u64;
                        samples.extend_from_slice(&more[take..]);
                    }
                }
            }
        }
        let mut end = serde_json::json!({
            "done": failed.is_none(),
            "windows": windows,
            "unscored_seconds": samples.len() as f64 / f64::from(rate),
            "leftover_bytes": dec.leftover(),
        });
        if let Some(e) = failed {
            end["error"] = e.into();
        }
        let _ = tx.send(line(end)).await;
    });
    let out = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(out),
    )
        .into_response())
}
