//! Where a network's numbers come from: a safetensors state dict with the reference names, or a seeded
//! initialisation equal in distribution to PyTorch's defaults.

use crate::error::{ModelError, io_err};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::Path;

/// How a tensor is initialised when it is not loaded.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// U(−1/√fan_in, 1/√fan_in): PyTorch's default for conv and linear weights (kaiming_uniform, a = √5).
    FanIn(usize),
    Zeros,
    Ones,
}

/// A provider of named tensors (f32, row-major, PyTorch layouts).
pub trait ParamSource {
    fn take(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Vec<f32>, ModelError>;
}

/// Seeded initialisation: the same seed gives the same network.
pub struct SeededInit {
    rng: ChaCha8Rng,
}

impl SeededInit {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }
}

impl ParamSource for SeededInit {
    fn take(&mut self, _name: &str, shape: &[usize], init: Init) -> Result<Vec<f32>, ModelError> {
        let n: usize = shape.iter().product();
        Ok(match init {
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
            Init::FanIn(fan_in) => {
                let b = 1.0 / (fan_in.max(1) as f64).sqrt();
                (0..n)
                    .map(|_| self.rng.random_range(-b..b) as f32)
                    .collect()
            }
        })
    }
}

/// Tensors read from a safetensors file into memory.
#[derive(Debug, Default)]
pub struct TensorMap {
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exp = (bits >> 10) & 0x1f;
    let frac = u32::from(bits & 0x3ff);
    let v = match exp {
        0 => {
            let m = frac as f32 / 1024.0;
            return if sign != 0 {
                -m * 2f32.powi(-14)
            } else {
                m * 2f32.powi(-14)
            };
        }
        31 => sign | 0x7f80_0000 | (frac << 13),
        e => sign | ((u32::from(e) + 112) << 23) | (frac << 13),
    };
    f32::from_bits(v)
}

impl TensorMap {
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(io_err(path, asd_core::IoOp::Read))?;
        let map = Self::from_bytes(&bytes).map_err(|source| ModelError::SafetensorsFormat {
            path: path.to_path_buf(),
            source,
        })?;
        // A network with a NaN or infinite weight embeds every clip as NaN: refused here, by name.
        if let Some((name, (_, v))) = map
            .tensors
            .iter()
            .find(|(_, (_, v))| v.iter().any(|x| !x.is_finite()))
        {
            let bad = v.iter().filter(|x| !x.is_finite()).count();
            return Err(ModelError::Safetensors {
                path: path.to_path_buf(),
                reason: format!("tensor {name} holds {bad} value(s) that are not finite"),
            });
        }
        Ok(map)
    }

    /// Float tensors are converted to f32; integer tensors (BatchNorm counters) are skipped.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, safetensors::SafeTensorError> {
        let st = SafeTensors::deserialize(bytes)?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let d = view.data();
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => d
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                Dtype::F64 => d
                    .chunks_exact(8)
                    .map(|c| {
                        f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                    })
                    .collect(),
                Dtype::F16 => d
                    .chunks_exact(2)
                    .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                    .collect(),
                Dtype::BF16 => d
                    .chunks_exact(2)
                    .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
                    .collect(),
                _ => continue,
            };
            tensors.insert(name.to_string(), (view.shape().to_vec(), values));
        }
        Ok(Self { tensors })
    }

    /// Writes f32 tensors; `int_zero` names get an i64 zero scalar (PyTorch's `num_batches_tracked`),
    /// so that the file loads into the reference module with `strict=True`.
    pub fn to_bytes(&self, int_zero: &[String]) -> Result<Vec<u8>, String> {
        let mut raw: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(k, (s, v))| {
                (
                    k.clone(),
                    Dtype::F32,
                    s.clone(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            })
            .collect();
        for n in int_zero {
            raw.push((n.clone(), Dtype::I64, vec![], 0i64.to_le_bytes().to_vec()));
        }
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = raw
            .iter()
            .map(|(k, dt, s, b)| {
                safetensors::tensor::TensorView::new(*dt, s.clone(), b)
                    .map(|v| (k.clone(), v))
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        safetensors::serialize(views, None).map_err(|e| e.to_string())
    }
}

impl ParamSource for TensorMap {
    fn take(&mut self, name: &str, shape: &[usize], _init: Init) -> Result<Vec<f32>, ModelError> {
        let (s, v) = self
            .tensors
            .remove(name)
            .ok_or_else(|| ModelError::Missing(name.to_string()))?;
        if s != shape {
            return Err(ModelError::Shape {
                name: name.to_string(),
                got: s,
                want: shape.to_vec(),
            });
        }
        // A damaged file would otherwise embed every clip as NaN and let each command "succeed".
        let count = v.iter().filter(|x| !x.is_finite()).count();
        if count > 0 {
            return Err(ModelError::NotFinite {
                name: name.to_string(),
                count,
            });
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tensor_with_nan_is_refused_with_its_name() {
        let mut m = TensorMap::default();
        m.tensors.insert(
            "fft_branch.conv1.weight".into(),
            (vec![3], vec![0.5, f32::NAN, f32::INFINITY]),
        );
        m.tensors.insert("ok".into(), (vec![2], vec![0.5, -1.0]));
        assert_eq!(m.take("ok", &[2], Init::Zeros).unwrap(), vec![0.5, -1.0]);
        let e = m
            .take("fft_branch.conv1.weight", &[3], Init::Zeros)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("fft_branch.conv1.weight") && e.contains("2 NaN"),
            "{e}"
        );
    }
}
