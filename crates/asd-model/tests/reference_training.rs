//! Two optimisation steps of the reference training replayed with its own random draws
//! (`training/`): source-only labels, mixup, the un-mixed pass, feature exchange, both heads' losses and
//! adaptive scales, gradients, Adam, and every BatchNorm statistic after each step.
//!
//! Tolerances are the fixtures README's (1e-3 for embeddings, gradients and weights; 1e-4 for losses and
//! scales) wherever the reference's own float32 numbers meet them. Where they do not, the bound is the
//! distance of the reference's float32 value from an exact (float64) replay of the same steps
//! (`benches/torch_step_f64.py`, PyTorch 2.15): ours must be no farther from the reference than an exact
//! computation is. Two cases need that. (1) Step 0's gradient of the STFT branch's first convolution is
//! ill-conditioned in float32 (the reference's value is 2.4e-3 from the float64 one, ours 1.1e-3 from the
//! reference). (2) Step 1 starts after Adam's first update, which moves every weight by ±lr whatever
//! the size of its gradient, so weights whose gradient is at rounding level get full-size updates of
//! arbitrary sign: the exact replay's step-1 embeddings are 5.5e-3 from the reference's, its
//! gradients 6.6e-3 to 1.2e-1.

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

/// Step 1: the reference's float32 distance from the exact replay (`benches/torch_step_f64.py`,
/// rounded up), per embedding, gradient and parameter after the step.
const STEP1_EXACT_DISTANCE: [(&str, f64, f64); 8] = [
    // (name, gradient, parameter after the step)
    ("adaproj_featex.W", 8.5e-3, 1.4e-3),
    ("fft_branch.conv1.weight", 5.5e-2, 1.2e-3),
    ("fft_branch.emb.weight", 6.6e-3, 1.8e-4),
    ("fft_branch.lin4.weight", 7.5e-2, 1.0e-3),
    ("stft_branch.conv1.weight", 1.2e-1, 2.1e-3),
    ("stft_branch.emb.weight", 1.0e-2, 1.1e-3),
    ("stft_branch.res_block2.conv_down.weight", 1.2e-1, 6.0e-4),
    ("stft_branch.res_block4.conv4.weight", 6.3e-2, 4.0e-3),
];
const STEP1_EMBEDDINGS: f64 = 5.6e-3;

/// The bound for a gradient (`grad`) or a parameter after the step in step `i`.
fn bound(i: usize, name: &str, grad: bool) -> f64 {
    match (i, name) {
        (0, "stft_branch.conv1.weight") if grad => 2.4e-3,
        (0, _) => 1e-3,
        _ => STEP1_EXACT_DISTANCE
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, g, p)| if grad { *g } else { *p })
            .map_or(1e-3, |b| b.max(1e-3)),
    }
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

        for (got, key) in [
            (losses.loss, "loss"),
            (losses.loss_head, "loss_head"),
            (losses.loss_featex, "loss_featex"),
            (scales.head, "scale_head"),
            (scales.head_featex, "scale_featex"),
        ] {
            close(got, sv[key].as_f64().unwrap(), &format!("step {i} {key}"));
        }
        let err = rel_err(&y_fx, &matrix(&format!("step{i}_y_featex.npy")));
        assert!(err < 1e-6, "step {i} feature-exchange labels: {err:e}");
        for (got, file) in [(&emb_mix, "emb_mix"), (&emb_fx, "emb_featex")] {
            let err = rel_err(got, &matrix(&format!("step{i}_{file}.npy")));
            let b = if i == 0 { 1e-3 } else { STEP1_EMBEDDINGS };
            assert!(err < b, "step {i} {file}: relative error {err:e}");
        }

        let want = tensors(&format!("step{i}_grads.safetensors"));
        assert_eq!(want.len(), 8);
        for (name, (_, w)) in &want {
            let got = grads
                .get(name)
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            let err = rel_err(got, w);
            let b = bound(i, name, true);
            assert!(
                err < b,
                "step {i} gradient of {name}: relative error {err:e} (bound {b:e})"
            );
        }

        // Parameters after Adam, and every running statistic. A running mean of mean-normalised
        // inputs (`stft.norm_inp`) is zero up to rounding (~1e-9), so means are compared in units of
        // their channel's standard deviation rather than relative to themselves.
        let after = by_name(model.net.export());
        let want = tensors(&format!("step{i}_after.safetensors"));
        let mut stats = 0;
        for (name, (_, w)) in &want {
            let got = match name.as_str() {
                "adaproj_featex.W" => values(model.head_featex.w.val()),
                _ => after[name].clone(),
            };
            let err = match name.strip_suffix("running_mean") {
                Some(stem) => {
                    stats += 1;
                    let sd: Vec<f32> = want[&format!("{stem}running_var")]
                        .1
                        .iter()
                        .map(|v| v.sqrt())
                        .collect();
                    let norm =
                        |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
                    let d: Vec<f32> = got.iter().zip(w).map(|(a, b)| a - b).collect();
                    norm(&d) / norm(&sd)
                }
                None => rel_err(&got, w),
            };
            // Running statistics keep the README's bound in both steps.
            let b = if name.contains("running_") {
                1e-3
            } else {
                bound(i, name, false)
            };
            assert!(
                err < b,
                "step {i} {name} after the step: error {err:e} (bound {b:e})"
            );
        }
        assert_eq!(
            stats, 23,
            "every BatchNorm's running statistics are compared"
        );
    }
}
