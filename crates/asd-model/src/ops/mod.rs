//! The network's heavy operations with the CPU kernels of `asd-kernels` (convolution direct or lowered to GEMM,
//! batch normalisation and max-pooling in single passes), each with its backward pass. burn's CPU
//! backend computes them through generic compositions that dominated the training step (see
//! `docs/benchmarks.md`, "Network"). On other devices (CUDA) burn's own operations run.

mod backward;
mod extension;
mod forward;

pub use asd_kernels::{conv, norm, norm_pool, pool};

use burn::backend::{Dispatch, DispatchDevice};
use burn::tensor::module::max_pool2d as burn_max_pool2d;
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor};
pub use extension::CpuKernels;

/// Whether the tensors of this device live in host memory under burn's flex backend, and the
/// extension was compiled for it (this crate's `flex` feature, on by default).
fn on_cpu(device: &Device) -> bool {
    cfg!(feature = "flex")
        && matches!(
            device.as_dispatch().clone().inner(),
            DispatchDevice::Flex(_)
        )
}

/// 2-D convolution without bias: x (batch, c_in, h, w), weight (c_out, c_in, kh, kw); `pad` is top,
/// bottom, left, right.
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, stride: [usize; 2], pad: [usize; 4]) -> Tensor<4> {
    if !on_cpu(&x.device()) {
        let opts =
            ConvOptions::new_with_padding(stride, [(pad[0], pad[1]), (pad[2], pad[3])], [1, 1], 1);
        return burn::tensor::module::conv2d(x, weight, None, opts);
    }
    Tensor::from_dispatch(<Dispatch as CpuKernels>::lowered_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        stride,
        pad,
    ))
}

/// relu?(conv2d(x, weight) + bias) in one pass over the output where the CPU kernels run: a
/// convolution with BatchNorm folded into it, for inference.
pub fn conv2d_bias_relu(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    pad: [usize; 4],
    relu: bool,
) -> Tensor<4> {
    if !on_cpu(&x.device()) {
        let y = conv2d(x, weight, stride, pad) + bias.reshape([1, -1, 1, 1]);
        return if relu {
            burn::tensor::activation::relu(y)
        } else {
            y
        };
    }
    Tensor::from_dispatch(<Dispatch as CpuKernels>::conv2d_bias_relu(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        pad,
        relu,
    ))
}

/// max_pool2d(relu(conv2d(x, weight) + bias), k, stride) where the CPU kernels run: each image's
/// convolution output is pooled while it is in cache.
pub fn conv2d_bias_relu_max_pool(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    pad: [usize; 4],
    pool: [usize; 2],
) -> Tensor<4> {
    if !on_cpu(&x.device()) {
        let y = conv2d_bias_relu(x, weight, bias, stride, pad, true);
        return max_pool2d(y, pool[0], pool[1]);
    }
    Tensor::from_dispatch(<Dispatch as CpuKernels>::conv2d_bias_relu_max_pool(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        pad,
        pool,
    ))
}

/// relu(conv2d(relu(x), weight) + bias); where the CPU kernels run, the input's ReLU is applied
/// as the convolution reads it and the rest as it stores (inference, BatchNorm folded).
pub fn conv2d_relu_in_bias_relu(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    pad: [usize; 4],
) -> Tensor<4> {
    if !on_cpu(&x.device()) {
        let x = burn::tensor::activation::relu(x);
        return conv2d_bias_relu(x, weight, bias, stride, pad, true);
    }
    Tensor::from_dispatch(<Dispatch as CpuKernels>::conv2d_relu_in_bias_relu(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        pad,
    ))
}

/// (conv2d(x, weight) + bias + residual) · scale + shift per channel, in one pass over the output
/// where the CPU kernels run: a residual block's addition and the BatchNorm after it (inference).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_bias_residual_affine(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    residual: Tensor<4>,
    scale: Tensor<1>,
    shift: Tensor<1>,
    stride: [usize; 2],
    pad: [usize; 4],
) -> Tensor<4> {
    if !on_cpu(&x.device()) {
        let y = conv2d_bias_relu(x, weight, bias, stride, pad, false) + residual;
        return channel_affine(y, scale, shift);
    }
    Tensor::from_dispatch(<Dispatch as CpuKernels>::conv2d_bias_residual_affine(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        residual.into_dispatch(),
        scale.detach().into_dispatch(),
        shift.detach().into_dispatch(),
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

/// Batch normalisation with the batch's statistics and no affine parameters: the normalised x,
/// and the per-channel mean and biased variance (for the running statistics).
pub fn batch_norm_train<const D: usize>(
    x: Tensor<D>,
    eps: f64,
) -> (Tensor<D>, Tensor<1>, Tensor<1>) {
    let device = x.device();
    if !on_cpu(&device) {
        let c = x.dims()[1];
        let (g, b) = (Tensor::ones([c], &device), Tensor::zeros([c], &device));
        let out = burn::tensor::module::batch_norm_train(x, g, b, eps);
        return (out.output, out.mean, out.variance);
    }
    let moments = batch_moments(&x);
    let y = Tensor::from_dispatch(<Dispatch as CpuKernels>::batch_normalize(
        x.into_dispatch(),
        moments.clone().into_dispatch(),
        eps,
    ));
    let (mean, var) = split_moments(moments);
    (y, mean, var)
}

/// max_pool2d(batch_norm_train(x).0, k, stride) where the CPU kernels run: the pooled maxima of the
/// raw x, normalised after (see `asd_kernels::norm_pool`), so the normalised tensor is never
/// written; with the per-channel mean and biased variance, as [`batch_norm_train`].
pub fn batch_norm_max_pool2d_train(
    x: Tensor<4>,
    eps: f64,
    k: usize,
    stride: usize,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    if !on_cpu(&x.device()) {
        let (y, mean, var) = batch_norm_train(x, eps);
        return (max_pool2d(y, k, stride), mean, var);
    }
    let moments = batch_moments(&x);
    let y = Tensor::from_dispatch(<Dispatch as CpuKernels>::batch_normalize_max_pool2d(
        x.into_dispatch(),
        moments.clone().into_dispatch(),
        eps,
        k,
        stride,
    ));
    let (mean, var) = split_moments(moments);
    (y, mean, var)
}

/// Per-channel mean and biased variance of x as a (2, channels) tensor, outside the graph: the
/// normalising operations differentiate through them themselves.
fn batch_moments<const D: usize>(x: &Tensor<D>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as CpuKernels>::batch_moments(
        x.clone().detach().into_dispatch(),
    ))
}

/// The (2, channels) moments as the mean and the variance.
fn split_moments(moments: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
    let c = moments.dims()[1];
    let mean = moments.clone().slice([0..1, 0..c]).reshape([c]);
    let var = moments.slice([1..2, 0..c]).reshape([c]);
    (mean, var)
}

/// k × k max-pooling with the given stride and no padding.
pub fn max_pool2d(x: Tensor<4>, k: usize, stride: usize) -> Tensor<4> {
    if !on_cpu(&x.device()) {
        return burn_max_pool2d(x, MaxPoolOptions::new([k, k]).with_stride([stride, stride]));
    }
    Tensor::from_dispatch(<Dispatch as CpuKernels>::plain_max_pool2d(
        x.into_dispatch(),
        k,
        stride,
    ))
}

/// x · scale + shift per channel (dimension 1); scale and shift are constants.
pub fn channel_affine<const D: usize>(
    x: Tensor<D>,
    scale: Tensor<1>,
    shift: Tensor<1>,
) -> Tensor<D> {
    if !on_cpu(&x.device()) {
        let mut shape = [1; D];
        shape[1] = scale.dims()[0];
        return x * scale.reshape(shape) + shift.reshape(shape);
    }
    Tensor::from_dispatch(<Dispatch as CpuKernels>::channel_affine(
        x.into_dispatch(),
        scale.detach().into_dispatch(),
        shift.detach().into_dispatch(),
    ))
}
