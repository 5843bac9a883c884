//! The network's layers, with PyTorch's parameter layouts so that reference weights load as they are.

use crate::error::ModelError;
use crate::params::{Init, ParamSource};
use burn::module::{Module, Param, RunningState};
use burn::tensor::module::{batch_norm, batch_norm_train, conv1d, conv2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

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

/// Collects a module's tensors under their reference names.
pub(crate) type Export = Vec<(String, Vec<usize>, Vec<f32>)>;

pub(crate) fn export<const D: usize>(out: &mut Export, name: String, t: Tensor<D>) {
    let shape = t.dims().to_vec();
    let values = t
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    out.push((name, shape, values));
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
pub struct Norm {
    pub running_mean: RunningState<Tensor<1>>,
    pub running_var: RunningState<Tensor<1>>,
    pub gamma: Option<Param<Tensor<1>>>,
    pub beta: Option<Param<Tensor<1>>>,
    pub channels: usize,
    pub eps: f64,
    pub momentum: f64,
}

impl Norm {
    pub fn load(
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

    fn affine(&self, device: &Device) -> (Tensor<1>, Tensor<1>) {
        match (&self.gamma, &self.beta) {
            (Some(g), Some(b)) => (g.val(), b.val()),
            _ => (
                Tensor::ones([self.channels], device),
                Tensor::zeros([self.channels], device),
            ),
        }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>, train: bool) -> Tensor<D> {
        let device = x.device();
        let (g, b) = self.affine(&device);
        if !train {
            return batch_norm(
                x,
                g,
                b,
                self.running_mean.value_sync(),
                self.running_var.value_sync(),
                self.eps,
            );
        }
        let dims = x.dims();
        let per_channel = dims.iter().product::<usize>() / dims[1].max(1);
        let out = batch_norm_train(x, g, b, self.eps);
        let unbiased = per_channel as f64 / (per_channel.max(2) - 1) as f64;
        let m = self.momentum;
        let rm = self
            .running_mean
            .value_sync()
            .mul_scalar(1.0 - m)
            .add(out.mean.detach().mul_scalar(m));
        let rv = self
            .running_var
            .value_sync()
            .mul_scalar(1.0 - m)
            .add(out.variance.detach().mul_scalar(m * unbiased));
        self.running_mean.update(rm.detach());
        self.running_var.update(rv.detach());
        out.output
    }
}

/// A 1-D convolution without padding.
#[derive(Module, Debug)]
pub struct Conv1 {
    pub weight: Param<Tensor<3>>,
    pub bias: Option<Param<Tensor<1>>>,
    pub stride: usize,
}

impl Conv1 {
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        src: &mut dyn ParamSource,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        bias: bool,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let (weight, bias) = weight_bias(src, name, [cout, cin, k], bias, device)?;
        Ok(Self {
            weight,
            bias,
            stride,
        })
    }

    pub(crate) fn export(&self, name: &str, out: &mut Export) {
        export_weight_bias(out, name, &self.weight, &self.bias);
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let opts = ConvOptions::new([self.stride], [0], [1], 1);
        conv1d(
            x,
            self.weight.val(),
            self.bias.as_ref().map(|b| b.val()),
            opts,
        )
    }

    pub fn out_len(&self, len: usize) -> usize {
        let k = self.weight.dims()[2];
        if len < k {
            0
        } else {
            (len - k) / self.stride + 1
        }
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
pub struct Conv2 {
    pub weight: Param<Tensor<4>>,
    pub bias: Option<Param<Tensor<1>>>,
    pub stride: usize,
}

impl Conv2 {
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        src: &mut dyn ParamSource,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        bias: bool,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let (weight, bias) = weight_bias(src, name, [cout, cin, k, k], bias, device)?;
        Ok(Self {
            weight,
            bias,
            stride,
        })
    }

    pub(crate) fn export(&self, name: &str, out: &mut Export) {
        export_weight_bias(out, name, &self.weight, &self.bias);
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let k = self.weight.dims()[2];
        let pad = if self.stride == 1 {
            [(k / 2, k / 2), (k / 2, k / 2)]
        } else {
            [tf_same(h, k, self.stride), tf_same(w, k, self.stride)]
        };
        let opts = ConvOptions::new_with_padding([self.stride, self.stride], pad, [1, 1], 1);
        conv2d(
            x,
            self.weight.val(),
            self.bias.as_ref().map(|b| b.val()),
            opts,
        )
    }
}

/// y = x Wᵀ (+ b), W stored (out, in) as in PyTorch.
#[derive(Module, Debug)]
pub struct Dense {
    pub weight: Param<Tensor<2>>,
    pub bias: Option<Param<Tensor<1>>>,
}

impl Dense {
    pub fn load(
        src: &mut dyn ParamSource,
        name: &str,
        cin: usize,
        cout: usize,
        bias: bool,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let (weight, bias) = weight_bias(src, name, [cout, cin], bias, device)?;
        Ok(Self { weight, bias })
    }

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
