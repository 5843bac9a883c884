//! Physical sound models of the synthetic machines and their anomalies.
//!
//! Every model is driven by a shaft speed (or an event schedule) derived from the clip's attribute
//! value. All randomness of the normal sound is drawn first, from the clip's own generator; the anomaly
//! draws from a second generator, so that a clip rendered with and without an anomaly from the same
//! seed differs only by the fault.

use super::dsp::{Biquad, RATE, add_ringing, band_noise, mix_at, pink, rms, white};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

/// The four sound models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    /// Motor or bearing: shaft-rate fundamental with harmonics and slot harmonics, slight modulation.
    Rotating,
    /// Fan or blower: blade-pass tone and harmonics over broadband, modulated flow noise.
    Fan,
    /// Gearbox: tooth-mesh impacts ringing through a housing resonance, plus the mesh tone.
    Gearbox,
    /// Valve or solenoid: open/close clicks and flow hiss on a periodic schedule.
    Valve,
}

/// Faults, each subtle (about −10 to −20 dB against the machine) and specific to its model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnomalyKind {
    /// Rotating: outer-race impulse train at 3.57 × shaft rate exciting a high resonance.
    BearingFault,
    /// Rotating, fan: once-per-revolution component and modulation.
    Imbalance,
    /// Rotating, gearbox: irregular shaft speed (frequency modulation).
    FrequencyJitter,
    /// Fan: band of friction noise, bursting once per revolution.
    Rubbing,
    /// Fan: one damaged blade, adding shaft-rate side bands around the blade-pass tone.
    BladeDamage,
    /// Gearbox: one tooth strikes much harder once per revolution.
    BrokenTooth,
    /// Gearbox: mesh impacts modulated at the shaft rate.
    Eccentricity,
    /// Valve: whole open/close cycles missing.
    MissingEvent,
    /// Valve: chatter, a second click right after opening.
    ExtraClick,
    /// Valve: faint hiss while the valve is closed.
    Leak,
}

impl AnomalyKind {
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::BearingFault => "bearing_fault",
            AnomalyKind::Imbalance => "imbalance",
            AnomalyKind::FrequencyJitter => "frequency_jitter",
            AnomalyKind::Rubbing => "rubbing",
            AnomalyKind::BladeDamage => "blade_damage",
            AnomalyKind::BrokenTooth => "broken_tooth",
            AnomalyKind::Eccentricity => "eccentricity",
            AnomalyKind::MissingEvent => "missing_event",
            AnomalyKind::ExtraClick => "extra_click",
            AnomalyKind::Leak => "leak",
        }
    }
}

impl Model {
    pub fn anomalies(self) -> &'static [AnomalyKind] {
        use AnomalyKind::*;
        match self {
            Model::Rotating => &[BearingFault, Imbalance, FrequencyJitter],
            Model::Fan => &[Rubbing, Imbalance, BladeDamage],
            Model::Gearbox => &[BrokenTooth, Eccentricity, FrequencyJitter],
            Model::Valve => &[MissingEvent, ExtraClick, Leak],
        }
    }
}

/// Constant properties of one machine (the same for all its clips).
#[derive(Debug, Clone, Copy)]
pub struct Build {
    /// Blades (fan) or teeth (gearbox); unused otherwise.
    pub count: u32,
    /// Housing/structure resonance in Hz (impacts, clicks, bearing faults ring at it).
    pub resonance_hz: f64,
    /// Scales the valve schedule's period and opening time.
    pub tempo: f64,
}

/// A fault to add: its kind and severity in [0, 1] (scales its level inside the kind's range).
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    pub kind: AnomalyKind,
    pub severity: f64,
}

/// Shaft speed over time: the nominal rate with a slow drift, optionally with fault jitter.
fn speed_curve(n: usize, nominal: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let phase = rng.random::<f64>() * 2.0 * PI;
    let drift_hz = 0.2 + 0.3 * rng.random::<f64>();
    (0..n)
        .map(|i| {
            let t = i as f64 / RATE;
            nominal * (1.0 + 0.003 * (2.0 * PI * drift_hz * t + phase).sin())
        })
        .collect()
}

fn jitter_speed(speed: &mut [f64], depth: f64, arng: &mut ChaCha8Rng) {
    // Low-passed noise (below ~8 Hz) as a relative speed deviation.
    let mut noise = white(speed.len(), arng);
    let mut lp = Biquad::lowpass(8.0, 0.7);
    lp.apply(&mut noise);
    let r = rms(&noise).max(1e-12);
    for (s, v) in speed.iter_mut().zip(noise) {
        *s *= 1.0 + depth * f64::from(v) / r;
    }
}

/// Shaft angle (in revolutions) over time.
fn revolutions(speed: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    speed
        .iter()
        .map(|s| {
            let v = acc;
            acc += s / RATE;
            v
        })
        .collect()
}

/// Times (s) at which `revs · per_rev` crosses an integer, with the crossing's index.
fn crossings(revs: &[f64], per_rev: f64) -> Vec<(f64, u64)> {
    let mut out = Vec::new();
    for i in 1..revs.len() {
        let (a, b) = (revs[i - 1] * per_rev, revs[i] * per_rev);
        if b.floor() > a.floor() {
            let frac = (b.floor() - a) / (b - a);
            out.push(((i as f64 - 1.0 + frac) / RATE, b.floor() as u64));
        }
    }
    out
}

fn tones(revs: &[f64], partials: &[(f64, f64, f64)]) -> Vec<f32> {
    // (multiple of the shaft rate, amplitude, phase)
    revs.iter()
        .map(|r| {
            partials
                .iter()
                .map(|(k, a, p)| a * (2.0 * PI * k * r + p).sin())
                .sum::<f64>() as f32
        })
        .collect()
}

fn lerp(lo: f64, hi: f64, s: f64) -> f64 {
    lo + (hi - lo) * s
}

/// Renders the machine's own sound (no background, no microphone) for `n` samples.
pub fn render(
    model: Model,
    build: &Build,
    value: f64,
    n: usize,
    rng: &mut ChaCha8Rng,
    fault: Option<Fault>,
    arng: &mut ChaCha8Rng,
) -> Vec<f32> {
    match model {
        Model::Rotating => rotating(build, value, n, rng, fault, arng),
        Model::Fan => fan(build, value, n, rng, fault, arng),
        Model::Gearbox => gearbox(build, value, n, rng, fault, arng),
        Model::Valve => valve(build, value, n, rng, fault, arng),
    }
}

fn random_phases(k: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..k).map(|_| rng.random::<f64>() * 2.0 * PI).collect()
}

fn rotating(
    b: &Build,
    rate: f64,
    n: usize,
    rng: &mut ChaCha8Rng,
    fault: Option<Fault>,
    arng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let mut speed = speed_curve(n, rate, rng);
    let ph = random_phases(20, rng);
    let noise = pink(n, rng);
    if let Some(Fault {
        kind: AnomalyKind::FrequencyJitter,
        severity,
    }) = fault
    {
        jitter_speed(&mut speed, lerp(0.01, 0.025, severity), arng);
    }
    let revs = revolutions(&speed);
    // Harmonics 2..12 of the shaft rate fall off; the slot harmonic (count × rate) and its side bands
    // carry the motor's character.
    let mut partials: Vec<(f64, f64, f64)> = (2..=12)
        .map(|k| (k as f64, 1.0 / (k as f64).powf(0.9), ph[k]))
        .collect();
    let slot = f64::from(b.count.max(8));
    partials.push((slot, 0.6, ph[13]));
    partials.push((slot - 1.0, 0.2, ph[14]));
    partials.push((slot + 1.0, 0.2, ph[15]));
    let mut x = tones(&revs, &partials);
    for (v, r) in x.iter_mut().zip(&revs) {
        *v *= (1.0 + 0.05 * (2.0 * PI * r).sin()) as f32;
    }
    let mut hiss = noise;
    Biquad::lowpass(4000.0, 0.7).apply(&mut hiss);
    let level = rms(&x);
    mix_at(&mut x, &hiss, level, 0.25);
    let level = rms(&x);
    match fault {
        Some(Fault {
            kind: AnomalyKind::BearingFault,
            severity,
        }) => {
            let mut f = vec![0.0f32; n];
            let hits: Vec<(f64, f64)> = crossings(&revs, 3.57)
                .into_iter()
                .map(|(t, _)| (t, 1.0 + 0.3 * (arng.random::<f64>() - 0.5)))
                .collect();
            add_ringing(&mut f, &hits, b.resonance_hz * 1.4, 0.0015);
            mix_at(&mut x, &f, level, lerp(0.12, 0.25, severity));
        }
        Some(Fault {
            kind: AnomalyKind::Imbalance,
            severity,
        }) => {
            let p = arng.random::<f64>() * 2.0 * PI;
            let f = tones(&revs, &[(1.0, 1.0, p), (2.0, 0.4, p * 0.7)]);
            mix_at(&mut x, &f, level, lerp(0.2, 0.4, severity));
        }
        _ => {}
    }
    x
}

fn fan(
    b: &Build,
    rate: f64,
    n: usize,
    rng: &mut ChaCha8Rng,
    fault: Option<Fault>,
    arng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let speed = speed_curve(n, rate, rng);
    let ph = random_phases(4, rng);
    let mut flow = white(n, rng);
    let revs = revolutions(&speed);
    let blades = f64::from(b.count.max(3));
    let mut x = tones(
        &revs,
        &[
            (blades, 1.0, ph[0]),
            (2.0 * blades, 0.5, ph[1]),
            (3.0 * blades, 0.25, ph[2]),
        ],
    );
    // Flow noise: low-passed, its level growing with the speed, modulated at blade pass.
    Biquad::lowpass(1200.0, 0.6).apply(&mut flow);
    for (v, r) in flow.iter_mut().zip(&revs) {
        *v *= (1.0 + 0.2 * (2.0 * PI * blades * r + ph[3]).sin()) as f32;
    }
    let level = rms(&x);
    mix_at(&mut x, &flow, level, 0.8 * rate / 16.0);
    let level = rms(&x);
    match fault {
        Some(Fault {
            kind: AnomalyKind::Rubbing,
            severity,
        }) => {
            let mut f = band_noise(n, lerp(2500.0, 3500.0, arng.random::<f64>()), 3.0, arng);
            let at = arng.random::<f64>();
            for (v, r) in f.iter_mut().zip(&revs) {
                let pos = (r + at).fract();
                *v *= if pos < 0.2 { 1.0 } else { 0.05 };
            }
            mix_at(&mut x, &f, level, lerp(0.12, 0.25, severity));
        }
        Some(Fault {
            kind: AnomalyKind::Imbalance,
            severity,
        }) => {
            let depth = lerp(0.15, 0.3, severity) as f32;
            let p = arng.random::<f64>() * 2.0 * PI;
            for (v, r) in x.iter_mut().zip(&revs) {
                *v *= 1.0 + depth * (2.0 * PI * r + p).sin() as f32;
            }
        }
        Some(Fault {
            kind: AnomalyKind::BladeDamage,
            severity,
        }) => {
            let p = random_phases(4, arng);
            let f = tones(
                &revs,
                &[
                    (blades - 1.0, 1.0, p[0]),
                    (blades + 1.0, 1.0, p[1]),
                    (1.0, 0.7, p[2]),
                    (2.0, 0.5, p[3]),
                ],
            );
            mix_at(&mut x, &f, level, lerp(0.12, 0.25, severity));
        }
        _ => {}
    }
    x
}

fn gearbox(
    b: &Build,
    rate: f64,
    n: usize,
    rng: &mut ChaCha8Rng,
    fault: Option<Fault>,
    arng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let mut speed = speed_curve(n, rate, rng);
    let ph = random_phases(2, rng);
    let hiss = pink(n, rng);
    let teeth = f64::from(b.count.max(5));
    // Per-tooth strike strengths vary a little, as real teeth do; one value per tooth of the wheel.
    let tooth_gain: Vec<f64> = (0..b.count.max(5))
        .map(|_| 1.0 + 0.1 * (rng.random::<f64>() - 0.5))
        .collect();
    let start_tooth = rng.random_range(0..tooth_gain.len() as u64);
    if let Some(Fault {
        kind: AnomalyKind::FrequencyJitter,
        severity,
    }) = fault
    {
        jitter_speed(&mut speed, lerp(0.01, 0.025, severity), arng);
    }
    let revs = revolutions(&speed);
    let bad_tooth = arng.random_range(0..tooth_gain.len() as u64);
    let ecc_phase = arng.random::<f64>() * 2.0 * PI;
    let hits: Vec<(f64, f64)> = crossings(&revs, teeth)
        .into_iter()
        .map(|(t, k)| {
            let tooth = (k + start_tooth) % tooth_gain.len() as u64;
            let mut a = tooth_gain[tooth as usize];
            match fault {
                Some(Fault {
                    kind: AnomalyKind::BrokenTooth,
                    severity,
                }) if tooth == bad_tooth => {
                    a *= lerp(2.0, 3.0, severity);
                }
                Some(Fault {
                    kind: AnomalyKind::Eccentricity,
                    severity,
                }) => {
                    let r = t * rate;
                    a *= 1.0 + lerp(0.25, 0.45, severity) * (2.0 * PI * r + ecc_phase).sin();
                }
                _ => {}
            }
            (t, a)
        })
        .collect();
    let mut x = vec![0.0f32; n];
    add_ringing(&mut x, &hits, b.resonance_hz, 0.001);
    let mesh = tones(&revs, &[(teeth, 1.0, ph[0]), (2.0 * teeth, 0.5, ph[1])]);
    let level = rms(&x);
    mix_at(&mut x, &mesh, level, 0.7);
    mix_at(&mut x, &hiss, level, 0.2);
    x
}

/// The valve's open/close schedule: (period s, open time s) per pattern number.
fn valve_pattern(pattern: f64, tempo: f64) -> (f64, f64) {
    let table = [
        (0.50, 0.20),
        (0.25, 0.06),
        (0.80, 0.45),
        (0.15, 0.05),
        (1.10, 0.75),
    ];
    let i = (pattern.round().max(0.0) as usize).min(table.len() - 1);
    (table[i].0 * tempo, table[i].1 * tempo)
}

/// (Long because it is a recipe: the valve's sound is built step by step, each step reading the
/// last, as the other machine models are.)
fn valve(
    b: &Build,
    pattern: f64,
    n: usize,
    rng: &mut ChaCha8Rng,
    fault: Option<Fault>,
    arng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let (period, open) = valve_pattern(pattern, b.tempo);
    let dur = n as f64 / RATE;
    let mut cycles = Vec::new();
    let mut t = rng.random::<f64>() * period;
    while t < dur {
        let jo = 0.008 * (rng.random::<f64>() - 0.5);
        let jc = 0.008 * (rng.random::<f64>() - 0.5);
        cycles.push((t + jo, t + open + jc));
        t += period;
    }
    let flow = band_noise(n, 1500.0, 0.8, rng);
    let background = band_noise(n, 300.0, 0.7, rng);
    let mut keep = vec![true; cycles.len()];
    let mut chatter = vec![None; cycles.len()];
    match fault {
        Some(Fault {
            kind: AnomalyKind::MissingEvent,
            severity,
        }) if !cycles.is_empty() => {
            let missing = (1.0 + severity * (cycles.len() as f64 / 4.0)).round() as usize;
            for _ in 0..missing.min(cycles.len()) {
                keep[arng.random_range(0..cycles.len())] = false;
            }
        }
        Some(Fault {
            kind: AnomalyKind::ExtraClick,
            severity,
        }) => {
            for c in chatter.iter_mut() {
                if arng.random::<f64>() < lerp(0.4, 0.8, severity) {
                    *c = Some((
                        lerp(0.012, 0.03, arng.random()),
                        lerp(0.4, 0.7, arng.random()),
                    ));
                }
            }
        }
        _ => {}
    }
    let mut x = vec![0.0f32; n];
    let mut gate = vec![0.0f32; n];
    let mut opens = Vec::new();
    let mut closes = Vec::new();
    for ((&(to, tc), k), ch) in cycles.iter().zip(&keep).zip(&chatter) {
        if !k {
            continue;
        }
        opens.push((to, 1.0));
        closes.push((tc, 0.7));
        if let Some((dt, a)) = ch {
            opens.push((to + dt, *a));
        }
        let (s, e) = (
            ((to * RATE) as isize).max(0) as usize,
            ((tc * RATE) as usize).min(n),
        );
        let ramp = (0.005 * RATE) as usize;
        for (i, g) in gate.iter_mut().enumerate().take(e).skip(s) {
            let edge = (i - s).min(e - i) as f32 / ramp as f32;
            *g = edge.min(1.0);
        }
    }
    add_ringing(&mut x, &opens, b.resonance_hz, 0.002);
    add_ringing(&mut x, &closes, b.resonance_hz * 0.65, 0.003);
    let level = rms(&x).max(1e-6);
    let gated: Vec<f32> = flow.iter().zip(&gate).map(|(f, g)| f * g).collect();
    mix_at(&mut x, &gated, level, 0.5);
    mix_at(&mut x, &background, level, 0.08);
    if let Some(Fault {
        kind: AnomalyKind::Leak,
        severity,
    }) = fault
    {
        let mut leak = band_noise(n, lerp(2500.0, 3500.0, arng.random()), 2.0, arng);
        leak.iter_mut().zip(&gate).for_each(|(v, g)| *v *= 1.0 - g);
        mix_at(&mut x, &leak, level, lerp(0.08, 0.15, severity));
    }
    x
}
