//! Helpers shared by the reference tests.
#![allow(dead_code)]

use burn::tensor::Tensor;

/// ‖got − want‖ / ‖want‖, the fixtures README's error measure.
pub use asd_testkit::rel_err;

/// A tensor's values; fails the test if they cannot be read.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}
