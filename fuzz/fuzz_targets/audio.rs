//! An uploaded clip of any format (the monitor's path: decode, rate and length limits, resample).
#![no_main]
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = ["a.wav", "a.flac", "a.ogg", "a.mp3", "a.bin", "upload"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    let opts = asd_audio::LoadOptions::default();
    if let Ok(samples) = asd_monitor::clip::decode_upload(bytes.to_vec(), name, &opts, 60.0) {
        assert!(
            samples.iter().all(|x| x.is_finite()),
            "{name}: a non-finite sample"
        );
    }
});
