//! The topic of an MQTT message: a monitor id and an optional file name within the limits, or a
//! message naming the problem; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(topic) = std::str::from_utf8(data) else {
        return;
    };
    match asd_monitor::mqtt::parse_topic(topic) {
        Ok((_, Some(name))) => {
            assert!(!name.is_empty());
            assert!(name.chars().count() <= asd_monitor::limits::MAX_FILE_NAME_CHARS);
            assert!(!name.chars().any(char::is_control));
        }
        Ok((_, None)) => assert!(topic.ends_with("/clips")),
        Err(e) => assert!(!e.is_empty()),
    }
});
