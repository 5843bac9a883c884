//! The CPU kernels (`asd_model::ops`) against burn's own operations: outputs and gradients under autodiff.

use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};

/// Largest absolute difference relative to the largest magnitude of `b`.
fn max_rel<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    let a: Vec<f32> = a.into_data().try_to_vec::<f32>().unwrap();
    let b: Vec<f32> = b.into_data().try_to_vec::<f32>().unwrap();
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
        let ours = asd_model::ops::conv2d(x1.clone(), w1.clone(), [s, s], pad);
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

#[test]
fn fused_bias_relu_matches_burn_on_both_devices() {
    for ad in [false, true] {
        let dev = if ad {
            Device::flex().autodiff()
        } else {
            Device::flex()
        };
        // A direct-kernel layer and a lowered one (1-row kernel).
        for (ci, h, w, co, k, s, relu) in [
            (3, 9, 12, 5, [3, 3], 1, true),
            (2, 6, 9, 4, [7, 7], 2, false),
            (4, 1, 40, 3, [1, 8], 2, true),
        ] {
            let x0 = Tensor::<4>::random([2, ci, h, w], Distribution::Normal(0.0, 1.0), &dev);
            let w0 =
                Tensor::<4>::random([co, ci, k[0], k[1]], Distribution::Normal(0.0, 0.3), &dev);
            let b0 = Tensor::<1>::random([co], Distribution::Normal(0.0, 1.0), &dev);
            let pad = [k[0] / 2, (k[0] - 1) / 2, k[1] / 2, (k[1] - 1) / 2];
            let grad = |t: Tensor<4>| if ad { t.require_grad() } else { t };
            let (x1, w1) = (grad(x0.clone()), grad(w0.clone()));
            let ours = asd_model::ops::conv2d_bias_relu(
                x1.clone(),
                w1.clone(),
                b0.clone(),
                [s, s],
                pad,
                relu,
            );
            let opts = ConvOptions::new_with_padding(
                [s, s],
                [(pad[0], pad[1]), (pad[2], pad[3])],
                [1, 1],
                1,
            );
            let (x2, w2) = (grad(x0), grad(w0));
            let theirs = burn_conv2d(x2.clone(), w2.clone(), Some(b0), opts);
            let theirs = if relu {
                burn::tensor::activation::relu(theirs)
            } else {
                theirs
            };
            let case = format!("{ci}x{h}x{w} -> {co}, k {k:?}, s {s}, relu {relu}, autodiff {ad}");
            assert!(
                max_rel(ours.clone(), theirs.clone()) < 1e-5,
                "{case}: output"
            );
            if ad {
                let r = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &dev);
                let g1 = (ours * r.clone()).sum().backward();
                let g2 = (theirs * r).sum().backward();
                let (dx1, dx2) = (x1.grad(&g1).unwrap(), x2.grad(&g2).unwrap());
                assert!(max_rel(dx1, dx2) < 1e-5, "{case}: input gradient");
                let (dw1, dw2) = (w1.grad(&g1).unwrap(), w2.grad(&g2).unwrap());
                assert!(max_rel(dw1, dw2) < 1e-5, "{case}: weight gradient");
            }
        }
    }
}

/// The residual block's two fused inference operations against burn's composition, on the flex
/// device and under autodiff (where they are composed of differentiable operations): outputs and
/// gradients.
#[test]
fn fused_relu_input_and_residual_affine_match_burn_on_both_devices() {
    for ad in [false, true] {
        let dev = if ad {
            Device::flex().autodiff()
        } else {
            Device::flex()
        };
        // Direct-kernel layers (stride 1 and 2) and a lowered one (1-row kernel).
        for (ci, h, w, co, k, s) in [
            (3, 9, 12, 5, [3, 3], 1),
            (4, 10, 9, 17, [3, 3], 2),
            (4, 1, 40, 3, [1, 8], 2),
        ] {
            let rnd = |shape: [usize; 4], std| {
                Tensor::<4>::random(shape, Distribution::Normal(0.0, std), &dev)
            };
            let vec1 = |std| Tensor::<1>::random([co], Distribution::Normal(0.0, std), &dev);
            let (x0, w0, b0) = (
                rnd([2, ci, h, w], 1.0),
                rnd([co, ci, k[0], k[1]], 0.3),
                vec1(1.0),
            );
            let pad = [k[0] / 2, (k[0] - 1) / 2, k[1] / 2, (k[1] - 1) / 2];
            let opts = ConvOptions::new_with_padding(
                [s, s],
                [(pad[0], pad[1]), (pad[2], pad[3])],
                [1, 1],
                1,
            );
            let grad = |t: Tensor<4>| if ad { t.require_grad() } else { t };
            let relu = burn::tensor::activation::relu;
            let out_shape = burn_conv2d(x0.clone(), w0.clone(), None, opts.clone()).dims();
            let (res0, scale, shift) = (rnd(out_shape, 1.0), vec1(1.0), vec1(1.0));
            let (x1, w1, r1) = (grad(x0.clone()), grad(w0.clone()), grad(res0.clone()));
            let (x2, w2, r2) = (grad(x0), grad(w0), grad(res0));
            let ours = [
                asd_model::ops::conv2d_relu_in_bias_relu(
                    x1.clone(),
                    w1.clone(),
                    b0.clone(),
                    [s, s],
                    pad,
                ),
                asd_model::ops::conv2d_bias_residual_affine(
                    x1.clone(),
                    w1.clone(),
                    b0.clone(),
                    r1.clone(),
                    scale.clone(),
                    shift.clone(),
                    [s, s],
                    pad,
                ),
            ];
            let per_channel = |t: Tensor<1>| t.reshape([1, co, 1, 1]);
            let theirs = [
                relu(burn_conv2d(
                    relu(x2.clone()),
                    w2.clone(),
                    Some(b0.clone()),
                    opts.clone(),
                )),
                (burn_conv2d(x2.clone(), w2.clone(), Some(b0.clone()), opts.clone()) + r2.clone())
                    * per_channel(scale.clone())
                    + per_channel(shift.clone()),
            ];
            for (i, (o, t)) in ours.into_iter().zip(theirs).enumerate() {
                let case = format!("op {i}: {ci}x{h}x{w} -> {co}, k {k:?}, s {s}, autodiff {ad}");
                assert!(max_rel(o.clone(), t.clone()) < 1e-5, "{case}: output");
                if ad {
                    let r = Tensor::<4>::random(o.dims(), Distribution::Normal(0.0, 1.0), &dev);
                    let g1 = (o * r.clone()).sum().backward();
                    let g2 = (t * r).sum().backward();
                    let (dx1, dx2) = (x1.grad(&g1).unwrap(), x2.grad(&g2).unwrap());
                    assert!(max_rel(dx1, dx2) < 1e-5, "{case}: input gradient");
                    let (dw1, dw2) = (w1.grad(&g1).unwrap(), w2.grad(&g2).unwrap());
                    assert!(max_rel(dw1, dw2) < 1e-5, "{case}: weight gradient");
                    if i == 1 {
                        let (dr1, dr2) = (r1.grad(&g1).unwrap(), r2.grad(&g2).unwrap());
                        assert!(max_rel(dr1, dr2) < 1e-5, "{case}: residual gradient");
                    }
                }
            }
        }
    }
}

#[test]
fn fused_bias_relu_max_pool_matches_burn() {
    for ad in [false, true] {
        let dev = if ad {
            Device::flex().autodiff()
        } else {
            Device::flex()
        };
        let x = Tensor::<4>::random([3, 1, 21, 30], Distribution::Normal(0.0, 1.0), &dev);
        let w = Tensor::<4>::random([5, 1, 7, 7], Distribution::Normal(0.0, 0.3), &dev);
        let b = Tensor::<1>::random([5], Distribution::Normal(0.0, 1.0), &dev);
        let pad = [2, 3, 2, 3];
        let ours = asd_model::ops::conv2d_bias_relu_max_pool(
            x.clone(),
            w.clone(),
            b.clone(),
            [2, 2],
            pad,
            [3, 2],
        );
        let opts = ConvOptions::new_with_padding([2, 2], [(2, 3), (2, 3)], [1, 1], 1);
        let y = burn::tensor::activation::relu(burn_conv2d(x, w, Some(b), opts));
        let theirs = burn::tensor::module::max_pool2d(
            y,
            burn::tensor::ops::MaxPoolOptions::new([3, 3]).with_stride([2, 2]),
        );
        assert_eq!(ours.dims(), theirs.dims());
        assert!(max_rel(ours, theirs) < 1e-5, "autodiff {ad}");
    }
}

#[test]
fn batch_norm_matches_burn_forward_statistics_and_gradient() {
    let ad = Device::flex().autodiff();
    for dims in [[4, 3, 5, 7], [6, 5, 1, 1]] {
        let x0 = Tensor::<4>::random(dims, Distribution::Normal(0.5, 2.0), &ad);
        let r = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &ad);
        let x1 = x0.clone().require_grad();
        let (y1, m1, v1) = asd_model::ops::batch_norm_train(x1.clone(), 1e-5);
        let x2 = x0.require_grad();
        let c = dims[1];
        let out = burn::tensor::module::batch_norm_train(
            x2.clone(),
            Tensor::ones([c], &ad),
            Tensor::zeros([c], &ad),
            1e-5,
        );
        // A loss that is not a plain sum, so the gradient does not vanish.
        let g1 = (y1.clone() * r.clone()).powi_scalar(2).sum().backward();
        let g2 = (out.output.clone() * r).powi_scalar(2).sum().backward();
        assert!(
            max_rel(y1.inner(), out.output.inner()) < 1e-5,
            "{dims:?}: output"
        );
        assert!(
            max_rel(m1.inner(), out.mean.inner()) < 1e-5,
            "{dims:?}: mean"
        );
        assert!(
            max_rel(v1.inner(), out.variance.inner()) < 1e-5,
            "{dims:?}: variance"
        );
        let (d1, d2) = (x1.grad(&g1).unwrap(), x2.grad(&g2).unwrap());
        assert!(max_rel(d1, d2) < 1e-4, "{dims:?}: input gradient");
    }
}

#[test]
fn max_pool_matches_burn_forward_and_gradient() {
    use burn::tensor::module::max_pool2d;
    use burn::tensor::ops::MaxPoolOptions;
    let ad = Device::flex().autodiff();
    for dims in [[2, 3, 9, 12], [1, 2, 4, 3]] {
        let x0 = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &ad);
        let x1 = x0.clone().require_grad();
        let y1 = asd_model::ops::max_pool2d(x1.clone(), 3, 2);
        let x2 = x0.require_grad();
        let y2 = max_pool2d(x2.clone(), MaxPoolOptions::new([3, 3]).with_stride([2, 2]));
        assert_eq!(y1.dims(), y2.dims());
        let r = Tensor::<4>::random(y1.dims(), Distribution::Normal(0.0, 1.0), &ad);
        let g1 = (y1.clone() * r.clone()).sum().backward();
        let g2 = (y2.clone() * r).sum().backward();
        assert!(max_rel(y1.inner(), y2.inner()) == 0.0, "{dims:?}: output");
        let (d1, d2) = (x1.grad(&g1).unwrap(), x2.grad(&g2).unwrap());
        assert!(max_rel(d1, d2) < 1e-6, "{dims:?}: input gradient");
    }
}

/// After a ReLU many window entries tie at zero: the gradient goes to the first, as in PyTorch.
#[test]
fn max_pool_gives_ties_to_the_first_maximum() {
    let ad = Device::flex().autodiff();
    let x = Tensor::<4>::zeros([1, 1, 3, 3], &ad).require_grad();
    let y = asd_model::ops::max_pool2d(x.clone(), 3, 2);
    let g = y.sum().backward();
    let d: Vec<f32> = x.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(d, vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
}

/// Eval-mode BatchNorm as one scale and shift per channel equals burn's batch_norm with the same
/// running statistics, and its input gradient is the output gradient times the scale.
#[test]
fn channel_affine_matches_eval_batch_norm() {
    let ad = Device::flex().autodiff();
    let dims = [3, 4, 5, 6];
    let mean = Tensor::<1>::from_floats([0.5, -1.0, 2.0, 0.0], &ad);
    let var = Tensor::<1>::from_floats([1.0, 0.25, 4.0, 2.0], &ad);
    let x0 = Tensor::<4>::random(dims, Distribution::Normal(0.0, 2.0), &ad);
    let scale = (var.clone() + 1e-5).sqrt().recip();
    let shift = mean.clone().neg() * scale.clone();
    let x1 = x0.clone().require_grad();
    let y1 = asd_model::ops::channel_affine(x1.clone(), scale.clone(), shift);
    let ones = Tensor::ones([4], &ad);
    let zeros = Tensor::zeros([4], &ad);
    let y2 = burn::tensor::module::batch_norm(x0, ones, zeros, mean, var, 1e-5);
    assert!(max_rel(y1.clone().inner(), y2.inner()) < 1e-6, "output");
    let r = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &ad);
    let g = (y1 * r.clone()).sum().backward();
    let expected = r.inner() * scale.inner().reshape([1, 4, 1, 1]);
    assert!(
        max_rel(x1.grad(&g).unwrap(), expected) < 1e-6,
        "input gradient"
    );
}

/// Two equal autodiff leaves of normal values rounded to multiples of 1/`steps` (so that pooling
/// windows hold ties).
fn tied_twins(shape: [usize; 4], mean: f64, std: f64, steps: f32) -> (Tensor<4>, Tensor<4>) {
    let ad = Device::flex().autodiff();
    let x = Tensor::<4>::random(shape, Distribution::Normal(mean, std), &Device::flex())
        .mul_scalar(steps)
        .round()
        .div_scalar(steps);
    (
        Tensor::<4>::from_data(x.clone().into_data(), &ad).require_grad(),
        Tensor::<4>::from_data(x.into_data(), &ad).require_grad(),
    )
}

fn to_vec(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// The stem pools before its ReLU: the same values and, bit for bit, the same gradients as ReLU
/// then pooling, ties and windows whose maximum is 0 or negative included.
#[test]
fn pooling_before_relu_gives_the_same_values_and_gradients() {
    use burn::tensor::activation::relu;
    let ad = Device::flex().autodiff();
    // Halves: many exact ties, zeros and all-negative windows.
    let (a, b) = tied_twins([2, 3, 12, 15], 0.0, 1.0, 2.0);
    let r = Tensor::<4>::random([2, 3, 6, 7], Distribution::Normal(0.0, 1.0), &ad);
    let pooled_first = relu(asd_model::ops::max_pool2d(a.clone(), 2, 2));
    let relu_first = asd_model::ops::max_pool2d(relu(b.clone()), 2, 2);
    assert_eq!(
        to_vec(pooled_first.clone().inner()),
        to_vec(relu_first.clone().inner())
    );
    let ga = (pooled_first * r.clone()).sum().backward();
    let gb = (relu_first * r).sum().backward();
    let (da, db) = (to_vec(a.grad(&ga).unwrap()), to_vec(b.grad(&gb).unwrap()));
    assert!(da.iter().any(|v| *v != 0.0) && da.contains(&0.0));
    assert_eq!(da, db);
}

/// The stem's BatchNorm and max-pool in one kernel give what the two operations give, bit for
/// bit: pooled values, the statistics, and the gradient through the statistics (ties included).
#[test]
fn batch_norm_then_pool_fused_equals_the_two_operations() {
    let ad = Device::flex().autodiff();
    let (a, b) = tied_twins([3, 4, 13, 16], 0.5, 2.0, 4.0);
    let (fused, m1, v1) = asd_model::ops::batch_norm_max_pool2d_train(a.clone(), 1e-5, 3, 2);
    let (normalized, m2, v2) = asd_model::ops::batch_norm_train(b.clone(), 1e-5);
    let composed = asd_model::ops::max_pool2d(normalized, 3, 2);
    assert_eq!(fused.dims(), [3, 4, 6, 7]);
    assert_eq!(
        to_vec(fused.clone().inner()),
        to_vec(composed.clone().inner())
    );
    assert_eq!(m1.into_data(), m2.into_data());
    assert_eq!(v1.into_data(), v2.into_data());
    let r = Tensor::<4>::random([3, 4, 6, 7], Distribution::Normal(0.0, 1.0), &ad);
    let ga = (fused * r.clone()).sum().backward();
    let gb = (composed * r).sum().backward();
    let (da, db) = (to_vec(a.grad(&ga).unwrap()), to_vec(b.grad(&gb).unwrap()));
    assert!(
        da.iter().all(|v| *v != 0.0),
        "every element has a gradient through the statistics"
    );
    assert_eq!(da, db);
}
