//! `POST /v1/monitors/{id}/stream`: raw PCM in (a microphone pipe), one score per full window out, as
//! newline-delimited JSON written while the body is still arriving.

use crate::error::ApiError;
use crate::monitors::MonitorError;
use crate::state::{Q, Shared, parse_id, score_waves};
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

/// A NaN or infinite float in a PCM stream: the stream is refused from there on.
#[derive(Debug, thiserror::Error)]
#[error("the stream holds a NaN or infinite sample (frame {frame}, counted from 0)")]
pub struct NonFiniteSample {
    pub frame: u64,
}

/// Turns a byte stream into mono samples, keeping a partial frame for the next chunk.
pub struct PcmDecoder {
    format: SampleFormat,
    channels: usize,
    pending: Vec<u8>,
    frames: u64,
}

impl PcmDecoder {
    pub fn new(format: SampleFormat, channels: usize) -> Self {
        Self {
            format,
            channels,
            pending: Vec::new(),
            frames: 0,
        }
    }

    /// Appends the mono samples of every complete frame; `Err` names a non-finite float sample.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<f32>) -> Result<(), NonFiniteSample> {
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
                return Err(NonFiniteSample { frame: self.frames });
            }
            out.push(v);
            self.frames += 1;
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

/// Checks the query and the monitor, then answers with a body of JSON lines that a task writes
/// while it reads the PCM stream and scores each window.
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
    let w = windowing(q, s.embedder.clip_len())?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(score_windows(s, id, w, body, tx));
    let out = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(out),
    )
        .into_response())
}

/// How a stream is cut into windows: its sample layout, and window and hop in its own samples.
struct Windowing {
    format: SampleFormat,
    rate: u32,
    channels: usize,
    window: usize,
    hop: usize,
    name: String,
}

/// The query's settings with their defaults, each checked against its range.
fn windowing(q: StreamQuery, clip_len: usize) -> Result<Windowing, ApiError> {
    let format = q.format.unwrap_or(SampleFormat::S16le);
    let rate = q.rate.unwrap_or(asd_audio::MODEL_RATE);
    let channels = q.channels.unwrap_or(1);
    let window_s = asd_audio::model_seconds(clip_len);
    let hop_s = q.hop_seconds.unwrap_or(window_s);
    crate::limits::stream(rate, hop_s).map_err(ApiError::bad_request)?;
    if let Some(n) = &q.name {
        crate::limits::text_field("name", n, crate::limits::MAX_FILE_NAME_CHARS, false)?;
    }
    if !(1..=64).contains(&channels) {
        return Err(ApiError::bad_request(format!(
            "channels {channels} outside 1 to 64"
        )));
    }
    Ok(Windowing {
        format,
        rate,
        channels,
        window: (window_s * f64::from(rate)).round() as usize,
        hop: ((hop_s * f64::from(rate)).round() as usize).max(1),
        name: q.name.unwrap_or_else(|| "stream".to_string()),
    })
}

type Lines = tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>;

/// Why reading a stream stopped before its end.
enum Halt {
    Failed(String),
    ClientGone,
}

/// Where a stream stands: the decoder, the samples not yet past, where they start, windows sent,
/// and for the end of the stream the last window's worth of samples, their count, and where the last
/// scored window ended.
struct Progress {
    dec: PcmDecoder,
    samples: Vec<f32>,
    start: u64,
    windows: usize,
    recent: std::collections::VecDeque<f32>,
    total: u64,
    scored_to: u64,
}

impl Progress {
    /// Decodes a chunk, counting its samples and keeping the most recent window's worth of them for
    /// the tail; returns them.
    fn take(&mut self, chunk: &[u8], window: usize) -> Result<Vec<f32>, NonFiniteSample> {
        let mut new = Vec::new();
        self.dec.push(chunk, &mut new)?;
        self.total += new.len() as u64;
        for &x in &new {
            if self.recent.len() == window {
                self.recent.pop_front();
            }
            self.recent.push_back(x);
        }
        Ok(new)
    }
}

/// The task behind a stream's answer: one line per scored window, then a closing line with the
/// totals (and the error, if one stopped it); nothing more once the client has gone.
async fn score_windows(s: Shared, id: u64, w: Windowing, body: Body, tx: Lines) {
    let mut data = body.into_data_stream();
    let mut p = Progress {
        dec: PcmDecoder::new(w.format, w.channels),
        samples: Vec::new(),
        start: 0,
        windows: 0,
        recent: std::collections::VecDeque::with_capacity(w.window),
        total: 0,
        scored_to: 0,
    };
    let mut failed = match read_and_score(&s, id, &w, &mut data, &mut p, &tx).await {
        Ok(()) => None,
        Err(Halt::Failed(e)) => Some(e),
        Err(Halt::ClientGone) => return,
    };
    // The end of the stream that no window reached: scored as one more window that ends with the
    // stream (overlapping the one before), or, for a stream shorter than a window, as a short clip
    // (tiled as an uploaded one is). Too short for a clip (under the upload minimum): said below.
    let mut tail = false;
    if failed.is_none() && p.total > p.scored_to {
        let wave: Vec<f32> = p.recent.iter().copied().collect();
        let start = p.total - wave.len() as u64;
        if crate::limits::clip(w.rate, wave.len(), f64::INFINITY).is_ok() {
            match score_wave(&s, id, &w, wave, start, &mut p, &tx, true).await {
                Ok(()) => tail = true,
                Err(Halt::Failed(e)) => failed = Some(e),
                Err(Halt::ClientGone) => return,
            }
        }
    }
    let mut end = serde_json::json!({
        "done": failed.is_none(),
        "windows": p.windows,
        "tail_scored": tail,
        "unscored_seconds": (p.total - p.scored_to.min(p.total)) as f64 / f64::from(w.rate),
        "leftover_bytes": p.dec.leftover(),
    });
    if let Some(e) = failed {
        end["error"] = e.into();
    }
    let _ = tx.send(line(end)).await;
}

async fn read_and_score(
    s: &Shared,
    id: u64,
    w: &Windowing,
    data: &mut axum::body::BodyDataStream,
    p: &mut Progress,
    tx: &Lines,
) -> Result<(), Halt> {
    while let Some(chunk) = data.next().await {
        let chunk = chunk.map_err(|e| Halt::Failed(format!("reading the stream: {e}")))?;
        let new = p
            .take(&chunk, w.window)
            .map_err(|e| Halt::Failed(e.to_string()))?;
        p.samples.extend_from_slice(&new);
        while p.samples.len() >= w.window {
            let wave = p.samples[..w.window].to_vec();
            let start = p.start;
            score_wave(s, id, w, wave, start, p, tx, false).await?;
            if !advance(w, data, p).await {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Scores one window of the stream's samples starting at sample `start` and sends its line (`tail`:
/// the window that covers the end of the stream).
#[allow(clippy::too_many_arguments)]
async fn score_wave(
    s: &Shared,
    id: u64,
    w: &Windowing,
    mut wave: Vec<f32>,
    start: u64,
    p: &mut Progress,
    tx: &Lines,
    tail: bool,
) -> Result<(), Halt> {
    let end = start + wave.len() as u64;
    if w.rate != asd_audio::MODEL_RATE {
        wave = asd_audio::resample(&wave, w.rate, asd_audio::MODEL_RATE)
            .map_err(|e| Halt::Failed(format!("resampling: {e}")))?;
    }
    let t0 = start as f64 / f64::from(w.rate);
    let file = format!("{}@{t0:.2}s", w.name);
    let r = score_waves(s, id, vec![(file, wave)], "stream")
        .await
        .map_err(|e| Halt::Failed(e.message))?;
    let mut v = serde_json::to_value(&r[0]).unwrap_or_default();
    v["window"] = p.windows.into();
    v["start_seconds"] = t0.into();
    v["seconds"] = ((end - start) as f64 / f64::from(w.rate)).into();
    if tail {
        v["tail"] = true.into();
    }
    tx.send(line(v)).await.map_err(|_| Halt::ClientGone)?;
    p.windows += 1;
    p.scored_to = p.scored_to.max(end);
    Ok(())
}

/// Moves one hop on: drops the hop's samples, reading past the buffer where the hop is longer
/// than the window. False if the stream ended (or broke) meanwhile.
async fn advance(w: &Windowing, data: &mut axum::body::BodyDataStream, p: &mut Progress) -> bool {
    let step = w.hop.min(p.samples.len());
    p.samples.drain(..step);
    p.start += step as u64;
    let mut skip = w.hop - step;
    while skip > 0 {
        let Some(Ok(c)) = data.next().await else {
            return false;
        };
        let Ok(more) = p.take(&c, w.window) else {
            return false;
        };
        let take = skip.min(more.len());
        skip -= take;
        p.start += take as u64;
        p.samples.extend_from_slice(&more[take..]);
    }
    true
}
