//! An embedding matrix as `.npy` bytes: a clear error or a matrix, never a huge allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((m, _)) = asd_core::npy::matrix_from_bytes(data) {
        // What it returns is backed by the bytes it was given.
        assert!(m.len() * 2 <= data.len());
    }
    let _ = asd_core::npy::check_header(data);
});
