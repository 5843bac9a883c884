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

fn decode_stream(
    mss: MediaSourceStream,
    path: &Path,
    mode: ChannelMode,
) -> Result<Audio, AudioError> {
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let format_err = |e: SymError| AudioError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(format_err)?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| AudioError::Format {
            path: path.to_path_buf(),
            reason: "no audio track".into(),
        })?;
    let track_id = track.id;
    let expected_frames = track.num_frames;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| AudioError::Format {
            path: path.to_path_buf(),
            reason: "the track has no audio parameters".into(),
        })?
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(format_err)?;
    let mut sample_rate = params.sample_rate;
    let mut channels = params.channels.as_ref().map(|c| c.count());

    let mut mono: Vec<f32> = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut frames_read: u64 = 0;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // A stream that ends inside a packet is truncated; the frame count check below reports it.
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => {
                return Err(AudioError::Corrupt {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = decoder.decode(&packet).map_err(|e| AudioError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let spec = buf.spec();
        sample_rate.get_or_insert(spec.rate());
        let n_ch = spec.channels().count().max(1);
        channels.get_or_insert(n_ch);
        let frames = buf.frames();
        interleaved.resize(frames * n_ch, 0.0);
        buf.copy_to_slice_interleaved(&mut interleaved[..]);
        frames_read += frames as u64;
        match mode {
            ChannelMode::Average => {
                let scale = 1.0 / n_ch as f32;
                mono.extend(
                    interleaved
                        .chunks_exact(n_ch)
                        .map(|f| f.iter().sum::<f32>() * scale),
                );
            }
            ChannelMode::Pick(c) => {
                if c >= n_ch {
                    return Err(AudioError::NoSuchChannel {
                        path: path.to_path_buf(),
                        channel: c,
                        channels: n_ch,
                    });
                }
                mono.extend(interleaved.chunks_exact(n_ch).map(|f| f[c]));
            }
        }
    }
    if let Some(expected) = expected_frames
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
    let sample_rate = match sample_rate {
        Some(r) if r > 0 => r,
        _ => {
            return Err(AudioError::Format {
                path: path.to_path_buf(),
                reason: "no sample rate".into(),
            });
        }
    };
    Ok(Audio {
        samples: mono,
        sample_rate,
        channels: channels.unwrap_or(1),
    })
}
