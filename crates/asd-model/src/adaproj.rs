//! AdaProj (Wilkinghoff 2024): each class owns a sub-space spanned by `J` learnt directions; a clip's
//! logit for a class is the cosine between its embedding and the embedding's projection onto that
//! sub-space. Logits are scaled with the adaptive AdaCos scale and trained with cross-entropy on soft
//! (mixup) labels.

use crate::error::ModelError;
use crate::params::ParamSource;
use burn::module::{Module, Param};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};

/// Sub-space dimension of the paper.
pub const SUBSPACE_DIM: usize = 32;

#[derive(Module, Debug)]
pub struct AdaProj {
    /// Raw class bases (C, J, D); rows are normalised in the forward pass.
    pub w: Param<Tensor<3>>,
}

/// Initial adaptive scale, as AdaCos: max(√2 · ln(C − 1), 0.5).
pub fn initial_scale(classes: usize) -> f64 {
    let c = classes.max(2) as f64;
    (2f64.sqrt() * (c - 1.0).ln()).max(0.5)
}

impl AdaProj {
    /// Xavier-uniform bases (as the reference initialises them); `trainable` = false keeps the class
    /// centres fixed (the paper's default).
    pub fn new(
        src: &mut dyn ParamSource,
        name: &str,
        classes: usize,
        dim: usize,
        trainable: bool,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let shape = [classes, SUBSPACE_DIM, dim];
        let fan_in = SUBSPACE_DIM * dim;
        let fan_out = classes * dim;
        // Uniform with bound √(6 / (fan_in + fan_out)); FanIn(n) draws U(±1/√n), so pick n accordingly.
        let n = ((fan_in + fan_out) as f64 / 6.0).round().max(1.0) as usize;
        let v = src.take(name, &shape, crate::params::Init::FanIn(n))?;
        let t = Tensor::from_data(TensorData::new(v, shape), device);
        let p = Param::from_tensor(t);
        Ok(Self {
            w: if trainable {
                p
            } else {
                p.set_require_grad(false)
            },
        })
    }

    pub fn classes(&self) -> usize {
        self.w.dims()[0]
    }

    /// Cosine logits (B, C) of embeddings `x` (B, D), which need not be normalised.
    pub fn cos_logits(&self, x: Tensor<2>) -> Tensor<2> {
        let [c, j, d] = self.w.dims();
        let [b, _] = x.dims();
        let xn = crate::network::l2_normalize(x);
        let w = self.w.val();
        let wn = w.clone() / w.powi_scalar(2).sum_dim(2).sqrt().clamp_min(1e-12);
        // a[b, c, j] = ⟨x̂_b, ŵ_cj⟩
        let a = xn
            .matmul(wn.clone().reshape([c * j, d]).transpose())
            .reshape([b, c, j]);
        // ⟨x̂, P⟩ = Σ_j a², ‖P‖² = aᵀ G a with G_c = Ŵ_c Ŵ_cᵀ (J × J): cheaper than forming P (B, C, D).
        let gram = wn.clone().matmul(wn.swap_dims(1, 2)); // (C, J, J)
        let a_c = a.clone().swap_dims(0, 1); // (C, B, J)
        let ag = a_c.clone().matmul(gram); // (C, B, J)
        let norm_p = (ag * a_c)
            .sum_dim(2)
            .reshape([c, b])
            .swap_dims(0, 1)
            .clamp_min(1e-24)
            .sqrt();
        let dot = a.powi_scalar(2).sum_dim(2).reshape([b, c]);
        dot / norm_p
    }
}

/// The AdaCos scale update from one batch (host values, row-major B × C): with m = max(s·cos),
/// B_avg = mean_b Σ_c exp((label < 1 ? s·cos : 0) − m), θ_med = lower median over the batch of
/// Σ_c label·acos(cos), and s_new = (m + ln B_avg) / cos(min(π/4, θ_med)).
pub fn updated_scale(cos: &[f32], labels: &[f32], classes: usize, s: f64) -> f64 {
    let rows = cos.len() / classes.max(1);
    if rows == 0 {
        return s;
    }
    let m = cos
        .iter()
        .map(|&c| s * f64::from(c))
        .fold(f64::NEG_INFINITY, f64::max);
    let mut b_sum = 0.0;
    let mut thetas = Vec::with_capacity(rows);
    for r in 0..rows {
        let (cr, lr) = (
            &cos[r * classes..(r + 1) * classes],
            &labels[r * classes..(r + 1) * classes],
        );
        b_sum += cr
            .iter()
            .zip(lr)
            .map(|(&c, &l)| {
                let v = if l < 1.0 { s * f64::from(c) } else { 0.0 };
                (v - m).exp()
            })
            .sum::<f64>();
        thetas.push(
            cr.iter()
                .zip(lr)
                .map(|(&c, &l)| f64::from(l) * f64::from(c.clamp(-1.0, 1.0)).acos())
                .sum::<f64>(),
        );
    }
    let b_avg = b_sum / rows as f64;
    thetas.sort_by(f64::total_cmp);
    // torch.median returns the lower of the two middle values.
    let med = thetas[(rows - 1) / 2];
    (m + b_avg.ln()) / med.min(std::f64::consts::FRAC_PI_4).cos()
}

/// Mean over the batch of −Σ_c label_c · log_softmax(s · cos)_c.
pub fn soft_cross_entropy(cos: Tensor<2>, labels: Tensor<2>, s: f64) -> Tensor<1> {
    let lp = log_softmax(cos.mul_scalar(s), 1);
    (labels * lp).sum_dim(1).mean().neg()
}
