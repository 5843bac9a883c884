//! Writing 16-bit PCM WAV files atomically (temp file + rename), as the DCASE data sets ship them.

use std::io;
use std::path::Path;

/// Writes mono 16-bit PCM; samples are clipped to [-1, 1].
pub fn write_wav_i16(path: &Path, samples: &[f32], rate: u32) -> io::Result<()> {
    write_wav_i16_channels(path, &[samples], rate)
}

/// Writes one channel per slice (interleaved in the file, channel 0 first) as 16-bit PCM; samples
/// are clipped to [-1, 1]. Channels of unequal length are an error.
pub fn write_wav_i16_channels(path: &Path, channels: &[&[f32]], rate: u32) -> io::Result<()> {
    let n = channels.first().map_or(0, |c| c.len());
    if channels.is_empty() || channels.iter().any(|c| c.len() != n) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: needs at least one channel, all of one length",
                path.display()
            ),
        ));
    }
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let io_err = |e: hound::Error| match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    };
    // Built under a temporary name and renamed into place (asd_core::atomic).
    asd_core::atomic::write_with(path, |out| {
        let mut w = hound::WavWriter::new(out, spec).map_err(io_err)?;
        for i in 0..n {
            for c in channels {
                w.write_sample((c[i].clamp(-1.0, 1.0) * 32767.0).round() as i16)
                    .map_err(io_err)?;
            }
        }
        w.finalize().map_err(io_err)
    })
}
