//! The CPU's cache sizes, read once from Linux's sysfs, so that block sizes follow the machine
//! instead of constants tuned on one CPU.

use std::path::Path;
use std::sync::OnceLock;

/// What [`l2_bytes`] answers where the cache cannot be read (not Linux, no sysfs).
pub const DEFAULT_L2_BYTES: usize = 1 << 20;

/// Bytes of one core's level-2 cache (data or unified).
pub fn l2_bytes() -> usize {
    static L2: OnceLock<usize> = OnceLock::new();
    *L2.get_or_init(|| {
        read_level(Path::new("/sys/devices/system/cpu/cpu0/cache"), 2).unwrap_or(DEFAULT_L2_BYTES)
    })
}

/// The size of the data or unified cache of `level` described under a sysfs `cache` folder
/// (`index*/level`, `index*/type`, `index*/size`).
pub fn read_level(dir: &Path, level: u32) -> Option<usize> {
    let read = |p: &Path, f: &str| std::fs::read_to_string(p.join(f)).ok();
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("index"))
        })
        .find_map(|p| {
            let l: u32 = read(&p, "level")?.trim().parse().ok()?;
            let kind = read(&p, "type")?;
            if l != level || kind.trim() == "Instruction" {
                return None;
            }
            parse_size(&read(&p, "size")?)
        })
}

/// "1024K", "2M", "32768K\n", "512" (bytes) → bytes.
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: usize = digits.parse().ok()?;
    let scale = match unit.trim() {
        "" => 1,
        "K" | "KB" | "KiB" => 1 << 10,
        "M" | "MB" | "MiB" => 1 << 20,
        "G" | "GB" | "GiB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale).filter(|&b| b > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_their_units() {
        assert_eq!(parse_size("1024K\n"), Some(1 << 20));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("0K"), None);
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("3Q"), None);
    }

    #[test]
    fn the_level_2_data_or_unified_cache_is_found() {
        let tmp = std::env::temp_dir().join(format!("asd-cache-test-{}", std::process::id()));
        let entry = |i: usize, level: &str, kind: &str, size: &str| {
            let d = tmp.join(format!("index{i}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("level"), level).unwrap();
            std::fs::write(d.join("type"), kind).unwrap();
            std::fs::write(d.join("size"), size).unwrap();
        };
        entry(0, "1\n", "Data\n", "48K\n");
        entry(1, "2\n", "Instruction\n", "64K\n");
        entry(2, "2\n", "Unified\n", "2048K\n");
        entry(3, "3\n", "Unified\n", "32768K\n");
        assert_eq!(read_level(&tmp, 2), Some(2 << 20));
        assert_eq!(read_level(&tmp, 3), Some(32 << 20));
        assert_eq!(read_level(&tmp, 4), None);
        assert_eq!(read_level(&tmp.join("missing"), 2), None);
        std::fs::remove_dir_all(&tmp).unwrap();
        assert!(l2_bytes() > 0);
    }
}
