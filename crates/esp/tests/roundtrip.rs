//! Round trips for every transform and many sizes, TFC padding, buffer contracts.

mod common;

use common::{all_suites, inner_packet, pair, seal, staged};
use esp::{EspError, EspSaConfig, InnerProtocol};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_suite_round_trips(
        suite_index in 0usize..18,
        len in 40usize..9000,
        v6 in any::<bool>(),
        fill in any::<u8>(),
        tfc in prop::option::of(0u16..2000),
    ) {
        let suite = all_suites()[suite_index];
        let config = EspSaConfig { tfc_pad_to: tfc, ..EspSaConfig::default() };
        let (out, mut inb) = pair(suite, &config);
        let inner = inner_packet(len, v6, fill);
        let (mut buf, range) = staged(&out, &inner);
        let sent = out.encapsulate(&mut buf, range.clone()).unwrap();
        prop_assert_eq!(sent.packet.start, range.start - out.headroom());
        let packet_len = sent.packet.len();
        prop_assert_eq!(packet_len, out.headroom() + inner.len() + out.tailroom_for(inner.len()));
        prop_assert!(packet_len <= out.headroom() + inner.len() + out.max_tailroom());
        if tfc.is_none() {
            prop_assert!(packet_len <= inner.len() + esp::max_overhead(&suite));
        }
        // The ciphertext must not contain the plaintext.
        prop_assert!(buf[sent.packet.clone()].windows(16).all(|w| w != &inner[20..36]));
        let got = inb.decapsulate(&mut buf[sent.packet.clone()]).unwrap();
        let start = sent.packet.start;
        prop_assert_eq!(&buf[start + got.inner.start..start + got.inner.end], inner.as_slice());
        prop_assert_eq!(got.protocol, if v6 { InnerProtocol::Ipv6 } else { InnerProtocol::Ipv4 });
        prop_assert_eq!(got.seq, 1);
    }
}

#[test]
fn sizes_from_tiny_to_jumbo_for_every_suite() {
    for suite in all_suites() {
        let (out, mut inb) = pair(suite, &EspSaConfig::default());
        for (i, len) in [
            20usize, 21, 22, 23, 24, 27, 28, 31, 32, 64, 512, 1400, 1500, 8192, 65535,
        ]
        .into_iter()
        .enumerate()
        {
            let inner = inner_packet(len, false, i as u8);
            let mut packet = seal(&out, &inner);
            let align = suite.encr.block_len();
            assert_eq!(
                (packet.len() - 8 - suite.encr.iv_len() - suite.icv_len()) % align,
                0
            );
            let got = inb.decapsulate(&mut packet).unwrap();
            assert_eq!(packet[got.inner], inner, "{suite} len {len}");
            assert_eq!(got.seq, i as u64 + 1);
        }
        assert_eq!(inb.counters().packets, 15);
        assert_eq!(out.counters().packets, 15);
        assert_eq!(out.counters().bytes, inb.counters().bytes);
    }
}

#[test]
fn tfc_padding_hides_the_length_and_is_stripped() {
    let suite = all_suites()[0];
    let config = EspSaConfig {
        tfc_pad_to: Some(300),
        ..EspSaConfig::default()
    };
    let (out, mut inb) = pair(suite, &config);
    let mut lengths = Vec::new();
    for len in [20, 40, 100, 297, 298] {
        let inner = inner_packet(len, false, 1);
        let mut packet = seal(&out, &inner);
        lengths.push(packet.len());
        let got = inb.decapsulate(&mut packet).unwrap();
        assert_eq!(packet[got.inner], inner);
    }
    assert!(lengths.windows(2).all(|w| w[0] == w[1]), "{lengths:?}");
}

#[test]
fn buffer_contract_is_checked() {
    for suite in all_suites() {
        let (out, _) = pair(suite, &EspSaConfig::default());
        let inner = inner_packet(100, false, 0);
        let (mut buf, range) = staged(&out, &inner);
        // No headroom.
        let mut tight = inner.clone();
        tight.resize(200, 0);
        assert!(matches!(
            out.encapsulate(&mut tight, 0..100),
            Err(EspError::BufferTooSmall { .. })
        ));
        // No tailroom.
        let end = range.end;
        assert!(matches!(
            out.encapsulate(&mut buf[..end], range.clone()),
            Err(EspError::BufferTooSmall { .. })
        ));
        // Not IP, empty, or out of bounds.
        buf[range.start] = 0x20;
        assert_eq!(
            out.encapsulate(&mut buf, range.clone()),
            Err(EspError::UnsupportedInnerPacket { version: 2 })
        );
        assert_eq!(
            out.encapsulate(&mut buf, 30..30),
            Err(EspError::UnsupportedInnerPacket { version: 0 })
        );
        assert!(out.encapsulate(&mut buf, 30..100_000).is_err());
        let mut huge = vec![0x45u8; 70_000 + 64];
        assert_eq!(
            out.encapsulate(&mut huge, 32..70_032),
            Err(EspError::InnerTooLong {
                len: 70_000,
                max: esp::MAX_INNER_LEN
            })
        );
        // Failed calls use no sequence number.
        assert_eq!(out.next_sequence(), 1);
        assert_eq!(esp::headroom(&suite), out.headroom());
        assert_eq!(esp::max_overhead(&suite), suite.max_overhead());
        assert!(out.headroom() <= esp::MAX_HEADROOM);
        assert!(out.max_tailroom() <= esp::MAX_TAILROOM);
    }
}

#[test]
fn sa_pair_from_keymat_interoperates() {
    use ipsec_types::{ChildSaKeys, Role, Spi};
    for suite in all_suites() {
        let keymat: Vec<u8> = (0..=255u8).cycle().take(400).collect();
        let (a, b) = (Spi::new(0x1111).unwrap(), Spi::new(0x2222).unwrap());
        let ini = ChildSaKeys::from_keymat(suite, Role::Initiator, a, b, &keymat).unwrap();
        let res = ChildSaKeys::from_keymat(suite, Role::Responder, b, a, &keymat).unwrap();
        let (ini_out, mut ini_in) = esp::sa_pair(&ini, &EspSaConfig::default()).unwrap();
        let (res_out, mut res_in) = esp::sa_pair(&res, &EspSaConfig::default()).unwrap();
        let inner = inner_packet(60, true, 3);
        let mut p = seal(&ini_out, &inner);
        assert_eq!(esp::packet_spi(&p), Some(b));
        assert!(res_in.decapsulate(&mut p).is_ok());
        let mut p = seal(&res_out, &inner);
        assert!(ini_in.decapsulate(&mut p).is_ok());
        // Our own outbound packets are not for our inbound SA.
        let mut p = seal(&ini_out, &inner);
        assert!(matches!(
            ini_in.decapsulate(&mut p),
            Err(EspError::UnknownSpi { .. })
        ));
    }
}

#[test]
fn wrong_keys_fail_authentication_and_bad_key_lengths_are_refused() {
    use ipsec_types::Spi;
    for suite in all_suites() {
        let (out, _) = pair(suite, &EspSaConfig::default());
        let wrong = esp::manual_keys(
            Spi::new(common::SPI).unwrap(),
            &vec![9; suite.encr.keymat_len()],
            &vec![9; suite.integ.map_or(0, |i| i.key_len())],
        );
        let mut inb = esp::InboundSa::new(suite, &wrong, &EspSaConfig::default()).unwrap();
        let mut p = seal(&out, &inner_packet(80, false, 0));
        assert_eq!(
            inb.decapsulate(&mut p),
            Err(EspError::AuthenticationFailed { seq: 1 })
        );
        let short = esp::manual_keys(Spi::new(1000).unwrap(), &[1; 3], &[]);
        assert!(esp::OutboundSa::new(suite, &short, &EspSaConfig::default()).is_err());
        assert!(esp::InboundSa::new(suite, &short, &EspSaConfig::default()).is_err());
    }
}

#[test]
fn cbc_ivs_differ_per_packet_and_per_seed() {
    use ipsec_types::Spi;
    let suite = all_suites()
        .into_iter()
        .find(|s| !s.encr.is_aead())
        .unwrap();
    let keys = esp::manual_keys(Spi::new(0x500).unwrap(), &[1; 32], &[2; 64]);
    let keys = esp::manual_keys(
        keys.spi,
        &keys.encr_key[..suite.encr.keymat_len()],
        &keys.integ_key[..suite.integ.unwrap().key_len()],
    );
    let cfg = EspSaConfig::default();
    let a = esp::OutboundSa::new(suite, &keys, &cfg).unwrap();
    let b = esp::OutboundSa::with_iv_seed(suite, &keys, &cfg, &[7; 32]).unwrap();
    let inner = inner_packet(40, false, 0);
    let (pa1, pa2, pb1) = (seal(&a, &inner), seal(&a, &inner), seal(&b, &inner));
    assert_ne!(pa1[8..24], pa2[8..24]);
    assert_ne!(pa1[8..24], pb1[8..24]);
    // Not the plain counter.
    assert_ne!(pa1[8..24], [0; 16]);
    assert!(format!("{a:?}").contains("OutboundSa"));
}

#[test]
fn udp_encapsulated_round_trip() {
    let suite = all_suites()[2];
    let (out, mut inb) = pair(suite, &EspSaConfig::default());
    let inner = inner_packet(200, true, 9);
    let at = esp::UDP_HEADER_LEN + out.headroom();
    let mut buf = vec![0u8; at + inner.len() + out.max_tailroom()];
    buf[at..at + inner.len()].copy_from_slice(&inner);
    let sent = out.encapsulate(&mut buf, at..at + inner.len()).unwrap();
    let datagram = esp::encapsulate_esp(&mut buf, sent.packet, 4500, esp::NAT_T_PORT).unwrap();
    assert_eq!(datagram.start, 0);
    let (header, kind) = esp::classify_datagram(&buf[datagram.clone()]).unwrap();
    assert_eq!(header.dst_port, esp::NAT_T_PORT);
    let esp::UdpPayload::Esp(range) = kind else {
        panic!("not ESP: {kind:?}")
    };
    let got = inb.decapsulate(&mut buf[range.clone()]).unwrap();
    let start = range.start;
    assert_eq!(buf[start + got.inner.start..start + got.inner.end], inner);
}
