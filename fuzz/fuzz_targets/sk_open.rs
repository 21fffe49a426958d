//! `SkCipher::open` on arbitrary SK bodies with every algorithm: errors, never panics.
#![no_main]

use ike::crypto::{EncrAlgorithm, IntegAlgorithm, SkCipher};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (encr, integ) = match selector % 7 {
        0 => (EncrAlgorithm::AesGcm16_128, None),
        1 => (EncrAlgorithm::AesGcm16_256, None),
        2 => (EncrAlgorithm::ChaCha20Poly1305, None),
        3 => (EncrAlgorithm::AesCbc128, Some(IntegAlgorithm::HmacSha2_256_128)),
        4 => (EncrAlgorithm::AesCbc256, Some(IntegAlgorithm::HmacSha2_384_192)),
        5 => (EncrAlgorithm::AesCbc256, Some(IntegAlgorithm::HmacSha2_512_256)),
        _ => (EncrAlgorithm::AesCbc128, Some(IntegAlgorithm::HmacSha2_512_256)),
    };
    let encr_key = vec![0x42; encr.keymat_len()];
    let integ_key = vec![0x17; integ.map_or(0, |i| i.key_len())];
    let Ok(cipher) = SkCipher::new(encr, integ, &encr_key, &integ_key) else {
        return;
    };
    // The second byte says how much of the rest is the header (AAD / ICV prefix).
    let Some((&split, rest)) = rest.split_first() else {
        return;
    };
    let split = usize::from(split).min(rest.len());
    let (header, body) = rest.split_at(split);
    if let Ok(plain) = cipher.open(header, body) {
        assert!(plain.len() < body.len());
    }
    // Round trip: what we seal, we open.
    let mut zeros = ZeroRandom;
    if let Ok(sealed) = cipher.seal(header, body, &mut zeros) {
        assert_eq!(sealed.len(), cipher.body_len(body.len()));
        let opened = cipher.open(header, &sealed).expect("own seal must open");
        assert_eq!(&opened[..], body);
    }
});

struct ZeroRandom;

impl ike::crypto::Random for ZeroRandom {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), ike::crypto::CryptoError> {
        out.fill(0);
        Ok(())
    }
}
