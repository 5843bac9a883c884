//! A corpus of bad inputs through inspect, train, embed, score and evaluate: no panic anywhere,
//! every problem named, and exit statuses that tell the truth (non-zero while something was left
//! out, unless the user accepted that with --skip-bad or --allow-partial).

mod common;
use common::{asd, ok};

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Output;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn no_panic(out: &Output, what: &str) {
    let t = text(out);
    assert_ne!(out.status.code(), Some(101), "{what} panicked:\n{t}");
    assert!(!t.contains("panicked"), "{what} panicked:\n{t}");
}

fn wav(path: &Path, spec: hound::WavSpec, seconds: f64, sample: impl Fn(usize) -> f32) {
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let n = (seconds * f64::from(spec.sample_rate)) as usize * usize::from(spec.channels);
    for i in 0..n {
        let v = sample(i);
        match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Float, _) => w.write_sample(v).unwrap(),
            (_, 24) => w.write_sample((v * 8_000_000.0) as i32).unwrap(),
            _ => w.write_sample((v * 30_000.0) as i16).unwrap(),
        }
    }
    w.finalize().unwrap();
}

fn spec(channels: u16, bits: u16, float: bool) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: 16_000,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    }
}

#[test]
fn a_corpus_of_bad_inputs_is_named_never_panics_and_sets_the_exit_status() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    ok(&asd(&[
        "synth", "--preset", "tiny", "--seed", "6", "--out", d,
    ]));
    let fan = data.join("dev_data/raw/fan");
    let tone = |i: usize| (i as f32 * 0.05).sin() * 0.3;
    let train = |n: u32| {
        fan.join(format!(
            "train/section_00_source_train_normal_{n:04}_spd_12.wav"
        ))
    };

    // Unusable: each must be named as an error.
    let truncated = train(900);
    wav(&truncated, spec(1, 16, false), 1.0, tone);
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..60]).unwrap();
    let empty = train(901);
    std::fs::write(&empty, b"").unwrap();
    let nan = train(902);
    wav(&nan, spec(1, 32, true), 1.0, |i| {
        if i == 100 { f32::NAN } else { tone(i) }
    });
    let looped = train(903);
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let odd_name = fan.join("train").join(std::ffi::OsStr::from_bytes(
        b"section_00_source_train_normal_0904_\xff.wav",
    ));
    wav(&odd_name, spec(1, 16, false), 1.0, tone);
    // Unreadable: a link to nothing, and (where the tests do not run as root, which reads anything)
    // a file without read permission.
    let dangling = train(909);
    std::os::unix::fs::symlink(tmp.path().join("gone.wav"), &dangling).unwrap();
    let locked = train(910);
    wav(&locked, spec(1, 16, false), 1.0, tone);
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let mut errors = vec![&truncated, &empty, &nan, &looped, &dangling];
    if std::fs::File::open(&locked).is_err() {
        errors.push(&locked);
    } else {
        std::fs::remove_file(&locked).unwrap();
    }

    // Usable, perhaps with a warning: eight channels (WAVE_FORMAT_EXTENSIBLE), 24 bits, very short
    // and very long clips.
    wav(&train(905), spec(8, 16, false), 1.0, tone);
    wav(&train(906), spec(1, 24, false), 1.0, tone);
    wav(&train(907), spec(1, 16, false), 0.1, tone);
    wav(&train(908), spec(1, 16, false), 600.0, tone);
    // A section with test clips and no training clip.
    wav(
        &fan.join("test/section_05_source_test_normal_0000_spd_12.wav"),
        spec(1, 16, false),
        1.0,
        tone,
    );
    // A machine folder whose name is not UTF-8.
    let odd_machine = data
        .join("dev_data/raw")
        .join(std::ffi::OsStr::from_bytes(b"m\xffchine"));
    std::fs::create_dir_all(odd_machine.join("train")).unwrap();

    let out = asd(&["dataset", "inspect", d]);
    no_panic(&out, "inspect");
    assert!(!out.status.success(), "inspect must fail on unusable files");
    let t = text(&out);
    for p in &errors {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(t.matches(&name).count(), 1, "{name} named once in:\n{t}");
    }
    for needle in [
        "not valid UTF-8",
        "section 05 has 1 test clip(s) but no training clip",
        "machine folder name is not valid UTF-8",
    ] {
        assert!(t.contains(needle), "{needle} in:\n{t}");
    }

    // Training skips what it cannot read, names it, and still writes a model.
    let model = tmp.path().join("model");
    let m = model.to_str().unwrap();
    let out = asd(&[
        "train",
        "--data",
        d,
        "--out",
        m,
        "--epochs",
        "1",
        "--batch-size",
        "32",
    ]);
    no_panic(&out, "train");
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for p in [&truncated, &empty, &nan] {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(t.contains(&name), "train names {name}:\n{t}");
    }
    assert!(
        t.contains("section_00_source_train_normal_0908_spd_12.wav"),
        "the 600 s clip is named as an outlier:\n{t}"
    );

    // Embedding: non-zero while clips are left out, success with --skip-bad.
    let emb = tmp.path().join("emb");
    let e = emb.to_str().unwrap();
    let out = asd(&["embed", "--model", m, "--data", d, "--out", e]);
    no_panic(&out, "embed");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("--skip-bad"));
    let out = asd(&["embed", "--model", m, "--data", d, "--out", e, "--skip-bad"]);
    no_panic(&out, "embed --skip-bad");
    assert!(out.status.success(), "{}", text(&out));

    // Scoring: the section without references cannot be scored, is named, and the rest is written.
    let scores = tmp.path().join("scores");
    let s = scores.to_str().unwrap();
    let out = asd(&["score", "--embeddings", e, "--out", s]);
    no_panic(&out, "score");
    assert!(!out.status.success());
    assert!(text(&out).contains("05"), "{}", text(&out));
    assert!(
        scores
            .join("anomaly_score_fan_section_00_test.csv")
            .exists()
    );

    // Evaluation: the unscored section is a gap the evaluator refuses, unless it is allowed.
    let out = asd(&["evaluate", "--scores", s, "--truth", e]);
    no_panic(&out, "evaluate");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("fan section 05 has no score file"),
        "{}",
        text(&out)
    );
    let out = asd(&["evaluate", "--scores", s, "--truth", e, "--allow-partial"]);
    assert!(out.status.success(), "{}", text(&out));

    // Numeric flags at their edges are refused with a message, never a panic.
    for (flag, values) in [
        ("--means", &["0", "-1", "NaN", "99999999999999999999"][..]),
        ("--k", &["0", "-1", "NaN"][..]),
        ("--gwrp", &["-0.5", "1.5", "NaN"][..]),
        ("--decision-percentile", &["-1", "1", "NaN"][..]),
    ] {
        for v in values {
            let mut args = vec!["score", "--embeddings", e, "--out", s, flag, v];
            if flag == "--means" {
                args.extend(["--references", "source-means"]);
            }
            let out = asd(&args);
            no_panic(&out, &format!("score {flag} {v}"));
            assert!(!out.status.success(), "score {flag} {v} accepted");
        }
    }
    for (flag, v) in [
        ("--epochs", "0"),
        ("--batch-size", "0"),
        ("--batch-size", "1"),
        ("--learning-rate", "NaN"),
        ("--learning-rate", "-1"),
        ("--clip-seconds", "0"),
        ("--clip-seconds", "NaN"),
        ("--clip-seconds", "1e9"),
    ] {
        let out = asd(&["train", "--data", d, "--out", m, flag, v]);
        no_panic(&out, &format!("train {flag} {v}"));
        assert!(!out.status.success(), "train {flag} {v} accepted");
    }
}

/// An I/O error says whether it was a read or a write, names the path, and gives the OS text once.
#[test]
fn io_errors_say_read_or_write_name_the_path_and_the_os_text_once() {
    let tmp = tempfile::tempdir().unwrap();
    let scores = tmp.path().join("scores");
    let s = scores.to_str().unwrap();
    let once = |out: &Output, verb: &str, path: &str, os: &str| {
        no_panic(out, verb);
        assert!(!out.status.success());
        let t = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            t.contains(&format!("cannot {verb}")),
            "'cannot {verb}' in:\n{t}"
        );
        assert!(t.contains(path), "{path} in:\n{t}");
        assert_eq!(t.matches(os).count(), 1, "'{os}' once in:\n{t}");
    };
    let missing = tmp.path().join("missing");
    let ms = missing.to_str().unwrap();
    let out = asd(&["score", "--embeddings", ms, "--out", s]);
    once(&out, "read", ms, "No such file or directory");

    // A folder that cannot be made: its parent is a file.
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let under_file = file.join("scores");
    let uf = under_file.to_str().unwrap();
    // A valid embedding set in seconds: the scoring fixture that `demo --reference` writes.
    let demo = tmp.path().join("demo");
    ok(&asd(&[
        "demo",
        "--reference",
        "--out",
        demo.to_str().unwrap(),
    ]));
    let emb = demo.join("embeddings");
    let out = asd(&["score", "--embeddings", emb.to_str().unwrap(), "--out", uf]);
    no_panic(&out, "score into a file");
    assert!(!out.status.success());
    let t = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(t.contains(file.to_str().unwrap()), "the path in:\n{t}");
    assert!(t.contains("cannot create folder"), "{t}");
    let lower = t.to_lowercase();
    assert_eq!(
        lower.matches("not a directory").count(),
        1,
        "OS text once in:\n{t}"
    );
    assert!(
        !t.contains("cannot read"),
        "a write is not called a read:\n{t}"
    );
}

/// A `.npy` header whose declared shape claims more than the file holds (petabytes), through every
/// command that reads one: exit 1 naming the file, never an abort (134) or a panic; and a clip listed
/// twice in index.csv is refused where the set comes in.
#[test]
fn hostile_npy_headers_and_duplicate_rows_are_refused_where_they_come_in() {
    let tmp = tempfile::tempdir().unwrap();
    let lying = |shape: &str| {
        let mut text = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + text.len() + 1) % 64 != 0 {
            text.push(' ');
        }
        text.push('\n');
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(text.len() as u16).to_le_bytes());
        v.extend_from_slice(text.as_bytes());
        v.extend_from_slice(&[0u8; 64]);
        v
    };
    let head = "file,machine_type,section,domain,split,label,attribute\n";
    let set = tmp.path().join("set");
    std::fs::create_dir_all(&set).unwrap();
    std::fs::write(set.join("embeddings.npy"), lying("(4000000000000, 512)")).unwrap();
    std::fs::write(
        set.join("index.csv"),
        format!("{head}a.wav,fan,00,source,train,normal,\n"),
    )
    .unwrap();
    let out = asd(&[
        "score",
        "--embeddings",
        set.to_str().unwrap(),
        "--out",
        tmp.path().join("s").to_str().unwrap(),
    ]);
    no_panic(&out, "score on a hostile header");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("embeddings.npy") && text(&out).contains("data bytes follow"));
    let waves = tmp.path().join("waves.npy");
    std::fs::write(&waves, lying("(100000000000, 70016)")).unwrap();
    // The front-end path reads the waves before anything else (the network's path reads them through
    // the same checked reader once its model has loaded).
    let out = asd(&[
        "embed",
        "--frontend",
        "stft",
        "--wave-npy",
        waves.to_str().unwrap(),
        "--out",
        tmp.path().join("never.npy").to_str().unwrap(),
    ]);
    no_panic(&out, "embed --wave-npy on a hostile header");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("waves.npy"), "{}", text(&out));
    assert!(!tmp.path().join("never.npy").exists());

    // Duplicates: a true header, a clip listed twice.
    ndarray_npy::write_npy(
        set.join("embeddings.npy"),
        &ndarray::Array2::<f32>::ones((3, 4)),
    )
    .unwrap();
    std::fs::write(
        set.join("index.csv"),
        format!(
            "{head}a.wav,fan,00,source,train,normal,\nb.wav,fan,00,source,test,normal,\na.wav,fan,00,source,test,normal,\n"
        ),
    )
    .unwrap();
    let out = asd(&[
        "score",
        "--embeddings",
        set.to_str().unwrap(),
        "--out",
        tmp.path().join("s").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("listed twice") && text(&out).contains("line 4"),
        "{}",
        text(&out)
    );
    assert!(!tmp.path().join("s").exists());
}

/// Paths and flags given the wrong way round are answered with what to give instead, before any work.
#[test]
fn a_mistaken_path_or_flag_is_answered_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).to_str().unwrap().to_string();
    // --device cuda in a build without CUDA: a usage error at once, before the (missing) data is read.
    let out = asd(&[
        "run",
        "--data",
        &p("no_data"),
        "--out",
        &p("run"),
        "--device",
        "cuda",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--features cuda"), "{}", text(&out));
    assert!(!tmp.path().join("run").exists());
    // The service shows --store as required, and asks for it.
    let out = asd(&["monitor", "--frontend", "stft"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--store <STORE>"), "{}", text(&out));
    let help = asd(&["monitor", "--help"]);
    assert!(
        text(&help).contains("Usage: asd monitor [OPTIONS] --store <STORE>"),
        "{}",
        text(&help)
    );
    // A folder that is not a run.
    std::fs::create_dir_all(tmp.path().join("not_a_run")).unwrap();
    let out = asd(&["report", &p("not_a_run")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("is not a run folder"), "{}", text(&out));
    // A member folder instead of its embedding set: the sets below it are named.
    let set = tmp.path().join("member/embeddings");
    std::fs::create_dir_all(&set).unwrap();
    std::fs::write(set.join("index.csv"), "").unwrap();
    let out = asd(&["score", "--embeddings", &p("member"), "--out", &p("scores")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("holds no embedding set itself")
            && text(&out).contains(set.to_str().unwrap()),
        "{}",
        text(&out)
    );
    // A dataset's dev_data part instead of its root, as the ground truth.
    std::fs::create_dir_all(tmp.path().join("ds/dev_data")).unwrap();
    let out = asd(&[
        "evaluate",
        "--scores",
        &p("scores"),
        "--truth",
        &p("ds/dev_data"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("give the dataset root as --truth") && text(&out).contains(&p("ds")),
        "{}",
        text(&out)
    );
}
