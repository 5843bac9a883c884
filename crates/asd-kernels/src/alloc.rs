//! Allocator settings for the training process.

/// Training allocates and frees tensors of 1–80 MiB many times per step. glibc serves each from a
/// fresh mapping and unmaps it on free, so every step paid page faults and cross-core TLB
/// shootdowns (3–4 s of system time per 5 training steps). Keeping freed memory in the heap cut the
/// system time by three quarters and the step time by ~12 % (docs/design.md, "Network"). Call it
/// first thing in `main`, before any other thread exists.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_memory() {
    // SAFETY: mallopt only sets allocator parameters; the caller runs it before other threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

/// Other platforms keep their allocator's defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory() {}
