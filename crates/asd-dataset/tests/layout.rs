//! Dataset layouts of 2020, 2021 and 2022-2025, ground truth of anonymised files, and bad input.

use asd_audio::write_wav_i16;
use asd_core::{Domain, Label, Split};
use asd_dataset::inspect::inspect;
use asd_dataset::{Dataset, Edition, OpenOptions, Part, Severity};
use std::path::Path;

fn wav(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let x: Vec<f32> = (0..1600).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    write_wav_i16(path, &x, 16_000).unwrap();
}

fn text(path: &Path, s: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, s).unwrap();
}

fn find<'a>(ds: &'a Dataset, file: &str) -> &'a asd_core::ClipRecord {
    &ds.clips
        .iter()
        .find(|c| c.record.file == file)
        .unwrap_or_else(|| panic!("{file} not found"))
        .record
}

#[test]
fn dcase2023_layout_with_evaluator_ground_truth() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let dev = r.join("dev_data/raw/fan");
    wav(&dev.join("train/section_00_source_train_normal_0000_m-n_W.wav"));
    wav(&dev.join("train/section_00_source_train_normal_0001_m-n_X.wav"));
    wav(&dev.join("train/section_00_target_train_normal_0000_m-n_Y.wav"));
    wav(&dev.join("test/section_00_source_test_anomaly_0000_m-n_W.wav"));
    wav(&dev.join("test/section_00_target_test_normal_0000_m-n_Y.wav"));
    let ev = r.join("eval_data/raw/ToyDrone");
    wav(&ev.join("train/section_00_source_train_normal_0000_car_A1_spd_1_mic_1.wav"));
    for i in 0..3 {
        wav(&ev.join(format!("test/section_00_000{i}.wav")));
    }
    let gt = r.join("dcase2023_task2_evaluator");
    text(
        &gt.join("ground_truth_data/ground_truth_ToyDrone_section_00_test.csv"),
        "section_00_0000.wav,1\nsection_00_0001.wav,0\n",
    );
    text(
        &gt.join("ground_truth_domain/ground_truth_ToyDrone_section_00_test.csv"),
        "section_00_0000.wav,1\nsection_00_0001.wav,0\n",
    );
    text(
        &gt.join("ground_truth_attributes/ground_truth_ToyDrone_section_00_test.csv"),
        "section_00_0000.wav,section_00_target_test_anomaly_0012_car_C1_spd_1_mic_2\n\
         section_00_0001.wav,section_00_source_test_normal_0031_car_B2_spd_2_mic_1\n",
    );

    let ds = Dataset::open(r, &OpenOptions::default()).unwrap();
    assert_eq!(
        ds.edition,
        Edition::Dcase2023,
        "eval machine ToyDrone identifies 2023"
    );
    assert!(ds.edition_certain);
    assert_eq!(ds.clips.len(), 9);
    let a = find(&ds, "section_00_0000.wav");
    assert_eq!(
        (a.label, a.domain, a.attribute.as_str()),
        (Label::Anomaly, Domain::Target, "car_C1_spd_1_mic_2")
    );
    let b = find(&ds, "section_00_0001.wav");
    assert_eq!((b.label, b.domain), (Label::Normal, Domain::Source));
    let c = find(&ds, "section_00_0002.wav");
    assert_eq!((c.label, c.domain), (Label::Unknown, Domain::Unknown));
    // The clip without truth is a warning: usable for scoring.
    let warn: Vec<_> = ds
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Warning)
        .collect();
    assert_eq!(warn.len(), 1);
    assert!(
        warn[0].path.ends_with("section_00_0002.wav") && warn[0].reason.contains("ground truth")
    );
    assert!(!ds.has_errors());

    assert_eq!(
        ds.class_names(),
        [
            "ToyDrone_section_00_car_A1_spd_1_mic_1",
            "fan_section_00_m-n_W",
            "fan_section_00_m-n_X",
            "fan_section_00_m-n_Y",
        ]
    );
    let parts: Vec<Part> = ds.machine_types().keys().copied().collect();
    assert_eq!(parts, [Part::Dev, Part::Eval]);

    let ins = inspect(&ds, true, &|| {});
    assert_eq!(ins.usable, 9);
    assert_eq!(ins.n_classes, 4);
    let fan = &ins.groups[&(Part::Dev, "fan".to_string())];
    assert_eq!(fan.count(Split::Train, Some(Domain::Source), None), 2);
    assert_eq!(fan.count(Split::Train, Some(Domain::Target), None), 1);
    assert_eq!(
        fan.count(Split::Test, Some(Domain::Source), Some(Label::Anomaly)),
        1
    );
    assert_eq!(
        fan.sample_rates.iter().copied().collect::<Vec<_>>(),
        [16_000]
    );
    assert!((fan.max_duration_s.unwrap() - 0.1).abs() < 1e-9);
    let table = ins.table();
    assert!(table.contains("| eval | ToyDrone"), "{table}");
}

#[test]
fn dcase2021_domain_test_folders() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("dev_data/pump");
    wav(&m.join("train/section_00_source_train_normal_0000.wav"));
    wav(&m.join("train/section_01_target_train_normal_0000.wav"));
    wav(&m.join("source_test/section_00_source_test_anomaly_0000.wav"));
    wav(&m.join("target_test/section_01_target_test_normal_0000.wav"));
    let e = d.path().join("eval_data/pump");
    wav(&e.join("target_test/section_03_target_test_0000.wav"));
    text(
        &d.path()
            .join("ground_truth_data/ground_truth_pump_section_03_target_test.csv"),
        "section_03_target_test_0000.wav,1\n",
    );
    let ds = Dataset::open(d.path(), &OpenOptions::default()).unwrap();
    assert_eq!(ds.edition, Edition::Dcase2021);
    let r = find(&ds, "section_03_target_test_0000.wav");
    assert_eq!(
        (r.label, r.domain, r.split),
        (Label::Anomaly, Domain::Target, Split::Test)
    );
    assert_eq!(ds.class_names(), ["pump_section_00", "pump_section_01"]);
    // The eval section has no training clip here, which is said once.
    let reasons: Vec<&str> = ds.problems.iter().map(|p| p.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "section 03 has 1 test clip(s) but no training clip: it has no references and cannot be scored"
        ]
    );
}

#[test]
fn dcase2020_ids_and_eval_data_list() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    wav(&root.join("dev_data/ToyCar/train/normal_id_01_00000000.wav"));
    wav(&root.join("dev_data/ToyCar/test/anomaly_id_01_00000000.wav"));
    wav(&root.join("eval_data/ToyCar/train/normal_id_05_00000000.wav"));
    wav(&root.join("eval_data/ToyCar/test/id_05_00000000.wav"));
    wav(&root.join("eval_data/ToyCar/test/id_05_00000001.wav"));
    text(
        &root.join("eval_data_list.csv"),
        "ToyCar\nid_05_00000000.wav,anomaly_id_05_00000000.wav,1\nid_05_00000001.wav,normal_id_05_00000001.wav,0\nfan\nid_01_00000000.wav,normal_id_01_00000000.wav,0\n",
    );
    let ds = Dataset::open(root, &OpenOptions::default()).unwrap();
    assert_eq!(ds.edition, Edition::Dcase2020);
    assert!(ds.clips.iter().all(|c| c.record.domain == Domain::Unknown));
    assert_eq!(find(&ds, "id_05_00000000.wav").label, Label::Anomaly);
    assert_eq!(find(&ds, "id_05_00000001.wav").label, Label::Normal);
    assert_eq!(
        find(&ds, "anomaly_id_01_00000000.wav").label,
        Label::Anomaly
    );
    assert_eq!(ds.class_names(), ["ToyCar_section_01", "ToyCar_section_05"]);
    // Without domains, inspect counts every clip (in the source columns) instead of showing 0/0.
    let ins = inspect(&ds, false, &|| {});
    let table = ins.table();
    let row = |part: &str| -> Vec<String> {
        table
            .lines()
            .map(|l| {
                l.split('|')
                    .map(|c| c.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .find(|c| c.len() > 6 && c[1] == part && c[2] == "ToyCar")
            .unwrap_or_else(|| panic!("no {part} row in\n{table}"))
    };
    assert_eq!(row("dev")[4..7], ["1/—", "0/1", "—/—"], "{table}");
    assert_eq!(row("eval")[4..7], ["1/—", "1/1", "—/—"], "{table}");
    // The edition flag overrides detection.
    let forced = Dataset::open(
        root,
        &OpenOptions {
            edition: Some(Edition::Dcase2022),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(forced.edition, Edition::Dcase2022);
}

#[test]
fn every_bad_file_is_listed_with_its_reason() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("dev_data/valve/train");
    wav(&t.join("section_00_source_train_normal_0000_pat_00.wav"));
    text(
        &t.join("section_00_source_train_normal_0001_pat_00.wav"),
        "not audio at all",
    );
    let mut trunc =
        std::fs::read(t.join("section_00_source_train_normal_0000_pat_00.wav")).unwrap();
    trunc.truncate(trunc.len() / 2);
    std::fs::write(
        t.join("section_00_source_train_normal_0002_pat_00.wav"),
        trunc,
    )
    .unwrap();
    std::fs::write(
        t.join("section_00_source_train_normal_0003_pat_00.wav"),
        b"",
    )
    .unwrap();
    wav(&t.join("mystery_recording.wav"));
    text(&t.join("notes.txt"), "a note");
    // A test clip misfiled under train.
    wav(&t.join("section_00_source_test_normal_0000_pat_00.wav"));

    let ds = Dataset::open(d.path(), &OpenOptions::default()).unwrap();
    assert!(ds.has_errors());
    let ins = inspect(&ds, true, &|| {});
    assert_eq!(ins.usable, 1);
    let reasons: Vec<(String, Severity, String)> = ins
        .problems
        .iter()
        .map(|p| {
            (
                p.path.file_name().unwrap().to_string_lossy().into_owned(),
                p.severity,
                p.reason.clone(),
            )
        })
        .collect();
    let has = |file: &str, sev: Severity, word: &str| {
        assert!(
            reasons
                .iter()
                .any(|(f, s, r)| f == file && *s == sev && r.contains(word)),
            "{file}: expected {sev:?} containing '{word}' in {reasons:#?}"
        )
    };
    has(
        "section_00_source_train_normal_0001_pat_00.wav",
        Severity::Error,
        "not a supported audio file",
    );
    has(
        "section_00_source_train_normal_0002_pat_00.wav",
        Severity::Error,
        "truncated",
    );
    has(
        "section_00_source_train_normal_0003_pat_00.wav",
        Severity::Error,
        "not a supported audio file",
    );
    has(
        "mystery_recording.wav",
        Severity::Error,
        "no DCASE convention",
    );
    has("notes.txt", Severity::Warning, "not an audio file");
    has(
        "section_00_source_test_normal_0000_pat_00.wav",
        Severity::Error,
        "'train' folder",
    );
    assert_eq!(ins.unusable(), 5);
}

#[test]
fn missing_or_empty_roots_are_errors() {
    let d = tempfile::tempdir().unwrap();
    assert!(Dataset::open(&d.path().join("nope"), &OpenOptions::default()).is_err());
    let e = Dataset::open(d.path(), &OpenOptions::default()).unwrap_err();
    assert!(e.to_string().contains("no machine folders"), "{e}");
}

/// (edition, dev machine, dev files, eval machine, eval files).
type ReleaseCase = (
    Edition,
    &'static str,
    &'static [&'static str],
    &'static str,
    &'static [&'static str],
);

/// Layouts built from the organisers' file naming for the editions the tests above do not cover:
/// (edition, dev machine, dev names, eval machine, eval names). 2022 has sections 00-02 in dev and
/// 03-05 in eval; 2024 uses `noAttribute` for machines without attributes; 2025 and 2026 are told by
/// their machine types.
#[test]
fn every_edition_is_recognised_from_its_release_names() {
    let cases: [ReleaseCase; 4] = [
        (
            Edition::Dcase2022,
            "bearing",
            &[
                "train/section_01_source_train_normal_0000_vel_6_loc_A.wav",
                "test/section_02_target_test_anomaly_0000_vel_10_loc_B.wav",
            ],
            "bearing",
            &[
                "train/section_04_source_train_normal_0000_vel_8_loc_C.wav",
                "test/section_04_0000.wav",
            ],
        ),
        (
            Edition::Dcase2024,
            "gearbox",
            &[
                "train/section_00_source_train_normal_0000_volt_1.0_wt_30.wav",
                "test/section_00_source_test_normal_0000_volt_1.0_wt_30.wav",
            ],
            "3DPrinter",
            &[
                "train/section_00_source_train_normal_0000_noAttribute.wav",
                "test/section_00_0000.wav",
            ],
        ),
        (
            Edition::Dcase2025,
            "fan",
            &[
                "train/section_00_source_train_normal_0000_m-n_W.wav",
                "test/section_00_target_test_anomaly_0000_m-n_X.wav",
            ],
            "AutoTrash",
            &[
                "train/section_00_source_train_normal_0000_noAttribute.wav",
                "test/section_00_0000.wav",
            ],
        ),
        (
            Edition::Dcase2026,
            "ToyCarEmu",
            &[
                "train/section_00_source_train_normal_0000_car_A1_spd_28V.wav",
                "train/section_00_target_train_normal_0000_car_B2_spd_31V.wav",
                "test/section_00_source_test_anomaly_0000_car_A1_spd_28V.wav",
            ],
            // The additional training data: eval_data/raw/<machine>/train only.
            "ToyDrone",
            &["train/section_00_source_train_normal_0000_noAttribute.wav"],
        ),
    ];
    for (edition, dev_m, dev, eval_m, eval) in cases {
        let d = tempfile::tempdir().unwrap();
        for f in dev {
            wav(&d.path().join("dev_data/raw").join(dev_m).join(f));
        }
        for f in eval {
            wav(&d.path().join("eval_data/raw").join(eval_m).join(f));
        }
        text(
            &d.path()
                .join("dev_data/raw")
                .join(dev_m)
                .join("attributes_00.csv"),
            "file_name,d1p,d1v\n",
        );
        let ds = Dataset::open(d.path(), &OpenOptions::default()).unwrap();
        assert_eq!(ds.edition, edition, "{edition}: detected {}", ds.edition);
        assert!(ds.edition_certain, "{edition}");
        assert_eq!(ds.clips.len(), dev.len() + eval.len(), "{edition}");
        assert_eq!(
            ds.machine_types()[&Part::Eval].iter().collect::<Vec<_>>(),
            [eval_m],
            "{edition}"
        );
        let errors: Vec<_> = ds
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{edition}: {errors:?}");
        assert_eq!(edition.near_far_stereo(), edition == Edition::Dcase2026);
    }
    // ToyDrone alone (a 2023 evaluation machine, and one of 2026's additional training machines) stays
    // 2023: only 2026's own machine names decide 2026.
    let d = tempfile::tempdir().unwrap();
    wav(&d
        .path()
        .join("eval_data/raw/ToyDrone/train/section_00_source_train_normal_0000_noAttribute.wav"));
    assert_eq!(
        Dataset::open(d.path(), &OpenOptions::default())
            .unwrap()
            .edition,
        Edition::Dcase2023
    );
    assert_eq!("2026".parse::<Edition>().unwrap(), Edition::Dcase2026);
}

/// The network's clip length is the longest of the machine types' median lengths: one 30 s outlier
/// among 1 s clips does not size it, a type of 2 s clips does, and the outlier is named.
#[test]
fn clip_length_is_the_longest_median_and_outliers_are_named() {
    let d = tempfile::tempdir().unwrap();
    let put = |m: &str, i: usize, seconds: f64| {
        let p = d.path().join(format!(
            "dev_data/raw/{m}/train/section_00_source_train_normal_{i:04}_a_1.wav"
        ));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let x = vec![0.1f32; (seconds * 16_000.0) as usize];
        write_wav_i16(&p, &x, 16_000).unwrap();
    };
    put("fan", 0, 30.0);
    for i in 1..4 {
        put("fan", i, 1.0);
    }
    for i in 0..3 {
        put("valve", i, 2.0);
    }
    let ds = Dataset::open(d.path(), &OpenOptions::default()).unwrap();
    let s = asd_dataset::lengths::survey_training_lengths(&ds);
    assert_eq!(s.median_s["fan"], 1.0);
    assert_eq!(s.median_s["valve"], 2.0);
    assert_eq!(s.chosen_s, 2.0);
    assert_eq!(s.longer.len(), 1);
    assert!(
        s.longer[0]
            .0
            .ends_with("section_00_source_train_normal_0000_a_1.wav")
    );
    let w = s.crop_warning().unwrap();
    assert!(
        w.contains("30.00 s") && w.contains("1 training clip"),
        "{w}"
    );
    assert!(
        s.describe().contains("fan 1.00 s, valve 2.00 s"),
        "{}",
        s.describe()
    );
}
