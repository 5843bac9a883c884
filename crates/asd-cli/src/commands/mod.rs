pub mod bench;
pub mod dataset;
pub mod demo;
pub mod embed;
pub mod evaluate;
pub mod model;
pub mod monitor;
pub mod report;
pub mod run;
pub mod score;
pub mod synth;
pub mod train;

/// `--device`: parsed and checked against this build before anything else runs (a CUDA device in a
/// build without CUDA is a usage error at once, not after the dataset has been read).
pub fn device_arg(s: &str) -> Result<asd_model::DeviceChoice, String> {
    let d: asd_model::DeviceChoice = s
        .parse()
        .map_err(|e: asd_core::ParseValueError| e.to_string())?;
    d.device().map_err(|e| e.to_string())?;
    Ok(d)
}
