//! The compute device: CPU (burn's flex backend) by default, an NVIDIA GPU with the `cuda` feature.

use crate::error::ModelError;
use asd_core::ParseValueError;
use burn::tensor::Device;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = ParseValueError;
    fn from_str(s: &str) -> Result<Self, ParseValueError> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| ParseValueError {
                    kind: "device",
                    value: s.to_string(),
                    expected: "cpu, cuda, cuda:N",
                }),
        }
    }
}

impl DeviceChoice {
    /// The inference device.
    pub fn device(self) -> Result<Device, ModelError> {
        match self {
            DeviceChoice::Cpu => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            DeviceChoice::Cuda(i) => Ok(Device::cuda(i)),
            #[cfg(not(feature = "cuda"))]
            DeviceChoice::Cuda(_) => Err(ModelError::Config(
                "this build has no CUDA support; rebuild with `--features cuda`".into(),
            )),
        }
    }
}
