//! Helpers shared by the reference tests.
#![allow(dead_code)]

use burn::tensor::Tensor;

/// ‖got − want‖ / ‖want‖, the fixtures README's error measure.
pub fn rel_err(got: &[f32], want: &[f32]) -> f64 {
    let num: f64 = got
        .iter()
        .zip(want)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum();
    let den: f64 = want.iter().map(|b| f64::from(*b).powi(2)).sum();
    (num / den).sqrt()
}

/// A tensor's values; fails the test if they cannot be read.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}
