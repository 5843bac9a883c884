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
