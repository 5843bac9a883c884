//! Which SGEMM backend a machine runs, chosen by measuring both on the products this workspace
//! computes, once per CPU, and kept in a small cache file so that every later process (and so every
//! later run) uses the same one.
//!
//! No constant decides it: on the CPUs measured so far the faster backend differed (faer-gemm on
//! AMD Zen 3 and 4, matrixmultiply's AVX-512 kernels on an Intel Xeon; docs/benchmarks.md). A
//! measurement takes about 0.1–0.3 s. The cache file is `ASD_GEMM_CACHE` if set (`off`: measure in
//! every process, write nothing), else `$XDG_CACHE_HOME/asd/sgemm-choice.json`, else
//! `$HOME/.cache/asd/sgemm-choice.json`; it maps a machine key (CPU model, family, model number,
//! stepping, vector extensions, thread count, this crate's version and build features) to the
//! choice and the times it was made from. `ASD_GEMM` overrides all of it.

use super::{Backend, Mat, MatMut, sgemm_with};
use crate::testing::values;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The products timed, (m, k, n), each C = A · B on contiguous matrices: the FFT branch's first
/// and second lowered convolutions (batch 1) and a scoring tile (references × queries).
pub const SHAPES: [(usize, usize, usize); 3] =
    [(128, 256, 1248), (128, 8192, 296), (256, 512, 1024)];

/// Rounds per backend, alternating; each shape's best round counts.
const ROUNDS: usize = 3;

/// What one measurement found: each backend's seconds for one pass over [`SHAPES`] (best round
/// per shape, summed), and the faster backend.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub seconds: Vec<(Backend, f64)>,
    pub chosen: Backend,
}

/// Times every backend on [`SHAPES`] in this thread, in alternating rounds.
pub fn measure() -> Measurement {
    let inputs: Vec<(Vec<f32>, Vec<f32>)> = SHAPES
        .iter()
        .map(|&(m, k, n)| (values(m * k, 1), values(k * n, 2)))
        .collect();
    let mut best = vec![[Duration::MAX; SHAPES.len()]; Backend::ALL.len()];
    let mut out = Vec::new();
    for round in 0..=ROUNDS {
        for (bi, &backend) in Backend::ALL.iter().enumerate() {
            for (si, (&(m, k, n), (a, b))) in SHAPES.iter().zip(&inputs).enumerate() {
                out.resize(m * n, 0.0);
                let t = Instant::now();
                sgemm_with(
                    backend,
                    Mat::new(a, m, k, k as isize, 1),
                    Mat::new(b, k, n, n as isize, 1),
                    0.0,
                    MatMut::new(&mut out, m, n, n as isize),
                );
                // Round 0 warms caches and the kernels' first-call set-up.
                if round > 0 {
                    best[bi][si] = best[bi][si].min(t.elapsed());
                }
            }
        }
    }
    let seconds: Vec<(Backend, f64)> = Backend::ALL
        .iter()
        .zip(&best)
        .map(|(&b, times)| (b, times.iter().map(Duration::as_secs_f64).sum()))
        .collect();
    let chosen = seconds
        .iter()
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map_or(Backend::Faer, |&(b, _)| b);
    Measurement { seconds, chosen }
}

/// This machine's key in the cache file.
pub fn machine_key() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map_or("?", |(_, v)| v.trim())
            .to_string()
    };
    format!(
        "{} | family {} model {} stepping {} | asd-kernels {}{}",
        asd_core::host::describe(),
        field("cpu family"),
        field("model"),
        field("stepping"),
        env!("CARGO_PKG_VERSION"),
        if cfg!(feature = "x86-v4") {
            " x86-v4"
        } else {
            ""
        }
    )
}

/// The cache file, or None where `ASD_GEMM_CACHE=off` or no home folder is known.
pub fn cache_path() -> Option<PathBuf> {
    match std::env::var_os("ASD_GEMM_CACHE") {
        Some(v) if v == "off" => None,
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("asd").join("sgemm-choice.json")),
    }
}

/// The backend recorded for `key` in the cache file's text, if any.
pub fn cached(text: &str, key: &str) -> Option<Backend> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let name = v.get(key)?.get("backend")?.as_str()?;
    Backend::ALL.into_iter().find(|b| b.name() == name)
}

/// The cache file's text with `key` set to the measurement (other machines' entries kept; text
/// that is not a JSON object is replaced).
pub fn with_entry(text: &str, key: &str, m: &Measurement) -> String {
    let mut v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).unwrap_or_default();
    let seconds: serde_json::Map<String, serde_json::Value> = m
        .seconds
        .iter()
        .map(|(b, s)| (b.name().to_string(), (*s).into()))
        .collect();
    v.insert(
        key.to_string(),
        serde_json::json!({ "backend": m.chosen.name(), "seconds": seconds }),
    );
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// The backend for this process: from the cache file where it has this machine, else measured and
/// recorded there (a failure to write is logged, never fatal).
pub fn choose() -> Backend {
    let key = machine_key();
    let path = cache_path();
    let text = path
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    if let Some(b) = cached(&text, &key) {
        return b;
    }
    let m = measure();
    tracing::info!(
        "SGEMM backend {} chosen by measurement: {}",
        m.chosen.name(),
        m.seconds
            .iter()
            .map(|(b, s)| format!("{} {:.1} ms", b.name(), s * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(p) = path {
        let write = p
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                asd_core::atomic::write_bytes(&p, with_entry(&text, &key, &m).as_bytes())
            });
        if let Err(e) = write {
            tracing::warn!("could not record the SGEMM choice in {}: {e}", p.display());
        }
    }
    m.chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurement_times_every_backend_and_picks_the_fastest() {
        let m = measure();
        assert_eq!(m.seconds.len(), Backend::ALL.len());
        assert!(m.seconds.iter().all(|&(_, s)| s > 0.0 && s.is_finite()));
        let fastest = m.seconds.iter().map(|&(_, s)| s).fold(f64::MAX, f64::min);
        assert_eq!(
            m.seconds.iter().find(|&&(b, _)| b == m.chosen).unwrap().1,
            fastest
        );
    }

    #[test]
    fn the_cache_keeps_each_machine_and_survives_bad_text() {
        let m = |chosen| Measurement {
            seconds: vec![(Backend::Matrixmultiply, 0.2), (Backend::Faer, 0.1)],
            chosen,
        };
        let one = with_entry("", "cpu A", &m(Backend::Faer));
        let two = with_entry(&one, "cpu B", &m(Backend::Matrixmultiply));
        assert_eq!(cached(&two, "cpu A"), Some(Backend::Faer));
        assert_eq!(cached(&two, "cpu B"), Some(Backend::Matrixmultiply));
        assert_eq!(cached(&two, "cpu C"), None);
        // A damaged or foreign file is read as empty and rewritten whole.
        assert_eq!(cached("not json", "cpu A"), None);
        let fixed = with_entry("[1, 2]", "cpu A", &m(Backend::Faer));
        assert_eq!(cached(&fixed, "cpu A"), Some(Backend::Faer));
        // An unknown backend name (a later version's) is not taken.
        assert_eq!(cached(r#"{"cpu A": {"backend": "blis"}}"#, "cpu A"), None);
    }

    #[test]
    fn the_machine_key_names_the_cpu_and_the_build() {
        let key = machine_key();
        assert!(key.contains(&asd_core::host::describe()), "{key}");
        assert!(key.contains(env!("CARGO_PKG_VERSION")), "{key}");
    }
}
