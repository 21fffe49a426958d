//! Fuzzes the `.sswan` importer: any bytes must give a preview or an error, never a panic, and a
//! preview must hold a valid profile that survives Tern's own format.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(preview) = profile::import_sswan(data) {
        assert!(preview.profile.validate().is_ok());
        let text = profile::export_tern(&preview.profile).expect("export");
        let back = profile::import_tern(text.as_bytes()).expect("re-import");
        assert_eq!(back.profile, preview.profile);
    }
});
