//! The CPU kernels of this module as a burn backend extension: the flex backend runs them on host
//! memory, and autodiff gets backward passes that call the matching gradient kernels
//! (`CpuGradKernels`). Other backends (CUDA) never reach this trait: the wrappers in `super` use
//! burn's own operations there.

use super::{conv, norm, pool};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DType, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Shape, TensorData};

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

    /// Max-pooling of x (batch, channels, h, w) with a k × k window, no padding.
    fn plain_max_pool2d(x: FloatTensor<Self>, k: usize, stride: usize) -> FloatTensor<Self>;

    /// x · scale + shift per channel (scale and shift are constants: not differentiated).
    fn channel_affine(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The gradient kernels, called by the backward passes below on the inner (non-autodiff) backend
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

fn geometry(
    x: &FlexTensor,
    weight: &FlexTensor,
    stride: [usize; 2],
    pad: [usize; 4],
) -> conv::Geometry {
    let (xs, ws) = (x.shape(), weight.shape());
    conv::Geometry {
        batch: xs[0],
        c_in: xs[1],
        h: xs[2],
        w: xs[3],
        c_out: ws[0],
        kh: ws[2],
        kw: ws[3],
        stride,
        pad,
    }
}

/// The tensor's values, row-major. The network runs in f32 only; any other dtype is a bug.
fn host(t: &FlexTensor) -> FlexTensor {
    assert_eq!(t.dtype(), DType::F32, "the CPU kernels take f32 tensors");
    t.to_contiguous()
}

fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().unwrap_or(&[])
}

fn tensor(v: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

fn norm_layout(x: &FlexTensor) -> norm::Layout {
    let s = x.shape();
    norm::Layout {
        batch: s[0],
        channels: s[1],
        s: s.iter().skip(2).product(),
    }
}

fn window(x: &FlexTensor, k: usize, stride: usize) -> pool::Window {
    let s = x.shape();
    pool::Window {
        planes: s[0] * s[1],
        h: s[2],
        w: s[3],
        k,
        stride,
    }
}

/// A convolution with its epilogue (bias, ReLU, max-pool) applied as it stores.
fn fused_conv(
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
    stride: [usize; 2],
    pad: [usize; 4],
    relu: bool,
    pool: Option<(usize, usize)>,
) -> FlexTensor {
    let g = geometry(&x, &weight, stride, pad);
    let bias = host(&bias);
    let ep = conv::Epilogue {
        bias: Some(slice(&bias)),
        relu,
        pool,
    };
    let y = conv::forward(&g, slice(&host(&x)), slice(&host(&weight)), ep);
    let [h, w] = ep
        .window(&g)
        .map_or([g.out_h(), g.out_w()], |p| [p.out_h(), p.out_w()]);
    tensor(y, [g.batch, g.c_out, h, w])
}

impl CpuKernels for Flex {
    fn lowered_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FlexTensor {
        let g = geometry(&x, &weight, stride, pad);
        let y = conv::forward(
            &g,
            slice(&host(&x)),
            slice(&host(&weight)),
            conv::Epilogue::default(),
        );
        tensor(y, [g.batch, g.c_out, g.out_h(), g.out_w()])
    }

    fn conv2d_bias_relu(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: [usize; 2],
        pad: [usize; 4],
        relu: bool,
    ) -> FlexTensor {
        fused_conv(x, weight, bias, stride, pad, relu, None)
    }

    fn conv2d_bias_relu_max_pool(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: [usize; 2],
        pad: [usize; 4],
        pool: [usize; 2],
    ) -> FlexTensor {
        fused_conv(x, weight, bias, stride, pad, true, Some((pool[0], pool[1])))
    }

    fn batch_moments(x: FlexTensor) -> FlexTensor {
        let l = norm_layout(&x);
        tensor(norm::moments(&l, slice(&host(&x))), [2, l.channels])
    }

    fn batch_normalize(x: FlexTensor, moments: FlexTensor, eps: f64) -> FlexTensor {
        let l = norm_layout(&x);
        let y = norm::normalize(&l, slice(&host(&x)), slice(&host(&moments)), eps);
        tensor(y, x.shape())
    }

    fn plain_max_pool2d(x: FlexTensor, k: usize, stride: usize) -> FlexTensor {
        let g = window(&x, k, stride);
        let s = x.shape();
        tensor(
            pool::forward(&g, slice(&host(&x))),
            [s[0], s[1], g.out_h(), g.out_w()],
        )
    }

    fn channel_affine(x: FlexTensor, scale: FlexTensor, shift: FlexTensor) -> FlexTensor {
        let l = norm_layout(&x);
        let y = norm::affine(
            &l,
            slice(&host(&x)),
            slice(&host(&scale)),
            slice(&host(&shift)),
        );
        tensor(y, x.shape())
    }
}

impl CpuGradKernels for Flex {
    fn lowered_conv2d_input_grad(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FlexTensor {
        let g = geometry(&x, &weight, stride, pad);
        let dx = conv::input_grad(&g, slice(&host(&output_grad)), slice(&host(&weight)));
        tensor(dx, [g.batch, g.c_in, g.h, g.w])
    }

    fn lowered_conv2d_weight_grad(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FlexTensor {
        let g = geometry(&x, &weight, stride, pad);
        let dw = conv::weight_grad(&g, slice(&host(&x)), slice(&host(&output_grad)));
        tensor(dw, [g.c_out, g.c_in, g.kh, g.kw])
    }

    fn batch_normalize_grad(
        y: FlexTensor,
        moments: FlexTensor,
        output_grad: FlexTensor,
        eps: f64,
    ) -> FlexTensor {
        let l = norm_layout(&y);
        let dx = norm::normalize_grad(
            &l,
            slice(&host(&y)),
            slice(&host(&output_grad)),
            slice(&host(&moments)),
            eps,
        );
        tensor(dx, y.shape())
    }

    fn plain_max_pool2d_grad(
        x: FlexTensor,
        output_grad: FlexTensor,
        k: usize,
        stride: usize,
    ) -> FlexTensor {
        let g = window(&x, k, stride);
        let dx = pool::backward(&g, slice(&host(&x)), slice(&host(&output_grad)));
        tensor(dx, x.shape())
    }

    fn channel_affine_grad(output_grad: FlexTensor, scale: FlexTensor) -> FlexTensor {
        let l = norm_layout(&output_grad);
        let zero = vec![0.0; l.channels];
        let dx = norm::affine(&l, slice(&host(&output_grad)), slice(&host(&scale)), &zero);
        tensor(dx, output_grad.shape())
    }
}

#[derive(Debug)]
struct ConvBackward;

impl<B: CpuGradKernels> Backward<B, 2> for ConvBackward {
    type State = (NodeId, NodeId, [usize; 2], [usize; 4]);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x_id, w_id, stride, pad) = ops.state;
        let x = cp.retrieve_node_output::<FloatTensor<B>>(x_id);
        let w = cp.retrieve_node_output::<FloatTensor<B>>(w_id);
        if let Some(node) = node_x {
            let dx = B::lowered_conv2d_input_grad(x.clone(), w.clone(), dy.clone(), stride, pad);
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_w {
            grads.register::<B>(
                node.id,
                B::lowered_conv2d_weight_grad(x, w, dy, stride, pad),
            );
        }
    }
}

#[derive(Debug)]
struct NormalizeBackward;

impl<B: CpuGradKernels> Backward<B, 1> for NormalizeBackward {
    /// The output (the normalised x, all the gradient needs), the statistics and eps.
    type State = (FloatTensor<B>, FloatTensor<B>, f64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (y, moments, eps) = ops.state;
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::batch_normalize_grad(y, moments, dy, eps));
        }
    }
}

#[derive(Debug)]
struct PoolBackward;

impl<B: CpuGradKernels> Backward<B, 1> for PoolBackward {
    type State = (NodeId, usize, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x_id, k, stride) = ops.state;
        let x = cp.retrieve_node_output::<FloatTensor<B>>(x_id);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::plain_max_pool2d_grad(x, dy, k, stride));
        }
    }
}

#[derive(Debug)]
struct AffineBackward;

impl<B: CpuGradKernels> Backward<B, 1> for AffineBackward {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::channel_affine_grad(dy, ops.state));
        }
    }
}

/// The autodiff backend's float tensor (its type is not exported by name).
type AdTensor<B, C> = FloatTensor<Autodiff<B, C>>;

impl<B: CpuKernels + CpuGradKernels, C: CheckpointStrategy> CpuKernels for Autodiff<B, C> {
    fn lowered_conv2d(
        x: AdTensor<B, C>,
        weight: AdTensor<B, C>,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> AdTensor<B, C> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_id = prep.checkpoint(&x);
                let w_id = prep.checkpoint(&weight);
                let y = B::lowered_conv2d(x.into_primitive(), weight.into_primitive(), stride, pad);
                prep.finish((x_id, w_id, stride, pad), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::lowered_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                stride,
                pad,
            )),
        }
    }

    /// Composed of differentiable operations: the fused kernel is for inference, where nothing is
    /// tracked; this keeps gradients right should a tracked tensor arrive.
    fn conv2d_bias_relu(
        x: AdTensor<B, C>,
        weight: AdTensor<B, C>,
        bias: AdTensor<B, C>,
        stride: [usize; 2],
        pad: [usize; 4],
        relu: bool,
    ) -> AdTensor<B, C> {
        let y = Self::lowered_conv2d(x, weight, stride, pad);
        let channels = bias.shape().num_elements();
        let y = Self::float_add(
            y,
            Self::float_reshape(bias, Shape::new([1, channels, 1, 1])),
        );
        if relu { Self::relu(y) } else { y }
    }

    fn conv2d_bias_relu_max_pool(
        x: AdTensor<B, C>,
        weight: AdTensor<B, C>,
        bias: AdTensor<B, C>,
        stride: [usize; 2],
        pad: [usize; 4],
        pool: [usize; 2],
    ) -> AdTensor<B, C> {
        let y = Self::conv2d_bias_relu(x, weight, bias, stride, pad, true);
        Self::plain_max_pool2d(y, pool[0], pool[1])
    }

    fn batch_moments(x: AdTensor<B, C>) -> AdTensor<B, C> {
        // A leaf outside the graph: the statistics' gradient is part of `batch_normalize`'s.
        // (The tensor type does not depend on the checkpointing strategy.)
        FloatTensor::<Autodiff<B>>::new(B::batch_moments(x.into_primitive()))
    }

    fn batch_normalize(x: AdTensor<B, C>, moments: AdTensor<B, C>, eps: f64) -> AdTensor<B, C> {
        let m = moments.into_primitive();
        match NormalizeBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = B::batch_normalize(x.into_primitive(), m.clone(), eps);
                prep.finish((y.clone(), m, eps), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::batch_normalize(x.into_primitive(), m, eps)),
        }
    }

    fn plain_max_pool2d(x: AdTensor<B, C>, k: usize, stride: usize) -> AdTensor<B, C> {
        match PoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_id = prep.checkpoint(&x);
                let y = B::plain_max_pool2d(x.into_primitive(), k, stride);
                prep.finish((x_id, k, stride), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::plain_max_pool2d(x.into_primitive(), k, stride))
            }
        }
    }

    fn channel_affine(
        x: AdTensor<B, C>,
        scale: AdTensor<B, C>,
        shift: AdTensor<B, C>,
    ) -> AdTensor<B, C> {
        let (a, b) = (scale.into_primitive(), shift.into_primitive());
        match AffineBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = B::channel_affine(x.into_primitive(), a.clone(), b);
                prep.finish(a, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::channel_affine(x.into_primitive(), a, b)),
        }
    }
}
