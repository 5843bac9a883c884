//! BEATs equals the reference code (`beats/`: MERL's bundled BEATs on random weights of a reduced
//! configuration, loaded from the official checkpoint layout `model.pt` itself).

use asd_frontend::{Beats, Pooling};
use asd_testkit::{reference_fixture, rel_err};
use ndarray::{Array2, Array3, Axis, s};
use ndarray_npy::read_npy;

fn arr3(name: &str) -> Array3<f32> {
    read_npy(reference_fixture(&format!("beats/{name}.npy"))).unwrap()
}

fn check(model: &Beats, what: &str) {
    for case in ["clip10s", "clip6s"] {
        let wave: Array2<f32> =
            read_npy(reference_fixture(&format!("beats/wave_{case}.npy"))).unwrap();
        let pooled: Array2<f32> =
            read_npy(reference_fixture(&format!("beats/pooled_{case}.npy"))).unwrap();
        let patches = arr3(&format!("patches_{case}"));
        let features = arr3(&format!("features_{case}"));
        let layers: Vec<Array3<f32>> = (0..=model.layer_count())
            .map(|i| arr3(&format!("layer{i}_{case}")))
            .collect();
        for (b, clip) in wave.axis_iter(Axis(0)).enumerate() {
            let f = model.forward(&clip.to_vec(), true).unwrap();
            let cmp = |got: &[f32], want: ndarray::ArrayView2<f32>, name: &str| {
                assert_eq!(got.len(), want.len(), "{what} {case} {name}");
                let err = rel_err(got.iter(), want.iter());
                assert!(err < 1e-4, "{what} {case}[{b}] {name}: {err:e}");
            };
            cmp(&f.patches, patches.slice(s![b, .., ..]), "patches");
            for (i, l) in layers.iter().enumerate() {
                cmp(&f.layers[i], l.slice(s![b, .., ..]), &format!("layer{i}"));
            }
            cmp(
                f.layers.last().unwrap(),
                features.slice(s![b, .., ..]),
                "features",
            );
            let p = model.pool(&f, model.layer_count(), Pooling::FreqPatchMean);
            let err = rel_err(p.iter(), pooled.row(b).iter());
            assert!(err < 1e-4, "{what} {case}[{b}] pooled: {err:e}");
            // The embedding call gives the same vector as the pass kept layer by layer.
            let e = model
                .embed(&clip.to_vec(), None, Pooling::FreqPatchMean)
                .unwrap();
            assert!(rel_err(e.iter(), p.iter()) < 1e-6);
        }
    }
}

#[test]
fn every_stage_equals_the_reference_from_model_pt() {
    let m = Beats::load(&reference_fixture("beats/model.pt")).unwrap();
    assert_eq!(m.cfg.encoder_layers, 2);
    assert_eq!(m.cfg.encoder_embed_dim, 192);
    assert_eq!(m.cfg.encoder_attention_heads, 4);
    assert_eq!(m.cfg.max_distance, 800);
    check(&m, "model.pt");
}

#[test]
fn safetensors_with_the_same_names_give_the_same_model() {
    let m = Beats::load(&reference_fixture("beats/weights.safetensors")).unwrap();
    let pt = Beats::load(&reference_fixture("beats/model.pt")).unwrap();
    assert_eq!(m.cfg, pt.cfg, "sizes read from the shapes equal the cfg's");
    check(&m, "weights.safetensors");
}
