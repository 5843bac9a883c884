//! Recording conditions: the factory background and the microphone. The target domain changes both
//! (as well as an operating attribute), which is what makes it a domain shift rather than new data.

use super::dsp::{Biquad, RATE, add_ringing, mix_at, pink, rms, white};
use asd_core::Domain;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

/// Adds the background of the domain at `level` × the machine's RMS.
pub fn add_background(x: &mut [f32], domain: Domain, hum_hz: f64, rng: &mut ChaCha8Rng) {
    let n = x.len();
    let level = rms(x);
    match domain {
        // Source: a steady hall: pink noise and mains hum at −20 dB.
        Domain::Source | Domain::Unknown => {
            let mut bg = pink(n, rng);
            let p = rng.random::<f64>() * 2.0 * PI;
            for (i, v) in bg.iter_mut().enumerate() {
                let t = i as f64 / RATE;
                *v += (0.3 * (2.0 * PI * hum_hz * t + p).sin()
                    + 0.15 * (4.0 * PI * hum_hz * t + p).sin()) as f32;
            }
            mix_at(x, &bg, level, 0.1);
        }
        // Target: a busier shop floor, 6 dB louder, low rumble and distant impacts from other machines.
        Domain::Target => {
            let mut bg = white(n, rng);
            Biquad::lowpass(250.0, 0.7).apply(&mut bg);
            let dur = n as f64 / RATE;
            let hits = (dur * (1.0 + 2.0 * rng.random::<f64>())).ceil() as usize;
            let times: Vec<(f64, f64)> = (0..hits)
                .map(|_| (rng.random::<f64>() * dur, 2.0 + 4.0 * rng.random::<f64>()))
                .collect();
            let r = rms(&bg);
            let mut clanks = vec![0.0f32; n];
            add_ringing(
                &mut clanks,
                &times,
                600.0 + 300.0 * rng.random::<f64>(),
                0.02,
            );
            mix_at(&mut bg, &clanks, r, 0.8);
            mix_at(x, &bg, level, 0.2);
        }
    }
}

/// Microphone responses: the source microphone is flat; the target one has one of these colourings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Microphone {
    Flat,
    /// Presence peak +6 dB at 3 kHz and a roll-off above 6 kHz.
    Bright,
    /// High-pass at 300 Hz and a −6 dB dip at 1 kHz.
    Thin,
}

impl Microphone {
    pub fn apply(self, x: &mut [f32]) {
        match self {
            Microphone::Flat => {}
            Microphone::Bright => {
                Biquad::peaking(3000.0, 1.0, 6.0).apply(x);
                Biquad::lowpass(6000.0, 0.7).apply(x);
            }
            Microphone::Thin => {
                Biquad::highpass(300.0, 0.7).apply(x);
                Biquad::peaking(1000.0, 1.0, -6.0).apply(x);
            }
        }
    }
}

/// Extra path from the machine to the far microphone: 4 m at 343 m/s.
pub const FAR_DELAY_S: f64 = 4.0 / 343.0;
/// The direct sound at the far microphone, relative to the near one (−10 dB).
pub const FAR_GAIN: f64 = 0.316;

/// The far microphone of DCASE 2026 (channel 1), from the machine's near-field signal and the room
/// background the near microphone recorded:
/// - the machine 4 m further away: 11.7 ms later, −10 dB, its high frequencies absorbed (low-pass
///   3 kHz), plus one wall reflection 18 ms after the direct sound at −16 dB;
/// - the same room background (diffuse sound reaches both microphones alike);
/// - noise that only the far position hears: a ventilation hiss (pink, high-passed at 200 Hz) at
///   0.3 × the machine's near-field RMS and, in half of the clips, one passing burst (a cart or a
///   voice-band murmur: white noise band-passed at 300–1500 Hz, 0.3–1 s with 50 ms fades) at 0.8 ×
///   that RMS.
pub fn far_microphone(machine: &[f32], room: &[f32], rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n = machine.len();
    let delay = (FAR_DELAY_S * RATE).round() as usize;
    let echo = delay + (0.018 * RATE).round() as usize;
    let mut direct = machine.to_vec();
    Biquad::lowpass(3000.0, 0.7).apply(&mut direct);
    let mut far = vec![0.0f32; n];
    for i in 0..n {
        let mut v = 0.0;
        if i >= delay {
            v += FAR_GAIN as f32 * direct[i - delay];
        }
        if i >= echo {
            v += 0.158 * direct[i - echo];
        }
        far[i] = v + room[i];
    }
    let level = rms(machine);
    let mut hiss = pink(n, rng);
    Biquad::highpass(200.0, 0.7).apply(&mut hiss);
    mix_at(&mut far, &hiss, level, 0.3);
    if rng.random::<f64>() < 0.5 && n > 0 {
        let dur_s = 0.3 + 0.7 * rng.random::<f64>();
        let len = ((dur_s * RATE) as usize).min(n);
        let start = rng.random_range(0..=n - len);
        let centre = 300.0 + 1200.0 * rng.random::<f64>();
        let mut burst = super::dsp::band_noise(len, centre, 1.5, rng);
        let fade = ((0.05 * RATE) as usize).min(len / 2).max(1);
        for k in 0..fade {
            let g = k as f32 / fade as f32;
            burst[k] *= g;
            burst[len - 1 - k] *= g;
        }
        let r = rms(&burst);
        if r > 0.0 {
            let g = (0.8 * level / r) as f32;
            for (k, b) in burst.iter().enumerate() {
                far[start + k] += g * b;
            }
        }
    }
    far
}
