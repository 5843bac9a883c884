//! The features equal the reference implementation's (`features/*.npy`).

use asd_audio::{FeatureExtractor, fit_length, random_offset, stft_frames};
use asd_testkit::{reference_fixture, rel_err};
use ndarray::{Array2, Array3, Axis, s};
use ndarray_npy::read_npy;
use rand::SeedableRng;
use std::path::PathBuf;

fn fixture(name: &str) -> Array2<f32> {
    read_npy(reference_fixture(&format!("features/{name}"))).unwrap()
}

#[test]
fn spectrum_and_stft_match_the_reference() {
    let wave = fixture("wave.npy");
    let spectrum = fixture("spectrum.npy");
    let stft: Array3<f32> = read_npy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/reference/features/stft_mag.npy"),
    )
    .unwrap();
    let fx = FeatureExtractor::new(wave.ncols());
    assert_eq!(fx.spectrum_len(), spectrum.ncols());
    assert_eq!(fx.frames(), stft.shape()[2]);
    for (i, clip) in wave.axis_iter(Axis(0)).enumerate() {
        let x = clip.to_vec();
        let got = fx.spectrum(&x);
        let err = rel_err(got.iter(), spectrum.row(i).iter());
        assert!(err < 1e-4, "spectrum {i}: {err:e}");
        let mag = fx.stft_magnitude(&x);
        let want = stft.slice(s![i, .., ..]);
        let err = rel_err(mag.iter(), want.iter());
        assert!(err < 1e-4, "stft {i}: {err:e}");
        let centred = fx.stft_input(&x);
        for row in centred.axis_iter(Axis(0)) {
            assert!(
                row.mean().unwrap().abs() < 1e-3,
                "each bin has zero mean over time"
            );
        }
        let diff = &mag - &centred;
        assert!(
            diff.axis_iter(Axis(0))
                .all(|r| r.iter().all(|v| (v - r[0]).abs() < 1e-3))
        );
    }
}

#[test]
fn frames_follow_the_uncentred_stft() {
    assert_eq!(stft_frames(160_000), 311);
    assert_eq!(stft_frames(1024), 1);
    assert_eq!(stft_frames(1023), 0);
    assert_eq!(stft_frames(32_000), 61);
}

#[test]
fn short_clips_are_tiled_and_long_ones_cropped() {
    let x: Vec<f32> = (0..5).map(|v| v as f32).collect();
    assert_eq!(
        fit_length(&x, 12, 0),
        [0., 1., 2., 3., 4., 0., 1., 2., 3., 4., 0., 1.]
    );
    assert_eq!(fit_length(&x, 7, 3), [3., 4., 0., 1., 2., 3., 4.]);
    assert_eq!(fit_length(&x, 3, 1), [1., 2., 3.]);
    // Offsets past the end are clamped so a crop never leaves the clip.
    assert_eq!(fit_length(&x, 3, 99), [2., 3., 4.]);
    assert_eq!(fit_length(&x, 5, 0), x);
    assert_eq!(fit_length(&[], 3, 0), [0., 0., 0.]);
}

#[test]
fn random_offsets_are_seeded_and_cover_every_position() {
    let draw = |seed| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..200)
            .map(|_| random_offset(10, 6, &mut rng))
            .collect::<Vec<_>>()
    };
    let a = draw(1);
    assert_eq!(a, draw(1));
    assert_ne!(a, draw(2));
    for o in 0..=4 {
        assert!(a.contains(&o), "crop offset {o} reachable");
    }
    assert!(a.iter().all(|&o| o <= 4));
}
