//! RFC 7383 fragmentation end to end with the SK cipher: split with the sizing math, seal each
//! fragment behind an IKE + SKF header, check every datagram fits, open, and reassemble in any
//! order with duplicates.

// Test helpers panic on bad fixtures, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use ike::crypto::{CryptoError, EncrAlgorithm, IntegAlgorithm, Random, SkCipher};
use ike::fragment::{
    IKE_HEADER_LEN, PAYLOAD_TYPE_SKF, Reassembler, Reassembly, SKF_HEADER_LEN, fragment_capacity,
    ike_message_budget, split,
};
use proptest::prelude::*;

struct Counter(u8);

impl Random for Counter {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        for b in out {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
        Ok(())
    }
}

fn ciphers() -> Vec<SkCipher> {
    vec![
        SkCipher::new(EncrAlgorithm::AesGcm16_256, None, &[3; 36], &[]).unwrap(),
        SkCipher::new(EncrAlgorithm::ChaCha20Poly1305, None, &[4; 36], &[]).unwrap(),
        SkCipher::new(
            EncrAlgorithm::AesCbc128,
            Some(IntegAlgorithm::HmacSha2_256_128),
            &[5; 16],
            &[6; 32],
        )
        .unwrap(),
    ]
}

/// The bytes before an SKF body: a stand-in IKE header with the final length, then the SKF
/// header (RFC 7383 §2.5).
fn skf_header(next_payload: u8, number: u16, total: u16, body_len: usize) -> Vec<u8> {
    let total_len = IKE_HEADER_LEN + SKF_HEADER_LEN + body_len;
    let mut h = vec![0u8; IKE_HEADER_LEN];
    h[16] = PAYLOAD_TYPE_SKF;
    h[24..28].copy_from_slice(&u32::try_from(total_len).unwrap().to_be_bytes());
    h.push(next_payload);
    h.push(0);
    h.extend_from_slice(
        &u16::try_from(SKF_HEADER_LEN + body_len)
            .unwrap()
            .to_be_bytes(),
    );
    h.extend_from_slice(&number.to_be_bytes());
    h.extend_from_slice(&total.to_be_bytes());
    h
}

fn round_trip(cipher: &SkCipher, inner: &[u8], budget: usize, order: &[usize]) {
    let capacity = fragment_capacity(cipher, budget, 0);
    let fragments = split(inner, 35, capacity, 32).unwrap();
    let mut sealed = Vec::new();
    for f in &fragments {
        let body_len = cipher.body_len(f.plaintext.len());
        let header = skf_header(f.next_payload, f.number, f.total, body_len);
        let body = cipher.seal(&header, f.plaintext, &mut Counter(0)).unwrap();
        assert_eq!(body.len(), body_len);
        assert!(header.len() + body.len() <= budget, "fragment does not fit");
        sealed.push((f.number, f.total, f.next_payload, header, body));
    }
    let mut r = Reassembler::default();
    let now = Instant::now();
    let mut done = None;
    for &i in order {
        let (number, total, next, header, body) = &sealed[i % sealed.len()];
        let plain = cipher.open(header, body).unwrap();
        match r.handle(now, 7, *number, *total, *next, &plain).unwrap() {
            Reassembly::Complete {
                first_payload,
                inner,
            } => {
                assert_eq!(first_payload, 35);
                done = Some(inner);
            }
            Reassembly::Incomplete | Reassembly::Duplicate => {}
        }
        if done.is_some() {
            break;
        }
    }
    if done.is_none() {
        // Feed whatever the order missed, in sequence.
        for (number, total, next, header, body) in &sealed {
            let plain = cipher.open(header, body).unwrap();
            if let Reassembly::Complete { inner, .. } =
                r.handle(now, 7, *number, *total, *next, &plain).unwrap()
            {
                done = Some(inner);
            }
        }
    }
    assert_eq!(done.unwrap().as_slice(), inner);
}

#[test]
fn ipv4_minimum_datagram() {
    let budget = ike_message_budget(576, false, true);
    let inner: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    for cipher in ciphers() {
        round_trip(&cipher, &inner, budget, &[5, 4, 3, 2, 1, 0, 0, 9]);
    }
}

proptest! {
    #[test]
    fn any_message_any_order(
        inner in proptest::collection::vec(any::<u8>(), 0..6000),
        datagram in 576usize..1500,
        order in proptest::collection::vec(0usize..64, 0..80),
        which in 0usize..3,
    ) {
        let cipher = &ciphers()[which];
        round_trip(cipher, &inner, ike_message_budget(datagram, true, true), &order);
    }
}
