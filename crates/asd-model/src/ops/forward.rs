//! The flex backend's side of the extension: each operation runs the `asd-kernels` kernel on host
//! memory (forward kernels, and the gradient kernels that the backward passes call).

use super::extension::{CpuGradKernels, CpuKernels};
use super::{conv, norm, norm_pool, pool};
use burn::backend::flex::FlexTensor;
use burn::backend::{DType, Flex, TensorMetadata};
use burn::tensor::{Shape, TensorData};

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

fn norm_pool_geometry(x: &FlexTensor, k: usize, stride: usize) -> norm_pool::NormPool {
    norm_pool::NormPool {
        pool: window(x, k, stride),
        channels: x.shape()[1],
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
        ..Default::default()
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

    fn conv2d_relu_in_bias_relu(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FlexTensor {
        let g = geometry(&x, &weight, stride, pad);
        let bias = host(&bias);
        let ep = conv::Epilogue {
            relu_input: true,
            bias: Some(slice(&bias)),
            relu: true,
            ..Default::default()
        };
        let y = conv::forward(&g, slice(&host(&x)), slice(&host(&weight)), ep);
        tensor(y, [g.batch, g.c_out, g.out_h(), g.out_w()])
    }

    fn conv2d_bias_residual_affine(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        residual: FlexTensor,
        scale: FlexTensor,
        shift: FlexTensor,
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> FlexTensor {
        let g = geometry(&x, &weight, stride, pad);
        let out = [g.batch, g.c_out, g.out_h(), g.out_w()];
        assert_eq!(
            residual.shape(),
            Shape::from(out),
            "the residual has the convolution's shape"
        );
        let (bias, residual, scale, shift) =
            (host(&bias), host(&residual), host(&scale), host(&shift));
        let ep = conv::Epilogue {
            bias: Some(slice(&bias)),
            residual: Some(slice(&residual)),
            affine: Some((slice(&scale), slice(&shift))),
            ..Default::default()
        };
        let y = conv::forward(&g, slice(&host(&x)), slice(&host(&weight)), ep);
        tensor(y, out)
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

    fn batch_normalize_max_pool2d(
        x: FlexTensor,
        moments: FlexTensor,
        eps: f64,
        k: usize,
        stride: usize,
    ) -> FlexTensor {
        let g = norm_pool_geometry(&x, k, stride);
        let y = norm_pool::forward(&g, slice(&host(&x)), slice(&host(&moments)), eps);
        let s = x.shape();
        tensor(y, [s[0], s[1], g.pool.out_h(), g.pool.out_w()])
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

    fn batch_normalize_max_pool2d_grad(
        x: FlexTensor,
        moments: FlexTensor,
        output_grad: FlexTensor,
        eps: f64,
        k: usize,
        stride: usize,
    ) -> FlexTensor {
        let g = norm_pool_geometry(&x, k, stride);
        let dx = norm_pool::backward(
            &g,
            slice(&host(&x)),
            slice(&host(&moments)),
            eps,
            slice(&host(&output_grad)),
        );
        tensor(dx, x.shape())
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
