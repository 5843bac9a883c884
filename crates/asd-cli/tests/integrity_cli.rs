//! Nothing silently wrong: `asd score` and `asd run` killed at many points leave the previous
//! complete result, the new complete result, or something every reader refuses; a second writer of a
//! folder is turned away; a re-run resumes to exactly the uninterrupted result.

mod common;
use common::{asd, ok};

use asd_core::{ClipRecord, Domain, EmbeddingSet, Label, Split};
use ndarray::Array2;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A small deterministic generator, so the kill points are the same on every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Many small sections, so that writing the submission takes long enough to be interrupted.
fn embedding_set(dir: &Path) {
    let (sections, train, test, d) = (120, 24, 8, 16);
    let mut rng = Lcg(7);
    let mut records = Vec::new();
    let mut rows = Vec::new();
    for s in 0..sections {
        for i in 0..train + test {
            let split = if i < train { Split::Train } else { Split::Test };
            let anomaly = split == Split::Test && i % 2 == 0;
            records.push(ClipRecord {
                file: format!("s{s:03}_{i:03}.wav"),
                machine_type: "fan".into(),
                section: format!("{s:03}"),
                domain: if i % 4 == 3 {
                    Domain::Target
                } else {
                    Domain::Source
                },
                split,
                label: if anomaly {
                    Label::Anomaly
                } else {
                    Label::Normal
                },
                attribute: String::new(),
            });
            let mut v: Vec<f32> = (0..d).map(|_| rng.next() as f32 - 0.5).collect();
            if anomaly {
                v[0] += 1.0;
            }
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            rows.extend(v.into_iter().map(|x| x / n));
        }
    }
    let set = EmbeddingSet {
        embeddings: Array2::from_shape_vec((records.len(), d), rows).unwrap(),
        records,
    };
    set.write(dir).unwrap();
}

/// The visible files of a folder and their bytes.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_asd"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn kill_after(mut child: Child, after: Duration) {
    std::thread::sleep(after);
    let _ = child.kill();
    let _ = child.wait();
}

/// Hidden temporary names (`.NAME.PID.tmp` / `.old`) anywhere under `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") || name.ends_with(".old") {
                out.push(e.path().display().to_string());
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

#[test]
fn score_killed_anywhere_leaves_one_complete_submission_or_none() {
    let tmp = tempfile::tempdir().unwrap();
    let emb = tmp.path().join("emb");
    embedding_set(&emb);
    let e = emb.to_str().unwrap();
    let mut refs = BTreeMap::new();
    let mut longest = Duration::ZERO;
    for method in ["nn", "ratio_k4"] {
        let out = tmp.path().join(format!("ref_{method}"));
        let start = Instant::now();
        ok(&asd(&[
            "score",
            "--embeddings",
            e,
            "--method",
            method,
            "--out",
            out.to_str().unwrap(),
        ]));
        longest = longest.max(start.elapsed());
        refs.insert(method, contents(&out));
    }
    assert_ne!(refs["nn"], refs["ratio_k4"]);
    assert_eq!(refs["nn"].len(), 2 * 120);

    let out = tmp.path().join("scores");
    let o = out.to_str().unwrap();
    let mut rng = Lcg(11);
    let mut seen_complete = false;
    for round in 0..12 {
        let method = ["nn", "ratio_k4"][round % 2];
        let child = spawn(&["score", "--embeddings", e, "--method", method, "--out", o]);
        kill_after(child, longest.mul_f64(1.2 * rng.next()));
        if !out.exists() {
            assert!(!seen_complete, "round {round}: a complete folder vanished");
            continue;
        }
        seen_complete = true;
        let mut now = contents(&out);
        now.retain(|k, _| k.starts_with("anomaly_score_") || k.starts_with("decision_result_"));
        assert!(
            now == refs["nn"] || now == refs["ratio_k4"],
            "round {round}: the folder mixes outputs ({} files)",
            now.len()
        );
        // Every reader accepts what is there as a whole submission.
        ok(&asd(&["evaluate", "--scores", o, "--truth", e]));
    }
    // A last, uninterrupted run tidies what the killed ones left beside the folder.
    ok(&asd(&[
        "score",
        "--embeddings",
        e,
        "--method",
        "nn",
        "--out",
        o,
    ]));
    assert_eq!(
        contents(&out)
            .into_iter()
            .filter(|(k, _)| !k.starts_with("results") && !k.starts_with("official"))
            .collect::<BTreeMap<_, _>>(),
        refs["nn"]
    );
    assert_eq!(leftovers(tmp.path()), Vec::<String>::new());

    // A folder with files of the user's is never replaced.
    let mine = tmp.path().join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep").unwrap();
    let r = asd(&["score", "--embeddings", e, "--out", mine.to_str().unwrap()]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("notes.txt"));
    assert_eq!(
        std::fs::read_to_string(mine.join("notes.txt")).unwrap(),
        "keep"
    );
}

#[test]
fn evaluate_refuses_a_partial_submission_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let emb = tmp.path().join("emb");
    embedding_set(&emb);
    let out = tmp.path().join("scores");
    let (e, o) = (emb.to_str().unwrap(), out.to_str().unwrap());
    ok(&asd(&[
        "score",
        "--embeddings",
        e,
        "--method",
        "nn",
        "--out",
        o,
    ]));
    for s in 0..118 {
        std::fs::remove_file(out.join(format!("anomaly_score_fan_section_{s:03}_test.csv")))
            .unwrap();
    }
    let r = asd(&["evaluate", "--scores", o, "--truth", e]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(
        err.contains("118 gap(s)")
            && err.contains("fan section 000 has no score file (8 clips)")
            && err.contains("and 108 more"),
        "{err}"
    );
    let r = asd(&["evaluate", "--scores", o, "--truth", e, "--allow-partial"]);
    ok(&r);
    let warn = String::from_utf8_lossy(&r.stderr);
    assert_eq!(
        warn.matches("partial submission: fan section").count(),
        118,
        "{warn}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["partial"], true);
    assert_eq!(json["sections"].as_array().unwrap().len(), 2);
}

fn run_args<'a>(data: &'a str, out: &'a str, cfg: &'a str) -> Vec<&'a str> {
    vec!["run", "--data", data, "--out", out, "--config", cfg]
}

#[test]
fn run_killed_anywhere_resumes_to_the_uninterrupted_result_and_has_one_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    ok(&asd(&[
        "synth", "--preset", "tiny", "--seed", "4", "--out", d,
    ]));
    let cfg = tmp.path().join("run.toml");
    std::fs::write(
        &cfg,
        "members = 2\nepochs = 1\nbatch_size = 32\nmethods = [\"nn\", \"ratio_k4\"]\nsweep_k = []\nsweep_r = []\n",
    )
    .unwrap();
    let c = cfg.to_str().unwrap();

    let reference = tmp.path().join("reference");
    let start = Instant::now();
    ok(&asd(&run_args(d, reference.to_str().unwrap(), c)));
    let took = start.elapsed();
    let read_json = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let expected = read_json(&reference.join("results.json"))["methods"].clone();

    let run = tmp.path().join("run");
    let r = run.to_str().unwrap();
    let mut rng = Lcg(5);
    for round in 0..5 {
        let child = spawn(&run_args(d, r, c));
        if round == 0 {
            // A second writer of the same folder is turned away at once, naming the first.
            std::thread::sleep(took.mul_f64(0.2));
            let second = asd(&run_args(d, r, c));
            let err = String::from_utf8_lossy(&second.stderr);
            assert!(!second.status.success());
            assert!(
                err.contains(&format!("in use by pid {}", child.id())),
                "{err}"
            );
            kill_after(child, Duration::ZERO);
        } else {
            kill_after(child, took.mul_f64(rng.next()));
        }
        // What is there is either complete and right, or refused by its reader.
        if run.join("results.json").exists() {
            assert_eq!(read_json(&run.join("results.json"))["methods"], expected);
        } else if run.join("run_config.json").exists() {
            let rep = asd(&["report", r]);
            assert!(!rep.status.success());
            assert!(
                String::from_utf8_lossy(&rep.stderr).contains("did not finish"),
                "round {round}"
            );
        }
        for m in ["00", "01"] {
            let emb = run.join("members").join(m).join("embeddings");
            if emb.exists() {
                assert_eq!(
                    contents(&emb),
                    contents(&reference.join("members").join(m).join("embeddings")),
                    "round {round}: member {m}'s embeddings"
                );
            }
        }
        for method in ["nn", "ratio_k4"] {
            let s = run.join("scores").join(method);
            if s.exists() {
                assert_eq!(
                    contents(&s),
                    contents(&reference.join("scores").join(method)),
                    "round {round}: scores of {method}"
                );
            }
        }
    }
    ok(&asd(&run_args(d, r, c)));
    assert_eq!(read_json(&run.join("results.json"))["methods"], expected);
    assert_eq!(leftovers(&run), Vec::<String>::new());
}
