//! Fuzzes inbound ESP: UDP classification on port 4500, decapsulation of arbitrary bytes (with
//! and without the SA's SPI forced in, so the length, replay and ICV checks are all reached),
//! and a round trip of the input as an inner packet followed by a one-byte forgery, so the paths
//! after the ICV (padding, next header, inner length) run on authentic packets too.
#![no_main]

use esp::{EspSaConfig, InboundSa, OutboundSa, UdpPayload, manual_keys};
use ipsec_types::{EncrAlgorithm, EspSuite, IntegAlgorithm, Spi};
use libfuzzer_sys::fuzz_target;

const SPI: u32 = 0x0000_4500;

fn suites() -> Vec<EspSuite> {
    let mut out = Vec::new();
    for esn in [false, true] {
        for encr in EncrAlgorithm::ALL {
            if encr.is_aead() {
                out.push(EspSuite { encr, integ: None, esn });
            } else {
                for integ in IntegAlgorithm::ALL {
                    out.push(EspSuite { encr, integ: Some(integ), esn });
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let all = suites();
    let suite = all[usize::from(selector) % all.len()];
    let Some(spi) = Spi::new(SPI) else { return };
    let keys = manual_keys(
        spi,
        &vec![0x11; suite.encr.keymat_len()],
        &vec![0x22; suite.integ.map_or(0, IntegAlgorithm::key_len)],
    );
    let config = EspSaConfig {
        replay_window: u32::from(selector) * 7,
        ..EspSaConfig::default()
    };
    let (Ok(out), Ok(mut inb)) = (
        OutboundSa::new(suite, &keys, &config),
        InboundSa::new(suite, &keys, &config),
    ) else {
        return;
    };

    // UDP: a whole datagram, and a socket payload.
    let _ = esp::classify_datagram(rest);
    let mut buf = rest.to_vec();
    if let Ok(UdpPayload::Esp(range)) = esp::classify(&buf) {
        let _ = inb.decapsulate(&mut buf[range]);
    }

    // Raw bytes with our SPI, so the checks past the SPI run.
    let mut buf = rest.to_vec();
    if let Some(head) = buf.first_chunk_mut::<4>() {
        *head = SPI.to_be_bytes();
    }
    let _ = inb.decapsulate(&mut buf);

    // Round trip of the input as an inner IPv4/IPv6 packet, then a forgery.
    if rest.len() < 41 {
        return;
    }
    let mut inner = rest.to_vec();
    if selector & 1 == 0 {
        inner[0] = 0x45;
        let len = u16::try_from(inner.len()).unwrap_or(u16::MAX);
        inner[2..4].copy_from_slice(&len.to_be_bytes());
    } else {
        inner[0] = 0x60;
        let len = u16::try_from(inner.len() - 40).unwrap_or(u16::MAX);
        inner[4..6].copy_from_slice(&len.to_be_bytes());
    }
    let at = out.headroom();
    let mut buf = vec![0u8; at + inner.len() + out.max_tailroom()];
    buf[at..at + inner.len()].copy_from_slice(&inner);
    let Ok(sent) = out.encapsulate(&mut buf, at..at + inner.len()) else {
        return;
    };
    let packet = buf[sent.packet].to_vec();
    let mut forged = packet.clone();
    let index = usize::from(rest[1]) * 256 + usize::from(rest[2]);
    let index = index % forged.len();
    forged[index] ^= rest[3] | 1;
    assert!(inb.decapsulate(&mut forged).is_err(), "forgery accepted");
    let mut genuine = packet;
    if inner.len() <= usize::from(u16::MAX) {
        let got = inb.decapsulate(&mut genuine).expect("genuine packet rejected");
        assert_eq!(&genuine[got.inner], &inner[..]);
    }
});
