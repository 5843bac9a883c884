//! Convolutions lowered to GEMM on the CPU backend (see `kernels` for why), with burn's own
//! convolution on other backends.

mod extension;
pub mod kernels;

use burn::backend::Dispatch;
use burn::tensor::Tensor;
pub use extension::LoweredConv;

/// 2-D convolution without bias: x (batch, c_in, h, w), weight (c_out, c_in, kh, kw); `pad` is top,
/// bottom, left, right.
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, stride: [usize; 2], pad: [usize; 4]) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as LoweredConv>::lowered_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        stride,
        pad,
    ))
}

/// 1-D convolution without bias or padding: x (batch, c_in, len), weight (c_out, c_in, k).
pub fn conv1d(x: Tensor<3>, weight: Tensor<3>, stride: usize) -> Tensor<3> {
    let [b, c, l] = x.dims();
    let [o, ci, k] = weight.dims();
    let y = conv2d(
        x.reshape([b, c, 1, l]),
        weight.reshape([o, ci, 1, k]),
        [1, stride],
        [0; 4],
    );
    let [_, _, _, lo] = y.dims();
    y.reshape([b, o, lo])
}
