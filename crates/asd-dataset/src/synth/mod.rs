//! A synthetic DCASE 2023-style dataset: machine types with physical sound models, attributes, a
//! target domain with few training clips, and subtle anomalies in both domains of the test set; or,
//! with [`SynthEdition::Dcase2026`], the 2026 release's shape: stereo clips of a near and a far
//! microphone and machine types with clips of different lengths.
//! `docs/synthetic-data.md` describes every model and parameter.

mod conditions;
pub mod dsp;
pub mod machines;

pub use conditions::{Microphone, add_background, far_microphone};

/// The far microphone's delay in samples at the generator's rate.
pub fn conditions_far_delay_samples() -> usize {
    (conditions::FAR_DELAY_S * dsp::RATE).round() as usize
}
pub use machines::{AnomalyKind, Build, Fault, Model};

use crate::dataset::Part;
use asd_audio::{write_wav_i16, write_wav_i16_channels};
use asd_core::seed::{derive_seed, splitmix};
use asd_core::{Domain, Label, Split, atomic};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One synthetic machine type.
#[derive(Debug, Clone, Copy)]
pub struct MachineSpec {
    pub name: &'static str,
    pub part: Part,
    pub model: Model,
    pub build: Build,
    /// Attribute key written in file names (`spd_14`).
    pub key: &'static str,
    /// Attribute values of the source domain (value as written, numeric value).
    pub source: &'static [(&'static str, f64)],
    /// The target domain's value, beyond the source range.
    pub target: (&'static str, f64),
    pub target_mic: Microphone,
    pub hum_hz: f64,
    /// Clip length as a multiple of the preset's (DCASE 2026 mixes 6, 10 and 16 s clips).
    pub length: f64,
}

impl MachineSpec {
    pub fn attribute(&self, value: &str) -> String {
        format!("{}_{value}", self.key)
    }
}

/// The machine types: four for development, four others (same physics, different builds and
/// operating ranges) for evaluation, as DCASE 2023 uses different machine types in each.
pub const MACHINES: [MachineSpec; 8] = [
    MachineSpec {
        name: "fan",
        part: Part::Dev,
        model: Model::Fan,
        build: Build {
            count: 7,
            resonance_hz: 2000.0,
            tempo: 1.0,
        },
        key: "spd",
        source: &[("12", 12.0), ("16", 16.0), ("20", 20.0)],
        target: ("26", 26.0),
        target_mic: Microphone::Bright,
        hum_hz: 50.0,
        length: 1.0,
    },
    MachineSpec {
        name: "gearbox",
        part: Part::Dev,
        model: Model::Gearbox,
        build: Build {
            count: 19,
            resonance_hz: 1800.0,
            tempo: 1.0,
        },
        key: "volt",
        source: &[("1.0", 8.0), ("1.5", 12.0), ("2.0", 16.0)],
        target: ("3.0", 24.0),
        target_mic: Microphone::Thin,
        hum_hz: 50.0,
        length: 1.0,
    },
    MachineSpec {
        name: "valve",
        part: Part::Dev,
        model: Model::Valve,
        build: Build {
            count: 0,
            resonance_hz: 2200.0,
            tempo: 1.0,
        },
        key: "pat",
        source: &[("00", 0.0), ("01", 1.0), ("02", 2.0)],
        target: ("03", 3.0),
        target_mic: Microphone::Bright,
        hum_hz: 60.0,
        length: 1.0,
    },
    MachineSpec {
        name: "bearing",
        part: Part::Dev,
        model: Model::Rotating,
        build: Build {
            count: 28,
            resonance_hz: 2600.0,
            tempo: 1.0,
        },
        key: "vel",
        source: &[("20", 20.0), ("25", 25.0), ("30", 30.0)],
        target: ("40", 40.0),
        target_mic: Microphone::Thin,
        hum_hz: 50.0,
        length: 1.0,
    },
    MachineSpec {
        name: "blower",
        part: Part::Eval,
        model: Model::Fan,
        build: Build {
            count: 11,
            resonance_hz: 2400.0,
            tempo: 1.0,
        },
        key: "spd",
        source: &[("18", 18.0), ("24", 24.0), ("30", 30.0)],
        target: ("38", 38.0),
        target_mic: Microphone::Thin,
        hum_hz: 60.0,
        length: 1.0,
    },
    MachineSpec {
        name: "geartrain",
        part: Part::Eval,
        model: Model::Gearbox,
        build: Build {
            count: 27,
            resonance_hz: 1400.0,
            tempo: 1.0,
        },
        key: "load",
        source: &[("A", 6.0), ("B", 9.0), ("C", 12.0)],
        target: ("D", 17.0),
        target_mic: Microphone::Bright,
        hum_hz: 50.0,
        length: 1.0,
    },
    MachineSpec {
        name: "solenoid",
        part: Part::Eval,
        model: Model::Valve,
        build: Build {
            count: 0,
            resonance_hz: 3000.0,
            tempo: 0.8,
        },
        key: "pat",
        source: &[("00", 0.0), ("01", 1.0), ("02", 2.0)],
        target: ("04", 4.0),
        target_mic: Microphone::Thin,
        hum_hz: 50.0,
        length: 1.0,
    },
    MachineSpec {
        name: "motor",
        part: Part::Eval,
        model: Model::Rotating,
        build: Build {
            count: 36,
            resonance_hz: 3200.0,
            tempo: 1.0,
        },
        key: "vel",
        source: &[("30", 30.0), ("35", 35.0), ("40", 40.0)],
        target: ("50", 50.0),
        target_mic: Microphone::Bright,
        hum_hz: 60.0,
        length: 1.0,
    },
];

/// Which release the synthetic data imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SynthEdition {
    /// Mono clips of one length, the machine types of [`MACHINES`].
    #[default]
    Dcase2023,
    /// Stereo clips (channel 0 the near, channel 1 the far microphone), 2026's machine names, and
    /// three clip lengths (0.6, 1 and 1.6 times the preset's, as 6, 10 and 16 s in the release).
    Dcase2026,
}

impl std::str::FromStr for SynthEdition {
    type Err = asd_core::ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .trim_start_matches("dcase")
            .trim_start_matches("DCASE")
        {
            "2023" => Ok(SynthEdition::Dcase2023),
            "2026" => Ok(SynthEdition::Dcase2026),
            _ => Err(asd_core::ParseValueError {
                kind: "synthetic edition",
                value: s.to_string(),
                expected: "2023, 2026",
            }),
        }
    }
}

/// 2026's names for the same eight physical models, and each type's clip length.
const NAMES_2026: [(&str, f64); 8] = [
    ("fan", 1.0),
    ("gearboxEmu", 1.6),
    ("valveEmu", 0.6),
    ("bearingEmu", 1.0),
    ("BlowerDustCollector", 1.0),
    ("SewingMachine", 1.6),
    ("ToothBrush", 0.6),
    ("Sander", 1.0),
];

impl SynthEdition {
    pub fn machines(self) -> Vec<MachineSpec> {
        match self {
            SynthEdition::Dcase2023 => MACHINES.to_vec(),
            SynthEdition::Dcase2026 => MACHINES
                .iter()
                .zip(NAMES_2026)
                .map(|(m, (name, length))| MachineSpec { name, length, ..*m })
                .collect(),
        }
    }

    /// Whether clips carry a far-microphone channel.
    pub fn stereo(self) -> bool {
        self == SynthEdition::Dcase2026
    }
}

/// Dataset sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// For tests: 1 s clips, a handful per class; generates in about a second.
    Tiny,
    /// For the demo: 2 s clips, 60 source + 6 target training clips per machine type.
    Small,
    /// DCASE 2023 sizes: 10 s clips, 990 source + 10 target training clips, 200 test clips.
    Full,
}

impl std::str::FromStr for Preset {
    type Err = asd_core::ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tiny" => Ok(Preset::Tiny),
            "small" => Ok(Preset::Small),
            "full" => Ok(Preset::Full),
            _ => Err(asd_core::ParseValueError {
                kind: "preset",
                value: s.to_string(),
                expected: "tiny, small, full",
            }),
        }
    }
}

/// Clip counts and length of a preset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizes {
    pub clip_seconds: f64,
    /// Source training clips per attribute value.
    pub source_train_per_value: usize,
    pub target_train: usize,
    /// Test clips per domain and label.
    pub test_per_domain_label: usize,
}

impl Preset {
    pub fn sizes(self) -> Sizes {
        match self {
            Preset::Tiny => Sizes {
                clip_seconds: 1.0,
                source_train_per_value: 4,
                target_train: 2,
                test_per_domain_label: 3,
            },
            Preset::Small => Sizes {
                clip_seconds: 2.0,
                source_train_per_value: 20,
                target_train: 6,
                test_per_domain_label: 20,
            },
            Preset::Full => Sizes {
                clip_seconds: 10.0,
                source_train_per_value: 330,
                target_train: 10,
                test_per_domain_label: 50,
            },
        }
    }
}

/// Everything that defines one clip; rendering it is a pure function of this.
#[derive(Debug, Clone)]
pub struct ClipPlan {
    pub machine: usize,
    pub split: Split,
    pub domain: Domain,
    pub label: Label,
    /// Index of the attribute value in the source list, or `None` for the target value.
    pub value: Option<usize>,
    pub index: usize,
    pub seed: u64,
    pub fault: Option<Fault>,
    /// Path relative to the dataset root.
    pub rel_path: PathBuf,
    /// The full DCASE name (what an anonymised file really is).
    pub full_name: String,
}

/// Renders one clip: machine (with its fault), background, microphone, level.
pub fn render_clip(spec: &MachineSpec, plan: &ClipPlan, seconds: f64) -> Vec<f32> {
    render(spec, plan, seconds, false).0
}

/// Renders one clip as the near and the far microphone hear it; the near channel is exactly
/// [`render_clip`]'s signal.
pub fn render_near_far(spec: &MachineSpec, plan: &ClipPlan, seconds: f64) -> [Vec<f32>; 2] {
    let (near, far) = render(spec, plan, seconds, true);
    let far = far.unwrap_or_else(|| near.clone());
    [near, far]
}

fn render(
    spec: &MachineSpec,
    plan: &ClipPlan,
    seconds: f64,
    with_far: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let n = (seconds * dsp::RATE).round() as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let mut arng = ChaCha8Rng::seed_from_u64(splitmix(plan.seed ^ 0xA5A5));
    let value = plan.value.map_or(spec.target.1, |i| spec.source[i].1);
    // Per-clip variation of the operating point inside the attribute value (±1 %).
    let value = value * (1.0 + 0.01 * (2.0 * rng.random::<f64>() - 1.0));
    let mut x = machines::render(
        spec.model,
        &spec.build,
        value,
        n,
        &mut rng,
        plan.fault,
        &mut arng,
    );
    let machine = with_far.then(|| x.clone());
    add_background(&mut x, plan.domain, spec.hum_hz, &mut rng);
    // The far channel's own random numbers come from a stream of their own, so the near channel is
    // the same signal whether or not a far one is rendered.
    let mut far = machine.map(|m| {
        let room: Vec<f32> = x.iter().zip(&m).map(|(a, b)| a - b).collect();
        let mut frng = ChaCha8Rng::seed_from_u64(splitmix(plan.seed ^ 0xFA12));
        far_microphone(&m, &room, &mut frng)
    });
    if plan.domain == Domain::Target {
        spec.target_mic.apply(&mut x);
        if let Some(f) = far.as_mut() {
            spec.target_mic.apply(f);
        }
    }
    // Recording level varies by ±1.5 dB around −26 dBFS RMS; the far channel keeps its level relative
    // to the near one.
    let gain_db = -26.0 + 3.0 * (rng.random::<f64>() - 0.5);
    let r = dsp::rms(&x);
    if r > 0.0 {
        let g = (10f64.powf(gain_db / 20.0) / r) as f32;
        x.iter_mut().for_each(|v| *v *= g);
        if let Some(f) = far.as_mut() {
            f.iter_mut().for_each(|v| *v *= g);
        }
    }
    (x, far)
}

/// The clips of a preset, in a fixed order (DCASE 2023 style).
pub fn plan(preset: Preset, seed: u64) -> Vec<ClipPlan> {
    plan_edition(preset, seed, SynthEdition::Dcase2023)
}

/// The clips of a preset for one edition's shape; `ClipPlan::machine` indexes
/// [`SynthEdition::machines`].
/// (One function of ~90 lines on purpose: each machine type's clips are planned in one fixed order
/// from one random stream, so that a seed gives the same data; split, that order would be spread
/// over several places.)
pub fn plan_edition(preset: Preset, seed: u64, edition: SynthEdition) -> Vec<ClipPlan> {
    let sizes = preset.sizes();
    let mut plans = Vec::new();
    for (m, spec) in edition.machines().iter().enumerate() {
        let part_dir = match spec.part {
            Part::Dev => "dev_data",
            Part::Eval => "eval_data",
        };
        let base = PathBuf::from(part_dir).join("raw").join(spec.name);
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, &[m as u64, 1]));
        let mut push = |split: Split,
                        domain: Domain,
                        label: Label,
                        value: Option<usize>,
                        index: usize,
                        rng: &mut ChaCha8Rng| {
            let v = value.map_or(spec.target.0, |i| spec.source[i].0);
            let full_name = format!(
                "section_00_{domain}_{split}_{label}_{index:04}_{}",
                spec.attribute(v)
            );
            let fault = (label == Label::Anomaly).then(|| {
                let kinds = spec.model.anomalies();
                Fault {
                    kind: kinds[rng.random_range(0..kinds.len())],
                    severity: rng.random::<f64>(),
                }
            });
            let seed = derive_seed(
                seed,
                &[
                    m as u64,
                    split as u64,
                    domain as u64,
                    label as u64,
                    index as u64,
                ],
            );
            plans.push(ClipPlan {
                machine: m,
                split,
                domain,
                label,
                value,
                index,
                seed,
                fault,
                rel_path: base.join(split.as_str()).join(format!("{full_name}.wav")),
                full_name,
            });
        };
        let nv = spec.source.len();
        for i in 0..sizes.source_train_per_value * nv {
            push(
                Split::Train,
                Domain::Source,
                Label::Normal,
                Some(i % nv),
                i,
                &mut rng,
            );
        }
        for i in 0..sizes.target_train {
            push(
                Split::Train,
                Domain::Target,
                Label::Normal,
                None,
                i,
                &mut rng,
            );
        }
        for domain in [Domain::Source, Domain::Target] {
            for label in [Label::Normal, Label::Anomaly] {
                for i in 0..sizes.test_per_domain_label {
                    let value = (domain == Domain::Source).then(|| rng.random_range(0..nv));
                    push(Split::Test, domain, label, value, i, &mut rng);
                }
            }
        }
        // Evaluation test files are anonymised in a shuffled order, as DCASE publishes them.
        if spec.part == Part::Eval {
            let mut tests: Vec<usize> = (0..plans.len())
                .filter(|&i| plans[i].machine == m && plans[i].split == Split::Test)
                .collect();
            tests.shuffle(&mut rng);
            for (k, i) in tests.into_iter().enumerate() {
                plans[i].rel_path = base.join("test").join(format!("section_00_{k:04}.wav"));
            }
        }
    }
    plans
}

/// What `generate` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSummary {
    pub clips: usize,
    pub machines: usize,
    pub truth_files: usize,
}

/// Folder (under the dataset root) that holds the evaluator-style ground truth.
pub const EVALUATOR_DIR: &str = "evaluator";

/// Writes the whole dataset under `out` (DCASE 2023 style). `tick` is called once per clip written.
pub fn generate(
    out: &Path,
    preset: Preset,
    seed: u64,
    tick: &(dyn Fn() + Sync),
) -> std::io::Result<SynthSummary> {
    generate_edition(out, preset, seed, SynthEdition::Dcase2023, None, tick)
}

/// Writes the whole dataset of one edition's shape under `out`; `clip_seconds` replaces the preset's
/// clip length (each machine type's length factor still applies).
pub fn generate_edition(
    out: &Path,
    preset: Preset,
    seed: u64,
    edition: SynthEdition,
    clip_seconds: Option<f64>,
    tick: &(dyn Fn() + Sync),
) -> std::io::Result<SynthSummary> {
    let plans = plan_edition(preset, seed, edition);
    let machines = edition.machines();
    let secs = clip_seconds.unwrap_or(preset.sizes().clip_seconds);
    plans.par_iter().try_for_each(|p| -> std::io::Result<()> {
        let path = out.join(&p.rel_path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let spec = &machines[p.machine];
        let seconds = secs * spec.length;
        if edition.stereo() {
            let [near, far] = render_near_far(spec, p, seconds);
            write_wav_i16_channels(&path, &[&near, &far], dsp::RATE as u32)?;
        } else {
            write_wav_i16(&path, &render_clip(spec, p, seconds), dsp::RATE as u32)?;
        }
        tick();
        Ok(())
    })?;
    if edition == SynthEdition::Dcase2026 {
        write_attribute_files(out, &plans, &machines)?;
    }
    let mut truth_files = 0;
    for (m, spec) in machines.iter().enumerate() {
        if spec.part != Part::Eval {
            continue;
        }
        let mut tests: Vec<&ClipPlan> = plans
            .iter()
            .filter(|p| p.machine == m && p.split == Split::Test)
            .collect();
        tests.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
        let (mut data, mut domain, mut attrs) = (String::new(), String::new(), String::new());
        for p in tests {
            let file = p
                .rel_path
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or_default();
            let _ = writeln!(data, "{file},{}", u8::from(p.label == Label::Anomaly));
            let _ = writeln!(domain, "{file},{}", u8::from(p.domain == Domain::Target));
            let _ = writeln!(attrs, "{file},{}", p.full_name);
        }
        for (folder, text) in [
            ("ground_truth_data", data),
            ("ground_truth_domain", domain),
            ("ground_truth_attributes", attrs),
        ] {
            let dir = out.join(EVALUATOR_DIR).join(folder);
            std::fs::create_dir_all(&dir)?;
            atomic::write_bytes(
                &dir.join(format!("ground_truth_{}_section_00_test.csv", spec.name)),
                text.as_bytes(),
            )?;
            truth_files += 1;
        }
    }
    Ok(SynthSummary {
        clips: plans.len(),
        machines: machines.len(),
        truth_files,
    })
}

/// `<part>/raw/<machine>/attributes_00.csv` as the 2024–2026 releases ship it: one row per named clip
/// (`file_name,d1p,d1v`, the path relative to the part's `raw/` folder); anonymised test clips are not
/// listed, as in the releases.
fn write_attribute_files(
    out: &Path,
    plans: &[ClipPlan],
    machines: &[MachineSpec],
) -> std::io::Result<()> {
    for (m, spec) in machines.iter().enumerate() {
        let mut text = String::from("file_name,d1p,d1v\n");
        let mut dir = None;
        for p in plans.iter().filter(|p| p.machine == m) {
            let Some(name) = p.rel_path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            dir = p
                .rel_path
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf);
            if !name.starts_with(&p.full_name) {
                continue;
            }
            let value = p.value.map_or(spec.target.0, |i| spec.source[i].0);
            let _ = writeln!(
                text,
                "{}/{}/{name},{},{value}",
                spec.name,
                p.split.as_str(),
                spec.key
            );
        }
        if let Some(dir) = dir {
            atomic::write_bytes(&out.join(dir).join("attributes_00.csv"), text.as_bytes())?;
        }
    }
    Ok(())
}
