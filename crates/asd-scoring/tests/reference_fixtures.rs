//! Reproduces every `scoring/scores_*.npy` fixture (synthetic unit vectors scored by the authors'
//! implementation and scikit-learn, cosine distance) and every `scoring_euclidean/scores_*.npy` one
//! (raw 96-d embeddings scored as the authors score their frozen front-ends: 0.25 · Euclidean).

use asd_core::{ClipRecord, Domain, EmbeddingSet, Label, Split};
use asd_scoring::density::Density;
use asd_scoring::pipeline::{ScoreOptions, score_set};
use asd_scoring::{Distance, MethodSpec, ReferenceChoice};
use asd_testkit::{reference_fixture, rel_err};
use ndarray::{Array1, Array2};
use ndarray_npy::read_npy;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    reference_fixture(&format!("scoring/{name}"))
}

fn load_set() -> EmbeddingSet {
    load_set_from(&fixture)
}

fn load_set_from(fixture: &dyn Fn(&str) -> PathBuf) -> EmbeddingSet {
    let train: Array2<f32> = read_npy(fixture("train_emb.npy")).unwrap();
    let test: Array2<f32> = read_npy(fixture("test_emb.npy")).unwrap();
    let train_sec: Array1<i64> = read_npy(fixture("train_section.npy")).unwrap();
    let test_sec: Array1<i64> = read_npy(fixture("test_section.npy")).unwrap();
    let train_src: Array1<i64> = read_npy(fixture("train_domain_is_source.npy")).unwrap();
    let test_src: Array1<i64> = read_npy(fixture("test_domain_is_source.npy")).unwrap();
    let test_anom: Array1<i64> = read_npy(fixture("test_is_anomaly.npy")).unwrap();
    let dom = |s: i64| {
        if s == 1 {
            Domain::Source
        } else {
            Domain::Target
        }
    };
    let mut records = Vec::new();
    for i in 0..train.nrows() {
        records.push(ClipRecord {
            file: format!("train_{i}.wav"),
            machine_type: "fixture".into(),
            section: format!("{:02}", train_sec[i]),
            domain: dom(train_src[i]),
            split: Split::Train,
            label: Label::Normal,
            attribute: String::new(),
        });
    }
    for i in 0..test.nrows() {
        records.push(ClipRecord {
            file: format!("test_{i}.wav"),
            machine_type: "fixture".into(),
            section: format!("{:02}", test_sec[i]),
            domain: dom(test_src[i]),
            split: Split::Test,
            label: if test_anom[i] == 1 {
                Label::Anomaly
            } else {
                Label::Normal
            },
            attribute: String::new(),
        });
    }
    let emb = ndarray::concatenate(ndarray::Axis(0), &[train.view(), test.view()]).unwrap();
    EmbeddingSet::new(emb, records).unwrap()
}

fn check(file: &str, spec: MethodSpec, standardize: bool) {
    check_in(&fixture, file, spec, standardize, Distance::Cosine);
}

fn check_in(
    fixture: &dyn Fn(&str) -> PathBuf,
    file: &str,
    spec: MethodSpec,
    standardize: bool,
    distance: Distance,
) {
    let set = load_set_from(fixture);
    let want: Array1<f64> = read_npy(fixture(file)).unwrap();
    let mut opts = ScoreOptions::new(spec);
    opts.standardize = standardize;
    opts.distance = distance;
    let result = score_set(&set, &opts).unwrap();
    assert!(result.failures.is_empty());
    let got: Vec<f64> = result.test.iter().filter_map(|s| *s).collect();
    assert_eq!(got.len(), want.len());
    let err = rel_err(&got, want.as_slice().unwrap());
    assert!(err < 1e-4, "{file}: relative error {err:e}");
}

#[test]
fn nn() {
    check("scores_nn.npy", MethodSpec::Nn, false);
}

#[test]
fn ratio_knn() {
    check(
        "scores_ratio_k1.npy",
        MethodSpec::Ratio(Density::KnnMean(1)),
        false,
    );
    check(
        "scores_ratio_k16.npy",
        MethodSpec::Ratio(Density::KnnMean(16)),
        false,
    );
}

#[test]
fn ratio_gwrp() {
    check(
        "scores_ratio_gwrp_r0.5.npy",
        MethodSpec::Ratio(Density::Gwrp(0.5)),
        false,
    );
    check(
        "scores_ratio_gwrp_r0.9.npy",
        MethodSpec::Ratio(Density::Gwrp(0.9)),
        false,
    );
}

#[test]
fn difference() {
    check(
        "scores_difference_k16.npy",
        MethodSpec::Difference(Density::KnnMean(16)),
        false,
    );
    check(
        "scores_difference_gwrp_r0.9.npy",
        MethodSpec::Difference(Density::Gwrp(0.9)),
        false,
    );
}

#[test]
fn lof() {
    check("scores_lof_k8.npy", MethodSpec::Lof { k: 8 }, false);
}

#[test]
fn ratio_standardized() {
    check(
        "scores_ratio_k16_standardized.npy",
        MethodSpec::Ratio(Density::KnnMean(16)),
        true,
    );
}

#[test]
fn source_means_references_are_seeded_and_skip_self_in_leave_one_out() {
    // With k-means references, a target training clip still finds itself (distance 0) unless skipped,
    // and every source reference is a unit-norm centre.
    let set = load_set();
    let mut opts = ScoreOptions::new(MethodSpec::Nn);
    opts.references = ReferenceChoice::SourceMeans { k: 16, seed: 0 };
    let a = score_set(&set, &opts).unwrap();
    let b = score_set(&set, &opts).unwrap();
    assert_eq!(a.test, b.test, "seeded k-means gives the same scores");
    let all = score_set(&set, &ScoreOptions::new(MethodSpec::Nn)).unwrap();
    // Means are not samples: nearest distances to them differ from those to all samples.
    assert_ne!(a.test, all.test);
    for (i, r) in set.records.iter().enumerate() {
        // Target clips are references themselves; leave-one-out must skip their own entry. (A source
        // clip can be a singleton cluster, and so its own centre, at distance 0.)
        if r.split == Split::Train && r.domain == Domain::Target {
            assert!(
                a.train[i].unwrap() > 1e-6,
                "leave-one-out never matches a clip with itself"
            );
        }
    }
}

/// LOF is reproduced bit for bit (scikit-learn's float32 rounding steps), so its ties, which the
/// AUC counts, are the same as well.
#[test]
fn lof_equals_scikit_learn_exactly() {
    let set = load_set();
    let want: Array1<f64> = read_npy(fixture("scores_lof_k8.npy")).unwrap();
    let opts = ScoreOptions::new("lof_k8".parse::<MethodSpec>().unwrap());
    let result = score_set(&set, &opts).unwrap();
    assert!(result.failures.is_empty());
    // `test` is indexed like all records; training rows carry no test score.
    let got: Vec<f64> = result.test.iter().filter_map(|s| *s).collect();
    assert_eq!(got.len(), want.len(), "one score per test clip");
    let differing = got.iter().zip(want.iter()).filter(|(g, w)| g != w).count();
    assert_eq!(
        differing,
        0,
        "{differing} of {} LOF scores differ",
        got.len()
    );
}

fn euclidean_fixture(name: &str) -> PathBuf {
    reference_fixture(&format!("scoring_euclidean/{name}"))
}

/// Every method the fixture holds, on the raw embeddings with d = 0.25 · ‖x − y‖₂.
#[test]
fn raw_embeddings_scored_with_the_scaled_euclidean_distance() {
    for (file, spec) in [
        ("scores_nn.npy", "nn"),
        ("scores_ratio_k1.npy", "ratio_k1"),
        ("scores_ratio_k16.npy", "ratio_k16"),
        ("scores_ratio_gwrp_r0.9.npy", "ratio_gwrp_r0.9"),
        ("scores_difference_k16.npy", "difference_k16"),
        ("scores_difference_gwrp_r0.9.npy", "difference_gwrp_r0.9"),
    ] {
        check_in(
            &euclidean_fixture,
            file,
            spec.parse().unwrap(),
            false,
            Distance::Euclidean,
        );
    }
}

/// The same scores with the cosine distance are far from the fixture: the distance is really used.
#[test]
fn the_cosine_distance_does_not_give_the_euclidean_fixture() {
    let set = load_set_from(&euclidean_fixture);
    let want: Array1<f64> = read_npy(euclidean_fixture("scores_ratio_k16.npy")).unwrap();
    let got = score_set(&set, &ScoreOptions::new("ratio_k16".parse().unwrap())).unwrap();
    let got: Vec<f64> = got.test.iter().filter_map(|s| *s).collect();
    assert!(rel_err(&got, want.as_slice().unwrap()) > 1e-2);
}

/// SMOTE through the pipeline: seeded (the same scores twice), and it changes the target domain's
/// references (so its scores) while every score stays finite.
#[test]
fn smote_of_the_target_references_is_seeded_and_used() {
    use asd_scoring::smote::Smote;
    let set = load_set_from(&euclidean_fixture);
    let mut opts = ScoreOptions::new("ratio_k16".parse().unwrap());
    opts.distance = Distance::Euclidean;
    let plain = score_set(&set, &opts).unwrap();
    opts.smote = Some(Smote { k: 5, seed: 1 });
    let a = score_set(&set, &opts).unwrap();
    let b = score_set(&set, &opts).unwrap();
    assert_eq!(a.test, b.test);
    assert_ne!(a.test, plain.test);
    assert!(a.test.iter().flatten().all(|s| s.is_finite() && *s >= 0.0));
    opts.smote = Some(Smote { k: 5, seed: 2 });
    assert_ne!(score_set(&set, &opts).unwrap().test, a.test);
}
