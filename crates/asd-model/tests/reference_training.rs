//! Two optimisation steps of the reference training replayed with its own random draws
//! (`training/`): source-only labels, mixup, the un-mixed pass, feature exchange, both heads' losses and
//! adaptive scales, gradients, Adam, and every BatchNorm statistic after each step.
//!
//! Bounds come from the fixtures' float64 replay of the same two steps (`*_f64*`, made by the reference
//! code itself in double precision), never from constants measured on one draw: for every embedding,
//! loss, scale, gradient, parameter and running statistic, our distance from the float64 value must be
//! at most twice the reference's own float32 distance from it, or the README's tolerance (1e-3 for
//! arrays, 1e-4 for losses and scales) where that is larger. Ill-conditioned quantities (step 0's
//! gradient of the STFT stem, everything of step 1 after Adam's first update moves rounding-level
//! gradients by a full ±lr) get the room the reference itself needs; well-conditioned ones keep the
//! README's bound. Parameters after the first Adam step (a pure ±lr per element) also get the room of
//! the gradient elements whose sign float32 cannot settle (within the reference's own float32 error of
//! zero: each may move by 2·lr).
//! The same test passes on another draw of the fixture generator.

mod common;
use asd_testkit::reference_fixture;
use common::{rel_err, values};

use asd_audio::FeatureExtractor;
use asd_model::data::{StepDraws, TrainBatch, TrainItem, label_row};
use asd_model::layers::NamedTensors;
use asd_model::train::{
    Scales, StepTrace, TrainConfig, Trainable, initial_scales, optimizer, step,
};
use asd_model::{NetConfig, TensorMap};
use burn::tensor::Device;
use ndarray::{Array1, Array2, Axis};
use ndarray_npy::read_npy;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixture(dir: &str, name: &str) -> PathBuf {
    reference_fixture(dir).join(name)
}

fn training(name: &str) -> PathBuf {
    fixture("training", name)
}

fn tensors(name: &str) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    TensorMap::read(&training(name)).unwrap().tensors
}

fn by_name(t: NamedTensors) -> BTreeMap<String, Vec<f32>> {
    t.into_iter().map(|(n, _, v)| (n, v)).collect()
}

fn close(got: f64, want: f64, what: &str) {
    let err = (got - want).abs() / want.abs();
    assert!(
        err < 1e-4,
        "{what}: {got} vs {want} (relative error {err:e})"
    );
}

fn matrix(name: &str) -> Vec<f32> {
    let a: Array2<f32> = read_npy(training(name)).unwrap();
    a.iter().copied().collect()
}

/// How many times the reference's own float32 distance from the float64 replay ours may be.
const FACTOR: f64 = 2.0;

fn training_f64(name: &str) -> PathBuf {
    training(name)
}

fn matrix_f64(name: &str) -> Vec<f32> {
    let a: Array2<f64> = read_npy(training_f64(name)).unwrap();
    a.iter().map(|&x| x as f32).collect()
}

/// Checks `ours` against the float64 replay `exact` with the bound the reference's float32 value
/// `ref32` earns: max(FACTOR × d(ref32, exact), floor); `dist` is the error measure. Returns the row
/// printed for the record.
fn fair(
    what: &str,
    dist: &dyn Fn(&[f32], &[f32]) -> f64,
    ours: &[f32],
    ref32: &[f32],
    exact: &[f32],
    floor: f64,
) -> String {
    let (d_ours, d_ref) = (dist(ours, exact), dist(ref32, exact));
    let bound = (FACTOR * d_ref).max(floor);
    assert!(
        d_ours <= bound,
        "{what}: {d_ours:e} from the float64 replay, bound {bound:e} (the reference's float32 is {d_ref:e} from it)"
    );
    format!("{what:<55} ours {d_ours:9.2e}  reference f32 {d_ref:9.2e}  bound {bound:9.2e}")
}

/// Elements of a gradient whose float64 value lies within the reference's largest float32 error of
/// zero: their sign is not determined in float32.
fn sign_risk(ref32: &[f32], exact: &[f32]) -> usize {
    let delta = ref32
        .iter()
        .zip(exact)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    exact.iter().filter(|g| g.abs() <= delta).count()
}

/// An error measure between two value lists.
type Dist = Box<dyn Fn(&[f32], &[f32]) -> f64>;

fn rel(a: &[f32], b: &[f32]) -> f64 {
    rel_err(a, b)
}

fn scalar_dist(a: &[f32], b: &[f32]) -> f64 {
    let (a, b) = (f64::from(a[0]), f64::from(b[0]));
    (a - b).abs() / b.abs()
}

/// What the step showed before the optimizer: the mixed and the exchanged embeddings, the
/// feature-exchange labels and the gradients by name.
type Seen = (Vec<f32>, Vec<f32>, Vec<f32>, BTreeMap<String, Vec<f32>>);

fn draws(v: &Value) -> StepDraws {
    let list = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    StepDraws {
        lam: list("lam").into_iter().map(|x| x as f32).collect(),
        mix_u: list("mix_u"),
        fx_u: list("fx_u"),
    }
}

#[test]
fn two_reference_training_steps_are_reproduced() {
    let device = Device::flex().autodiff();
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(training("values.json")).unwrap()).unwrap();
    let classes = v["classes"].as_u64().unwrap() as usize;
    let cfg = NetConfig::new(v["clip_len"].as_u64().unwrap() as usize);

    // The reference's labels: one-hot for source clips, all zeros for the target clip.
    let class_ids: Array1<i64> = read_npy(training("class_ids.npy")).unwrap();
    let is_source: Array1<i64> = read_npy(training("is_source.npy")).unwrap();
    let labels: Vec<f32> = class_ids
        .iter()
        .zip(&is_source)
        .flat_map(|(&c, &s)| {
            let item = TrainItem {
                path: PathBuf::new(),
                class: c as usize,
                labelled: s == 1,
            };
            label_row(&item, classes)
        })
        .collect();
    assert_eq!(labels, matrix("labels.npy"));

    let mut src = TensorMap::read(&fixture("network", "weights.safetensors")).unwrap();
    let heads = tensors("heads_before.safetensors");
    let head_scale = |k: &str| f64::from(heads[k].1[0]);
    src.tensors.extend(heads.clone());
    let mut model = Trainable::load(&mut src, &cfg, classes, false, &device).unwrap();
    let left: Vec<&String> = src.tensors.keys().collect();
    assert!(
        left.iter().all(|k| k.ends_with(".s") || k.ends_with(".pi")),
        "unused tensors: {left:?}"
    );
    let mut scales: Scales = initial_scales(classes);
    close(scales.head, head_scale("adaproj.s"), "initial head scale");
    close(
        scales.head_featex,
        head_scale("adaproj_featex.s"),
        "initial feature-exchange head scale",
    );

    let wave: Array2<f32> = read_npy(training("wave.npy")).unwrap();
    let waves: Vec<Vec<f32>> = wave.axis_iter(Axis(0)).map(|r| r.to_vec()).collect();
    let fx = FeatureExtractor::new(cfg.clip_len);
    let tc = TrainConfig::default();
    let mut optim = optimizer(&tc);

    let v64: Value =
        serde_json::from_str(&std::fs::read_to_string(training_f64("values_f64.json")).unwrap())
            .unwrap();
    let v64 = v64.as_array().unwrap().clone();
    let mut table = Vec::new();
    for (i, sv) in v["steps"].as_array().unwrap().iter().enumerate() {
        let batch = TrainBatch::prepare(
            &fx,
            &waves,
            &labels,
            classes,
            tc.mixup_prob,
            tc.unmixed_pass,
            draws(&sv["draws"]),
        );
        let err = rel_err(&batch.labels, &matrix(&format!("step{i}_y_mix.npy")));
        assert!(err < 1e-6, "step {i} mixed labels: relative error {err:e}");
        assert_eq!((batch.labelled, batch.unlabelled), (5, 1));

        let mut seen: Option<Seen> = None;
        let mut inspect = |t: &StepTrace<'_>| {
            let mut grads = by_name(t.model.net.export_grads(t.grads));
            grads.insert(
                "adaproj_featex.W".into(),
                values(t.model.head_featex.w.val().grad(t.grads).unwrap()),
            );
            assert!(
                t.model.head.w.val().grad(t.grads).is_none(),
                "the main head's class sub-spaces stay fixed"
            );
            seen = Some((
                values(t.emb_mix.clone()),
                values(t.emb_featex.clone()),
                t.y_featex.to_vec(),
                grads,
            ));
        };
        let (next, losses) = step(
            model,
            &mut optim,
            &mut scales,
            &batch,
            &tc,
            classes,
            &device,
            Some(&mut inspect),
        )
        .unwrap();
        model = next;
        let (emb_mix, emb_fx, y_fx, grads) = seen.expect("the step is inspected");

        let exact = &v64[i];
        for (got, key) in [
            (losses.loss, "loss"),
            (losses.loss_head, "loss_head"),
            (losses.loss_featex, "loss_featex"),
            (scales.head, "scale_head"),
            (scales.head_featex, "scale_featex"),
        ] {
            // Compared in float64: the losses' and scales' distances are below f32's resolution.
            let (ours, r32, e) = (got, sv[key].as_f64().unwrap(), exact[key].as_f64().unwrap());
            let (d_ours, d_ref) = ((ours - e).abs() / e.abs(), (r32 - e).abs() / e.abs());
            let bound = (FACTOR * d_ref).max(1e-4);
            assert!(
                d_ours <= bound,
                "step {i} {key}: {ours} is {d_ours:e} from the float64 {e} (bound {bound:e})"
            );
            table.push(format!(
                "step {i} {key:<49} ours {d_ours:9.2e}  reference f32 {d_ref:9.2e}  bound {bound:9.2e}"
            ));
        }
        let err = rel_err(&y_fx, &matrix(&format!("step{i}_y_featex.npy")));
        assert!(err < 1e-6, "step {i} feature-exchange labels: {err:e}");
        for (got, file) in [(&emb_mix, "emb_mix"), (&emb_fx, "emb_featex")] {
            table.push(fair(
                &format!("step {i} {file}"),
                &rel,
                got,
                &matrix(&format!("step{i}_{file}.npy")),
                &matrix_f64(&format!("step{i}_{file}_f64.npy")),
                1e-3,
            ));
        }

        let want = tensors(&format!("step{i}_grads.safetensors"));
        let want64 = tensors(&format!("step{i}_grads_f64.safetensors"));
        assert_eq!(want.len(), 8);
        let mut at_risk = BTreeMap::new();
        for (name, (_, w)) in &want {
            let got = grads
                .get(name)
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            at_risk.insert(name.clone(), sign_risk(w, &want64[name].1));
            table.push(fair(
                &format!("step {i} gradient of {name}"),
                &rel,
                got,
                w,
                &want64[name].1,
                1e-3,
            ));
        }

        // Parameters after Adam, and every running statistic. A running mean of mean-normalised
        // inputs (`stft.norm_inp`) is zero up to rounding (~1e-9), so means are compared in units of
        // their channel's standard deviation rather than relative to themselves.
        let after = by_name(model.net.export());
        let want = tensors(&format!("step{i}_after.safetensors"));
        let want64 = tensors(&format!("step{i}_after_f64.safetensors"));
        let mut stats = 0;
        for (name, (_, w)) in &want {
            let got = match name.as_str() {
                "adaproj_featex.W" => values(model.head_featex.w.val()),
                _ => after[name].clone(),
            };
            let exact = &want64[name].1;
            let dist: Dist = match name.strip_suffix("running_mean") {
                Some(stem) => {
                    stats += 1;
                    let sd: Vec<f32> = want64[&format!("{stem}running_var")]
                        .1
                        .iter()
                        .map(|v| v.sqrt())
                        .collect();
                    Box::new(move |a: &[f32], b: &[f32]| {
                        let norm =
                            |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
                        let d: Vec<f32> = a.iter().zip(b).map(|(x, y)| x - y).collect();
                        norm(&d) / norm(&sd)
                    })
                }
                None if name.ends_with("num_batches_tracked") => Box::new(scalar_dist),
                None => Box::new(rel),
            };
            // Adam's update is ±lr wherever |g| is well above its epsilon, whatever |g| is: an element
            // whose float64 gradient lies within the reference's own float32 error of zero may take
            // either sign in a float32 computation as good as the reference's, and move by 2·lr.
            // Only the first update is a pure sign (later ones divide by the running moments).
            let flips = if i == 0 {
                at_risk.get(name).copied().unwrap_or(0) as f64
            } else {
                0.0
            };
            let norm = exact
                .iter()
                .map(|x| f64::from(*x).powi(2))
                .sum::<f64>()
                .sqrt();
            let room = 2.0 * tc.learning_rate * flips.sqrt() / norm;
            table.push(fair(
                &format!("step {i} {name} after the step"),
                &*dist,
                &got,
                w,
                exact,
                room.max(1e-3),
            ));
        }
        assert_eq!(
            stats, 23,
            "every BatchNorm's running statistics are compared"
        );
    }
    eprintln!("distance from the float64 replay:\n{}", table.join("\n"));
}
