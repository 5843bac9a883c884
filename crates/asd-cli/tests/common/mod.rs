//! Running the `asd` binary from the integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};

pub fn asd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asd"))
        .args(args)
        .output()
        .unwrap()
}

/// Asserts success (showing both streams otherwise) and returns stdout.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
/// The `tiny` synthetic data (seed 3) and a run configuration, in a temporary folder: the folder,
/// the data and the configuration file.
pub fn tiny_run(config: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&asd(&[
        "synth",
        "--preset",
        "tiny",
        "--seed",
        "3",
        "--out",
        data.to_str().unwrap(),
    ]));
    let cfg = tmp.path().join("run.toml");
    std::fs::write(&cfg, config).unwrap();
    (tmp, data, cfg)
}

pub mod browser;
pub mod mosquitto;
pub mod service;
