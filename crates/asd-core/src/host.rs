//! The host a benchmark or a run ran on (its CPU), named beside every figure (speed differs between
//! CPUs of one kind). Not a monitored machine: those are fans, pumps and valves everywhere else.

/// CPU model, widest vector extension, and the threads available, e.g.
/// "AMD EPYC (x86_64, AVX2, 2 threads)".
pub fn describe() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{model} ({}, {}, {threads} threads)",
        std::env::consts::ARCH,
        vector_isa()
    )
}

/// The widest SIMD extension the CPU offers.
pub fn vector_isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "AVX-512";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "AVX2";
        }
        "SSE2"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "NEON"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "scalar"
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_description_names_the_architecture_and_thread_count() {
        let d = super::describe();
        assert!(d.contains(std::env::consts::ARCH), "{d}");
        assert!(d.contains(super::vector_isa()), "{d}");
        assert!(d.ends_with("threads)"), "{d}");
    }
}
