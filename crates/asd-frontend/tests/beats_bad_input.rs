//! A checkpoint that is not BEATs, truncated, with NaN/Inf, or with sizes that do not fit its `cfg` is
//! an error naming the file and the tensor; a clip shorter than one patch is a clear error.

use asd_frontend::{Beats, Checkpoint, Pooling};
use asd_testkit::reference_fixture;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::Path;

/// The fixture's tensors written as safetensors, with `edit` applied and `cfg` as metadata.
fn rewrite(out: &Path, cfg: Option<serde_json::Value>, edit: impl Fn(&str, &mut Vec<f32>)) {
    let ck = Checkpoint::read(&reference_fixture("beats/model.pt")).unwrap();
    let mut bytes: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in &ck.tensors {
        let mut v = t.values.clone();
        edit(name, &mut v);
        bytes.push((
            name.clone(),
            t.shape.clone(),
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ));
    }
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let meta = cfg.map(|c| HashMap::from([("cfg".to_string(), c.to_string())]));
    safetensors::serialize_to_file(views, meta, out).unwrap();
}

fn err(path: &Path) -> String {
    match Beats::load(path) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_checkpoints_name_the_file_and_the_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    // A NaN and an infinity in a weight.
    let nan = tmp.path().join("nan.safetensors");
    rewrite(&nan, None, |n, v| {
        if n == "encoder.layers.1.fc2.weight" {
            v[7] = f32::NAN;
        }
    });
    let e = err(&nan);
    assert!(
        e.contains("nan.safetensors")
            && e.contains("encoder.layers.1.fc2.weight")
            && e.contains("NaN"),
        "{e}"
    );
    let inf = tmp.path().join("inf.safetensors");
    rewrite(&inf, None, |n, v| {
        if n == "patch_embedding.weight" {
            v[0] = f32::INFINITY;
        }
    });
    assert!(err(&inf).contains("patch_embedding.weight"));
    // Sizes that do not fit the cfg.
    let cfg = Checkpoint::read(&reference_fixture("beats/model.pt"))
        .unwrap()
        .cfg
        .unwrap();
    let mut wrong = cfg.clone();
    wrong.insert("encoder_ffn_embed_dim".into(), 512.into());
    let p = tmp.path().join("ffn.safetensors");
    rewrite(&p, Some(serde_json::Value::Object(wrong)), |_, _| {});
    let e = err(&p);
    assert!(
        e.contains("ffn.safetensors") && e.contains("fc1.weight") && e.contains("[384, 192]"),
        "{e}"
    );
    let mut heads = cfg.clone();
    heads.insert("encoder_attention_heads".into(), 5.into());
    let p = tmp.path().join("heads.safetensors");
    rewrite(&p, Some(serde_json::Value::Object(heads)), |_, _| {});
    assert!(err(&p).contains("not a multiple of encoder_attention_heads"));
    // The cfg in the metadata is taken: the same model as model.pt.
    let p = tmp.path().join("cfg.safetensors");
    rewrite(&p, Some(serde_json::Value::Object(cfg)), |_, _| {});
    assert!(Beats::load(&p).is_ok());
    // A missing tensor.
    let p = tmp.path().join("missing.safetensors");
    let ck = Checkpoint::read(&reference_fixture("beats/weights.safetensors")).unwrap();
    let kept: Vec<(String, Vec<u8>, Vec<usize>)> = ck
        .tensors
        .iter()
        .filter(|(n, _)| n.as_str() != "encoder.layers.1.self_attn.q_proj.bias")
        .map(|(n, t)| {
            (
                n.clone(),
                t.values.iter().flat_map(|x| x.to_le_bytes()).collect(),
                t.shape.clone(),
            )
        })
        .collect();
    let views: Vec<(String, TensorView)> = kept
        .iter()
        .map(|(n, b, s)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &p).unwrap();
    let e = err(&p);
    assert!(
        e.contains("encoder.layers.1.self_attn.q_proj.bias") && e.contains("missing"),
        "{e}"
    );

    // Truncated files, a file that is not a checkpoint, one that is not BEATs.
    let whole = std::fs::read(reference_fixture("beats/model.pt")).unwrap();
    let p = tmp.path().join("truncated.pt");
    std::fs::write(&p, &whole[..whole.len() / 2]).unwrap();
    assert!(err(&p).contains("truncated.pt"));
    let whole = std::fs::read(reference_fixture("beats/weights.safetensors")).unwrap();
    let p = tmp.path().join("truncated.safetensors");
    std::fs::write(&p, &whole[..whole.len() - 100]).unwrap();
    assert!(err(&p).contains("truncated.safetensors"));
    let p = tmp.path().join("text.pt");
    std::fs::write(&p, "hello, not a model").unwrap();
    assert!(err(&p).contains("neither a PyTorch checkpoint"));
    let p = tmp.path().join("other.safetensors");
    let b = vec![0u8; 16];
    safetensors::serialize_to_file(
        vec![(
            "w".to_string(),
            TensorView::new(Dtype::F32, vec![4], &b).unwrap(),
        )],
        None,
        &p,
    )
    .unwrap();
    assert!(err(&p).contains("not a BEATs checkpoint"));
    let e = err(&tmp.path().join("absent.pt"));
    assert!(e.contains("absent.pt") && e.contains("cannot read"), "{e}");
}

#[test]
fn a_clip_shorter_than_one_patch_is_a_clear_error() {
    let m = Beats::load(&reference_fixture("beats/model.pt")).unwrap();
    assert_eq!(m.min_samples(), 15 * 160 + 400);
    let e = m
        .embed(&vec![0.1; m.min_samples() - 1], None, Pooling::Mean)
        .unwrap_err()
        .to_string();
    assert!(e.contains("shorter than one BEATs patch"), "{e}");
    assert_eq!(
        m.embed(&vec![0.1; m.min_samples()], None, Pooling::FreqPatchMean)
            .unwrap()
            .len(),
        8 * 192
    );
    let mut w = vec![0.1; 16_000];
    w[100] = f32::NAN;
    assert!(
        m.embed(&w, None, Pooling::Mean)
            .unwrap_err()
            .to_string()
            .contains("sample 100")
    );
    assert!(m.embed(&vec![0.1; 16_000], Some(3), Pooling::Mean).is_err());
    // Layer 0 (the first layer's input) and 1 give vectors of the width.
    assert_eq!(
        m.embed(&vec![0.1; 16_000], Some(0), Pooling::Mean)
            .unwrap()
            .len(),
        192
    );
}
