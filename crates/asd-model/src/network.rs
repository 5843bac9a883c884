//! The two-branch embedding network of the reference implementation (see the fixtures README):
//! 1-D convolutions and dense layers on the full |FFT| half spectrum, a ResNet on the mean-normalised
//! |STFT|; each branch gives 256 numbers, the embedding is their L2-normalised concatenation.

use crate::error::ModelError;
use crate::layers::{
    BatchNorm, BatchNormConfig, Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, Export, Linear,
    LinearConfig, NamedTensors,
};
use crate::params::ParamSource;
use asd_audio::{STFT_BINS, stft_frames};
use asd_kernels::conv_len;
use burn::module::Module;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Gradients, Tensor};
use serde::{Deserialize, Serialize};

/// Hyper-parameters that change the network's shape or parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// Clip length in samples at 16 kHz (160 000 for 10 s DCASE clips).
    pub clip_len: usize,
    /// Biases in every convolution and dense layer (the paper's default: none).
    pub bias: bool,
    /// Trainable scale and shift in every BatchNorm (the paper's default: none).
    pub affine: bool,
}

impl NetConfig {
    pub fn new(clip_len: usize) -> Self {
        Self {
            clip_len,
            bias: false,
            affine: false,
        }
    }

    /// The shortest clip (in samples) whose FFT branch has an output: 70 016 (4.38 s at 16 kHz).
    /// Shorter recordings are tiled up to the clip length.
    pub const MIN_CLIP_LEN: usize = 2 * (256 + 64 * (63 + 32 * 15));

    pub fn spectrum_len(&self) -> usize {
        self.clip_len / 2
    }

    pub fn frames(&self) -> usize {
        stft_frames(self.clip_len)
    }

    /// Checks that both branches have a non-empty output for this clip length.
    pub fn validate(&self) -> Result<(), ModelError> {
        let l1 = conv_len(self.spectrum_len(), 256, 64);
        let l3 = conv_len(conv_len(l1, 64, 32), 16, 4);
        if l3 == 0 {
            return Err(ModelError::Config(format!(
                "clip length {} samples is too short for the FFT branch (needs at least {} samples)",
                self.clip_len,
                Self::MIN_CLIP_LEN
            )));
        }
        // STFT: conv1 (s2), max-pool (3, s2), three strided blocks: at least one row must remain.
        let t = self.frames().div_ceil(2);
        if t < 3 {
            return Err(ModelError::Config(format!(
                "clip length {} samples gives {} STFT frames; at least 5 are needed",
                self.clip_len,
                self.frames()
            )));
        }
        Ok(())
    }

    /// Flattened length of the FFT branch's last convolution (128 channels × positions).
    pub fn fft_flat(&self) -> usize {
        let l1 = conv_len(self.spectrum_len(), 256, 64);
        128 * conv_len(conv_len(l1, 64, 32), 16, 4)
    }
}

#[derive(Module, Debug)]
pub struct FftBranch {
    conv1: Conv1d,
    conv2: Conv1d,
    conv3: Conv1d,
    lin: Vec<Linear>,
    norm: Vec<BatchNorm>,
    emb: Linear,
}

impl FftBranch {
    fn load(src: &mut dyn ParamSource, cfg: &NetConfig, d: &Device) -> Result<Self, ModelError> {
        let b = cfg.bias;
        let p = "fft_branch";
        let bn = |channels| BatchNormConfig::new(channels).with_affine(cfg.affine);
        let conv = |channels, k, stride| {
            Conv1dConfig::new(channels, k)
                .with_stride(stride)
                .with_bias(b)
        };
        let mut lin = Vec::new();
        let mut norm = Vec::new();
        for i in 1..=4 {
            let cin = if i == 1 { cfg.fft_flat() } else { 128 };
            lin.push(LinearConfig::new(cin, 128).with_bias(b).init(
                src,
                &format!("{p}.lin{i}"),
                d,
            )?);
            norm.push(bn(128).init(src, &format!("{p}.norm{i}"), d)?);
        }
        Ok(Self {
            conv1: conv([1, 128], 256, 64).init(src, &format!("{p}.conv1"), d)?,
            conv2: conv([128, 128], 64, 32).init(src, &format!("{p}.conv2"), d)?,
            conv3: conv([128, 128], 16, 4).init(src, &format!("{p}.conv3"), d)?,
            lin,
            norm,
            emb: LinearConfig::new(128, 256)
                .with_bias(b)
                .init(src, &format!("{p}.emb"), d)?,
        })
    }

    fn export(&self, out: &mut Export) {
        let p = "fft_branch";
        self.conv1.export(&format!("{p}.conv1"), out);
        self.conv2.export(&format!("{p}.conv2"), out);
        self.conv3.export(&format!("{p}.conv3"), out);
        for (i, (l, n)) in self.lin.iter().zip(&self.norm).enumerate() {
            l.export(&format!("{p}.lin{}", i + 1), out);
            n.export(&format!("{p}.norm{}", i + 1), out);
        }
        self.emb.export(&format!("{p}.emb"), out);
    }

    /// `spectrum`: (B, L/2) → (B, 256).
    pub fn forward(&self, spectrum: Tensor<2>, train: bool) -> Tensor<2> {
        let [b, l] = spectrum.dims();
        let x = spectrum.reshape([b, 1, l]);
        let x = self.conv1.forward_relu(x, train);
        let x = self.conv2.forward_relu(x, train);
        let x = self.conv3.forward_relu(x, train);
        let [_, c, t] = x.dims();
        let mut x = x.reshape([b, c * t]);
        for (l, n) in self.lin.iter().zip(&self.norm) {
            x = relu(n.forward(l.forward(x), train));
        }
        self.emb.forward(x)
    }
}

#[derive(Module, Debug)]
pub struct ResBlock {
    norm1: Option<BatchNorm>,
    conv1: Conv2d,
    norm2: BatchNorm,
    conv2: Conv2d,
    conv_down: Option<Conv2d>,
    norm3: BatchNorm,
    conv3: Conv2d,
    norm4: BatchNorm,
    conv4: Conv2d,
}

impl ResBlock {
    fn load(
        src: &mut dyn ParamSource,
        p: &str,
        cin: usize,
        cout: usize,
        first: bool,
        cfg: &NetConfig,
        d: &Device,
    ) -> Result<(Self, Option<BatchNorm>), ModelError> {
        let (b, a) = (cfg.bias, cfg.affine);
        let stride = if first { 1 } else { 2 };
        // res_block1's norm1 exists in the reference state dict but is never used: it is handed back.
        let bn = |channels| BatchNormConfig::new(channels).with_affine(a);
        let conv = |channels, k, stride| {
            Conv2dConfig::new(channels, k)
                .with_stride(stride)
                .with_bias(b)
        };
        let norm1 = bn(cin).init(src, &format!("{p}.norm1"), d)?;
        let (norm1, unused) = if first {
            (None, Some(norm1))
        } else {
            (Some(norm1), None)
        };
        let block = Self {
            norm1,
            conv1: conv([cin, cout], 3, stride).init(src, &format!("{p}.conv1"), d)?,
            norm2: bn(cout).init(src, &format!("{p}.norm2"), d)?,
            conv2: conv([cout, cout], 3, 1).init(src, &format!("{p}.conv2"), d)?,
            conv_down: (!first)
                .then(|| conv([cin, cout], 1, 1).init(src, &format!("{p}.conv_down"), d))
                .transpose()?,
            norm3: bn(cout).init(src, &format!("{p}.norm3"), d)?,
            conv3: conv([cout, cout], 3, 1).init(src, &format!("{p}.conv3"), d)?,
            norm4: bn(cout).init(src, &format!("{p}.norm4"), d)?,
            conv4: conv([cout, cout], 3, 1).init(src, &format!("{p}.conv4"), d)?,
        };
        Ok((block, unused))
    }

    fn export(&self, p: &str, unused_norm1: Option<&BatchNorm>, out: &mut Export) {
        match (&self.norm1, unused_norm1) {
            (Some(n), _) | (None, Some(n)) => n.export(&format!("{p}.norm1"), out),
            _ => {}
        }
        self.conv1.export(&format!("{p}.conv1"), out);
        self.norm2.export(&format!("{p}.norm2"), out);
        self.conv2.export(&format!("{p}.conv2"), out);
        if let Some(c) = &self.conv_down {
            c.export(&format!("{p}.conv_down"), out);
        }
        self.norm3.export(&format!("{p}.norm3"), out);
        self.conv3.export(&format!("{p}.conv3"), out);
        self.norm4.export(&format!("{p}.norm4"), out);
        self.conv4.export(&format!("{p}.conv4"), out);
    }

    fn forward(&self, x: Tensor<4>, train: bool) -> Tensor<4> {
        let x = match &self.norm1 {
            Some(n) => n.forward(x, train),
            None => x,
        };
        let xr = self
            .conv1
            .forward_relu_in_norm_relu(x.clone(), &self.norm2, train);
        let skip = match &self.conv_down {
            // Keep every second row and column.
            Some(down) => down.forward(x.slice(burn::tensor::s![.., .., ..;2, ..;2])),
            None => x,
        };
        let x = self
            .conv2
            .forward_add_norm(xr, skip, Some(&self.norm3), train);
        let xr = self
            .conv3
            .forward_relu_in_norm_relu(x.clone(), &self.norm4, train);
        self.conv4.forward_add_norm(xr, x, None, train)
    }
}

#[derive(Module, Debug)]
pub struct StftBranch {
    norm_inp: BatchNorm,
    conv1: Conv2d,
    norm1: BatchNorm,
    blocks: Vec<ResBlock>,
    /// res_block1.norm1: loaded and saved for compatibility with the reference state dict, not used.
    unused_norm1: BatchNorm,
    norm2: BatchNorm,
    emb: Linear,
}

impl StftBranch {
    fn load(src: &mut dyn ParamSource, cfg: &NetConfig, d: &Device) -> Result<Self, ModelError> {
        let (b, a) = (cfg.bias, cfg.affine);
        let bn = |channels| BatchNormConfig::new(channels).with_affine(a);
        let norm_inp = bn(STFT_BINS).init(src, "stft.norm_inp", d)?;
        let conv1 = Conv2dConfig::new([1, 16], 7)
            .with_stride(2)
            .with_bias(b)
            .init(src, "stft_branch.conv1", d)?;
        let norm1 = bn(16).init(src, "stft_branch.norm1", d)?;
        let chans = [(16, 16), (16, 32), (32, 64), (64, 128)];
        let mut blocks = Vec::new();
        let mut unused = None;
        for (i, (cin, cout)) in chans.into_iter().enumerate() {
            let p = format!("stft_branch.res_block{}", i + 1);
            let (blk, spare) = ResBlock::load(src, &p, cin, cout, i == 0, cfg, d)?;
            if spare.is_some() {
                unused = spare;
            }
            blocks.push(blk);
        }
        let flat = 128 * 16;
        Ok(Self {
            norm_inp,
            conv1,
            norm1,
            blocks,
            unused_norm1: unused.ok_or_else(|| ModelError::Config("no residual blocks".into()))?,
            norm2: bn(flat).init(src, "stft_branch.norm2", d)?,
            emb: LinearConfig::new(flat, 256)
                .with_bias(b)
                .init(src, "stft_branch.emb", d)?,
        })
    }

    fn export(&self, out: &mut Export) {
        self.norm_inp.export("stft.norm_inp", out);
        self.conv1.export("stft_branch.conv1", out);
        self.norm1.export("stft_branch.norm1", out);
        for (i, blk) in self.blocks.iter().enumerate() {
            let extra = (i == 0).then_some(&self.unused_norm1);
            blk.export(&format!("stft_branch.res_block{}", i + 1), extra, out);
        }
        self.norm2.export("stft_branch.norm2", out);
        self.emb.export("stft_branch.emb", out);
    }

    /// `stft`: (B, 513, T), each bin's temporal mean already removed → (B, 256).
    pub fn forward(&self, stft: Tensor<3>, train: bool) -> Tensor<2> {
        let x = self.norm_inp.forward(stft, train);
        let x = x.swap_dims(1, 2).unsqueeze_dim::<4>(1);
        let mut x = self
            .conv1
            .forward_norm_relu_pool(x, &self.norm1, train, [3, 2]);
        for blk in &self.blocks {
            x = blk.forward(x, train);
        }
        // Max over time, then channel-major flattening.
        let [b, c, _, f] = x.dims();
        let x = x.max_dim(2).reshape([b, c * f]);
        self.emb.forward(self.norm2.forward(x, train))
    }
}

/// The embedding network.
#[derive(Module, Debug)]
pub struct EmbeddingNet {
    pub fft: FftBranch,
    pub stft: StftBranch,
}

impl EmbeddingNet {
    pub fn load(
        src: &mut dyn ParamSource,
        cfg: &NetConfig,
        device: &Device,
    ) -> Result<Self, ModelError> {
        cfg.validate()?;
        Ok(Self {
            fft: FftBranch::load(src, cfg, device)?,
            stft: StftBranch::load(src, cfg, device)?,
        })
    }

    /// Every tensor under its reference name (PyTorch layouts).
    pub fn export(&self) -> NamedTensors {
        self.export_to(Export::default())
    }

    /// Every parameter's gradient in `grads`, under the parameter's reference name.
    pub fn export_grads(&self, grads: &Gradients) -> NamedTensors {
        self.export_to(Export {
            items: Vec::new(),
            grads: Some(grads),
        })
    }

    fn export_to(&self, mut out: Export<'_>) -> NamedTensors {
        self.fft.export(&mut out);
        self.stft.export(&mut out);
        out.items
    }

    /// Branch outputs (B, 256) each, before normalisation.
    pub fn branches(
        &self,
        spectrum: Tensor<2>,
        stft: Tensor<3>,
        train: bool,
    ) -> (Tensor<2>, Tensor<2>) {
        (
            self.fft.forward(spectrum, train),
            self.stft.forward(stft, train),
        )
    }

    /// A train-mode forward pass whose only effect is on every BatchNorm's running statistics (the
    /// reference's un-mixed pass). It runs on a copy without autodiff, so no graph is built, and the
    /// copy's statistics are then handed back.
    pub fn update_running_stats(&self, spectrum: Tensor<2>, stft: Tensor<3>) {
        let plain = self.valid();
        let _ = plain.branches(spectrum.without_autodiff(), stft.without_autodiff(), true);
        for (dst, src) in self.norms().into_iter().zip(plain.norms()) {
            dst.adopt_running_stats(src);
        }
    }

    /// Every BatchNorm, in a fixed order.
    fn norms(&self) -> Vec<&BatchNorm> {
        let mut v: Vec<&BatchNorm> = self.fft.norm.iter().collect();
        let s = &self.stft;
        v.extend([&s.norm_inp, &s.norm1, &s.unused_norm1, &s.norm2]);
        for b in &s.blocks {
            v.extend(b.norm1.iter());
            v.extend([&b.norm2, &b.norm3, &b.norm4]);
        }
        v
    }

    /// Unit-length embeddings (B, 512).
    pub fn embed(&self, spectrum: Tensor<2>, stft: Tensor<3>, train: bool) -> Tensor<2> {
        let (a, b) = self.branches(spectrum, stft, train);
        l2_normalize(Tensor::cat(vec![a, b], 1))
    }
}

impl EmbeddingNet {
    /// An inference-only copy with every BatchNorm that directly follows (or, before the STFT
    /// embedding, precedes) a convolution or dense layer folded into that layer's weights and bias.
    /// Only eval mode is valid on the result.
    pub fn folded_for_inference(&self) -> Self {
        use crate::layers::{fold_after, fold_before};
        let mut n = self.clone();
        for (l, norm) in n.fft.lin.iter_mut().zip(n.fft.norm.iter_mut()) {
            fold_after(&mut l.weight, &mut l.bias, norm);
        }
        let s = &mut n.stft;
        fold_after(&mut s.conv1.weight, &mut s.conv1.bias, &mut s.norm1);
        for b in s.blocks.iter_mut() {
            fold_after(&mut b.conv1.weight, &mut b.conv1.bias, &mut b.norm2);
            fold_after(&mut b.conv3.weight, &mut b.conv3.bias, &mut b.norm4);
        }
        fold_before(&mut s.norm2, &mut s.emb);
        n
    }
}

pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let n = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / n
}
