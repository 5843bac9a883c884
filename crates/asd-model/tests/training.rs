//! A tiny training run on synthetic data: the loss falls, accuracy ends well above chance, the
//! checkpoint resumes to the same weights, and embeddings come out as an embedding set.

use asd_dataset::synth::{self, Preset};
use asd_dataset::{Dataset, OpenOptions};
use asd_model::fit::{FitOptions, fit};
use asd_model::train::TrainConfig;
use asd_model::{DeviceChoice, ModelDir, NetConfig};
use burn::tensor::Device;

fn tiny_dev_data(dir: &std::path::Path) -> Dataset {
    synth::generate(dir, Preset::Tiny, 3, &|| {}).unwrap();
    // The development part only: 4 machine types × 4 attribute values = 16 classes, 56 clips.
    Dataset::open(&dir.join("dev_data"), &OpenOptions::default()).unwrap()
}

fn options(epochs: usize) -> FitOptions {
    FitOptions {
        train: TrainConfig {
            epochs,
            batch_size: 14,
            learning_rate: 2e-3,
            seed: 11,
            ..TrainConfig::default()
        },
        clip_len: Some(NetConfig::MIN_CLIP_LEN),
        resume: true,
        device: DeviceChoice::Cpu,
    }
}

#[test]
fn tiny_training_learns_resumes_and_embeds() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tiny_dev_data(&tmp.path().join("data"));
    assert_eq!(ds.class_names().len(), 16);

    let full = ModelDir::new(&tmp.path().join("full"));
    let result = fit(&ds, &full, &options(6), &mut |_| {}).unwrap();
    let r = &result.reports;
    assert_eq!(r.len(), 6);
    assert!(result.failures.is_empty());
    let first = r[0].loss;
    let last = r[r.len() - 1].loss;
    assert!(last < 0.8 * first, "loss {first:.3} → {last:.3}");
    // Chance is 1/16; mixup makes the dominant class harder to read, so "well above" is 4×.
    assert!(r[r.len() - 1].accuracy > 0.25, "final accuracy {:.3}", r[r.len() - 1].accuracy);
    assert_eq!(full.log().unwrap().len(), 6);

    // 3 epochs, then a resumed run to 6, gives the same weights as 6 in one go.
    let split = ModelDir::new(&tmp.path().join("split"));
    fit(&ds, &split, &options(3), &mut |_| {}).unwrap();
    let mut cfg = split.config().unwrap();
    cfg.train.epochs = 6;
    split.write_config(&cfg).unwrap();
    let resumed = fit(&ds, &split, &options(6), &mut |_| {}).unwrap();
    assert_eq!(resumed.resumed_from, 3);
    assert_eq!(resumed.reports.len(), 3);
    assert_eq!(split.log().unwrap().len(), 6);
    let a = std::fs::read(full.path("model.safetensors")).unwrap();
    let b = std::fs::read(split.path("model.safetensors")).unwrap();
    assert!(a == b, "resumed training reproduces the uninterrupted run");

    // Embeddings: one unit vector per clip, written as an embedding set.
    let (net, mcfg) = full.load_net(&Device::flex()).unwrap();
    let (set, failures) = asd_model::embed::embed_dataset(&net, mcfg.net.clip_len, &ds, &Device::flex(), &mut |_| {}).unwrap();
    assert!(failures.is_empty());
    assert_eq!(set.embeddings.nrows(), ds.clips.len());
    for row in set.embeddings.rows() {
        assert!((row.dot(&row) - 1.0).abs() < 1e-4);
    }
}
