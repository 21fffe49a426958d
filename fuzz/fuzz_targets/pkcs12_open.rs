//! Fuzzes opening a client certificate: any bytes as a PKCS#12 bundle (with a fixed and an empty
//! passphrase) or as a PEM/DER key and chain must give a key or a typed error, never a panic; a
//! key that opens survives Tern's own re-encryption.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for passphrase in ["", "tern-test"] {
        if let Ok(key) = profile::ClientKey::from_pkcs12(data, passphrase) {
            let bundle = key.to_pkcs12("fuzz").expect("re-encrypt");
            let again = profile::ClientKey::from_pkcs12(&bundle, "fuzz").expect("reopen");
            assert_eq!(again, key);
        }
    }
    let (key, chain) = data.split_at(data.len() / 2);
    let _ = profile::ClientKey::from_pem(key, chain);
});
