//! AdaProj reproduces the reference logits, adaptive scale, loss and gradient (`adaproj/`).

mod common;
use asd_testkit::reference_fixture;
use common::{rel_err, values};

use asd_model::TensorMap;
use asd_model::adaproj::{AdaProj, initial_scale, soft_cross_entropy, updated_scale};
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{Array2, Array3};
use ndarray_npy::read_npy;
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    reference_fixture(&format!("adaproj/{name}"))
}

#[test]
fn logits_scale_loss_and_gradient_match_the_reference() {
    let device = Device::flex().autodiff();
    let x: Array2<f32> = read_npy(fixture("x.npy")).unwrap();
    let w: Array3<f32> = read_npy(fixture("W.npy")).unwrap();
    let labels: Array2<f32> = read_npy(fixture("labels.npy")).unwrap();
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("values.json")).unwrap()).unwrap();
    let (c, j, d) = w.dim();
    let mut src = TensorMap::default();
    src.tensors
        .insert("W".into(), (vec![c, j, d], w.iter().copied().collect()));
    let head = AdaProj::new(&mut src, "W", c, d, true, &device).unwrap();

    let s0 = initial_scale(c);
    assert!(
        (s0 - v["s_init"].as_f64().unwrap()).abs() < 1e-6,
        "s_init {s0}"
    );

    let xt: Tensor<2> = Tensor::from_data(
        TensorData::new(x.iter().copied().collect(), [x.nrows(), d]),
        &device,
    )
    .require_grad();
    let cos = head.cos_logits(xt.clone());
    let cos_host = values(cos.clone());
    let want: Array2<f32> = read_npy(fixture("cos_logits.npy")).unwrap();
    let err = rel_err(&cos_host, want.as_slice().unwrap());
    assert!(err < 1e-5, "cos logits: relative error {err:e}");

    let lab: Vec<f32> = labels.iter().copied().collect();
    let s = updated_scale(&cos_host, &lab, c, s0);
    let s_want = v["s_updated"].as_f64().unwrap();
    assert!((s - s_want).abs() / s_want < 1e-5, "scale {s} vs {s_want}");
    let scaled: Array2<f32> = read_npy(fixture("scaled_logits.npy")).unwrap();
    let ours: Vec<f32> = cos_host
        .iter()
        .map(|c| (f64::from(*c) * s) as f32)
        .collect();
    assert!(rel_err(&ours, scaled.as_slice().unwrap()) < 1e-5);

    let lt = Tensor::from_data(TensorData::new(lab, [labels.nrows(), c]), &device);
    let loss = soft_cross_entropy(cos, lt, s);
    let loss_v = values(loss.clone())[0];
    let loss_want = v["loss"].as_f64().unwrap() as f32;
    assert!(
        (loss_v - loss_want).abs() / loss_want < 1e-5,
        "loss {loss_v} vs {loss_want}"
    );

    let grads = loss.backward();
    let g = xt.grad(&grads).unwrap();
    let g = values(g);
    let gw: Array2<f32> = read_npy(fixture("grad_x.npy")).unwrap();
    let err = rel_err(&g, gw.as_slice().unwrap());
    assert!(err < 1e-4, "grad x: relative error {err:e}");
}
