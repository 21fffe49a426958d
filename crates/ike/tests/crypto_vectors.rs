//! Known-answer, round-trip and rejection tests of `ike::crypto` against the vectors in
//! `tests/vectors/` (format: `tests/vectors/README.md`).

// Test helpers outside `#[test]` functions unwrap too: a malformed vector file is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use ike::crypto::{
    CryptoError, DhGroup, EncrAlgorithm, IkeSaKeys, IkeSpi, IkeSuite, IntegAlgorithm, KeyExchange,
    PrfAlgorithm, Random, SkCipher, SystemRandom, child_sa_keymat, prf, prf_plus, psk_auth,
    signed_octets,
};
use ipsec_types::Role;
use proptest::prelude::*;

type Case = HashMap<String, String>;

/// Every case of a vector file, as `field -> value` with quotes stripped.
fn cases(file: &str) -> Vec<Case> {
    let path = format!("{}/../../tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    let mut current = Case::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        let (key, value) = line
            .split_once(" = ")
            .unwrap_or_else(|| panic!("bad line {line}"));
        current.insert(key.to_owned(), value.trim_matches('"').to_owned());
    }
    assert!(!out.is_empty(), "{file} has no cases");
    out
}

fn hex(case: &Case, field: &str) -> Vec<u8> {
    let value = case
        .get(field)
        .unwrap_or_else(|| panic!("case {} has no {field}", case["Case"]));
    hex::decode(value).unwrap()
}

fn prf_by_name(name: &str) -> PrfAlgorithm {
    match name {
        "PRF_HMAC_SHA2_256" => PrfAlgorithm::HmacSha2_256,
        "PRF_HMAC_SHA2_384" => PrfAlgorithm::HmacSha2_384,
        "PRF_HMAC_SHA2_512" => PrfAlgorithm::HmacSha2_512,
        other => panic!("unknown PRF {other}"),
    }
}

/// Hands out fixed bytes (an IV for a known-answer seal), then fails.
struct FixedRandom(Vec<u8>);

impl Random for FixedRandom {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        if self.0.len() < out.len() {
            return Err(CryptoError::RandomFailed);
        }
        let rest = self.0.split_off(out.len());
        out.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}

// ---------------------------------------------------------------- PRF, prf+

#[test]
fn prf_plus_cavp_sp800_135() {
    let all = cases("ikev2-prfplus_cavp-sp800-135.txt");
    assert_eq!(all.len(), 7);
    for case in &all {
        let alg = prf_by_name(&case["PRF"]);
        let expected = hex(case, "Output");
        let out = prf_plus(alg, &hex(case, "Key"), &hex(case, "Seed"), expected.len()).unwrap();
        assert_eq!(*out, expected, "{}", case["Case"]);
    }
}

#[test]
fn prf_rfc4868() {
    let mut checked = 0;
    for case in cases("hmac-sha2-ipsec_rfc4868.txt") {
        if case["Use"] != "PRF" {
            continue; // ICV cases are checked by the sk unit tests (truncated HMAC).
        }
        let out = prf(
            prf_by_name(&case["Alg"]),
            &hex(&case, "Key"),
            &hex(&case, "Data"),
        );
        assert_eq!(*out, hex(&case, "Output"), "{}", case["Case"]);
        checked += 1;
    }
    assert_eq!(checked, 15);
}

// ---------------------------------------------------------------- key exchange

#[test]
fn ecdh_rfc5903() {
    let mut checked = 0;
    for case in cases("ecdh-ike_rfc5903.txt") {
        let id: u16 = case["DHGroup"].parse().unwrap();
        let Some(group) = DhGroup::from_transform_id(id) else {
            // P-521 (group 21) is not supported by Tern.
            assert_eq!(id, 21);
            continue;
        };
        let name = &case["Case"];
        let initiator = KeyExchange::from_private(group, &hex(&case, "I")).unwrap();
        let responder = KeyExchange::from_private(group, &hex(&case, "R")).unwrap();
        let gi = [hex(&case, "GIx"), hex(&case, "GIy")].concat();
        let gr = [hex(&case, "GRx"), hex(&case, "GRy")].concat();
        assert_eq!(initiator.public_value(), gi, "{name}");
        assert_eq!(responder.public_value(), gr, "{name}");
        // The KE payload: 4-byte generic header, group, reserved, then exactly public_value().
        let kei = hex(&case, "KEiPayload");
        assert_eq!(&kei[4..6], &id.to_be_bytes());
        assert_eq!(&kei[8..], initiator.public_value(), "{name}");
        assert_eq!(
            &hex(&case, "KErPayload")[8..],
            responder.public_value(),
            "{name}"
        );
        let expected = hex(&case, "SharedSecret");
        assert_eq!(initiator.agree(&gr).unwrap().as_bytes(), expected, "{name}");
        assert_eq!(responder.agree(&gi).unwrap().as_bytes(), expected, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn x25519_rfc7748_rfc8031() {
    let all = cases("x25519_rfc7748-rfc8031.txt");
    assert_eq!(all.len(), 2);
    for case in all {
        let name = &case["Case"];
        let a = KeyExchange::from_private(DhGroup::Curve25519, &hex(&case, "PrivateA")).unwrap();
        let b = KeyExchange::from_private(DhGroup::Curve25519, &hex(&case, "PrivateB")).unwrap();
        assert_eq!(a.public_value(), hex(&case, "PublicA"), "{name}");
        assert_eq!(b.public_value(), hex(&case, "PublicB"), "{name}");
        let expected = hex(&case, "SharedSecret");
        assert_eq!(
            a.agree(&hex(&case, "PublicB")).unwrap().as_bytes(),
            expected
        );
        assert_eq!(
            b.agree(&hex(&case, "PublicA")).unwrap().as_bytes(),
            expected
        );
    }
}

#[test]
fn every_group_agrees_between_generated_keys() {
    for group in DhGroup::ALL {
        let a = KeyExchange::generate(group, &mut SystemRandom).unwrap();
        let b = KeyExchange::generate(group, &mut SystemRandom).unwrap();
        assert_eq!(a.group(), group);
        let (a_pub, b_pub) = (a.public_value().to_vec(), b.public_value().to_vec());
        assert_eq!(a_pub.len(), group.public_len());
        let s_a = a.agree(&b_pub).unwrap();
        let s_b = b.agree(&a_pub).unwrap();
        assert_eq!(s_a.as_bytes(), s_b.as_bytes(), "{group}");
        let expected_len = match group {
            DhGroup::Ecp256 | DhGroup::Curve25519 => 32,
            DhGroup::Ecp384 => 48,
            _ => group.public_len(),
        };
        assert_eq!(s_a.as_bytes().len(), expected_len, "{group}");
    }
}

fn rejects(group: DhGroup, peer: &[u8]) -> bool {
    let kex = KeyExchange::generate(group, &mut SystemRandom).unwrap();
    kex.agree(peer).unwrap_err() == CryptoError::InvalidPeerPublicKey
}

/// `p` of an RFC 3526 group (big-endian), from the test-side copies at the end of this file.
fn modp_prime(group: DhGroup) -> Vec<u8> {
    let hex_p = match group {
        DhGroup::Modp2048 => P2048,
        DhGroup::Modp3072 => P3072,
        DhGroup::Modp4096 => P4096,
        _ => unreachable!(),
    };
    hex::decode(hex_p.split_whitespace().collect::<String>()).unwrap()
}

fn add_small(be: &[u8], delta: i8) -> Vec<u8> {
    let mut out = be.to_vec();
    let mut carry = i16::from(delta);
    for byte in out.iter_mut().rev() {
        let v = i16::from(*byte) + carry;
        *byte = v.rem_euclid(256) as u8;
        carry = v.div_euclid(256);
        if carry == 0 {
            break;
        }
    }
    out
}

#[test]
fn modp_rfc6989_edges() {
    for group in [DhGroup::Modp2048, DhGroup::Modp3072, DhGroup::Modp4096] {
        let len = group.public_len();
        let p = modp_prime(group);
        assert_eq!(p.len(), len);
        let one = add_small(&vec![0; len], 1);
        for bad in [
            vec![0; len],
            one,
            add_small(&p, -1),
            p.clone(),
            add_small(&p, 1),
            vec![0xff; len],
        ] {
            assert!(rejects(group, &bad), "{group}");
        }
        // 2 and p-2 are in range.
        let kex = KeyExchange::generate(group, &mut SystemRandom).unwrap();
        assert!(kex.agree(&add_small(&vec![0; len], 2)).is_ok());
        let kex = KeyExchange::generate(group, &mut SystemRandom).unwrap();
        assert!(kex.agree(&add_small(&p, -2)).is_ok());
        // Wrong lengths, including a value without its leading zero padding.
        assert!(rejects(group, &[2]));
        assert!(rejects(group, &[]));
    }
}

#[test]
fn ecp_invalid_points_are_rejected() {
    let case = &cases("ecdh-ike_rfc5903.txt")[0];
    let gx = hex(case, "GIx");
    let mut gy = hex(case, "GIy");
    gy[31] ^= 1;
    assert!(rejects(DhGroup::Ecp256, &[gx.clone(), gy].concat()));
    assert!(rejects(DhGroup::Ecp256, &[0; 64]));
    assert!(rejects(DhGroup::Ecp256, &[0xff; 64]));
    assert!(rejects(DhGroup::Ecp384, &[0; 96]));
    assert!(rejects(DhGroup::Ecp384, &[0xff; 96]));
    // A P-256 point offered in a P-384 exchange.
    assert!(rejects(DhGroup::Ecp384, &[gx.clone(), gx].concat()));
    // SEC1 prefixes are not part of the IKE encoding.
    let valid = [hex(case, "GIx"), hex(case, "GIy")].concat();
    assert!(rejects(DhGroup::Ecp256, &[&[4u8][..], &valid].concat()));
    assert!(rejects(DhGroup::Ecp256, &valid[..33]));
}

#[test]
fn x25519_low_order_points_give_no_secret() {
    // Points of order 1, 2, 4 and 8 (and non-canonical encodings of them); each makes the
    // shared secret all-zero (RFC 7748 §6.1, RFC 8031 §2).
    let low_order = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
    ];
    for point in low_order {
        assert!(
            rejects(DhGroup::Curve25519, &hex::decode(point).unwrap()),
            "{point}"
        );
    }
    assert!(rejects(DhGroup::Curve25519, &[9; 31]));
    assert!(rejects(DhGroup::Curve25519, &[9; 33]));
}

#[test]
fn from_private_checks_lengths() {
    for (group, len) in [
        (DhGroup::Curve25519, 31),
        (DhGroup::Ecp256, 31),
        (DhGroup::Ecp256, 33),
        (DhGroup::Ecp384, 32),
        (DhGroup::Modp2048, 0),
        (DhGroup::Modp2048, 257),
    ] {
        assert_eq!(
            KeyExchange::from_private(group, &vec![1; len]).unwrap_err(),
            CryptoError::InvalidKeyLength,
            "{group} {len}"
        );
    }
    // Zero and the group order are not valid scalars.
    assert!(KeyExchange::from_private(DhGroup::Ecp256, &[0; 32]).is_err());
    assert!(KeyExchange::from_private(DhGroup::Ecp256, &[0xff; 32]).is_err());
}

// ---------------------------------------------------------------- key schedule

fn suites() -> Vec<IkeSuite> {
    let mut out = Vec::new();
    for prf in PrfAlgorithm::ALL {
        for encr in EncrAlgorithm::ALL {
            let integs: Vec<Option<IntegAlgorithm>> = if encr.is_aead() {
                vec![None]
            } else {
                IntegAlgorithm::ALL.iter().copied().map(Some).collect()
            };
            for integ in integs {
                out.push(IkeSuite {
                    encr,
                    integ,
                    prf,
                    dh: DhGroup::Curve25519,
                });
            }
        }
    }
    out
}

fn shared_pair() -> (ike::crypto::SharedSecret, ike::crypto::SharedSecret) {
    let a = KeyExchange::generate(DhGroup::Curve25519, &mut SystemRandom).unwrap();
    let b = KeyExchange::generate(DhGroup::Curve25519, &mut SystemRandom).unwrap();
    let (a_pub, b_pub) = (a.public_value().to_vec(), b.public_value().to_vec());
    (a.agree(&b_pub).unwrap(), b.agree(&a_pub).unwrap())
}

#[test]
fn ike_sa_keys_follow_rfc7296_2_14() {
    let (shared, _) = shared_pair();
    let ni = [0x11u8; 32];
    let nr = [0x22u8; 24];
    let spi_i = IkeSpi([1, 2, 3, 4, 5, 6, 7, 8]);
    let spi_r = IkeSpi([9, 10, 11, 12, 13, 14, 15, 16]);
    for suite in suites() {
        let keys = IkeSaKeys::derive(suite, &shared, &ni, &nr, spi_i, spi_r).unwrap();
        let skeyseed = prf(suite.prf, &[&ni[..], &nr[..]].concat(), shared.as_bytes());
        let seed = [&ni[..], &nr[..], &spi_i.0[..], &spi_r.0[..]].concat();
        let keymat = prf_plus(suite.prf, &skeyseed, &seed, suite.keymat_len()).unwrap();
        let joined = [
            &keys.sk_d[..],
            &keys.sk_ai,
            &keys.sk_ar,
            &keys.sk_ei,
            &keys.sk_er,
            &keys.sk_pi,
            &keys.sk_pr,
        ]
        .concat();
        assert_eq!(joined, *keymat, "{suite:?}");
        assert_eq!(keys.sk_d.len(), suite.prf.output_len());
        assert_eq!(keys.sk_pr.len(), suite.prf.output_len());
        assert_eq!(keys.sk_ei.len(), suite.encr.keymat_len());
        assert_eq!(
            keys.sk_ar.len(),
            suite.integ.map_or(0, IntegAlgorithm::key_len)
        );

        // Rekey (§2.18): old PRF for SKEYSEED, new suite's PRF for prf+.
        let (new_shared, _) = shared_pair();
        let new_spi_i = IkeSpi([0xa1; 8]);
        let new_spi_r = IkeSpi([0xb2; 8]);
        let old_prf = PrfAlgorithm::HmacSha2_512;
        let rekeyed = IkeSaKeys::derive_rekey(
            suite,
            old_prf,
            &keys.sk_d,
            &new_shared,
            &ni,
            &nr,
            new_spi_i,
            new_spi_r,
        )
        .unwrap();
        let skeyseed = prf(
            old_prf,
            &keys.sk_d,
            &[new_shared.as_bytes(), &ni[..], &nr[..]].concat(),
        );
        let seed = [&ni[..], &nr[..], &new_spi_i.0[..], &new_spi_r.0[..]].concat();
        let keymat = prf_plus(suite.prf, &skeyseed, &seed, suite.keymat_len()).unwrap();
        assert_eq!(*rekeyed.sk_d, keymat[..suite.prf.output_len()], "{suite:?}");
        assert_eq!(
            *rekeyed.sk_pr,
            keymat[keymat.len() - suite.prf.output_len()..],
            "{suite:?}"
        );
    }
}

#[test]
fn both_ends_derive_matching_sk_ciphers() {
    let (s_i, s_r) = shared_pair();
    let spi_i = IkeSpi([7; 8]);
    let spi_r = IkeSpi([8; 8]);
    for suite in suites() {
        let ki = IkeSaKeys::derive(suite, &s_i, b"nonce-i", b"nonce-r", spi_i, spi_r).unwrap();
        let kr = IkeSaKeys::derive(suite, &s_r, b"nonce-i", b"nonce-r", spi_i, spi_r).unwrap();
        let (i_out, i_in) = ki.sk_ciphers(Role::Initiator).unwrap();
        let (r_out, r_in) = kr.sk_ciphers(Role::Responder).unwrap();
        let body = i_out.seal(b"hdr", b"request", &mut SystemRandom).unwrap();
        assert_eq!(*r_in.open(b"hdr", &body).unwrap(), b"request");
        let body = r_out.seal(b"hdr", b"response", &mut SystemRandom).unwrap();
        assert_eq!(*i_in.open(b"hdr", &body).unwrap(), b"response");
        // Directions use different keys.
        assert!(i_out.open(b"hdr", &body).is_err());
        assert_eq!(ki.own_sk_p(Role::Initiator), kr.peer_sk_p(Role::Responder));
        // Lengths only, never a byte list.
        let text = format!("{ki:?}");
        assert!(text.contains("sk_d_len") && !text.contains('['), "{text}");
    }
}

#[test]
fn invalid_suites_are_refused() {
    let (shared, _) = shared_pair();
    let bad = IkeSuite {
        encr: EncrAlgorithm::AesCbc128,
        integ: None,
        prf: PrfAlgorithm::HmacSha2_256,
        dh: DhGroup::Curve25519,
    };
    assert!(matches!(
        IkeSaKeys::derive(bad, &shared, b"n", b"n", IkeSpi([1; 8]), IkeSpi([2; 8])),
        Err(CryptoError::Unsupported(_))
    ));
}

#[test]
fn child_sa_keymat_rfc7296_2_17() {
    let (shared, _) = shared_pair();
    let sk_d = [0x42u8; 32];
    let alg = PrfAlgorithm::HmacSha2_256;
    let plain = child_sa_keymat(alg, &sk_d, None, b"ni", b"nr", 100).unwrap();
    assert_eq!(*plain, *prf_plus(alg, &sk_d, b"ninr", 100).unwrap());
    let pfs = child_sa_keymat(alg, &sk_d, Some(&shared), b"ni", b"nr", 100).unwrap();
    let seed = [shared.as_bytes(), b"ninr"].concat();
    assert_eq!(*pfs, *prf_plus(alg, &sk_d, &seed, 100).unwrap());
    assert_eq!(
        child_sa_keymat(alg, &sk_d, None, b"", b"", 256 * 32).unwrap_err(),
        CryptoError::OutputTooLong
    );
}

#[test]
fn psk_auth_and_signed_octets() {
    let alg = PrfAlgorithm::HmacSha2_384;
    let octets = signed_octets(
        alg,
        b"SK_pi",
        b"IKE_SA_INIT bytes",
        b"Nr",
        b"\x01\0\0\0\x0a\0\0\x01",
    );
    let maced = prf(alg, b"SK_pi", b"\x01\0\0\0\x0a\0\0\x01");
    assert_eq!(octets, [&b"IKE_SA_INIT bytesNr"[..], &maced].concat());
    let auth = psk_auth(alg, b"psk", &octets);
    let expected = prf(alg, &prf(alg, b"psk", b"Key Pad for IKEv2"), &octets);
    assert_eq!(*auth, *expected);
    assert_eq!(auth.len(), 48);
}

// ---------------------------------------------------------------- SK payload

#[test]
fn chacha20_poly1305_rfc7634_appendix_b() {
    let all = cases("chacha20poly1305-esp-ikev2_rfc7634.txt");
    let case = all
        .iter()
        .find(|c| c["Case"] == "rfc7634-appendix-B-ikev2")
        .unwrap();
    let cipher = SkCipher::new(
        EncrAlgorithm::ChaCha20Poly1305,
        None,
        &hex(case, "KEYMAT"),
        &[],
    )
    .unwrap();
    let aad = hex(case, "AAD");
    let message = hex(case, "IKEMessage");
    let (header, body) = message.split_at(aad.len());
    assert_eq!(header, aad);
    let plaintext = hex(case, "Plaintext");
    // The vector's plaintext ends with Pad Length 0: the inner payloads are the rest.
    let (inner, pad_length) = plaintext.split_at(plaintext.len() - 1);
    assert_eq!(pad_length, [0]);
    assert_eq!(*cipher.open(header, body).unwrap(), inner);
    let sealed = cipher
        .seal(header, inner, &mut FixedRandom(hex(case, "IV")))
        .unwrap();
    assert_eq!(sealed, body);
    assert_eq!(cipher.body_len(inner.len()), body.len());
}

/// The ESP examples use the same AEAD construction (nonce = salt | IV, AAD before the IV). Their
/// plaintext ends with the ESP trailer, so the last byte (Next Header) is read as a pad length:
/// either a prefix of the plaintext comes back or BadPadding; either way the tag verified.
fn check_esp_aead(cipher: &SkCipher, aad: &[u8], iv: &[u8], ct_and_tag: &[u8], plaintext: &[u8]) {
    let body = [iv, ct_and_tag].concat();
    let last = usize::from(*plaintext.last().unwrap());
    match cipher.open(aad, &body) {
        Ok(out) => assert_eq!(*out, plaintext[..plaintext.len() - 1 - last]),
        Err(e) => {
            assert_eq!(e, CryptoError::BadPadding);
            assert!(last + 1 > plaintext.len());
        }
    }
    let mut tampered = body;
    tampered[iv.len()] ^= 1;
    assert_eq!(
        cipher.open(aad, &tampered).unwrap_err(),
        CryptoError::IntegrityCheckFailed
    );
}

#[test]
fn aes_gcm_esp_vectors_through_sk_cipher() {
    let mut checked = 0;
    for case in cases("esp-aes-gcm_draft-mcgrew-gcm-test-01.txt") {
        let encr = match case["KeyLenBits"].as_str() {
            "128" => EncrAlgorithm::AesGcm16_128,
            "256" => EncrAlgorithm::AesGcm16_256,
            _ => continue, // AES-192 is not supported.
        };
        let keymat = [hex(&case, "Key"), hex(&case, "Salt")].concat();
        let cipher = SkCipher::new(encr, None, &keymat, &[]).unwrap();
        check_esp_aead(
            &cipher,
            &hex(&case, "AAD"),
            &hex(&case, "IV"),
            &hex(&case, "CiphertextAndICV"),
            &hex(&case, "Plaintext"),
        );
        checked += 1;
    }
    assert_eq!(checked, 15);
}

#[test]
fn chacha20_poly1305_rfc7634_appendix_a_construction() {
    let all = cases("chacha20poly1305-esp-ikev2_rfc7634.txt");
    let case = all
        .iter()
        .find(|c| c["Case"] == "rfc7634-appendix-A-esp")
        .unwrap();
    let cipher = SkCipher::new(
        EncrAlgorithm::ChaCha20Poly1305,
        None,
        &hex(case, "KEYMAT"),
        &[],
    )
    .unwrap();
    let packet = hex(case, "ESPPacket");
    let aad = hex(case, "AAD");
    let iv = hex(case, "IV");
    check_esp_aead(&cipher, &aad, &iv, &packet[16..], &hex(case, "Plaintext"));
}

fn all_ciphers() -> Vec<SkCipher> {
    let mut out = Vec::new();
    for encr in EncrAlgorithm::ALL {
        let key: Vec<u8> = (0..encr.keymat_len()).map(|i| i as u8).collect();
        if encr.is_aead() {
            out.push(SkCipher::new(encr, None, &key, &[]).unwrap());
        } else {
            for integ in IntegAlgorithm::ALL {
                let ik: Vec<u8> = (0..integ.key_len()).map(|i| (i * 3) as u8).collect();
                out.push(SkCipher::new(encr, Some(integ), &key, &ik).unwrap());
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sk_round_trip(
        plaintext in proptest::collection::vec(any::<u8>(), 0..2000),
        header in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        // Every algorithm (and every CBC integrity algorithm) on each generated input.
        for cipher in all_ciphers() {
            let body = cipher.seal(&header, &plaintext, &mut SystemRandom).unwrap();
            prop_assert_eq!(body.len(), cipher.body_len(plaintext.len()));
            let opened = cipher.open(&header, &body).unwrap();
            prop_assert_eq!(&*opened, &plaintext[..]);
        }
    }

    #[test]
    fn open_never_panics(
        index in 0usize..9,
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let ciphers = all_ciphers();
        let cipher = &ciphers[index % ciphers.len()];
        prop_assert!(cipher.open(b"header", &body).is_err());
    }
}

#[test]
fn round_trip_every_length_up_to_2000() {
    for cipher in all_ciphers() {
        for len in (0..2000).step_by(7).chain([1, 14, 15, 16, 17, 1999]) {
            let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let body = cipher.seal(b"hdr", &plaintext, &mut SystemRandom).unwrap();
            assert_eq!(body.len(), cipher.body_len(len));
            assert_eq!(
                *cipher.open(b"hdr", &body).unwrap(),
                plaintext,
                "{cipher:?} {len}"
            );
        }
    }
}

#[test]
fn every_flipped_byte_fails_the_integrity_check() {
    let header: Vec<u8> = (0..32).collect();
    for cipher in all_ciphers() {
        let body = cipher
            .seal(&header, b"inner payloads here", &mut SystemRandom)
            .unwrap();
        for i in 0..header.len() {
            let mut h = header.clone();
            h[i] ^= 0x01;
            assert_eq!(
                cipher.open(&h, &body).unwrap_err(),
                CryptoError::IntegrityCheckFailed,
                "{cipher:?} header byte {i}"
            );
        }
        for i in 0..body.len() {
            for mask in [0x01, 0x80] {
                let mut b = body.clone();
                b[i] ^= mask;
                assert_eq!(
                    cipher.open(&header, &b).unwrap_err(),
                    CryptoError::IntegrityCheckFailed,
                    "{cipher:?} body byte {i}"
                );
            }
        }
    }
}

#[test]
fn short_or_misaligned_bodies_are_truncated() {
    for cipher in all_ciphers() {
        let body = cipher.seal(b"h", b"x", &mut SystemRandom).unwrap();
        for len in 0..(cipher.iv_len() + cipher.icv_len() + 1) {
            assert_eq!(
                cipher.open(b"h", &body[..len.min(body.len())]).unwrap_err(),
                CryptoError::Truncated,
                "{cipher:?} {len}"
            );
        }
        if !cipher.encr().is_aead() {
            // One byte more or less than whole blocks: rejected before the ICV is computed.
            let mut longer = body.clone();
            longer.insert(cipher.iv_len(), 0);
            assert_eq!(
                cipher.open(b"h", &longer).unwrap_err(),
                CryptoError::Truncated
            );
            let mut shorter = body.clone();
            shorter.remove(cipher.iv_len());
            assert_eq!(
                cipher.open(b"h", &shorter).unwrap_err(),
                CryptoError::Truncated
            );
        }
    }
}

#[test]
fn seal_reports_random_failure() {
    for cipher in all_ciphers() {
        assert_eq!(
            cipher
                .seal(b"h", b"x", &mut FixedRandom(Vec::new()))
                .unwrap_err(),
            CryptoError::RandomFailed
        );
    }
}

/// RFC 3526 MODP primes in hex (test-side copy, independent of the implementation's constant;
/// re-derived from the RFC 3526 formula with mpmath and matched against OpenSSL's built-in
/// groups when this file was written).
const P2048: &str = "
FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74
020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437
4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED
EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05
98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB
9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B
E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718
3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";

const P3072: &str = "
FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74
020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437
4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED
EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05
98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB
9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B
E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718
3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33
A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7
ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864
D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2
08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

const P4096: &str = "
FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74
020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437
4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED
EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05
98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB
9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B
E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718
3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33
A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7
ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864
D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2
08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7
88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8
DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2
233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9
93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Arbitrary peer values (right length or not) give a secret or an error, never a panic,
    /// and a secret only for a value of the group's length.
    #[test]
    fn agree_never_panics(
        group_index in 0usize..6,
        right_length in any::<bool>(),
        seed in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let group = DhGroup::ALL[group_index];
        let peer: Vec<u8> = if right_length {
            seed.iter().copied().cycle().take(group.public_len()).collect()
        } else {
            seed
        };
        let kex = KeyExchange::generate(group, &mut SystemRandom).unwrap();
        if let Ok(secret) = kex.agree(&peer) {
            prop_assert_eq!(peer.len(), group.public_len());
            prop_assert!(secret.as_bytes().iter().any(|&b| b != 0));
        }
    }
}

#[test]
fn shared_secret_from_known_bytes_feeds_the_key_schedule() {
    let suite = IkeSuite {
        encr: EncrAlgorithm::AesGcm16_256,
        integ: None,
        prf: PrfAlgorithm::HmacSha2_256,
        dh: DhGroup::Modp2048,
    };
    let gir = [0x5au8; 256];
    let shared = ike::crypto::SharedSecret::from_bytes(&gir);
    let keys =
        IkeSaKeys::derive(suite, &shared, b"Ni", b"Nr", IkeSpi([1; 8]), IkeSpi([2; 8])).unwrap();
    let skeyseed = prf(suite.prf, b"NiNr", &gir);
    let mut seed = b"NiNr".to_vec();
    seed.extend_from_slice(&[1; 8]);
    seed.extend_from_slice(&[2; 8]);
    assert_eq!(
        *keys.sk_d,
        *prf_plus(suite.prf, &skeyseed, &seed, 32).unwrap()
    );
    assert!(keys.sk_ai.is_empty() && keys.sk_ar.is_empty());
    assert_eq!(keys.sk_ei.len(), 36);
}

#[test]
fn nat_detection_hash_layout() {
    use ring::digest;
    let spi_i = IkeSpi([0xaa; 8]);
    let spi_r = IkeSpi([0xbb; 8]);
    let got = ike::crypto::nat_detection_hash(spi_i, spi_r, "10.1.2.3".parse().unwrap(), 4500);
    let mut data = vec![0xaa; 8];
    data.extend_from_slice(&[0xbb; 8]);
    data.extend_from_slice(&[10, 1, 2, 3, 0x11, 0x94]);
    let expected = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &data);
    assert_eq!(&got[..], expected.as_ref());
}

#[test]
fn crypto_types_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<KeyExchange>();
    send_sync::<ike::crypto::SharedSecret>();
    send_sync::<IkeSaKeys>();
    send_sync::<SkCipher>();
}
