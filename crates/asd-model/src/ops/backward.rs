//! The autodiff backend's side of the extension: each operation records a backward pass that calls
//! the inner backend's gradient kernels.

use super::extension::{CpuGradKernels, CpuKernels};
use burn::backend::TensorMetadata;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::tensor::Shape;

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
struct NormalizePoolBackward;

impl<B: CpuGradKernels> Backward<B, 1> for NormalizePoolBackward {
    /// The input (its normalised values are rebuilt plane by plane), the statistics, eps, k, stride.
    type State = (NodeId, FloatTensor<B>, f64, usize, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x_id, moments, eps, k, stride) = ops.state;
        let x = cp.retrieve_node_output::<FloatTensor<B>>(x_id);
        if let Some(node) = node_x {
            let dx = B::batch_normalize_max_pool2d_grad(x, moments, dy, eps, k, stride);
            grads.register::<B>(node.id, dx);
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

    /// Composed of differentiable operations, as `conv2d_bias_relu`.
    fn conv2d_relu_in_bias_relu(
        x: AdTensor<B, C>,
        weight: AdTensor<B, C>,
        bias: AdTensor<B, C>,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> AdTensor<B, C> {
        Self::conv2d_bias_relu(Self::relu(x), weight, bias, stride, pad, true)
    }

    /// Composed of differentiable operations, as `conv2d_bias_relu`.
    fn conv2d_bias_residual_affine(
        x: AdTensor<B, C>,
        weight: AdTensor<B, C>,
        bias: AdTensor<B, C>,
        residual: AdTensor<B, C>,
        scale: AdTensor<B, C>,
        shift: AdTensor<B, C>,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> AdTensor<B, C> {
        let y = Self::conv2d_bias_relu(x, weight, bias, stride, pad, false);
        Self::channel_affine(Self::float_add(y, residual), scale, shift)
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

    fn batch_normalize_max_pool2d(
        x: AdTensor<B, C>,
        moments: AdTensor<B, C>,
        eps: f64,
        k: usize,
        stride: usize,
    ) -> AdTensor<B, C> {
        let m = moments.into_primitive();
        match NormalizePoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_id = prep.checkpoint(&x);
                let y =
                    B::batch_normalize_max_pool2d(x.into_primitive(), m.clone(), eps, k, stride);
                prep.finish((x_id, m, eps, k, stride), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::batch_normalize_max_pool2d(
                x.into_primitive(),
                m,
                eps,
                k,
                stride,
            )),
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
