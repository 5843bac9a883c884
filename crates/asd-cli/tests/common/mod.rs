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
pub mod browser;
pub mod service;
