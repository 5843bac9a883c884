//! Small signal-processing blocks for the synthetic machines: biquad filters (RBJ cookbook),
//! coloured noise, resonant impulses.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use std::f64::consts::PI;

pub const RATE: f64 = 16_000.0;

/// A direct-form-I biquad.
#[derive(Debug, Clone, Copy)]
pub struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    x: [f64; 2],
    y: [f64; 2],
}

impl Biquad {
    fn from(b0: f64, b1: f64, b2: f64, a0: f64, a1: f64, a2: f64) -> Self {
        Self {
            b: [b0 / a0, b1 / a0, b2 / a0],
            a: [a1 / a0, a2 / a0],
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    fn omega(f: f64) -> (f64, f64) {
        let w = 2.0 * PI * (f / RATE).clamp(1e-5, 0.49);
        (w.cos(), w.sin())
    }

    pub fn lowpass(f: f64, q: f64) -> Self {
        let (c, s) = Self::omega(f);
        let alpha = s / (2.0 * q);
        Self::from(
            (1.0 - c) / 2.0,
            1.0 - c,
            (1.0 - c) / 2.0,
            1.0 + alpha,
            -2.0 * c,
            1.0 - alpha,
        )
    }

    pub fn highpass(f: f64, q: f64) -> Self {
        let (c, s) = Self::omega(f);
        let alpha = s / (2.0 * q);
        Self::from(
            (1.0 + c) / 2.0,
            -(1.0 + c),
            (1.0 + c) / 2.0,
            1.0 + alpha,
            -2.0 * c,
            1.0 - alpha,
        )
    }

    /// Band-pass with 0 dB peak gain.
    pub fn bandpass(f: f64, q: f64) -> Self {
        let (c, s) = Self::omega(f);
        let alpha = s / (2.0 * q);
        Self::from(alpha, 0.0, -alpha, 1.0 + alpha, -2.0 * c, 1.0 - alpha)
    }

    /// Peaking equaliser: `gain_db` at `f`.
    pub fn peaking(f: f64, q: f64, gain_db: f64) -> Self {
        let (c, s) = Self::omega(f);
        let a = 10f64.powf(gain_db / 40.0);
        let alpha = s / (2.0 * q);
        Self::from(
            1.0 + alpha * a,
            -2.0 * c,
            1.0 - alpha * a,
            1.0 + alpha / a,
            -2.0 * c,
            1.0 - alpha / a,
        )
    }

    #[inline]
    pub fn tick(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1]
            - self.a[0] * self.y[0]
            - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }

    pub fn apply(&mut self, x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = self.tick(f64::from(*v)) as f32;
        }
    }
}

pub fn white<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let v: f64 = StandardNormal.sample(rng);
            v as f32
        })
        .collect()
}

/// Pink (1/f) noise, Paul Kellet's economy filter.
pub fn pink<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Vec<f32> {
    let (mut b0, mut b1, mut b2) = (0.0f64, 0.0f64, 0.0f64);
    (0..n)
        .map(|_| {
            let w: f64 = StandardNormal.sample(rng);
            b0 = 0.99765 * b0 + w * 0.0990460;
            b1 = 0.96300 * b1 + w * 0.2965164;
            b2 = 0.57000 * b2 + w * 1.0526913;
            ((b0 + b1 + b2 + w * 0.1848) * 0.2) as f32
        })
        .collect()
}

/// Band-limited noise: white noise through a band-pass.
pub fn band_noise<R: Rng + ?Sized>(n: usize, f: f64, q: f64, rng: &mut R) -> Vec<f32> {
    let mut x = white(n, rng);
    Biquad::bandpass(f, q).apply(&mut x);
    x
}

/// Adds, at each time (s), an impulse of the given amplitude ringing through a resonance at `f` Hz
/// that decays by 1/e in `decay_s`.
pub fn add_ringing(out: &mut [f32], times: &[(f64, f64)], f: f64, decay_s: f64) {
    let len = ((decay_s * 6.0) * RATE) as usize;
    let w = 2.0 * PI * f / RATE;
    for &(t, amp) in times {
        let start = (t * RATE).round();
        if start < 0.0 {
            continue;
        }
        let start = start as usize;
        for k in 0..len.min(out.len().saturating_sub(start)) {
            let tk = k as f64 / RATE;
            out[start + k] += (amp * (-tk / decay_s).exp() * (w * k as f64).sin()) as f32;
        }
    }
}

pub fn rms(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Scales `x` to the given RMS.
pub fn set_rms(x: &mut [f32], target: f64) {
    let r = rms(x);
    if r > 0.0 {
        let g = (target / r) as f32;
        x.iter_mut().for_each(|v| *v *= g);
    }
}

/// `x += g · y`, with `g` chosen so that `y` has RMS `level` times the RMS of `reference`.
pub fn mix_at(x: &mut [f32], y: &[f32], reference: f64, level: f64) {
    let r = rms(y);
    if r > 0.0 {
        let g = (reference * level / r) as f32;
        x.iter_mut().zip(y).for_each(|(a, b)| *a += g * b);
    }
}
