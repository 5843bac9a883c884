//! A bank snapshot as the store holds it (`asd_monitor::snapshot`): damaged bytes are refused, never a
//! panic or an allocation the bytes do not back; what decodes encodes back to the same bytes. The
//! input is tried as it is and framed with the header and a valid checksum, so that the fuzzer
//! reaches the structure behind the checksum.
#![no_main]
use asd_scoring::bank::BankState;
use libfuzzer_sys::fuzz_target;

fn check(bytes: &[u8]) {
    if let Ok(d) = asd_monitor::snapshot::decode(bytes) {
        let s = BankState {
            dim: 1,
            density: asd_scoring::density::Density::KnnMean(1),
            distance: Default::default(),
            next_id: d.next_id,
            ids: d.ids,
            conditions: vec![],
            rows: vec![],
            lists: d.lists,
            densities: d.densities,
            loo: d.loo,
        };
        assert_eq!(asd_monitor::snapshot::encode(&s), bytes);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut framed = b"ASDBANK1".to_vec();
    framed.extend_from_slice(data);
    let h = asd_core::hash::fnv1a(framed.iter().copied());
    framed.extend_from_slice(&h.to_le_bytes());
    check(&framed);
});
