#![no_main]
//! See `ray_fuzz::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (ray_fuzz::target("validate").expect("a known target").run)(data);
});
