//! Decoding of every WAV layout DCASE users meet, the compressed formats, and bad files.

use asd_audio::{AudioError, ChannelMode, LoadOptions, decode_file, load_clip};
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

const RATE: u32 = 16_000;

/// A 100 Hz sine, amplitude 0.5 on channel 0 and 0.25 on channel 1.
fn signal(ch: usize, i: usize) -> f64 {
    let amp = if ch == 0 { 0.5 } else { 0.25 };
    amp * (2.0 * PI * 100.0 * i as f64 / f64::from(RATE)).sin()
}

#[derive(Clone, Copy)]
enum Enc {
    U8,
    I16,
    I24,
    I32,
    F32,
    F64,
}

impl Enc {
    fn bits(self) -> u16 {
        match self {
            Enc::U8 => 8,
            Enc::I16 => 16,
            Enc::I24 => 24,
            Enc::I32 | Enc::F32 => 32,
            Enc::F64 => 64,
        }
    }
    fn is_float(self) -> bool {
        matches!(self, Enc::F32 | Enc::F64)
    }
    fn encode(self, v: f64, out: &mut Vec<u8>) {
        match self {
            Enc::U8 => out.push((v * 127.0 + 128.0).round() as u8),
            Enc::I16 => out.extend(((v * 32767.0).round() as i16).to_le_bytes()),
            Enc::I24 => out.extend(&((v * 8_388_607.0).round() as i32).to_le_bytes()[..3]),
            Enc::I32 => out.extend(((v * 2_147_483_647.0).round() as i32).to_le_bytes()),
            Enc::F32 => out.extend((v as f32).to_le_bytes()),
            Enc::F64 => out.extend(v.to_le_bytes()),
        }
    }
}

/// Builds a WAV file by hand so the tests do not depend on the writer they check against.
fn wav(
    enc: Enc,
    channels: u16,
    frames: usize,
    extensible: bool,
    sample: impl Fn(usize, usize) -> f64,
) -> Vec<u8> {
    let mut data = Vec::new();
    for i in 0..frames {
        for c in 0..channels as usize {
            enc.encode(sample(c, i), &mut data);
        }
    }
    let bits = enc.bits();
    let block = channels * bits / 8;
    let tag: u16 = if extensible {
        0xFFFE
    } else if enc.is_float() {
        3
    } else {
        1
    };
    let mut fmt = Vec::new();
    fmt.extend(tag.to_le_bytes());
    fmt.extend(channels.to_le_bytes());
    fmt.extend(RATE.to_le_bytes());
    fmt.extend((RATE * u32::from(block)).to_le_bytes());
    fmt.extend(block.to_le_bytes());
    fmt.extend(bits.to_le_bytes());
    if extensible {
        fmt.extend(22u16.to_le_bytes());
        fmt.extend(bits.to_le_bytes());
        let mask: u32 = if channels == 1 { 0x4 } else { 0x3 };
        fmt.extend(mask.to_le_bytes());
        let sub: u16 = if enc.is_float() { 3 } else { 1 };
        fmt.extend(sub.to_le_bytes());
        fmt.extend([
            0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
        ]);
    }
    let mut out = Vec::new();
    out.extend(b"RIFF");
    out.extend(((4 + 8 + fmt.len() + 8 + data.len()) as u32).to_le_bytes());
    out.extend(b"WAVE");
    out.extend(b"fmt ");
    out.extend((fmt.len() as u32).to_le_bytes());
    out.extend(&fmt);
    out.extend(b"data");
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(&data);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn max_err(got: &[f32], want: impl Fn(usize) -> f64) -> f64 {
    got.iter()
        .enumerate()
        .map(|(i, &g)| (f64::from(g) - want(i)).abs())
        .fold(0.0, f64::max)
}

#[test]
fn every_wav_layout_decodes_to_the_same_signal() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (Enc::U8, 1.0 / 64.0),
        (Enc::I16, 1e-4),
        (Enc::I24, 1e-6),
        (Enc::I32, 1e-6),
        (Enc::F32, 1e-7),
        (Enc::F64, 1e-7),
    ];
    for (enc, tol) in cases {
        for extensible in [false, true] {
            let name = format!("{}bit_{}_{extensible}.wav", enc.bits(), enc.is_float());
            let p = write(dir.path(), &name, &wav(enc, 1, 1600, extensible, signal));
            let a = decode_file(&p, ChannelMode::Average).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(a.sample_rate, RATE);
            assert_eq!(a.samples.len(), 1600, "{name}");
            let err = max_err(&a.samples, |i| signal(0, i));
            assert!(err < tol, "{name}: max error {err}");
        }
    }
}

#[test]
fn channels_are_averaged_or_picked() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "stereo.wav",
        &wav(Enc::I16, 2, 800, true, signal),
    );
    let mean = decode_file(&p, ChannelMode::Average).unwrap();
    assert_eq!(mean.channels, 2);
    assert!(max_err(&mean.samples, |i| 0.5 * (signal(0, i) + signal(1, i))) < 1e-4);
    let right = decode_file(&p, ChannelMode::Pick(1)).unwrap();
    assert!(max_err(&right.samples, |i| signal(1, i)) < 1e-4);
    let err = decode_file(&p, ChannelMode::Pick(2)).unwrap_err();
    assert!(
        matches!(err, AudioError::NoSuchChannel { channels: 2, .. }),
        "{err}"
    );
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// RMS of a signal, skipping the codec's start-up.
fn rms(x: &[f32]) -> f64 {
    let tail = &x[x.len() / 4..];
    (tail.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / tail.len() as f64).sqrt()
}

#[test]
fn compressed_formats_decode_and_resample_to_16k() {
    // Left 0.5, right 0.25: the average is a 0.375 sine, RMS 0.375/√2.
    for name in [
        "sine440_stereo.flac",
        "sine440_stereo.ogg",
        "sine440_stereo.mp3",
    ] {
        let a = decode_file(&data(name), ChannelMode::Average)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(a.sample_rate, 22_050, "{name}");
        assert_eq!(a.channels, 2, "{name}");
        let want = 0.375 / 2f64.sqrt();
        assert!(
            (rms(&a.samples) - want).abs() < 0.01,
            "{name}: rms {}",
            rms(&a.samples)
        );
        let r = load_clip(&data(name), &LoadOptions::default()).unwrap();
        assert_eq!(r.sample_rate, 16_000);
        let expect_len = (a.samples.len() as f64 * 16_000.0 / 22_050.0).ceil() as usize;
        assert!(
            r.samples.len().abs_diff(expect_len) <= 1,
            "{name}: {} vs {expect_len}",
            r.samples.len()
        );
        assert!(
            (rms(&r.samples) - want).abs() < 0.01,
            "{name}: resampled rms {}",
            rms(&r.samples)
        );
    }
}

#[test]
fn bad_files_give_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = wav(Enc::I16, 1, 1600, false, signal);
    // Cut in the middle of the data chunk.
    let truncated = write(dir.path(), "truncated.wav", &good[..good.len() / 2]);
    let empty = write(dir.path(), "empty.wav", &wav(Enc::I16, 1, 0, false, signal));
    let zero_bytes = write(dir.path(), "zero_bytes.wav", &[]);
    let text = write(dir.path(), "notes.wav", b"these are my notes, not audio\n");
    let nan = write(
        dir.path(),
        "nan.wav",
        &wav(Enc::F32, 1, 100, false, |_, i| {
            if i == 50 { f64::NAN } else { 0.1 }
        }),
    );
    let inf = write(
        dir.path(),
        "inf.wav",
        &wav(Enc::F64, 1, 100, false, |_, i| {
            if i % 10 == 0 { f64::INFINITY } else { 0.1 }
        }),
    );
    let missing = dir.path().join("missing.wav");

    let err = |p: &Path| decode_file(p, ChannelMode::Average).unwrap_err();
    assert!(
        matches!(
            err(&truncated),
            AudioError::Truncated { expected: 1600, .. }
        ),
        "{}",
        err(&truncated)
    );
    assert!(
        matches!(err(&empty), AudioError::Empty { .. }),
        "{}",
        err(&empty)
    );
    assert!(
        matches!(err(&zero_bytes), AudioError::Format { .. }),
        "{}",
        err(&zero_bytes)
    );
    assert!(
        matches!(err(&text), AudioError::Format { .. }),
        "{}",
        err(&text)
    );
    assert!(
        matches!(err(&nan), AudioError::NonFinite { count: 1, .. }),
        "{}",
        err(&nan)
    );
    assert!(
        matches!(err(&inf), AudioError::NonFinite { count: 10, .. }),
        "{}",
        err(&inf)
    );
    assert!(
        matches!(err(&missing), AudioError::Io { .. }),
        "{}",
        err(&missing)
    );
    for p in [&truncated, &empty, &zero_bytes, &text, &nan, &inf, &missing] {
        let e = err(p);
        assert_eq!(e.path(), p.as_path());
        assert!(
            e.to_string()
                .contains(p.file_name().unwrap().to_str().unwrap())
        );
    }
}

/// Found by the `audio` fuzz target: a float WAV at 1 000 Hz whose samples reach 3.4e38 made the
/// resampler's FFT overflow to NaN, and rubato panicked on it. Now refused where it is read.
#[test]
fn samples_near_the_float_limit_are_refused_not_resampled_into_a_panic() {
    let found = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz/resampler_panic.wav");
    let e = load_clip(&found, &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, AudioError::OutOfRange { .. }), "{e}");
    assert!(e.to_string().contains("resampler_panic.wav"), "{e}");
    // At the limit it is taken and resampled; one step past it, refused with the count.
    let dir = tempfile::tempdir().unwrap();
    let limit = f64::from(asd_audio::MAX_SAMPLE_MAGNITUDE);
    let at = write(
        dir.path(),
        "at.wav",
        &wav(Enc::F32, 1, 400, false, |_, i| {
            if i % 2 == 0 { limit } else { -limit }
        }),
    );
    let opts = LoadOptions::default();
    let a = load_clip(&at, &opts).unwrap();
    let down = asd_audio::resample(&a.samples, 16_000, 1_000).unwrap();
    assert!(!down.is_empty() && down.iter().all(|x| x.is_finite()));
    let past_value = f64::from(f32::from_bits(
        asd_audio::MAX_SAMPLE_MAGNITUDE.to_bits() + 1,
    ));
    let past = write(
        dir.path(),
        "past.wav",
        &wav(Enc::F32, 1, 400, false, |_, i| {
            if i == 7 || i == 9 { past_value } else { 0.1 }
        }),
    );
    let e = load_clip(&past, &opts).unwrap_err();
    assert!(matches!(e, AudioError::OutOfRange { count: 2, .. }), "{e}");
    // The resampler refuses such samples itself, whoever calls it.
    let r = asd_audio::resample(&[3.0e38, 0.0, 1.0], 1000, 16_000).unwrap_err();
    assert!(r.to_string().contains("beyond"), "{r}");
}

/// Found by the `audio` fuzz target: a PCM `fmt ` chunk of 65 535 channels × 32 bits overflows a
/// 16-bit product inside symphonia's WAV reader, which panics where overflow checks are on (debug
/// builds, this test's). An error naming the clip either way, never a panic out of the decoder.
#[test]
fn a_header_that_overflows_inside_the_decoder_is_an_error() {
    let mut b = Vec::new();
    b.extend(b"RIFF");
    b.extend(100u32.to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(16u32.to_le_bytes());
    b.extend(1u16.to_le_bytes()); // PCM
    b.extend(u16::MAX.to_le_bytes()); // channels
    b.extend(16_000u32.to_le_bytes());
    b.extend(64_000u32.to_le_bytes());
    b.extend(4u16.to_le_bytes());
    b.extend(32u16.to_le_bytes());
    b.extend(b"data");
    b.extend(8u32.to_le_bytes());
    b.extend([0u8; 8]);
    let e = asd_audio::decode_bytes(b, "overflow.wav", ChannelMode::Average).unwrap_err();
    assert!(e.to_string().starts_with("overflow.wav: "), "{e}");
}
