//! The network reproduces the authors' PyTorch forward passes with real weights (`network/`).

mod common;
use asd_testkit::reference_fixture;
use common::{rel_err, values};

use asd_audio::FeatureExtractor;
use asd_model::batch::HostBatch;
use asd_model::{EmbeddingNet, NetConfig, TensorMap};
use burn::tensor::{Device, Tensor};
use ndarray::{Array1, Array2, Axis};
use ndarray_npy::read_npy;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    reference_fixture(&format!("network/{name}"))
}

fn host(t: Tensor<2>) -> Array2<f32> {
    let [r, c] = t.dims();
    Array2::from_shape_vec((r, c), values(t)).unwrap()
}

fn load(device: &Device) -> (EmbeddingNet, NetConfig) {
    let cfg = NetConfig::new(160_000);
    let mut weights = TensorMap::read(&fixture("weights.safetensors")).unwrap();
    let net = EmbeddingNet::load(&mut weights, &cfg, device).unwrap();
    assert!(
        weights.tensors.is_empty(),
        "unused tensors: {:?}",
        weights.tensors.keys()
    );
    (net, cfg)
}

fn batch(wave: &Array2<f32>, cfg: &NetConfig, device: &Device) -> (Tensor<2>, Tensor<3>) {
    let fx = FeatureExtractor::new(cfg.clip_len);
    let clips: Vec<Vec<f32>> = wave.axis_iter(Axis(0)).map(|r| r.to_vec()).collect();
    HostBatch::from_clips(&fx, &clips).to_device(device)
}

#[test]
fn eval_mode_matches_reference_embeddings() {
    let device = Device::flex();
    let (net, cfg) = load(&device);
    let wave: Array2<f32> = read_npy(fixture("wave.npy")).unwrap();
    let (spec, stft) = batch(&wave, &cfg, &device);
    let (fft, st) = net.branches(spec.clone(), stft.clone(), false);
    for (got, file) in [(fft, "eval_emb_fft.npy"), (st, "eval_emb_stft.npy")] {
        let want: Array2<f32> = read_npy(fixture(file)).unwrap();
        let got = host(got);
        let err = rel_err(got.as_slice().unwrap(), want.as_slice().unwrap());
        assert!(err < 1e-3, "{file}: relative error {err:e}");
    }
    let emb = host(net.embed(spec, stft, false));
    let want: Array2<f32> = read_npy(fixture("eval_emb.npy")).unwrap();
    let err = rel_err(emb.as_slice().unwrap(), want.as_slice().unwrap());
    assert!(err < 1e-3, "eval_emb: relative error {err:e}");
    for row in emb.axis_iter(Axis(0)) {
        assert!((row.dot(&row) - 1.0).abs() < 1e-5);
    }
    // BatchNorm folded into the neighbouring layers computes the same embeddings.
    let (spec, stft) = batch(&wave, &cfg, &device);
    let folded = host(net.folded_for_inference().embed(spec, stft, false));
    let err = rel_err(folded.as_slice().unwrap(), emb.as_slice().unwrap());
    assert!(err < 1e-5, "folded vs unfolded: relative error {err:e}");
}

#[test]
fn train_mode_matches_reference_and_updates_running_statistics() {
    let device = Device::flex().autodiff();
    let (net, cfg) = load(&device);
    let wave: Array2<f32> = read_npy(fixture("train_wave.npy")).unwrap();
    let (spec, stft) = batch(&wave, &cfg, &device);
    let (fft, st) = net.branches(spec, stft, true);
    for (got, file) in [(fft, "train_emb_fft.npy"), (st, "train_emb_stft.npy")] {
        let want: Array2<f32> = read_npy(fixture(file)).unwrap();
        let got = host(got);
        let err = rel_err(got.as_slice().unwrap(), want.as_slice().unwrap());
        assert!(err < 1e-3, "{file}: relative error {err:e}");
    }
    let exported = net.export();
    for (name, file) in [
        (
            "stft.norm_inp.running_mean",
            "train_after_stft_norm_inp_running_mean.npy",
        ),
        (
            "stft.norm_inp.running_var",
            "train_after_stft_norm_inp_running_var.npy",
        ),
        (
            "fft_branch.norm1.running_var",
            "train_after_fft_norm1_running_var.npy",
        ),
    ] {
        let want: Array1<f32> = read_npy(fixture(file)).unwrap();
        let got = &exported.iter().find(|(n, _, _)| n == name).unwrap().2;
        // The STFT input is mean-normalised over time, so its running mean is float noise (~1e-8):
        // compare against the spread of the data, not the mean's own size.
        let scale = want.iter().map(|v| v.abs()).fold(1.0f32, f32::max);
        let worst = got
            .iter()
            .zip(want.iter())
            .map(|(g, w)| (g - w).abs())
            .fold(0.0, f32::max);
        assert!(
            worst / scale < 1e-4,
            "{name}: max difference {worst:e} (scale {scale})"
        );
        if name.ends_with("var") {
            let err = rel_err(got, want.as_slice().unwrap());
            assert!(err < 1e-4, "{name}: relative error {err:e}");
        }
    }
}
