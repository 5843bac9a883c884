//! The body of `POST /v1/monitors`: a monitor within every limit, or a 4xx error in the JSON shape.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match asd_monitor::http::create_body(data) {
        Ok((spec, policy)) => {
            assert!(asd_monitor::monitors::validate_spec(&spec).is_ok());
            assert!(policy.validate().is_ok());
            assert!(spec.name.chars().count() <= asd_monitor::limits::MAX_NAME_CHARS);
        }
        Err(e) => assert!(e.status.is_client_error(), "{}: {}", e.status, e.message),
    }
});
