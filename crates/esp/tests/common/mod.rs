//! Shared helpers for the integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test helpers: a failure must abort the test"
)]

use esp::{EspSaConfig, InboundSa, OutboundSa, manual_keys};
use ipsec_types::{EncrAlgorithm, EspSuite, IntegAlgorithm, Spi};

/// Every suite the crate supports, with and without ESN.
pub fn all_suites() -> Vec<EspSuite> {
    let mut out = Vec::new();
    for esn in [false, true] {
        for encr in EncrAlgorithm::ALL {
            if encr.is_aead() {
                out.push(EspSuite {
                    encr,
                    integ: None,
                    esn,
                });
            } else {
                for integ in IntegAlgorithm::ALL {
                    out.push(EspSuite {
                        encr,
                        integ: Some(integ),
                        esn,
                    });
                }
            }
        }
    }
    out
}

pub const SPI: u32 = 0x0000_c0de;

/// A matching outbound/inbound pair with fixed keys.
pub fn pair(suite: EspSuite, config: &EspSaConfig) -> (OutboundSa, InboundSa) {
    let encr: Vec<u8> = (0..suite.encr.keymat_len())
        .map(|i| i as u8 ^ 0x5c)
        .collect();
    let integ: Vec<u8> = (0..suite.integ.map_or(0, IntegAlgorithm::key_len))
        .map(|i| i as u8 ^ 0x36)
        .collect();
    let keys = manual_keys(Spi::new(SPI).unwrap(), &encr, &integ);
    (
        OutboundSa::new(suite, &keys, config).unwrap(),
        InboundSa::new(suite, &keys, config).unwrap(),
    )
}

/// A well-formed inner IPv4 (or IPv6) packet of `len` bytes with a filler payload.
pub fn inner_packet(len: usize, v6: bool, fill: u8) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ fill)
        .collect();
    if v6 {
        assert!(len >= 40);
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
    } else {
        assert!(len >= 20);
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    }
    p
}

/// A buffer with the inner packet placed after the SA's headroom; returns it and the range.
pub fn staged(sa: &OutboundSa, inner: &[u8]) -> (Vec<u8>, core::ops::Range<usize>) {
    let at = sa.headroom();
    let mut buf = vec![0u8; at + inner.len() + sa.max_tailroom()];
    buf[at..at + inner.len()].copy_from_slice(inner);
    (buf, at..at + inner.len())
}

/// Encapsulates `inner` and returns the ESP packet bytes.
pub fn seal(sa: &OutboundSa, inner: &[u8]) -> Vec<u8> {
    let (mut buf, range) = staged(sa, inner);
    let out = sa.encapsulate(&mut buf, range).unwrap();
    buf[out.packet].to_vec()
}
