//! `asd synth` followed by `asd dataset inspect`, as a user runs them.

mod common;
use common::asd;

#[test]
fn synth_tiny_then_inspect_shows_the_expected_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let r = root.to_str().unwrap();
    let out = asd(&["synth", "--preset", "tiny", "--seed", "5", "--out", r]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = asd(&["dataset", "inspect", r]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("208 usable clips, 32 auxiliary classes"),
        "{text}"
    );
    for m in [
        "fan",
        "gearbox",
        "valve",
        "bearing",
        "blower",
        "geartrain",
        "solenoid",
        "motor",
    ] {
        let row = text
            .lines()
            .find(|l| l.split('|').nth(2).is_some_and(|c| c.trim() == m))
            .unwrap_or_else(|| panic!("no row for {m} in\n{text}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        // part, machine, sections, train src/tgt, test src n/a, test tgt n/a, no truth, classes, duration, rate
        assert_eq!(
            &cells[3..11],
            ["00", "12/2", "3/3", "3/3", "0", "4", "1.00", "16000"],
            "{row}"
        );
    }

    // One broken file makes inspect fail after listing it, and the other files are still counted.
    let bad = root.join("dev_data/raw/fan/train/section_00_source_train_normal_0000_spd_12.wav");
    std::fs::write(&bad, b"RIFF....WAVEfmt broken").unwrap();
    let stray = root.join("dev_data/raw/fan/test/recording.wav");
    std::fs::copy(
        root.join("dev_data/raw/fan/train/section_00_source_train_normal_0001_spd_16.wav"),
        &stray,
    )
    .unwrap();
    let out = asd(&["dataset", "inspect", r]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("207 usable clips"), "{text}");
    assert!(text.contains("2 unusable file(s)"), "{text}");
    assert!(
        text.contains("section_00_source_train_normal_0000_spd_12.wav"),
        "{text}"
    );
    assert!(
        text.contains("recording.wav: file name 'recording.wav' follows no DCASE convention"),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 file(s) cannot be used"));
}
