//! The front-ends' features equal the reference's: the Kaldi filter bank of BEATs' `preprocess`
//! (`beats/fbank_*.npy`, torchaudio) and the MERL code's `STFT-raw` embedding (`stft_raw/`).

use asd_audio::{KaldiFbank, stft_raw_embedding};
use asd_testkit::{reference_fixture, rel_err};
use ndarray::{Array2, Array3, Axis, s};
use ndarray_npy::read_npy;

#[test]
fn the_kaldi_filter_bank_equals_torchaudio_on_both_cases() {
    let fb = KaldiFbank::beats();
    for case in ["clip10s", "clip6s"] {
        let wave: Array2<f32> =
            read_npy(reference_fixture(&format!("beats/wave_{case}.npy"))).unwrap();
        let want: Array3<f32> =
            read_npy(reference_fixture(&format!("beats/fbank_{case}.npy"))).unwrap();
        assert_eq!(fb.frames(wave.ncols()), want.shape()[1], "{case}");
        for (i, clip) in wave.axis_iter(Axis(0)).enumerate() {
            let x = clip.to_vec();
            // BEATs' preprocess: the wave times 2¹⁵, then (fbank − 15.41663) / (2 · 6.55582).
            let got = fb
                .compute_scaled(&x, 32768.0)
                .mapv(|v| (v - 15.41663) / (2.0 * 6.55582));
            let w = want.slice(s![i, .., ..]);
            assert_eq!(got.dim(), w.dim());
            let err = rel_err(got.iter(), w.iter());
            assert!(err < 1e-5, "{case} clip {i}: {err:e}");
        }
    }
}

#[test]
fn frames_follow_snip_edges() {
    let fb = KaldiFbank::beats();
    assert_eq!(fb.frames(399), 0);
    assert_eq!(fb.frames(400), 1);
    assert_eq!(fb.frames(559), 1);
    assert_eq!(fb.frames(560), 2);
    assert_eq!(fb.frames(160_000), 998);
    for f in 1..40 {
        assert_eq!(fb.frames(fb.samples_for(f)), f);
        assert_eq!(fb.frames(fb.samples_for(f) - 1), f - 1);
    }
    assert_eq!(fb.compute(&[0.5; 100]).nrows(), 0);
    // Silence: every energy floored at float32's epsilon.
    let z = fb.compute(&[0.0; 800]);
    assert!(z.iter().all(|&v| (v - f32::EPSILON.ln()).abs() < 1e-6));
}

#[test]
fn stft_raw_equals_the_reference_code() {
    let wave: Array2<f32> = read_npy(reference_fixture("stft_raw/wave.npy")).unwrap();
    let want: Array2<f32> = read_npy(reference_fixture("stft_raw/embeddings.npy")).unwrap();
    for (i, clip) in wave.axis_iter(Axis(0)).enumerate() {
        let got = stft_raw_embedding(&clip.to_vec()).unwrap();
        assert_eq!(got.len(), 513);
        let err = rel_err(got.iter(), want.row(i).iter());
        assert!(err < 1e-5, "clip {i}: {err:e}");
    }
    assert!(stft_raw_embedding(&[0.1; 1023]).is_none());
}
