//! The network's layers, with PyTorch's parameter layouts so that reference weights load as they are.

use crate::error::ModelError;
use crate::params::{Init, ParamSource};
use burn::module::{Module, Param, RunningState};
use burn::tensor::activation::relu;
use burn::tensor::module::batch_norm;
use burn::tensor::{Device, Gradients, Tensor, TensorData};

pub(crate) fn tensor<const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub(crate) fn param<const D: usize>(
    src: &mut dyn ParamSource,
    name: &str,
    shape: [usize; D],
    init: Init,
    device: &Device,
) -> Result<Param<Tensor<D>>, ModelError> {
    let v = src.take(name, &shape, init)?;
    Ok(Param::from_tensor(tensor(v, shape, device)))
}

/// A tensor's values on the host, row-major, as f32.
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// Named tensors: (reference name, shape, row-major values).
pub type NamedTensors = Vec<(String, Vec<usize>, Vec<f32>)>;

/// Collects a module's tensors under their reference names; with `grads`, each parameter's
/// gradient instead (tensors without one, such as running statistics, are left out).
#[derive(Default)]
pub(crate) struct Export<'g> {
    pub items: NamedTensors,
    pub grads: Option<&'g Gradients>,
}

pub(crate) fn export<const D: usize>(out: &mut Export<'_>, name: String, t: Tensor<D>) {
    let t = match out.grads {
        Some(g) => match t.grad(g) {
            Some(g) => g,
            None => return,
        },
        None => t,
    };
    let shape = t.dims().to_vec();
    out.items.push((name, shape, host(t)));
}

/// A layer's weight and optional bias.
type WeightBias<const D: usize> = (Param<Tensor<D>>, Option<Param<Tensor<1>>>);

/// Loads `<name>.weight` of `shape` (output channels first) and, with `bias`, `<name>.bias`; both are
/// initialised from the weight's fan-in, as PyTorch does.
fn weight_bias<const D: usize>(
    src: &mut dyn ParamSource,
    name: &str,
    shape: [usize; D],
    bias: bool,
    device: &Device,
) -> Result<WeightBias<D>, ModelError> {
    let fan_in: usize = shape[1..].iter().product();
    let w = param(
        src,
        &format!("{name}.weight"),
        shape,
        Init::FanIn(fan_in),
        device,
    )?;
    let b = bias
        .then(|| {
            param(
                src,
                &format!("{name}.bias"),
                [shape[0]],
                Init::FanIn(fan_in),
                device,
            )
        })
        .transpose()?;
    Ok((w, b))
}

fn export_weight_bias<const D: usize>(
    out: &mut Export,
    name: &str,
    w: &Param<Tensor<D>>,
    b: &Option<Param<Tensor<1>>>,
) {
    export(out, format!("{name}.weight"), w.val());
    if let Some(b) = b {
        export(out, format!("{name}.bias"), b.val());
    }
}

/// Batch normalisation over dimension 1, as PyTorch's BatchNorm1d/2d: in training, normalised with the
/// batch's biased variance while the running variance follows the *unbiased* one.
#[derive(Module, Debug)]
pub struct BatchNorm {
    pub running_mean: RunningState<Tensor<1>>,
    pub running_var: RunningState<Tensor<1>>,
    pub gamma: Option<Param<Tensor<1>>>,
    pub beta: Option<Param<Tensor<1>>>,
    pub channels: usize,
    pub eps: f64,
    pub momentum: f64,
    /// Folded into a neighbouring layer for inference: eval mode passes the input through.
    pub folded: bool,
}

/// A [`BatchNorm`] of `channels` channels, with a learned scale and shift unless `affine` is off.
#[derive(Debug, Clone, Copy)]
pub struct BatchNormConfig {
    pub channels: usize,
    pub affine: bool,
}

impl BatchNormConfig {
    pub fn new(channels: usize) -> Self {
        Self {
            channels,
            affine: true,
        }
    }

    pub fn with_affine(self, affine: bool) -> Self {
        Self { affine, ..self }
    }

    /// The layer with its tensors taken from `src` under `name` (initialised where `src` has none).
    pub fn init(
        &self,
        src: &mut dyn ParamSource,
        name: &str,
        device: &Device,
    ) -> Result<BatchNorm, ModelError> {
        BatchNorm::load(src, name, self.channels, self.affine, device)
    }
}

impl BatchNorm {
    fn load(
        src: &mut dyn ParamSource,
        name: &str,
        channels: usize,
        affine: bool,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let rm = src.take(&format!("{name}.running_mean"), &[channels], Init::Zeros)?;
        let rv = src.take(&format!("{name}.running_var"), &[channels], Init::Ones)?;
        let (gamma, beta) = if affine {
            (
                Some(param(
                    src,
                    &format!("{name}.weight"),
                    [channels],
                    Init::Ones,
                    device,
                )?),
                Some(param(
                    src,
                    &format!("{name}.bias"),
                    [channels],
                    Init::Zeros,
                    device,
                )?),
            )
        } else {
            (None, None)
        };
        Ok(Self {
            running_mean: RunningState::new(tensor(rm, [channels], device)),
            running_var: RunningState::new(tensor(rv, [channels], device)),
            gamma,
            beta,
            channels,
            eps: 1e-5,
            momentum: 0.1,
            folded: false,
        })
    }

    pub(crate) fn export(&self, name: &str, out: &mut Export) {
        export(
            out,
            format!("{name}.running_mean"),
            self.running_mean.value_sync(),
        );
        export(
            out,
            format!("{name}.running_var"),
            self.running_var.value_sync(),
        );
        if let (Some(g), Some(b)) = (&self.gamma, &self.beta) {
            export(out, format!("{name}.weight"), g.val());
            export(out, format!("{name}.bias"), b.val());
        }
    }

    /// Takes `other`'s running statistics (a copy of this layer on another device kind).
    pub(crate) fn adopt_running_stats(&self, other: &BatchNorm) {
        for (dst, src) in [
            (&self.running_mean, &other.running_mean),
            (&self.running_var, &other.running_var),
        ] {
            let v = src.value_sync();
            dst.update(if dst.value().is_autodiff() {
                v.autodiff()
            } else {
                v
            });
        }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>, train: bool) -> Tensor<D> {
        if self.folded && !train {
            return x;
        }
        if !train {
            return match (&self.gamma, &self.beta) {
                // Trainable scale and shift stay in the graph.
                (Some(g), Some(b)) => batch_norm(
                    x,
                    g.val(),
                    b.val(),
                    self.running_mean.value_sync(),
                    self.running_var.value_sync(),
                    self.eps,
                ),
                // Running statistics as one scale and shift per channel: a single pass.
                _ => {
                    let device = x.device();
                    let (scale, shift) = self.eval_affine();
                    let n = scale.len();
                    crate::ops::channel_affine(
                        x,
                        tensor(scale, [n], &device),
                        tensor(shift, [n], &device),
                    )
                }
            };
        }
        let dims = x.dims();
        let (normalized, mean, variance) = crate::ops::batch_norm_train(x, self.eps);
        self.track(mean, variance, &dims);
        match (&self.gamma, &self.beta) {
            (Some(g), Some(b)) => {
                let mut shape = [1; D];
                shape[1] = self.channels;
                normalized * g.val().reshape(shape) + b.val().reshape(shape)
            }
            _ => normalized,
        }
    }

    /// `max_pool2d(self.forward(x, train), pool[0], pool[1])`; in training without a learned scale
    /// and shift, one kernel that never writes the normalised tensor (the same values and
    /// gradients bit for bit).
    pub fn forward_max_pool(&self, x: Tensor<4>, train: bool, pool: [usize; 2]) -> Tensor<4> {
        if !train || self.gamma.is_some() || self.beta.is_some() {
            return crate::ops::max_pool2d(self.forward(x, train), pool[0], pool[1]);
        }
        let dims = x.dims();
        let (pooled, mean, variance) =
            crate::ops::batch_norm_max_pool2d_train(x, self.eps, pool[0], pool[1]);
        self.track(mean, variance, &dims);
        pooled
    }

    /// Moves the running statistics towards the batch's (`dims`: the input's shape).
    fn track<const D: usize>(&self, mean: Tensor<1>, variance: Tensor<1>, dims: &[usize; D]) {
        let per_channel = dims.iter().product::<usize>() / dims[1].max(1);
        let unbiased = per_channel as f64 / (per_channel.max(2) - 1) as f64;
        let m = self.momentum;
        let rm = self
            .running_mean
            .value_sync()
            .mul_scalar(1.0 - m)
            .add(mean.detach().mul_scalar(m));
        let rv = self
            .running_var
            .value_sync()
            .mul_scalar(1.0 - m)
            .add(variance.detach().mul_scalar(m * unbiased));
        self.running_mean.update(rm.detach());
        self.running_var.update(rv.detach());
    }
}

/// A 1-D convolution without padding.
#[derive(Module, Debug)]
pub struct Conv1d {
    pub weight: Param<Tensor<3>>,
    pub bias: Option<Param<Tensor<1>>>,
    pub stride: usize,
}

/// A convolution from `channels[0]` to `channels[1]` channels with a kernel of `kernel_size` (in
/// each of its `D` dimensions; stride 1 and a bias unless set otherwise): [`Conv1dConfig`] builds a
/// [`Conv1d`], [`Conv2dConfig`] a square [`Conv2d`].
#[derive(Debug, Clone, Copy)]
pub struct ConvConfig<const D: usize> {
    pub channels: [usize; 2],
    pub kernel_size: usize,
    pub stride: usize,
    pub bias: bool,
}

pub type Conv1dConfig = ConvConfig<1>;
pub type Conv2dConfig = ConvConfig<2>;

impl<const D: usize> ConvConfig<D> {
    pub fn new(channels: [usize; 2], kernel_size: usize) -> Self {
        Self {
            channels,
            kernel_size,
            stride: 1,
            bias: true,
        }
    }

    pub fn with_stride(self, stride: usize) -> Self {
        Self { stride, ..self }
    }

    pub fn with_bias(self, bias: bool) -> Self {
        Self { bias, ..self }
    }
}

impl Conv1dConfig {
    /// The layer with `<name>.weight` (and `<name>.bias`) taken from `src`.
    pub fn init(
        &self,
        src: &mut dyn ParamSource,
        name: &str,
        device: &Device,
    ) -> Result<Conv1d, ModelError> {
        let [cin, cout] = self.channels;
        let shape = [cout, cin, self.kernel_size];
        let (weight, bias) = weight_bias(src, name, shape, self.bias, device)?;
        Ok(Conv1d {
            weight,
            bias,
            stride: self.stride,
        })
    }
}

impl Conv1d {
    pub(crate) fn export(&self, name: &str, out: &mut Export) {
        export_weight_bias(out, name, &self.weight, &self.bias);
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let y = crate::ops::conv1d(x, self.weight.val(), self.stride);
        match &self.bias {
            Some(b) => y + b.val().reshape([1, -1, 1]),
            None => y,
        }
    }

    /// relu(conv(x) + bias). At inference the bias and ReLU are applied as the convolution stores
    /// its output (one pass over it fewer); in training, burn's operations, differentiated.
    pub fn forward_relu(&self, x: Tensor<3>, train: bool) -> Tensor<3> {
        if train {
            return relu(self.forward(x));
        }
        let [b, c, l] = x.dims();
        let [o, _, k] = self.weight.dims();
        let device = x.device();
        let bias = self
            .bias
            .as_ref()
            .map_or_else(|| tensor(vec![0.0; o], [o], &device), |b| b.val());
        let y = crate::ops::conv2d_bias_relu(
            x.reshape([b, c, 1, l]),
            self.weight.val().reshape([o, c, 1, k]),
            bias,
            [1, self.stride],
            [0; 4],
            true,
        );
        let [_, _, _, lo] = y.dims();
        y.reshape([b, o, lo])
    }

    pub fn out_len(&self, len: usize) -> usize {
        asd_kernels::conv_len(len, self.weight.dims()[2], self.stride)
    }
}

/// TensorFlow's 'same' padding of one axis: (before, after).
pub fn tf_same(len: usize, k: usize, stride: usize) -> (usize, usize) {
    let out = len.div_ceil(stride);
    let total = ((out.max(1) - 1) * stride + k).saturating_sub(len);
    (total / 2, total - total / 2)
}

/// A square 2-D convolution with TensorFlow 'same' padding for strided kernels and symmetric
/// padding otherwise.
#[derive(Module, Debug)]
pub struct Conv2d {
    pub weight: Param<Tensor<4>>,
    pub bias: Option<Param<Tensor<1>>>,
    pub stride: usize,
}

impl Conv2dConfig {
    /// The layer with `<name>.weight` (and `<name>.bias`) taken from `src`.
    pub fn init(
        &self,
        src: &mut dyn ParamSource,
        name: &str,
        device: &Device,
    ) -> Result<Conv2d, ModelError> {
        let [cin, cout] = self.channels;
        let k = self.kernel_size;
        let (weight, bias) = weight_bias(src, name, [cout, cin, k, k], self.bias, device)?;
        Ok(Conv2d {
            weight,
            bias,
            stride: self.stride,
        })
    }
}

impl Conv2d {
    pub(crate) fn export(&self, name: &str, out: &mut Export) {
        export_weight_bias(out, name, &self.weight, &self.bias);
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_then(x, false)
    }

    /// relu(norm(conv(x))). Where the norm is folded into this convolution (inference), the bias
    /// and ReLU are applied as the convolution stores its output.
    pub fn forward_norm_relu(&self, x: Tensor<4>, norm: &BatchNorm, train: bool) -> Tensor<4> {
        if norm.folded && !train {
            return self.forward_then(x, true);
        }
        relu(norm.forward(self.forward(x), train))
    }

    /// relu(norm(conv(relu(x)))): a residual block's convolution after a ReLU whose input is
    /// still needed as it is. Where the norm is folded into this convolution (inference), the
    /// input's ReLU is applied as the convolution reads it: the ReLU'd tensor is never written.
    pub fn forward_relu_in_norm_relu(
        &self,
        x: Tensor<4>,
        norm: &BatchNorm,
        train: bool,
    ) -> Tensor<4> {
        if let Some(b) = self.folded_bias(norm, train) {
            let (stride, pad) = (self.strides(), self.padding(&x));
            return crate::ops::conv2d_relu_in_bias_relu(x, self.weight.val(), b, stride, pad);
        }
        self.forward_norm_relu(relu(x), norm, train)
    }

    /// norm(conv(x) + residual), or conv(x) + residual without a norm: a residual block's
    /// second convolution and its skip connection. At inference the addition and the norm (its
    /// running statistics as one scale and shift per channel) are applied as the convolution
    /// stores its output.
    pub fn forward_add_norm(
        &self,
        x: Tensor<4>,
        residual: Tensor<4>,
        norm: Option<&BatchNorm>,
        train: bool,
    ) -> Tensor<4> {
        if train {
            let y = self.forward(x) + residual;
            return match norm {
                Some(n) => n.forward(y, true),
                None => y,
            };
        }
        let c = self.weight.dims()[0];
        let (scale, shift) = match norm {
            Some(n) if !n.folded => n.eval_affine(),
            _ => (vec![1.0; c], vec![0.0; c]),
        };
        let device = x.device();
        let bias = self
            .bias
            .as_ref()
            .map_or_else(|| tensor(vec![0.0; c], [c], &device), |b| b.val());
        let pad = self.padding(&x);
        crate::ops::conv2d_bias_residual_affine(
            x,
            self.weight.val(),
            bias,
            residual,
            tensor(scale, [c], &device),
            tensor(shift, [c], &device),
            self.strides(),
            pad,
        )
    }

    /// max_pool(relu(norm(conv(x))), k, stride): the STFT branch's first layer. Where the norm is
    /// folded into this convolution (inference), each image is pooled as it is computed.
    pub fn forward_norm_relu_pool(
        &self,
        x: Tensor<4>,
        norm: &BatchNorm,
        train: bool,
        pool: [usize; 2],
    ) -> Tensor<4> {
        if let Some(b) = self.folded_bias(norm, train) {
            let (stride, pad) = (self.strides(), self.padding(&x));
            return crate::ops::conv2d_bias_relu_max_pool(
                x,
                self.weight.val(),
                b,
                stride,
                pad,
                pool,
            );
        }
        // ReLU after the pooling: max commutes with it, so values and gradients are the same
        // (where a window's maximum is ≤ 0 both give 0), and ReLU and its gradient pass over a
        // quarter of the stem's output (82 MB at batch 32 × 10 s) instead of the whole.
        relu(norm.forward_max_pool(self.forward(x), train, pool))
    }

    /// 'Same' padding (top, bottom, left, right); TensorFlow's asymmetric one for strides > 1.
    /// The bias where `norm` (the BatchNorm after this convolution) is folded into it and the pass
    /// is inference: the case of the fused kernels.
    fn folded_bias(&self, norm: &BatchNorm, train: bool) -> Option<Tensor<1>> {
        (norm.folded && !train)
            .then(|| self.bias.as_ref().map(|b| b.val()))
            .flatten()
    }

    fn strides(&self) -> [usize; 2] {
        [self.stride, self.stride]
    }

    fn padding(&self, x: &Tensor<4>) -> [usize; 4] {
        let [_, _, h, w] = x.dims();
        let k = self.weight.dims()[2];
        let pad = if self.stride == 1 {
            [(k / 2, k / 2), (k / 2, k / 2)]
        } else {
            [tf_same(h, k, self.stride), tf_same(w, k, self.stride)]
        };
        [pad[0].0, pad[0].1, pad[1].0, pad[1].1]
    }

    fn forward_then(&self, x: Tensor<4>, then_relu: bool) -> Tensor<4> {
        let pad = self.padding(&x);
        let stride = self.strides();
        match &self.bias {
            Some(b) => {
                crate::ops::conv2d_bias_relu(x, self.weight.val(), b.val(), stride, pad, then_relu)
            }
            None => {
                let y = crate::ops::conv2d(x, self.weight.val(), stride, pad);
                if then_relu { relu(y) } else { y }
            }
        }
    }
}

/// y = x Wᵀ (+ b), W stored (out, in) as in PyTorch.
#[derive(Module, Debug)]
pub struct Linear {
    pub weight: Param<Tensor<2>>,
    pub bias: Option<Param<Tensor<1>>>,
}

/// A [`Linear`] layer from `d_input` to `d_output` features (with a bias unless set otherwise).
#[derive(Debug, Clone, Copy)]
pub struct LinearConfig {
    pub d_input: usize,
    pub d_output: usize,
    pub bias: bool,
}

impl LinearConfig {
    pub fn new(d_input: usize, d_output: usize) -> Self {
        Self {
            d_input,
            d_output,
            bias: true,
        }
    }

    pub fn with_bias(self, bias: bool) -> Self {
        Self { bias, ..self }
    }

    /// The layer with `<name>.weight` (and `<name>.bias`) taken from `src`.
    pub fn init(
        &self,
        src: &mut dyn ParamSource,
        name: &str,
        device: &Device,
    ) -> Result<Linear, ModelError> {
        let shape = [self.d_output, self.d_input];
        let (weight, bias) = weight_bias(src, name, shape, self.bias, device)?;
        Ok(Linear { weight, bias })
    }
}

impl Linear {
    pub(crate) fn export(&self, name: &str, out: &mut Export) {
        export_weight_bias(out, name, &self.weight, &self.bias);
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let y = x.matmul(self.weight.val().transpose());
        match &self.bias {
            Some(b) => y + b.val().unsqueeze_dim(0),
            None => y,
        }
    }
}

impl BatchNorm {
    /// Eval mode as y = x · scale + shift per channel.
    pub fn eval_affine(&self) -> (Vec<f32>, Vec<f32>) {
        let m = host(self.running_mean.value_sync());
        let v = host(self.running_var.value_sync());
        let g = self.gamma.as_ref().map(|g| host(g.val()));
        let b = self.beta.as_ref().map(|b| host(b.val()));
        (0..self.channels)
            .map(|c| {
                let s = g.as_ref().map_or(1.0, |g| f64::from(g[c]))
                    / (f64::from(v[c]) + self.eps).sqrt();
                let shift = b.as_ref().map_or(0.0, |b| f64::from(b[c])) - f64::from(m[c]) * s;
                (s as f32, shift as f32)
            })
            .unzip()
    }
}

/// Folds a BatchNorm that follows a layer (output channels first) into the layer's weight and bias.
pub(crate) fn fold_after<const D: usize>(
    weight: &mut Param<Tensor<D>>,
    bias: &mut Option<Param<Tensor<1>>>,
    norm: &mut BatchNorm,
) {
    let (scale, shift) = norm.eval_affine();
    let w = weight.val();
    let device = w.device();
    let dims = w.dims();
    let per = dims.iter().skip(1).product::<usize>();
    let mut v = host(w);
    for (o, row) in v.chunks_mut(per).enumerate() {
        row.iter_mut().for_each(|x| *x *= scale[o]);
    }
    let b0 = bias
        .as_ref()
        .map_or(vec![0.0; scale.len()], |b| host(b.val()));
    let b: Vec<f32> = (0..scale.len())
        .map(|o| b0[o] * scale[o] + shift[o])
        .collect();
    *weight = Param::from_tensor(tensor(v, dims, &device));
    *bias = Some(Param::from_tensor(tensor(b, [scale.len()], &device)));
    norm.folded = true;
}

/// Folds a BatchNorm that precedes a dense layer into it: W' = W·diag(scale), b' = b + W·shift.
pub(crate) fn fold_before(norm: &mut BatchNorm, dense: &mut Linear) {
    let (scale, shift) = norm.eval_affine();
    let w = dense.weight.val();
    let device = w.device();
    let [out, inp] = w.dims();
    let mut v = host(w);
    let mut b = dense
        .bias
        .as_ref()
        .map_or(vec![0.0; out], |b| host(b.val()));
    for o in 0..out {
        let row = &mut v[o * inp..(o + 1) * inp];
        let mut acc = 0.0f64;
        for i in 0..inp {
            acc += f64::from(row[i]) * f64::from(shift[i]);
            row[i] *= scale[i];
        }
        b[o] += acc as f32;
    }
    dense.weight = Param::from_tensor(tensor(v, [out, inp], &device));
    dense.bias = Some(Param::from_tensor(tensor(b, [out], &device)));
    norm.folded = true;
}
