//! The lowered convolution as a burn backend extension: the CPU backend runs [`super::kernels`],
//! every other backend (CUDA) keeps burn's own convolution, and autodiff gets a backward pass that
//! calls the backend's two gradient kernels.

use super::kernels::{self, Geometry};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DType, Flex, TensorMetadata, backend_extension};
use burn::tensor::TensorData;

fn options(stride: [usize; 2], pad: [usize; 4]) -> ConvOptions<2> {
    ConvOptions::new_with_padding(stride, [(pad[0], pad[1]), (pad[2], pad[3])], [1, 1], 1)
}

/// Convolution without bias, groups or dilation; `pad` is top, bottom, left, right.
#[backend_extension(Flex, Autodiff, Cube: cfg(feature = "cuda"))]
pub trait LoweredConv: Backend {
    fn lowered_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options(stride, pad))
    }

    fn lowered_conv2d_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, output_grad, options(stride, pad))
    }

    fn lowered_conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, output_grad, options(stride, pad))
    }
}

#[cfg(feature = "cuda")]
impl LoweredConv for burn::backend::Cube {}

fn geometry(x: &FlexTensor, weight: &FlexTensor, stride: [usize; 2], pad: [usize; 4]) -> Geometry {
    let xs = x.shape();
    let ws = weight.shape();
    Geometry {
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

/// The f32 values of a tensor in row-major order; None for other dtypes.
fn values(t: &FlexTensor) -> Option<FlexTensor> {
    (t.dtype() == DType::F32).then(|| t.to_contiguous())
}

fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().unwrap_or(&[])
}

fn tensor(v: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

impl LoweredConv for Flex {
    fn lowered_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FlexTensor {
        match (values(&x), values(&weight)) {
            (Some(xc), Some(wc)) => {
                let g = geometry(&x, &weight, stride, pad);
                let y = kernels::forward(&g, slice(&xc), slice(&wc));
                tensor(y, [g.batch, g.c_out, g.out_h(), g.out_w()])
            }
            _ => Flex::conv2d(x, weight, None, options(stride, pad)),
        }
    }

    fn lowered_conv2d_input_grad(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FlexTensor {
        match (values(&output_grad), values(&weight)) {
            (Some(dy), Some(wc)) => {
                let g = geometry(&x, &weight, stride, pad);
                let dx = kernels::input_grad(&g, slice(&dy), slice(&wc));
                tensor(dx, [g.batch, g.c_in, g.h, g.w])
            }
            _ => Flex::conv2d_x_backward(x, weight, output_grad, options(stride, pad)),
        }
    }

    fn lowered_conv2d_weight_grad(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FlexTensor {
        match (values(&x), values(&output_grad)) {
            (Some(xc), Some(dy)) => {
                let g = geometry(&x, &weight, stride, pad);
                let dw = kernels::weight_grad(&g, slice(&xc), slice(&dy));
                tensor(dw, [g.c_out, g.c_in, g.kh, g.kw])
            }
            _ => Flex::conv2d_weight_backward(x, weight, output_grad, options(stride, pad)),
        }
    }
}

#[derive(Debug)]
struct LoweredConvBackward;

impl<B: Backend + LoweredConv> Backward<B, 2> for LoweredConvBackward {
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
            let dw = B::lowered_conv2d_weight_grad(x, w, dy, stride, pad);
            grads.register::<B>(node.id, dw);
        }
    }
}

impl<B: Backend + LoweredConv, C: CheckpointStrategy> LoweredConv for Autodiff<B, C> {
    fn lowered_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FloatTensor<Self> {
        match LoweredConvBackward
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
}
