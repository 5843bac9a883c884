//! Checkpoints as published: a PyTorch `torch.save` file (a zip of pickles holding `cfg` and `model`)
//! read without Python through the burn project's `pytorch-reader`, or safetensors with the same
//! tensor names. Tensors become row-major f32 values with their shapes; every value is checked to be
//! finite.

use crate::error::FrontendError;
use pytorch_reader::{DType, PickleValue, PytorchReader};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One tensor: its shape and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// The tensors of a checkpoint by name, and its configuration where the file carries one.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub path: PathBuf,
    pub tensors: BTreeMap<String, HostTensor>,
    /// The `cfg` entry of a PyTorch checkpoint, or the JSON under the `cfg` metadata key of a
    /// safetensors file, as a name → value map.
    pub cfg: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Checkpoint {
    /// Reads a PyTorch checkpoint (`.pt`, `.pth`, `.ckpt`: anything that is not safetensors) or a
    /// safetensors file, told apart by their contents.
    pub fn read(path: &Path) -> Result<Self, FrontendError> {
        let mut head = [0u8; 9];
        let n = {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(|e| io(path, e))?;
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) => return Err(io(path, e)),
                }
            }
            n
        };
        if n < 4 {
            return Err(bad(path, "too short to be a checkpoint"));
        }
        if head.starts_with(b"PK") {
            Self::read_torch(path)
        } else if n == 9 && head[8] == b'{' {
            Self::read_safetensors(path)
        } else {
            Err(bad(
                path,
                "neither a PyTorch checkpoint (zip) nor safetensors",
            ))
        }
    }

    fn read_torch(path: &Path) -> Result<Self, FrontendError> {
        let reader = PytorchReader::with_top_level_key(path, "model")
            .map_err(|e| bad(path, &format!("reading the 'model' entry: {e}")))?;
        let mut tensors = BTreeMap::new();
        for (name, t) in reader.tensors() {
            let bytes = t
                .read()
                .map_err(|e| bad(path, &format!("tensor {name}: {e}")))?;
            let values = to_f32(path, name, t.dtype(), &bytes)?;
            tensors.insert(
                name.clone(),
                checked(path, name, t.shape().to_vec(), values)?,
            );
        }
        let cfg = match PytorchReader::read_pickle_data(path, Some("cfg")) {
            Ok(PickleValue::Dict(d)) => Some(to_json_map(d)),
            Ok(_) => return Err(bad(path, "its 'cfg' entry is not a dictionary")),
            Err(e) => return Err(bad(path, &format!("reading the 'cfg' entry: {e}"))),
        };
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            cfg,
        })
    }

    fn read_safetensors(path: &Path) -> Result<Self, FrontendError> {
        let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(path, &format!("not a valid safetensors file: {e}")))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(path, &format!("not a valid safetensors file: {e}")))?;
        let cfg = match meta.metadata().as_ref().and_then(|m| m.get("cfg")) {
            None => None,
            Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(m)) => Some(m),
                _ => return Err(bad(path, "its 'cfg' metadata is not a JSON object")),
            },
        };
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let dtype = match view.dtype() {
                safetensors::Dtype::F32 => DType::F32,
                safetensors::Dtype::F64 => DType::F64,
                d => {
                    return Err(FrontendError::Tensor {
                        path: path.to_path_buf(),
                        name,
                        problem: format!("dtype {d:?} (float32 or float64 expected)"),
                    });
                }
            };
            let values = to_f32(path, &name, dtype, view.data())?;
            let t = checked(path, &name, view.shape().to_vec(), values)?;
            tensors.insert(name, t);
        }
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            cfg,
        })
    }

    /// A tensor that must exist with this shape.
    pub fn take(&self, name: &str, shape: &[usize]) -> Result<&[f32], FrontendError> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| FrontendError::Tensor {
                path: self.path.clone(),
                name: name.to_string(),
                problem: "missing".into(),
            })?;
        if t.shape != shape {
            return Err(FrontendError::Tensor {
                path: self.path.clone(),
                name: name.to_string(),
                problem: format!(
                    "shape {:?} where the configuration gives {shape:?}",
                    t.shape
                ),
            });
        }
        Ok(&t.values)
    }

    /// The shape of a tensor, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| &t.shape[..])
    }
}

fn io(path: &Path, source: std::io::Error) -> FrontendError {
    FrontendError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn bad(path: &Path, problem: &str) -> FrontendError {
    FrontendError::Checkpoint {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    }
}

fn to_f32(path: &Path, name: &str, dtype: DType, bytes: &[u8]) -> Result<Vec<f32>, FrontendError> {
    match dtype {
        DType::F32 => Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        DType::F64 => Ok(bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect()),
        d => Err(FrontendError::Tensor {
            path: path.to_path_buf(),
            name: name.to_string(),
            problem: format!("dtype {d:?} (float32 or float64 expected)"),
        }),
    }
}

fn checked(
    path: &Path,
    name: &str,
    shape: Vec<usize>,
    values: Vec<f32>,
) -> Result<HostTensor, FrontendError> {
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    if n != values.len() {
        return Err(FrontendError::Tensor {
            path: path.to_path_buf(),
            name: name.to_string(),
            problem: format!("shape {shape:?} but {} values", values.len()),
        });
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(FrontendError::Tensor {
            path: path.to_path_buf(),
            name: name.to_string(),
            problem: format!("value {i} is {} (NaN or infinite)", values[i]),
        });
    }
    Ok(HostTensor { shape, values })
}

fn to_json(v: PickleValue) -> serde_json::Value {
    use serde_json::Value;
    match v {
        PickleValue::None => Value::Null,
        PickleValue::Bool(b) => Value::Bool(b),
        PickleValue::Int(i) => Value::from(i),
        PickleValue::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        PickleValue::String(s) => Value::String(s),
        PickleValue::List(l) => Value::Array(l.into_iter().map(to_json).collect()),
        PickleValue::Dict(d) => Value::Object(to_json_map(d)),
        PickleValue::Bytes(_) => Value::String("<bytes>".into()),
        PickleValue::Unsupported(t) => Value::String(format!("<{t}>")),
    }
}

fn to_json_map(d: HashMap<String, PickleValue>) -> serde_json::Map<String, serde_json::Value> {
    d.into_iter().map(|(k, v)| (k, to_json(v))).collect()
}
