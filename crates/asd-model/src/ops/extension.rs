//! The CPU kernels of this module as a burn backend extension, split as burn's custom-kernel
//! example is: the extension traits here, the flex backend's implementation (host memory) in
//! `forward.rs`, the autodiff backend's (backward passes calling the gradient kernels,
//! `CpuGradKernels`) in `backward.rs`. Other backends (CUDA) never reach this trait: the wrappers in `super` use
//! burn's own operations there.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};

#[backend_extension(Flex, Autodiff)]
pub trait CpuKernels: Backend {
    /// Convolution without bias, groups or dilation; `pad` is top, bottom, left, right.
    fn lowered_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FloatTensor<Self>;

    /// relu?(conv(x, weight) + bias): inference with BatchNorm folded into the convolution.
    fn conv2d_bias_relu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        pad: [usize; 4],
        relu: bool,
    ) -> FloatTensor<Self>;

    /// max_pool(relu(conv(x, weight) + bias)) with a `pool[0] × pool[0]` window moved by `pool[1]`:
    /// the STFT branch's first layer at inference.
    fn conv2d_bias_relu_max_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        pad: [usize; 4],
        pool: [usize; 2],
    ) -> FloatTensor<Self>;

    /// relu(conv(relu(x), weight) + bias): a residual block's convolution after its ReLU, with the
    /// BatchNorm that follows it folded in (inference). The input's ReLU is applied as it is read.
    fn conv2d_relu_in_bias_relu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FloatTensor<Self>;

    /// (conv(x, weight) + bias + residual) · scale + shift per channel: a residual block's
    /// addition and the BatchNorm after it (inference), applied as the convolution stores.
    #[allow(clippy::too_many_arguments)]
    fn conv2d_bias_residual_affine(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FloatTensor<Self>;

    /// Per-channel mean and biased variance of x (batch, channels, …), as a (2, channels) tensor.
    /// Not differentiated.
    fn batch_moments(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// (x − mean) / √(var + eps) with the batch statistics `moments` of x; differentiated through
    /// the statistics as well.
    fn batch_normalize(
        x: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self>;

    /// max_pool(batch_normalize(x, moments, eps)) with a k × k window, no padding: the normalised
    /// tensor is never written. Differentiated through the statistics as `batch_normalize`.
    fn batch_normalize_max_pool2d(
        x: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        eps: f64,
        k: usize,
        stride: usize,
    ) -> FloatTensor<Self>;

    /// Max-pooling of x (batch, channels, h, w) with a k × k window, no padding.
    fn plain_max_pool2d(x: FloatTensor<Self>, k: usize, stride: usize) -> FloatTensor<Self>;

    /// x · scale + shift per channel (scale and shift are constants: not differentiated).
    fn channel_affine(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The gradient kernels, called by the backward passes (`backward.rs`) on the inner (non-autodiff) backend
/// only, so they are not part of the dispatched extension.
pub trait CpuGradKernels: Backend {
    fn lowered_conv2d_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FloatTensor<Self>;

    fn lowered_conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FloatTensor<Self>;

    fn batch_normalize_grad(
        y: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self>;

    fn batch_normalize_max_pool2d_grad(
        x: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        eps: f64,
        k: usize,
        stride: usize,
    ) -> FloatTensor<Self>;

    fn plain_max_pool2d_grad(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        k: usize,
        stride: usize,
    ) -> FloatTensor<Self>;

    /// ∂L/∂x of `channel_affine`: the output gradient times each channel's scale.
    fn channel_affine_grad(
        output_grad: FloatTensor<Self>,
        scale: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}
