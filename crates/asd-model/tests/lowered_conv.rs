//! The lowered convolution against burn's own: outputs and both gradients under autodiff.

use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};

fn max_rel(a: Tensor<4>, b: Tensor<4>) -> f32 {
    let a: Vec<f32> = a.into_data().to_vec().unwrap();
    let b: Vec<f32> = b.into_data().to_vec().unwrap();
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / scale)
        .fold(0.0, f32::max)
}

#[test]
fn lowered_conv_matches_burn_forward_and_gradients() {
    let ad = Device::flex().autodiff();
    // (batch, c_in, h, w, c_out, k, stride, pad top/bottom/left/right): the network's kinds of layer.
    let cases = [
        (2, 1, 21, 33, 4, 7, 2, [2, 3, 2, 3]),
        (3, 4, 9, 12, 4, 3, 1, [1, 1, 1, 1]),
        (2, 4, 9, 12, 6, 3, 2, [0, 1, 0, 1]),
        (2, 4, 5, 6, 6, 1, 1, [0, 0, 0, 0]),
    ];
    for (b, ci, h, w, co, k, s, pad) in cases {
        let x0 = Tensor::<4>::random([b, ci, h, w], Distribution::Normal(0.0, 1.0), &ad);
        let w0 = Tensor::<4>::random([co, ci, k, k], Distribution::Normal(0.0, 0.3), &ad);
        let probe = |y: &Tensor<4>| {
            Tensor::<4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &Device::flex())
        };
        let (x1, w1) = (x0.clone().require_grad(), w0.clone().require_grad());
        let ours = asd_model::conv::conv2d(x1.clone(), w1.clone(), [s, s], pad);
        let (x2, w2) = (x0.require_grad(), w0.require_grad());
        let opts =
            ConvOptions::new_with_padding([s, s], [(pad[0], pad[1]), (pad[2], pad[3])], [1, 1], 1);
        let theirs = burn_conv2d(x2.clone(), w2.clone(), None, opts);
        assert_eq!(ours.dims(), theirs.dims());
        let r = Tensor::from_data(probe(&ours).into_data(), &ad);
        let g1 = (ours.clone() * r.clone()).sum().backward();
        let g2 = (theirs.clone() * r).sum().backward();
        let case = format!("case {b}x{ci}x{h}x{w} -> {co}, k {k}, s {s}");
        assert!(
            max_rel(ours.inner(), theirs.inner()) < 1e-5,
            "{case}: output"
        );
        let (dx1, dx2) = (x1.grad(&g1).unwrap(), x2.grad(&g2).unwrap());
        assert!(max_rel(dx1, dx2) < 1e-5, "{case}: input gradient");
        let (dw1, dw2) = (w1.grad(&g1).unwrap(), w2.grad(&g2).unwrap());
        assert!(max_rel(dw1, dw2) < 1e-5, "{case}: weight gradient");
    }
}
