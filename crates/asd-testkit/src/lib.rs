//! Helpers shared by the workspace's tests (a dev-dependency of the crates that use them, never a
//! dependency): where the reference fixtures lie, and the relative error they are compared by.

use std::path::PathBuf;

/// `tests/fixtures/reference/<rel>` of the workspace: the numbers of the authors' code and of
/// scikit-learn, copied from `../shared/fixtures/reference` (see that folder's README).
pub fn reference_fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/reference")
        .join(rel)
}

/// ‖got − want‖ / ‖want‖ over paired values (f32 or f64), summed in f64.
pub fn rel_err<'a, T: Copy + Into<f64> + 'a>(
    got: impl IntoIterator<Item = &'a T>,
    want: impl IntoIterator<Item = &'a T>,
) -> f64 {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (g, w) in got.into_iter().zip(want) {
        let (g, w): (f64, f64) = ((*g).into(), (*w).into());
        num += (g - w).powi(2);
        den += w.powi(2);
    }
    (num / den).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_is_the_ratio_of_norms() {
        assert_eq!(rel_err(&[3.0f32, 4.0], &[3.0, 4.0]), 0.0);
        assert!((rel_err(&[0.0f64, 0.0], &[3.0, 4.0]) - 1.0).abs() < 1e-15);
        assert!((rel_err(&[3.0f64, 5.0], &[3.0, 4.0]) - 0.2).abs() < 1e-15);
    }

    #[test]
    fn the_reference_fixtures_are_found() {
        assert!(reference_fixture("README.md").is_file());
    }
}
