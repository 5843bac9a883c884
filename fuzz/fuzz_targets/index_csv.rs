//! An embedding set's `index.csv`: rows or an error naming a line, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("index.csv");
    if let Ok(rows) = asd_core::embedding_set::read_index_from(data, path) {
        // No clip is listed twice.
        let mut keys: Vec<_> = rows.iter().map(|r| (&r.machine_type, &r.file)).collect();
        keys.sort();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
});
