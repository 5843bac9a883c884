//! The synthetic generator: the layout and counts it writes, determinism, and that its anomalies and
//! domain shift are real changes of the sound.

use asd_audio::FeatureExtractor;
use asd_core::{Domain, Label, Split};
use asd_dataset::synth::{self, AnomalyKind, ClipPlan, Fault, MACHINES, Preset, render_clip};
use asd_dataset::{Dataset, OpenOptions, Part};

/// Log energies in 128 bands of the STFT (62.5 Hz each): mean over time, and the standard deviation over
/// time in 16 wide bands, so that both spectral and temporal changes show. The level is removed.
fn profile(x: &[f32]) -> Vec<f64> {
    let fx = FeatureExtractor::new(x.len());
    let m = fx.stft_magnitude(x);
    let mut out = Vec::new();
    let mut stds = Vec::new();
    for (bands, keep_std) in [(128, false), (16, true)] {
        let per = (m.nrows() - 1) / bands;
        for b in 0..bands {
            let e: Vec<f64> = (0..m.ncols())
                .map(|t| {
                    let s: f64 = (b * per..(b + 1) * per)
                        .map(|f| f64::from(m[[f, t]]).powi(2))
                        .sum();
                    (s + 1e-10).ln()
                })
                .collect();
            let mean = e.iter().sum::<f64>() / e.len() as f64;
            let var = e.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / e.len() as f64;
            if keep_std {
                stds.push(var.sqrt());
            } else {
                out.push(mean);
            }
        }
    }
    // The recording level varies by design; compare spectral shapes.
    let level = out.iter().sum::<f64>() / out.len() as f64;
    out.iter_mut().for_each(|v| *v -= level);
    out.extend(stds);
    out
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn clip(
    machine: usize,
    domain: Domain,
    value: Option<usize>,
    seed: u64,
    fault: Option<Fault>,
) -> Vec<f32> {
    let plan = ClipPlan {
        machine,
        split: Split::Test,
        domain,
        label: if fault.is_some() {
            Label::Anomaly
        } else {
            Label::Normal
        },
        value,
        index: 0,
        seed,
        fault,
        rel_path: "x.wav".into(),
        full_name: String::new(),
    };
    render_clip(&MACHINES[machine], &plan, 2.0)
}

#[test]
fn tiny_preset_has_the_expected_layout_and_counts() {
    let d = tempfile::tempdir().unwrap();
    let summary = synth::generate(d.path(), Preset::Tiny, 7, &|| {}).unwrap();
    // Per machine: 3 values × 4 source + 2 target training clips, 2 domains × 2 labels × 3 test clips.
    assert_eq!(summary.clips, 8 * (12 + 2 + 12));
    assert_eq!(summary.truth_files, 4 * 3);
    let ds = Dataset::open(d.path(), &OpenOptions::default()).unwrap();
    assert!(ds.problems.is_empty(), "{:#?}", ds.problems);
    assert_eq!(ds.clips.len(), summary.clips);
    let types = ds.machine_types();
    assert_eq!(types[&Part::Dev].len(), 4);
    assert_eq!(types[&Part::Eval].len(), 4);
    for m in MACHINES {
        let of = |split: Split, domain: Domain, label: Label| {
            ds.clips
                .iter()
                .filter(|c| {
                    let r = &c.record;
                    r.machine_type == m.name
                        && r.split == split
                        && r.domain == domain
                        && r.label == label
                })
                .count()
        };
        assert_eq!(
            of(Split::Train, Domain::Source, Label::Normal),
            12,
            "{}",
            m.name
        );
        assert_eq!(
            of(Split::Train, Domain::Target, Label::Normal),
            2,
            "{}",
            m.name
        );
        for dom in [Domain::Source, Domain::Target] {
            for lab in [Label::Normal, Label::Anomaly] {
                assert_eq!(of(Split::Test, dom, lab), 3, "{} {dom} {lab}", m.name);
            }
        }
    }
    // Eval test files are anonymised and their truth (including attributes) comes from the evaluator files.
    let eval_test: Vec<_> = ds
        .clips
        .iter()
        .filter(|c| c.part == Part::Eval && c.record.split == Split::Test)
        .collect();
    assert!(
        eval_test
            .iter()
            .all(|c| c.record.file.len() == "section_00_0000.wav".len())
    );
    assert!(eval_test.iter().all(|c| !c.record.attribute.is_empty()));
    // 4 machine types × (3 source values + 1 target value).
    assert_eq!(ds.class_names().len(), 8 * 4);
    let clip = asd_audio::decode_file(&ds.clips[0].path, asd_audio::ChannelMode::Average).unwrap();
    assert_eq!((clip.sample_rate, clip.samples.len()), (16_000, 16_000));
}

#[test]
fn same_seed_same_files_other_seed_other_files() {
    let read = |seed: u64| {
        let d = tempfile::tempdir().unwrap();
        synth::generate(d.path(), Preset::Tiny, seed, &|| {}).unwrap();
        let p = d
            .path()
            .join("dev_data/raw/valve/train/section_00_source_train_normal_0000_pat_00.wav");
        let q = d
            .path()
            .join("evaluator/ground_truth_data/ground_truth_motor_section_00_test.csv");
        (std::fs::read(p).unwrap(), std::fs::read(q).unwrap())
    };
    let a = read(3);
    assert_eq!(a, read(3));
    let b = read(4);
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1, "the anonymised order depends on the seed");
}

#[test]
fn every_anomaly_type_changes_the_sound() {
    for (m, spec) in MACHINES
        .iter()
        .enumerate()
        .filter(|(_, s)| s.part == Part::Dev)
    {
        let normal = clip(m, Domain::Source, Some(1), 11, None);
        for &kind in spec.model.anomalies() {
            let fault = Fault {
                kind,
                severity: 0.0,
            };
            let faulty = clip(m, Domain::Source, Some(1), 11, Some(fault));
            // Same seed: the only difference is the fault (and the level normalisation).
            let diff: f64 = normal
                .iter()
                .zip(&faulty)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum::<f64>()
                .sqrt();
            let norm: f64 = normal
                .iter()
                .map(|a| f64::from(*a).powi(2))
                .sum::<f64>()
                .sqrt();
            let rel = diff / norm;
            assert!(
                rel > 0.05,
                "{} {}: relative change {rel:.3}",
                spec.name,
                kind.name()
            );
            // Subtle: the fault never dominates the machine's own sound.
            if !matches!(kind, AnomalyKind::FrequencyJitter) {
                assert!(
                    rel < 0.8,
                    "{} {}: relative change {rel:.3}",
                    spec.name,
                    kind.name()
                );
            }
        }
    }
}

#[test]
fn normal_clips_of_one_attribute_stay_alike_and_the_target_domain_differs() {
    for (m, spec) in MACHINES.iter().enumerate() {
        let a = profile(&clip(m, Domain::Source, Some(0), 1, None));
        let b = profile(&clip(m, Domain::Source, Some(0), 2, None));
        let t = profile(&clip(m, Domain::Target, None, 3, None));
        let other_value = profile(&clip(m, Domain::Source, Some(2), 4, None));
        let within = dist(&a, &b);
        let shift = dist(&a, &t);
        let attribute = dist(&a, &other_value);
        assert!(
            shift > 2.0 * within,
            "{}: within {within:.2}, target shift {shift:.2}",
            spec.name
        );
        assert!(
            attribute > within,
            "{}: within {within:.2}, other attribute {attribute:.2}",
            spec.name
        );
    }
}

/// `asd synth --edition 2026`: stereo files (near, far), 2026's machine names (so the reader calls it
/// DCASE 2026), three clip lengths, attributes_00.csv; the near channel is the 2023 generator's signal.
#[test]
fn edition_2026_writes_stereo_near_far_clips_of_three_lengths() {
    use asd_dataset::synth::{SynthEdition, plan_edition, render_near_far};
    let d = tempfile::tempdir().unwrap();
    let ed = SynthEdition::Dcase2026;
    let summary = synth::generate_edition(d.path(), Preset::Tiny, 5, ed, None, &|| {}).unwrap();
    assert_eq!(summary.clips, 8 * (12 + 2 + 12));
    let ds = Dataset::open(d.path(), &OpenOptions::default()).unwrap();
    assert_eq!(ds.edition, asd_dataset::Edition::Dcase2026);
    assert!(ds.problems.is_empty(), "{:#?}", ds.problems);
    for (m, seconds) in [("valveEmu", 0.6), ("fan", 1.0), ("gearboxEmu", 1.6)] {
        let clip = ds
            .clips
            .iter()
            .find(|c| c.record.machine_type == m)
            .unwrap();
        let near = asd_audio::decode_file(&clip.path, asd_audio::ChannelMode::Pick(0)).unwrap();
        let far = asd_audio::decode_file(&clip.path, asd_audio::ChannelMode::Pick(1)).unwrap();
        assert_eq!(near.channels, 2, "{m}");
        assert!((near.duration_s() - seconds).abs() < 1e-3, "{m}");
        assert_eq!(near.samples.len(), far.samples.len());
        assert_ne!(
            near.samples, far.samples,
            "{m}: the far channel is its own signal"
        );
    }
    let attrs =
        std::fs::read_to_string(d.path().join("dev_data/raw/fan/attributes_00.csv")).unwrap();
    let rows: Vec<&str> = attrs.lines().collect();
    assert_eq!(rows[0], "file_name,d1p,d1v");
    assert_eq!(rows.len(), 1 + 14 + 12, "train and named test clips");
    assert!(rows[1].starts_with("fan/train/section_00_source_train_normal_0000_spd_12.wav,spd,12"));
    // The near channel is exactly the mono generator's clip.
    let plans = plan_edition(Preset::Tiny, 5, ed);
    let machines = ed.machines();
    for p in plans.iter().step_by(37) {
        let spec = &machines[p.machine];
        let [near, _] = render_near_far(spec, p, spec.length);
        assert_eq!(near, render_clip(spec, p, spec.length), "{}", p.full_name);
    }
}

/// The far microphone hears the machine later (4 m: 187 samples), weaker, and with noise of its own.
#[test]
fn far_microphone_delays_attenuates_and_adds_its_own_noise() {
    use asd_dataset::synth::{conditions_far_delay_samples, far_microphone};
    use rand::SeedableRng;
    let n = 16_000;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let machine = asd_dataset::synth::dsp::white(n, &mut rng);
    let room = vec![0.0f32; n];
    let far = far_microphone(&machine, &room, &mut rng);
    let xcorr = |lag: usize| -> f64 {
        (0..n - lag)
            .map(|i| f64::from(machine[i]) * f64::from(far[i + lag]))
            .sum()
    };
    let best = (0..600)
        .max_by(|&a, &b| xcorr(a).total_cmp(&xcorr(b)))
        .unwrap();
    let delay = conditions_far_delay_samples();
    assert!(
        (delay..=delay + 2).contains(&best),
        "peak at lag {best}, delay {delay}"
    );
    // Least-squares gain of the direct path: below the near field's 1.
    let energy: f64 = machine.iter().map(|v| f64::from(*v).powi(2)).sum();
    let gain = xcorr(best) / energy;
    assert!(gain > 0.1 && gain < 0.4, "direct-path gain {gain}");
    // What the far channel holds besides the machine's delayed copies: its own noise.
    let rms = |x: &[f32]| asd_dataset::synth::dsp::rms(x);
    let explained = gain * gain * energy / n as f64;
    let residual = (rms(&far).powi(2) - explained).max(0.0).sqrt();
    assert!(residual > 0.25 * rms(&machine), "residual {residual}");
}
