//! What a new user types: method names as the docs and reports write them, index files whose `file`
//! holds a relative path, and errors that stay readable when many clips are wrong.

mod common;
use common::{asd, ok};

use ndarray::Array2;
use std::path::Path;

/// An embedding set of one machine type with two sections: 24 source training clips and 12 test clips
/// (half anomalous, shifted) per section, `file` written with its folder as `test/…`.
fn write_set(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rows = Vec::new();
    let mut index = String::from("file,machine_type,section,domain,split,label,attribute\n");
    let mut state = 12345u64;
    let mut noise = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    for sec in ["00", "01"] {
        for (split, n, label) in [
            ("train", 24, "normal"),
            ("test", 6, "normal"),
            ("test", 6, "anomaly"),
        ] {
            for i in 0..n {
                let shift = if label == "anomaly" { 1.5 } else { 0.0 };
                let mut v: Vec<f32> = (0..8).map(|_| noise()).collect();
                v[0] += 3.0;
                v[1] += shift;
                rows.push(v);
                let domain = if split == "test" && i % 2 == 1 {
                    "target"
                } else {
                    "source"
                };
                index += &format!(
                    "{split}/{sec}_{label}_{i:02}.wav,fan,{sec},{domain},{split},{label},a_1\n"
                );
            }
        }
    }
    let flat: Vec<f32> = rows.concat();
    let emb = Array2::from_shape_vec((rows.len(), 8), flat).unwrap();
    ndarray_npy::write_npy(dir.join("embeddings.npy"), &emb).unwrap();
    std::fs::write(dir.join("index.csv"), index).unwrap();
}

fn files(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv") && !p.ends_with("results.csv"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn full_method_names_relative_files_and_bounded_error_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let set = tmp.path().join("set");
    write_set(&set);
    let e = set.to_str().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let scored = asd(&[
        "score",
        "--embeddings",
        e,
        "--method",
        "ratio_k4",
        "--out",
        a.to_str().unwrap(),
    ]);
    ok(&scored);
    // stderr is a pipe here: log lines carry no colour escapes.
    let log = String::from_utf8_lossy(&scored.stderr).into_owned();
    assert!(log.contains("INFO") && !log.contains('\u{1b}'), "{log:?}");
    ok(&asd(&[
        "score",
        "--embeddings",
        e,
        "--method",
        "ratio",
        "--k",
        "4",
        "--out",
        b.to_str().unwrap(),
    ]));
    assert_eq!(files(&a), files(&b), "ratio_k4 is ratio with --k 4");
    let gw = tmp.path().join("gw");
    ok(&asd(&[
        "score",
        "--embeddings",
        e,
        "--method",
        "ratio_gwrp_r0.9",
        "--out",
        gw.to_str().unwrap(),
    ]));

    // K beyond the 24 references of a section: clipped, and said once per section.
    let big = tmp.path().join("big");
    let out = asd(&[
        "score",
        "--embeddings",
        e,
        "--method",
        "lof",
        "--k",
        "100",
        "--out",
        big.to_str().unwrap(),
    ]);
    ok(&out);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        log.matches("K = 100 but only 23 neighbours among its 24 references")
            .count(),
        2,
        "{log}"
    );

    let twice = asd(&[
        "score",
        "--embeddings",
        e,
        "--method",
        "ratio_k4",
        "--k",
        "8",
        "--out",
        "x",
    ]);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("drop --k"));
    let bad = asd(&[
        "score",
        "--embeddings",
        e,
        "--method",
        "magic",
        "--out",
        "x",
    ]);
    let msg = String::from_utf8_lossy(&bad.stderr).into_owned();
    assert!(!bad.status.success());
    assert!(msg.contains("invalid method 'magic' (expected"), "{msg}");

    // `file` = `test/…` in the index: the scores are matched to the truth by base name.
    let text = ok(&asd(&[
        "evaluate",
        "--scores",
        a.to_str().unwrap(),
        "--truth",
        e,
    ]));
    assert!(text.contains("fan"), "{text}");

    // A truth that lacks the 12 test clips of section 01: the error names 10 and counts the rest.
    let partial = tmp.path().join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    let index = std::fs::read_to_string(set.join("index.csv")).unwrap();
    let kept: Vec<&str> = index
        .lines()
        .filter(|l| !l.starts_with("test/01_"))
        .collect();
    std::fs::write(partial.join("index.csv"), kept.join("\n") + "\n").unwrap();
    let truth = partial.join("index.csv");
    let out = asd(&[
        "evaluate",
        "--scores",
        a.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
    ]);
    let msg = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success());
    assert!(
        msg.contains("12 scored clip(s) have no ground truth"),
        "{msg}"
    );
    assert!(msg.contains("and 2 more"), "{msg}");
    assert_eq!(msg.matches("fan/test/01_").count(), 10, "{msg}");
}
