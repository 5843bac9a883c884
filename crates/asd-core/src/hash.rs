//! FNV-1a (64-bit): a stable digest of bytes, for keys that name what made a file (a model's
//! weights, a partial embedding's clip list) and for per-section random streams of one seed.

/// The 64-bit FNV-1a digest of `bytes`.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_digests() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(super::fnv1a([]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(super::fnv1a(*b"foobar"), 0x8594_4171_f739_67e8);
    }
}
