//! Decoding of WAV (every PCM and float layout, WAVE_FORMAT_EXTENSIBLE), FLAC, OGG/Vorbis and MP3 through
//! symphonia, down-mixed to one channel.

use crate::error::AudioError;
use std::fs::File;
use std::path::Path;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// How several channels become the one the model sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelMode {
    /// The mean of all channels.
    #[default]
    Average,
    /// One channel, counted from 0.
    Pick(usize),
}

/// A decoded mono clip at its file's own sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    /// Channels in the file (before down-mixing).
    pub channels: usize,
}

impl Audio {
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// Decodes a whole file. Truncated files, files without samples and NaN/Inf samples are errors, never
/// silently shortened or passed on.
pub fn decode_file(path: &Path, mode: ChannelMode) -> Result<Audio, AudioError> {
    let file = File::open(path).map_err(|source| AudioError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_stream(
        MediaSourceStream::new(Box::new(file), Default::default()),
        path,
        mode,
    )
}

/// Decodes a clip held in memory (an upload); `name` stands for the file in errors and its extension,
/// if any, helps to tell the format.
pub fn decode_bytes(bytes: Vec<u8>, name: &str, mode: ChannelMode) -> Result<Audio, AudioError> {
    let cursor = std::io::Cursor::new(bytes);
    decode_stream(
        MediaSourceStream::new(Box::new(cursor), Default::default()),
        Path::new(name),
        mode,
    )
}

/// A file's length in seconds from its header (no decoding); decodes the file where the header does
/// not say (some MP3/OGG streams).
pub fn probe_seconds(path: &Path) -> Result<f64, AudioError> {
    let file = File::open(path).map_err(|source| AudioError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let format = symphonia::default::get_probe()
        .probe(
            &hint,
            MediaSourceStream::new(Box::new(file), Default::default()),
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| AudioError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let header = format.default_track(TrackType::Audio).and_then(|t| {
        let rate = t.codec_params.as_ref()?.audio()?.sample_rate?;
        Some((t.num_frames?, rate))
    });
    match header {
        Some((frames, rate)) if rate > 0 => Ok(frames as f64 / f64::from(rate)),
        _ => decode_file(path, ChannelMode::Average).map(|a| a.duration_s()),
    }
}

/// Decodes a whole stream; a panic inside the decoders (third-party parsers of hostile bytes: a
/// debug build of symphonia's WAV reader panics on an integer overflow the `audio` fuzz target found)
/// becomes an error naming the file instead of ending the process.
fn decode_stream(
    mss: MediaSourceStream,
    path: &Path,
    mode: ChannelMode,
) -> Result<Audio, AudioError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_stream_inner(mss, path, mode)
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(AudioError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("the decoder failed on it ({what})"),
        })
    })
}

/// Decodes a whole stream to one channel: open the track, read every packet down-mixed as `mode`
/// says, then check what was read.
fn decode_stream_inner(
    mss: MediaSourceStream,
    path: &Path,
    mode: ChannelMode,
) -> Result<Audio, AudioError> {
    let mut track = open_track(mss, path)?;
    let mut mono: Vec<f32> = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut frames_read: u64 = 0;
    let corrupt = |e: SymError| AudioError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    loop {
        let packet = match track.format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // A stream that ends inside a packet is truncated; the frame count check below reports it.
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(corrupt(e)),
        };
        if packet.track_id != track.id {
            continue;
        }
        let buf = track.decoder.decode(&packet).map_err(corrupt)?;
        let spec = buf.spec();
        track.sample_rate.get_or_insert(spec.rate());
        let n_ch = spec.channels().count().max(1);
        track.channels.get_or_insert(n_ch);
        interleaved.resize(buf.frames() * n_ch, 0.0);
        buf.copy_to_slice_interleaved(&mut interleaved[..]);
        frames_read += buf.frames() as u64;
        down_mix(&interleaved, n_ch, mode, &mut mono).map_err(|channel| {
            AudioError::NoSuchChannel {
                path: path.to_path_buf(),
                channel,
                channels: n_ch,
            }
        })?;
    }
    let sample_rate = checked(path, &track, frames_read, &mono)?;
    Ok(Audio {
        samples: mono,
        sample_rate,
        channels: track.channels.unwrap_or(1),
    })
}

/// An opened audio track and what its header says.
struct Track<'s> {
    format: Box<dyn symphonia::core::formats::FormatReader + 's>,
    decoder: Box<dyn symphonia::core::codecs::audio::AudioDecoder>,
    id: u32,
    expected_frames: Option<u64>,
    sample_rate: Option<u32>,
    channels: Option<usize>,
}

/// Probes the container and opens a decoder for its default audio track.
fn open_track<'s>(mss: MediaSourceStream<'s>, path: &Path) -> Result<Track<'s>, AudioError> {
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let format_err = |reason: String| AudioError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| format_err(e.to_string()))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| format_err("no audio track".into()))?;
    let (id, expected_frames) = (track.id, track.num_frames);
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| format_err("the track has no audio parameters".into()))?
        .clone();
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| format_err(e.to_string()))?;
    Ok(Track {
        format,
        decoder,
        id,
        expected_frames,
        sample_rate: params.sample_rate,
        channels: params.channels.as_ref().map(|c| c.count()),
    })
}

/// Appends interleaved frames of `n_ch` channels to `mono` as `mode` says; `Err(channel)` if the
/// channel asked for does not exist.
fn down_mix(
    interleaved: &[f32],
    n_ch: usize,
    mode: ChannelMode,
    mono: &mut Vec<f32>,
) -> Result<(), usize> {
    match mode {
        ChannelMode::Average => {
            let scale = 1.0 / n_ch as f32;
            mono.extend(
                interleaved
                    .chunks_exact(n_ch)
                    .map(|f| f.iter().sum::<f32>() * scale),
            );
        }
        ChannelMode::Pick(c) if c >= n_ch => return Err(c),
        ChannelMode::Pick(c) => mono.extend(interleaved.chunks_exact(n_ch).map(|f| f[c])),
    }
    Ok(())
}

/// What was decoded is whole (as many frames as the header announced), not empty, finite, and has
/// a sample rate, which is returned.
fn checked(
    path: &Path,
    track: &Track<'_>,
    frames_read: u64,
    mono: &[f32],
) -> Result<u32, AudioError> {
    if let Some(expected) = track.expected_frames
        && frames_read < expected
    {
        return Err(AudioError::Truncated {
            path: path.to_path_buf(),
            expected,
            found: frames_read,
        });
    }
    if mono.is_empty() {
        return Err(AudioError::Empty {
            path: path.to_path_buf(),
        });
    }
    let bad = mono.iter().filter(|x| !x.is_finite()).count();
    if bad > 0 {
        return Err(AudioError::NonFinite {
            path: path.to_path_buf(),
            count: bad,
        });
    }
    let (count, largest) = crate::resample::out_of_range(mono);
    if count > 0 {
        return Err(AudioError::OutOfRange {
            path: path.to_path_buf(),
            count,
            largest,
            limit: crate::MAX_SAMPLE_MAGNITUDE,
        });
    }
    match track.sample_rate {
        Some(r) if r > 0 => Ok(r),
        _ => Err(AudioError::Format {
            path: path.to_path_buf(),
            reason: "no sample rate".into(),
        }),
    }
}
