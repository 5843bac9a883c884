//! Real DCASE file names of every edition, written from the published conventions.

use asd_core::{Domain, Label, Split};
use asd_dataset::filename::{NameError, attribute_pairs};
use asd_dataset::{NameScheme, parse_file_name};

#[test]
fn dcase2020_dev_and_eval_names() {
    let n = parse_file_name("normal_id_00_00000000.wav").unwrap();
    assert_eq!(n.scheme, NameScheme::Ids);
    assert_eq!((n.section.as_str(), n.index.as_str()), ("00", "00000000"));
    assert_eq!(n.label, Label::Normal);
    assert_eq!(n.domain, Domain::Unknown);
    assert_eq!(n.split, None, "2020 names do not say train or test");

    let a = parse_file_name("anomaly_id_06_00000123.wav").unwrap();
    assert_eq!((a.section.as_str(), a.label), ("06", Label::Anomaly));

    let e = parse_file_name("id_05_00000000.wav").unwrap();
    assert!(e.anonymised);
    assert_eq!((e.section.as_str(), e.label), ("05", Label::Unknown));
}

#[test]
fn dcase2021_names() {
    let n = parse_file_name("section_00_source_train_normal_0000.wav").unwrap();
    assert_eq!(n.scheme, NameScheme::Sections);
    assert_eq!(n.domain, Domain::Source);
    assert_eq!(n.split, Some(Split::Train));
    assert_eq!(n.label, Label::Normal);
    assert_eq!(n.attribute, "");

    let t = parse_file_name("section_02_target_test_anomaly_0099.wav").unwrap();
    assert_eq!(
        (t.domain, t.split, t.label),
        (Domain::Target, Some(Split::Test), Label::Anomaly)
    );

    // Eval test: domain known, label hidden.
    let e = parse_file_name("section_03_target_test_0000.wav").unwrap();
    assert_eq!(e.scheme, NameScheme::Sections);
    assert_eq!(
        (e.section.as_str(), e.domain, e.label),
        ("03", Domain::Target, Label::Unknown)
    );
    assert!(!e.anonymised);
}

#[test]
fn dcase2022_to_2025_names_with_attributes() {
    // 2022 (bearing), 2023 (ToyCar, fan), 2024 (gearbox, slider) and 2025 conventions.
    let cases = [
        (
            "section_00_source_train_normal_0000_vel_6_loc_A.wav",
            "vel_6_loc_A",
        ),
        (
            "section_05_target_test_anomaly_0049_vel_14_loc_B.wav",
            "vel_14_loc_B",
        ),
        (
            "section_00_source_train_normal_0000_car_A1_spd_28V_mic_1_noise_1.wav",
            "car_A1_spd_28V_mic_1_noise_1",
        ),
        ("section_00_target_train_normal_0009_m-n_W.wav", "m-n_W"),
        (
            "section_00_source_test_normal_0049_volt_1.0_wt_30.wav",
            "volt_1.0_wt_30",
        ),
        (
            "section_00_source_train_normal_0123_noAttribute.wav",
            "noAttribute",
        ),
        (
            "section_00_source_test_anomaly_0001_v1pat_A_v2pat_none.wav",
            "v1pat_A_v2pat_none",
        ),
    ];
    for (name, attr) in cases {
        let n = parse_file_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(n.scheme, NameScheme::Attributes, "{name}");
        assert_eq!(n.attribute, attr, "{name}");
        assert!(!n.anonymised);
    }
    let n = parse_file_name(cases[1].0).unwrap();
    assert_eq!(
        (
            n.section.as_str(),
            n.domain,
            n.split,
            n.label,
            n.index.as_str()
        ),
        (
            "05",
            Domain::Target,
            Some(Split::Test),
            Label::Anomaly,
            "0049"
        )
    );
    assert_eq!(
        attribute_pairs("car_A1_spd_28V_mic_1_noise_1"),
        [("car", "A1"), ("spd", "28V"), ("mic", "1"), ("noise", "1")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert!(attribute_pairs("noAttribute").is_empty());

    // Anonymised eval test files of 2022-2025.
    let e = parse_file_name("section_00_0000.wav").unwrap();
    assert!(e.anonymised);
    assert_eq!(
        (e.domain, e.label, e.split),
        (Domain::Unknown, Label::Unknown, None)
    );
}

#[test]
fn other_formats_and_upper_case_extensions_are_audio() {
    for name in [
        "section_00_0001.flac",
        "id_01_00000001.WAV",
        "normal_id_02_00000001.mp3",
    ] {
        assert!(parse_file_name(name).is_ok(), "{name}");
    }
}

#[test]
fn unknown_patterns_are_named_errors() {
    for name in [
        "recording_0001.wav",
        "section_xx_source_train_normal_0000.wav",
        "section_00_elsewhere_train_normal_0000_a_1.wav",
        "section_00_source_train_broken_0000_a_1.wav",
        "section_00_source_train_normal_abcd_a_1.wav",
        "normal_id_00_.wav",
        "section_00_source_train_normal_0000__a.wav",
    ] {
        match parse_file_name(name) {
            Err(NameError::Unknown(n, _)) => assert_eq!(n, name),
            other => panic!("{name}: expected an unknown-pattern error, got {other:?}"),
        }
    }
    assert_eq!(parse_file_name("notes.txt"), Err(NameError::NotAudio));
    assert_eq!(parse_file_name("README"), Err(NameError::NotAudio));
}
