//! BEATs (Chen et al., "BEATs: Audio Pre-Training with Acoustic Tokenizers", 2022), inference only,
//! as the MERL code runs it for `BEATs-raw`: the Kaldi filter bank of the wave · 2¹⁵, normalised as
//! (fbank − 15.41663) / (2 · 6.55582); 16 × 16 patches (time-major, frequency-minor) embedded by a
//! strided convolution, LayerNorm, a projection to the encoder's width; a grouped convolutional position
//! embedding (weight norm folded once at load, GELU) added, LayerNorm; then post-LayerNorm transformer
//! layers with deep-norm residual scaling and a gated relative position bias computed once (by layer
//! 0's table, shared by every layer) and gated per layer by the query. Sizes come from the checkpoint's
//! `cfg`. Computed on host memory with the workspace's SGEMM (`asd_kernels::gemm`), rows and heads
//! spread over the threads.

use crate::checkpoint::Checkpoint;
use crate::error::FrontendError;
use asd_audio::KaldiFbank;
use asd_kernels::gemm::{Mat, MatMut, sgemm};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// BEATs' filter-bank normalisation.
pub const FBANK_MEAN: f32 = 15.41663;
pub const FBANK_STD: f32 = 6.55582;
/// The sample rate BEATs was trained at.
pub const BEATS_RATE: u32 = 16_000;
const LN_EPS: f64 = 1e-5;

/// The configuration of a checkpoint (the fields of the reference's `BEATsConfig` that inference
/// reads; defaults are that class's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeatsConfig {
    pub input_patch_size: usize,
    pub embed_dim: usize,
    pub conv_bias: bool,
    pub encoder_layers: usize,
    pub encoder_embed_dim: usize,
    pub encoder_ffn_embed_dim: usize,
    pub encoder_attention_heads: usize,
    pub activation_fn: String,
    pub layer_norm_first: bool,
    pub deep_norm: bool,
    pub conv_pos: usize,
    pub conv_pos_groups: usize,
    pub relative_position_embedding: bool,
    pub num_buckets: usize,
    pub max_distance: usize,
    pub gru_rel_pos: bool,
}

impl Default for BeatsConfig {
    fn default() -> Self {
        Self {
            input_patch_size: 16,
            embed_dim: 512,
            conv_bias: false,
            encoder_layers: 12,
            encoder_embed_dim: 768,
            encoder_ffn_embed_dim: 3072,
            encoder_attention_heads: 12,
            activation_fn: "gelu".into(),
            layer_norm_first: false,
            deep_norm: false,
            conv_pos: 128,
            conv_pos_groups: 16,
            relative_position_embedding: false,
            num_buckets: 320,
            max_distance: 1280,
            gru_rel_pos: false,
        }
    }
}

impl BeatsConfig {
    /// The published BEATs_iter3 / iter3+ configuration (12 layers of width 768).
    pub fn published() -> Self {
        Self {
            deep_norm: true,
            relative_position_embedding: true,
            max_distance: 800,
            gru_rel_pos: true,
            ..Self::default()
        }
    }

    /// From a checkpoint's `cfg` (fields absent there take `BEATsConfig`'s defaults), or, for a
    /// safetensors file without one, from the tensors' shapes with the published checkpoints'
    /// settings for what shapes do not tell (deep norm, post-LayerNorm, maximum distance 800).
    pub fn of(ck: &Checkpoint) -> Result<Self, FrontendError> {
        let bad = |problem: String| FrontendError::Config {
            path: ck.path.clone(),
            problem,
        };
        let c = match &ck.cfg {
            Some(map) => {
                let mut base =
                    serde_json::to_value(Self::default()).map_err(|e| bad(e.to_string()))?;
                if let serde_json::Value::Object(b) = &mut base {
                    for (k, v) in map {
                        if b.contains_key(k) {
                            b.insert(k.clone(), v.clone());
                        }
                    }
                }
                serde_json::from_value::<Self>(base).map_err(|e| bad(e.to_string()))?
            }
            None => Self::from_shapes(ck).ok_or_else(|| {
                bad(
                    "no 'cfg' and the tensors do not tell the sizes (not a BEATs checkpoint?)"
                        .into(),
                )
            })?,
        };
        c.validate().map_err(bad)?;
        Ok(c)
    }

    fn from_shapes(ck: &Checkpoint) -> Option<Self> {
        let patch = ck.shape("patch_embedding.weight")?;
        let width = ck.shape("encoder.layer_norm.weight")?[0];
        let layers = (0..)
            .take_while(|i| {
                ck.shape(&format!("encoder.layers.{i}.fc1.weight"))
                    .is_some()
            })
            .count();
        let ffn = ck.shape("encoder.layers.0.fc1.weight")?[0];
        let rel = ck.shape("encoder.layers.0.self_attn.relative_attention_bias.weight");
        let heads = match rel {
            Some(s) => s[1],
            None => ck.shape("encoder.layers.0.self_attn.grep_a")?[1],
        };
        let pos = ck.shape("encoder.pos_conv.0.weight_v")?;
        Some(Self {
            input_patch_size: patch[2],
            embed_dim: patch[0],
            conv_bias: ck.shape("patch_embedding.bias").is_some(),
            encoder_layers: layers,
            encoder_embed_dim: width,
            encoder_ffn_embed_dim: ffn,
            encoder_attention_heads: heads,
            conv_pos: pos[2],
            conv_pos_groups: width / pos[1].max(1),
            relative_position_embedding: rel.is_some(),
            num_buckets: rel.map_or(320, |s| s[0]),
            gru_rel_pos: ck
                .shape("encoder.layers.0.self_attn.grep_linear.weight")
                .is_some(),
            ..Self::published()
        })
    }

    fn validate(&self) -> Result<(), String> {
        let positive = [
            ("input_patch_size", self.input_patch_size),
            ("embed_dim", self.embed_dim),
            ("encoder_layers", self.encoder_layers),
            ("encoder_embed_dim", self.encoder_embed_dim),
            ("encoder_ffn_embed_dim", self.encoder_ffn_embed_dim),
            ("encoder_attention_heads", self.encoder_attention_heads),
            ("conv_pos", self.conv_pos),
            ("conv_pos_groups", self.conv_pos_groups),
        ];
        for (k, v) in positive {
            if v == 0 || v > 1 << 16 {
                return Err(format!("{k} = {v} is out of range"));
            }
        }
        if !self
            .encoder_embed_dim
            .is_multiple_of(self.encoder_attention_heads)
        {
            return Err(format!(
                "encoder_embed_dim {} is not a multiple of encoder_attention_heads {}",
                self.encoder_embed_dim, self.encoder_attention_heads
            ));
        }
        if !self.encoder_embed_dim.is_multiple_of(self.conv_pos_groups) {
            return Err(format!(
                "encoder_embed_dim {} is not a multiple of conv_pos_groups {}",
                self.encoder_embed_dim, self.conv_pos_groups
            ));
        }
        if !128usize.is_multiple_of(self.input_patch_size) {
            return Err(format!(
                "input_patch_size {} does not divide the 128 mel bins",
                self.input_patch_size
            ));
        }
        if self.activation_fn != "gelu" {
            return Err(format!(
                "activation_fn '{}' (only gelu, the published checkpoints', is implemented)",
                self.activation_fn
            ));
        }
        if self.layer_norm_first {
            return Err(
                "layer_norm_first = true (only the published post-LayerNorm layers are implemented)"
                    .into(),
            );
        }
        if self.relative_position_embedding && (self.num_buckets < 4 || self.max_distance < 2) {
            return Err("num_buckets or max_distance too small".into());
        }
        Ok(())
    }

    fn head_dim(&self) -> usize {
        self.encoder_embed_dim / self.encoder_attention_heads
    }

    /// Frequency patches per time step (8 for 128 mel bins and 16 × 16 patches).
    pub fn freq_patches(&self) -> usize {
        128 / self.input_patch_size
    }
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Linear {
    /// (out, in) row-major, as PyTorch stores it.
    w: Vec<f32>,
    b: Option<Vec<f32>>,
    out: usize,
    inp: usize,
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    /// grep_linear (8 × head_dim) and grep_a (one per head), with the gated relative bias.
    gate: Option<(Linear, Vec<f32>)>,
    attn_norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    final_norm: LayerNorm,
}

/// A loaded BEATs model.
pub struct Beats {
    pub cfg: BeatsConfig,
    patch: Linear,
    patch_norm: LayerNorm,
    proj: Option<Linear>,
    /// The position convolution's weight, weight norm folded: (width, width / groups, kernel).
    pos_w: Vec<f32>,
    pos_b: Vec<f32>,
    enc_norm: LayerNorm,
    /// Relative position table (buckets × heads), layer 0's.
    rel_table: Option<Vec<f32>>,
    layers: Vec<Layer>,
    fbank: KaldiFbank,
}

/// What one forward pass gives for one clip.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Patches (after the patch embedding, LayerNorm and projection): tokens × width.
    pub patches: Vec<f32>,
    /// `layers[0]` is the first layer's input, `layers[i]` layer i's output (tokens × width each).
    pub layers: Vec<Vec<f32>>,
    pub tokens: usize,
    pub width: usize,
}

/// How a clip's tokens become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
    /// MERL's `BEATs-raw`: the mean over time per frequency patch, frequency-major (8 × width).
    #[default]
    FreqPatchMean,
    /// The mean over every token (width values).
    Mean,
}

impl std::str::FromStr for Pooling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "freq-patch-mean" | "merl" => Ok(Self::FreqPatchMean),
            "mean" => Ok(Self::Mean),
            _ => Err(format!(
                "pooling '{s}': expected freq-patch-mean (MERL's) or mean"
            )),
        }
    }
}

impl Pooling {
    pub fn name(self) -> &'static str {
        match self {
            Self::FreqPatchMean => "freq-patch-mean",
            Self::Mean => "mean",
        }
    }
}

fn linear(
    ck: &Checkpoint,
    name: &str,
    out: usize,
    inp: usize,
    bias: bool,
) -> Result<Linear, FrontendError> {
    let w = ck.take(&format!("{name}.weight"), &[out, inp])?.to_vec();
    let b = if bias {
        Some(ck.take(&format!("{name}.bias"), &[out])?.to_vec())
    } else {
        None
    };
    Ok(Linear { w, b, out, inp })
}

fn layer_norm(ck: &Checkpoint, name: &str, n: usize) -> Result<LayerNorm, FrontendError> {
    Ok(LayerNorm {
        gamma: ck.take(&format!("{name}.weight"), &[n])?.to_vec(),
        beta: ck.take(&format!("{name}.bias"), &[n])?.to_vec(),
    })
}

impl Beats {
    /// Loads a checkpoint (`.pt` as published, or safetensors with the same names).
    pub fn load(path: &Path) -> Result<Self, FrontendError> {
        Self::from_checkpoint(&Checkpoint::read(path)?)
    }

    pub fn from_checkpoint(ck: &Checkpoint) -> Result<Self, FrontendError> {
        let cfg = BeatsConfig::of(ck)?;
        let (e, c, ps) = (cfg.embed_dim, cfg.encoder_embed_dim, cfg.input_patch_size);
        let patch = Linear {
            w: ck.take("patch_embedding.weight", &[e, 1, ps, ps])?.to_vec(),
            b: if cfg.conv_bias {
                Some(ck.take("patch_embedding.bias", &[e])?.to_vec())
            } else {
                None
            },
            out: e,
            inp: ps * ps,
        };
        let proj = if e != c {
            Some(linear(ck, "post_extract_proj", c, e, true)?)
        } else {
            None
        };
        let (g, k) = (cfg.conv_pos_groups, cfg.conv_pos);
        let cg = c / g;
        let v = ck.take("encoder.pos_conv.0.weight_v", &[c, cg, k])?;
        let gn = ck.take("encoder.pos_conv.0.weight_g", &[1, 1, k])?;
        // Weight norm over every axis but the last: w[:, :, j] = g[j] · v[:, :, j] / ‖v[:, :, j]‖.
        let mut norms = vec![0.0f64; k];
        for (i, &x) in v.iter().enumerate() {
            norms[i % k] += f64::from(x) * f64::from(x);
        }
        let pos_w = v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let j = i % k;
                (f64::from(gn[j]) * f64::from(x) / norms[j].sqrt()) as f32
            })
            .collect();
        let pos_b = ck.take("encoder.pos_conv.0.bias", &[c])?.to_vec();
        let hd = cfg.head_dim();
        let rel_table = if cfg.relative_position_embedding {
            Some(
                ck.take(
                    "encoder.layers.0.self_attn.relative_attention_bias.weight",
                    &[cfg.num_buckets, cfg.encoder_attention_heads],
                )?
                .to_vec(),
            )
        } else {
            None
        };
        let mut layers = Vec::with_capacity(cfg.encoder_layers);
        for i in 0..cfg.encoder_layers {
            let p = format!("encoder.layers.{i}");
            let a = format!("{p}.self_attn");
            let gate = if cfg.relative_position_embedding && cfg.gru_rel_pos {
                Some((
                    linear(ck, &format!("{a}.grep_linear"), 8, hd, true)?,
                    ck.take(
                        &format!("{a}.grep_a"),
                        &[1, cfg.encoder_attention_heads, 1, 1],
                    )?
                    .to_vec(),
                ))
            } else {
                None
            };
            layers.push(Layer {
                q: linear(ck, &format!("{a}.q_proj"), c, c, true)?,
                k: linear(ck, &format!("{a}.k_proj"), c, c, true)?,
                v: linear(ck, &format!("{a}.v_proj"), c, c, true)?,
                out: linear(ck, &format!("{a}.out_proj"), c, c, true)?,
                gate,
                attn_norm: layer_norm(ck, &format!("{p}.self_attn_layer_norm"), c)?,
                fc1: linear(ck, &format!("{p}.fc1"), cfg.encoder_ffn_embed_dim, c, true)?,
                fc2: linear(ck, &format!("{p}.fc2"), c, cfg.encoder_ffn_embed_dim, true)?,
                final_norm: layer_norm(ck, &format!("{p}.final_layer_norm"), c)?,
            });
        }
        Ok(Self {
            patch,
            patch_norm: layer_norm(ck, "layer_norm", e)?,
            proj,
            pos_w,
            pos_b,
            enc_norm: layer_norm(ck, "encoder.layer_norm", c)?,
            rel_table,
            layers,
            fbank: KaldiFbank::beats(),
            cfg,
        })
    }

    /// Samples of the shortest clip that makes one time step of patches.
    pub fn min_samples(&self) -> usize {
        self.fbank.samples_for(self.cfg.input_patch_size)
    }

    /// BEATs' input of a 16 kHz wave in [-1, 1]: the normalised filter bank (frames × 128).
    pub fn preprocess(&self, wave: &[f32]) -> ndarray::Array2<f32> {
        self.fbank
            .compute_scaled(wave, 32768.0)
            .mapv(|v| (v - FBANK_MEAN) / (2.0 * FBANK_STD))
    }

    /// The forward pass of one 16 kHz clip; an error for a clip shorter than one patch in time.
    pub fn forward(&self, wave: &[f32], keep_layers: bool) -> Result<Forward, FrontendError> {
        if wave.len() < self.min_samples() {
            return Err(FrontendError::Input(format!(
                "a clip of {} samples is shorter than one BEATs patch ({} filter-bank frames: {} samples, {:.3} s at 16 kHz)",
                wave.len(),
                self.cfg.input_patch_size,
                self.min_samples(),
                self.min_samples() as f64 / f64::from(BEATS_RATE)
            )));
        }
        if let Some(i) = wave.iter().position(|v| !v.is_finite()) {
            return Err(FrontendError::Input(format!(
                "sample {i} is {} (NaN or infinite)",
                wave[i]
            )));
        }
        let fb = self.preprocess(wave);
        Ok(self.forward_fbank(&fb, keep_layers))
    }

    /// The forward pass from a normalised filter bank (frames × 128, at least one patch of frames).
    pub fn forward_fbank(&self, fb: &ndarray::Array2<f32>, keep_layers: bool) -> Forward {
        let cfg = &self.cfg;
        let ps = cfg.input_patch_size;
        let fp = cfg.freq_patches();
        let tp = fb.nrows() / ps;
        let n = tp * fp;
        // Patches as rows (token t·fp + f), each ps × ps values row-major like the conv weight.
        let mut rows = vec![0.0f32; n * ps * ps];
        for t in 0..tp {
            for f in 0..fp {
                let r = &mut rows[(t * fp + f) * ps * ps..][..ps * ps];
                for i in 0..ps {
                    for j in 0..ps {
                        r[i * ps + j] = fb[[t * ps + i, f * ps + j]];
                    }
                }
            }
        }
        let mut x = apply(&self.patch, &rows, n);
        norm_rows(&mut x, &self.patch_norm);
        if let Some(p) = &self.proj {
            x = apply(p, &x, n);
        }
        let patches = x.clone();
        let c = cfg.encoder_embed_dim;
        let conv = self.pos_conv(&x, n);
        for (xi, ci) in x.iter_mut().zip(&conv) {
            *xi += gelu(*ci);
        }
        norm_rows(&mut x, &self.enc_norm);
        let mut layers = Vec::new();
        if keep_layers {
            layers.push(x.clone());
        }
        let bias = self.rel_table.as_ref().map(|t| self.position_bias(t, n));
        let alpha = if cfg.deep_norm {
            (2.0 * cfg.encoder_layers as f64).powf(0.25) as f32
        } else {
            1.0
        };
        for layer in &self.layers {
            x = self.layer(layer, x, n, bias.as_deref(), alpha);
            if keep_layers {
                layers.push(x.clone());
            }
        }
        if !keep_layers {
            layers.push(x);
        }
        Forward {
            patches,
            layers,
            tokens: n,
            width: c,
        }
    }

    /// The grouped position convolution (kernel k, padding k/2, the last output dropped for an
    /// even kernel) as one GEMM per group over time-shifted copies of the group's channels.
    fn pos_conv(&self, x: &[f32], n: usize) -> Vec<f32> {
        let c = self.cfg.encoder_embed_dim;
        let g = self.cfg.conv_pos_groups;
        let k = self.cfg.conv_pos;
        let cg = c / g;
        let pad = k / 2;
        let mut out = vec![0.0f32; n * c];
        for row in out.chunks_mut(c) {
            row.copy_from_slice(&self.pos_b);
        }
        let group_out: Vec<Vec<f32>> = (0..g)
            .into_par_iter()
            .map(|gi| {
                // cols[t, ci·k + j] = x[t + j − pad, gi·cg + ci] (zero outside).
                let mut cols = vec![0.0f32; n * cg * k];
                for t in 0..n {
                    let row = &mut cols[t * cg * k..][..cg * k];
                    for j in 0..k {
                        let src = t as isize + j as isize - pad as isize;
                        if src < 0 || src >= n as isize {
                            continue;
                        }
                        let xr = &x[src as usize * c + gi * cg..][..cg];
                        for (ci, &v) in xr.iter().enumerate() {
                            row[ci * k + j] = v;
                        }
                    }
                }
                let w = &self.pos_w[gi * cg * cg * k..][..cg * cg * k];
                let mut y = vec![0.0f32; n * cg];
                sgemm(
                    Mat::new(&cols, n, cg * k, (cg * k) as isize, 1),
                    Mat::new(w, cg * k, cg, 1, (cg * k) as isize),
                    0.0,
                    MatMut::new(&mut y, n, cg, cg as isize),
                );
                y
            })
            .collect();
        for (gi, y) in group_out.iter().enumerate() {
            for t in 0..n {
                let o = &mut out[t * c + gi * cg..][..cg];
                for (a, b) in o.iter_mut().zip(&y[t * cg..][..cg]) {
                    *a += b;
                }
            }
        }
        out
    }

    /// The relative position bias (heads × n × n) from the table, bucketed as the reference does.
    fn position_bias(&self, table: &[f32], n: usize) -> Vec<f32> {
        let h = self.cfg.encoder_attention_heads;
        let buckets: Vec<usize> = (0..2 * n - 1)
            .map(|d| {
                bucket(
                    d as i64 - (n as i64 - 1),
                    self.cfg.num_buckets,
                    self.cfg.max_distance,
                )
            })
            .collect();
        let mut out = vec![0.0f32; h * n * n];
        out.par_chunks_mut(n * n)
            .enumerate()
            .for_each(|(hi, plane)| {
                for i in 0..n {
                    for j in 0..n {
                        let b = buckets[j + n - 1 - i];
                        plane[i * n + j] = table[b * h + hi];
                    }
                }
            });
        out
    }

    fn layer(
        &self,
        l: &Layer,
        x: Vec<f32>,
        n: usize,
        bias: Option<&[f32]>,
        alpha: f32,
    ) -> Vec<f32> {
        let attn = self.attention(l, &x, n, bias);
        let mut y: Vec<f32> = x.iter().zip(&attn).map(|(r, a)| r * alpha + a).collect();
        norm_rows(&mut y, &l.attn_norm);
        let mut h = apply(&l.fc1, &y, n);
        h.par_iter_mut().for_each(|v| *v = gelu(*v));
        let f = apply(&l.fc2, &h, n);
        let mut z: Vec<f32> = y.iter().zip(&f).map(|(r, a)| r * alpha + a).collect();
        norm_rows(&mut z, &l.final_norm);
        z
    }

    fn attention(&self, l: &Layer, x: &[f32], n: usize, bias: Option<&[f32]>) -> Vec<f32> {
        let c = self.cfg.encoder_embed_dim;
        let heads = self.cfg.encoder_attention_heads;
        let hd = self.cfg.head_dim();
        const ALPHA: f32 = 32.0;
        let scaling = (hd as f32).powf(-0.5);
        let q_raw = apply(&l.q, x, n);
        let k = apply(&l.k, x, n);
        let v = apply(&l.v, x, n);
        // The reference scales q by head_dim^-½ and by 1/32, subtracts each row's maximum from the
        // scores and multiplies them by 32 again (numerical range), in that order.
        let q: Vec<f32> = q_raw.iter().map(|&a| a * scaling * (1.0 / ALPHA)).collect();
        let per_head: Vec<Vec<f32>> = (0..heads)
            .into_par_iter()
            .map(|hi| {
                let mut s = vec![0.0f32; n * n];
                sgemm(
                    Mat::new(&q[hi * hd..], n, hd, c as isize, 1),
                    Mat::new(&k[hi * hd..], hd, n, 1, c as isize),
                    0.0,
                    MatMut::new(&mut s, n, n, n as isize),
                );
                // The gate of each query row: from the unscaled query (q · 32 / scaling, as the
                // reference recovers it), 8 outputs summed in two groups of 4.
                let gates: Option<Vec<f32>> = l.gate.as_ref().map(|(lin, grep_a)| {
                    (0..n)
                        .map(|i| {
                            let qi: Vec<f32> = q[i * c + hi * hd..][..hd]
                                .iter()
                                .map(|&a| a * ALPHA / scaling)
                                .collect();
                            let mut o = [0.0f32; 8];
                            for (r, out) in o.iter_mut().enumerate() {
                                let w = &lin.w[r * hd..][..hd];
                                let b = lin.b.as_ref().map_or(0.0, |b| b[r]);
                                *out = w.iter().zip(&qi).map(|(a, b)| a * b).sum::<f32>() + b;
                            }
                            let ga = sigmoid(o[0] + o[1] + o[2] + o[3]);
                            let gb = sigmoid(o[4] + o[5] + o[6] + o[7]);
                            ga * (gb * grep_a[hi] - 1.0) + 2.0
                        })
                        .collect()
                });
                for i in 0..n {
                    let row = &mut s[i * n..][..n];
                    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    for v in row.iter_mut() {
                        *v = (*v - m) * ALPHA;
                    }
                    if let Some(b) = bias {
                        let br = &b[hi * n * n + i * n..][..n];
                        let g = gates.as_ref().map_or(1.0, |g| g[i]);
                        for (v, &bb) in row.iter_mut().zip(br) {
                            *v += g * bb;
                        }
                    }
                    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0f64;
                    for v in row.iter_mut() {
                        *v = (*v - m).exp();
                        sum += f64::from(*v);
                    }
                    let inv = (1.0 / sum) as f32;
                    for v in row.iter_mut() {
                        *v *= inv;
                    }
                }
                let mut o = vec![0.0f32; n * hd];
                sgemm(
                    Mat::new(&s, n, n, n as isize, 1),
                    Mat::new(&v[hi * hd..], n, hd, c as isize, 1),
                    0.0,
                    MatMut::new(&mut o, n, hd, hd as isize),
                );
                o
            })
            .collect();
        let mut cat = vec![0.0f32; n * c];
        for (hi, o) in per_head.iter().enumerate() {
            for i in 0..n {
                cat[i * c + hi * hd..][..hd].copy_from_slice(&o[i * hd..][..hd]);
            }
        }
        apply(&l.out, &cat, n)
    }

    /// One vector per clip: the last layer's tokens pooled.
    pub fn pool(&self, f: &Forward, layer: usize, pooling: Pooling) -> Vec<f32> {
        let x = &f.layers[layer.min(f.layers.len() - 1)];
        let c = f.width;
        match pooling {
            Pooling::Mean => {
                let mut out = vec![0.0f64; c];
                for row in x.chunks(c) {
                    for (o, &v) in out.iter_mut().zip(row) {
                        *o += f64::from(v);
                    }
                }
                out.iter().map(|&v| (v / f.tokens as f64) as f32).collect()
            }
            Pooling::FreqPatchMean => {
                let fp = self.cfg.freq_patches();
                let tp = f.tokens / fp;
                let mut out = vec![0.0f64; fp * c];
                for t in 0..tp {
                    for fi in 0..fp {
                        let row = &x[(t * fp + fi) * c..][..c];
                        for (o, &v) in out[fi * c..][..c].iter_mut().zip(row) {
                            *o += f64::from(v);
                        }
                    }
                }
                out.iter().map(|&v| (v / tp as f64) as f32).collect()
            }
        }
    }

    /// The length of a pooled vector.
    pub fn pooled_dim(&self, pooling: Pooling) -> usize {
        match pooling {
            Pooling::Mean => self.cfg.encoder_embed_dim,
            Pooling::FreqPatchMean => self.cfg.freq_patches() * self.cfg.encoder_embed_dim,
        }
    }

    /// Layers that can be taken: 0 (the first layer's input) to `encoder_layers`.
    pub fn layer_count(&self) -> usize {
        self.cfg.encoder_layers
    }

    /// Embeds one 16 kHz clip: the forward pass to `layer` (default the last) pooled.
    pub fn embed(
        &self,
        wave: &[f32],
        layer: Option<usize>,
        pooling: Pooling,
    ) -> Result<Vec<f32>, FrontendError> {
        let last = self.cfg.encoder_layers;
        let l = layer.unwrap_or(last);
        if l > last {
            return Err(FrontendError::Input(format!(
                "layer {l}: this model has layers 0 (the input of the first) to {last}"
            )));
        }
        let f = self.forward(wave, l != last)?;
        let idx = if l == last { f.layers.len() - 1 } else { l };
        Ok(self.pool(&f, idx, pooling))
    }
}

/// The reference's bidirectional bucket of a relative position (key − query), computed in float32 as
/// torch does.
pub fn bucket(rel: i64, num_buckets: usize, max_distance: usize) -> usize {
    let half = (num_buckets / 2) as i64;
    let mut b = if rel > 0 { half } else { 0 };
    let r = rel.abs();
    let max_exact = half / 2;
    if r < max_exact {
        b += r;
    } else {
        let ratio = (r as f32 / max_exact as f32).ln();
        let scale = ((max_distance as f64) / (max_exact as f64)).ln() as f32;
        let large = max_exact + (ratio / scale * (half - max_exact) as f32) as i64;
        b += large.min(half - 1);
    }
    b as usize
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// GELU with the error function, as torch's default.
fn gelu(x: f32) -> f32 {
    let x = f64::from(x);
    (0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))) as f32
}

/// y = x · Wᵀ + b for `n` rows, the rows split over the threads.
fn apply(l: &Linear, x: &[f32], n: usize) -> Vec<f32> {
    let (k, m) = (l.inp, l.out);
    let mut y = vec![0.0f32; n * m];
    let beta = match &l.b {
        Some(b) => {
            for row in y.chunks_mut(m) {
                row.copy_from_slice(b);
            }
            1.0
        }
        None => 0.0,
    };
    let threads = rayon::current_num_threads().max(1);
    let rows = n.div_ceil(threads).max(16);
    y.par_chunks_mut(rows * m)
        .zip(x.par_chunks(rows * k))
        .for_each(|(yc, xc)| {
            let r = yc.len() / m;
            sgemm(
                Mat::new(xc, r, k, k as isize, 1),
                Mat::new(&l.w, k, m, 1, k as isize),
                beta,
                MatMut::new(yc, r, m, m as isize),
            );
        });
    y
}

/// LayerNorm of every row (eps 1e-5), statistics in f64.
fn norm_rows(x: &mut [f32], ln: &LayerNorm) {
    let c = ln.gamma.len();
    x.par_chunks_mut(c).for_each(|row| {
        let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / c as f64;
        let var = row
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / c as f64;
        let inv = 1.0 / (var + LN_EPS).sqrt();
        for ((v, &g), &b) in row.iter_mut().zip(&ln.gamma).zip(&ln.beta) {
            *v = ((f64::from(*v) - mean) * inv) as f32 * g + b;
        }
    });
}
