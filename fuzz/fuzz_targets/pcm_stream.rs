//! Raw PCM of `/stream`, cut into chunks anywhere: the same samples as one piece, never a panic.
#![no_main]
use asd_monitor::stream::{PcmDecoder, SampleFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [f, ch, cut, rest @ ..] = data else {
        return;
    };
    let format = [
        SampleFormat::S16le,
        SampleFormat::S32le,
        SampleFormat::F32le,
    ][usize::from(*f) % 3];
    let channels = 1 + usize::from(*ch) % 8;
    let mut whole = PcmDecoder::new(format, channels);
    let mut one = Vec::new();
    let r1 = whole.push(rest, &mut one);
    let mut parts = PcmDecoder::new(format, channels);
    let mut many = Vec::new();
    let step = 1 + usize::from(*cut);
    let mut r2 = Ok(());
    for chunk in rest.chunks(step) {
        r2 = parts.push(chunk, &mut many);
        if r2.is_err() {
            break;
        }
    }
    assert_eq!(r1.is_ok(), r2.is_ok());
    if r1.is_ok() {
        assert_eq!(one.len(), many.len());
        assert!(
            one.iter()
                .zip(&many)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        assert_eq!(whole.leftover(), parts.leftover());
    }
});
