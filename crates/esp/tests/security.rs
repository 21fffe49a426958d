//! Tampering, anti-replay edges, ESN rollover, sequence exhaustion, lifetimes, concurrency.

mod common;

use common::{all_suites, inner_packet, pair, seal};
use esp::{EspError, EspSaConfig, LifetimeKind, RekeyReason, SaEvent};
use ipsec_types::SaLifetime;

#[test]
fn every_flipped_byte_is_rejected_and_does_not_move_the_window() {
    for suite in all_suites() {
        let (out, mut inb) = pair(suite, &EspSaConfig::default());
        let inner = inner_packet(45, false, 7);
        let packet = seal(&out, &inner);
        for i in 0..packet.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut forged = packet.clone();
                forged[i] ^= mask;
                let err = inb.decapsulate(&mut forged).unwrap_err();
                if i < 4 {
                    assert!(
                        matches!(err, EspError::UnknownSpi { .. }),
                        "{suite} byte {i}: {err}"
                    );
                } else if i < 8 {
                    // A changed sequence number may fall outside the window (0, or another ESN
                    // subspace); either way it is never accepted.
                    assert!(
                        matches!(
                            err,
                            EspError::AuthenticationFailed { .. } | EspError::OutsideWindow { .. }
                        ),
                        "{suite} byte {i}: {err}"
                    );
                } else {
                    assert!(
                        matches!(err, EspError::AuthenticationFailed { .. }),
                        "{suite} byte {i}: {err}"
                    );
                }
            }
        }
        let c = inb.counters();
        let tries = 3 * packet.len() as u64;
        assert_eq!(
            c.auth_failures + c.malformed + c.replay_drops,
            tries,
            "{suite}"
        );
        assert_eq!(c.malformed, 12, "{suite}: only the SPI flips are malformed");
        assert_eq!(c.packets, 0);
        assert_eq!(
            inb.highest_sequence(),
            0,
            "{suite}: forgeries moved the window"
        );
        // The genuine packet still goes through, once.
        let mut genuine = packet.clone();
        assert_eq!(inb.decapsulate(&mut genuine).unwrap().seq, 1);
        let mut genuine = packet.clone();
        assert_eq!(
            inb.decapsulate(&mut genuine),
            Err(EspError::Replayed { seq: 1 })
        );
        assert_eq!(inb.counters().packets, 1);
    }
}

#[test]
fn truncated_and_extended_packets_are_rejected() {
    for suite in all_suites() {
        let (out, mut inb) = pair(suite, &EspSaConfig::default());
        let packet = seal(&out, &inner_packet(64, false, 1));
        for len in 0..packet.len() {
            let mut cut = packet[..len].to_vec();
            assert!(inb.decapsulate(&mut cut).is_err(), "{suite} len {len}");
        }
        let mut longer = packet.clone();
        longer.push(0);
        assert!(inb.decapsulate(&mut longer).is_err());
        assert_eq!(inb.highest_sequence(), 0);
    }
}

#[test]
fn replay_window_edges() {
    for esn in [false, true] {
        let suite = ipsec_types::EspSuite {
            esn,
            ..all_suites()[0]
        };
        let config = EspSaConfig {
            replay_window: 64,
            ..EspSaConfig::default()
        };
        let (out, mut inb) = pair(suite, &config);
        let inner = inner_packet(40, false, 0);
        let packets: Vec<Vec<u8>> = (0..200).map(|_| seal(&out, &inner)).collect();
        let mut rx = |seq: usize| inb.decapsulate(&mut packets[seq - 1].clone());

        assert!(rx(1).is_ok());
        assert_eq!(rx(1), Err(EspError::Replayed { seq: 1 }));
        // Far ahead: accepted, the window slides.
        assert!(rx(100).is_ok());
        // Out of order inside the window.
        assert!(rx(37).is_ok());
        assert!(rx(99).is_ok());
        assert_eq!(rx(37), Err(EspError::Replayed { seq: 37 }));
        // The first number below the window (100 - 64). With ESN, RFC 4303 Appendix A reads a
        // number below the window as the next 2^32 subspace, where its ICV cannot verify.
        let below = |seq: u64, top: u64| {
            if esn {
                EspError::AuthenticationFailed {
                    seq: seq + (1 << 32),
                }
            } else {
                EspError::OutsideWindow { seq, top }
            }
        };
        assert_eq!(rx(36), Err(below(36, 100)));
        assert!(rx(40).is_ok());
        assert!(rx(101).is_ok());
        assert_eq!(rx(37), Err(below(37, 101)));
        // The oldest number still inside (101 - 64 + 1).
        assert!(rx(38).is_ok());
        let c = inb.counters();
        assert_eq!(c.replay_drops + c.auth_failures, 4);
        assert_eq!(c.replay_drops, if esn { 2 } else { 4 });
        assert_eq!(c.packets, 7);
    }
}

#[test]
fn disabled_window_accepts_replays() {
    let config = EspSaConfig {
        replay_window: 0,
        ..EspSaConfig::default()
    };
    let (out, mut inb) = pair(all_suites()[0], &config);
    let p = seal(&out, &inner_packet(40, false, 0));
    assert!(inb.decapsulate(&mut p.clone()).is_ok());
    assert!(inb.decapsulate(&mut p.clone()).is_ok());
}

#[test]
fn esn_rollover_at_2_pow_32() {
    for suite in all_suites().into_iter().filter(|s| s.esn) {
        let (out, mut inb) = pair(suite, &EspSaConfig::default());
        let inner = inner_packet(40, false, 0);
        let mut step = |next: u64| {
            out.skip_sequence_to(next);
            let mut p = seal(&out, &inner);
            assert_eq!(p[4..8], (next as u32).to_be_bytes());
            inb.decapsulate(&mut p)
        };
        assert_eq!(step(1).unwrap().seq, 1);
        assert_eq!(step(1 << 31).unwrap().seq, 1 << 31);
        assert_eq!(step(0xffff_fffe).unwrap().seq, 0xffff_fffe);
        // The low half wraps to 0; the receiver infers the high half 1.
        assert_eq!(step(0x1_0000_0000).unwrap().seq, 0x1_0000_0000);
        assert_eq!(step(0x1_0000_0001).unwrap().seq, 0x1_0000_0001);
        assert_eq!(inb.highest_sequence(), 0x1_0000_0001);
        // A late packet from before the wrap is still placed in subspace 0.
        out.skip_sequence_to(0x1_0000_0002);
        let late = {
            // Build it with a second sender that is behind (same keys).
            let (late_out, _) = pair(suite, &EspSaConfig::default());
            late_out.skip_sequence_to(0xffff_ffff);
            seal(&late_out, &inner)
        };
        assert_eq!(inb.decapsulate(&mut late.clone()).unwrap().seq, 0xffff_ffff);
        assert_eq!(
            inb.decapsulate(&mut late.clone()),
            Err(EspError::Replayed { seq: 0xffff_ffff })
        );
    }
}

#[test]
fn sequence_numbers_are_never_wrapped() {
    for suite in all_suites() {
        let (out, _) = pair(suite, &EspSaConfig::default());
        let inner = inner_packet(40, false, 0);
        let last = if suite.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        out.skip_sequence_to(last - 1);
        let send = || {
            let (mut buf, range) = common::staged(&out, &inner);
            out.encapsulate(&mut buf, range)
        };
        assert_eq!(
            send().unwrap().event,
            Some(SaEvent::RekeyNeeded {
                spi: out.spi(),
                reason: RekeyReason::SequenceSpace
            })
        );
        let final_packet = send().unwrap();
        assert_eq!((final_packet.seq, final_packet.event), (last, None));
        assert_eq!(send(), Err(EspError::SequenceExhausted));
        assert_eq!(send(), Err(EspError::SequenceExhausted));
        // Moving backwards is impossible.
        out.skip_sequence_to(5);
        assert_eq!(send(), Err(EspError::SequenceExhausted));
    }
}

#[test]
fn lifetimes_raise_one_event_then_expire() {
    let config = EspSaConfig {
        lifetime: SaLifetime {
            soft_packets: Some(3),
            hard_packets: Some(5),
            soft_bytes: None,
            hard_bytes: None,
        },
        ..EspSaConfig::default()
    };
    let (out, mut inb) = pair(all_suites()[1], &config);
    let inner = inner_packet(100, false, 0);
    let mut events = Vec::new();
    for i in 1..=5 {
        let (mut buf, range) = common::staged(&out, &inner);
        let sent = out.encapsulate(&mut buf, range).unwrap();
        events.push(sent.event);
        let got = inb.decapsulate(&mut buf[sent.packet]).unwrap();
        assert_eq!(got.event.is_some(), i == 3);
    }
    assert_eq!(events.iter().filter(|e| e.is_some()).count(), 1);
    assert_eq!(
        events[2],
        Some(SaEvent::RekeyNeeded {
            spi: out.spi(),
            reason: RekeyReason::SoftPackets
        })
    );
    let (mut buf, range) = common::staged(&out, &inner);
    assert_eq!(
        out.encapsulate(&mut buf, range),
        Err(EspError::LifetimeExpired(LifetimeKind::Packets))
    );

    let bytes = EspSaConfig {
        lifetime: SaLifetime {
            soft_bytes: Some(150),
            hard_bytes: Some(300),
            ..SaLifetime::default()
        },
        ..EspSaConfig::default()
    };
    let (out, _) = pair(all_suites()[4], &bytes);
    let (unlimited, _) = pair(all_suites()[4], &EspSaConfig::default());
    let (_, mut inb) = pair(all_suites()[4], &bytes);
    let p: Vec<Vec<u8>> = (0..4).map(|_| seal(&unlimited, &inner)).collect();
    for _ in 0..3 {
        let _ = seal(&out, &inner);
    }
    assert!(inb.decapsulate(&mut p[0].clone()).unwrap().event.is_none());
    assert_eq!(
        inb.decapsulate(&mut p[1].clone()).unwrap().event,
        Some(SaEvent::RekeyNeeded {
            spi: inb.spi(),
            reason: RekeyReason::SoftBytes
        })
    );
    assert!(inb.decapsulate(&mut p[2].clone()).is_ok());
    assert_eq!(
        inb.decapsulate(&mut p[3].clone()),
        Err(EspError::LifetimeExpired(LifetimeKind::Bytes))
    );
    let (mut buf, range) = common::staged(&out, &inner);
    assert_eq!(
        out.encapsulate(&mut buf, range),
        Err(EspError::LifetimeExpired(LifetimeKind::Bytes))
    );
}

#[test]
fn outbound_sa_is_shared_across_threads() {
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<esp::OutboundSa>();
    fn assert_send<T: Send>() {}
    assert_send::<esp::InboundSa>();

    let suite = all_suites()[0];
    let config = EspSaConfig {
        replay_window: 4096,
        ..EspSaConfig::default()
    };
    let (out, mut inb) = pair(suite, &config);
    let packets: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let out = &out;
                s.spawn(move || {
                    (0..500)
                        .map(|_| seal(out, &inner_packet(100, false, t)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut seqs: Vec<u64> = packets
        .into_iter()
        .map(|mut p| inb.decapsulate(&mut p).unwrap().seq)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=2000).collect::<Vec<_>>());
    assert_eq!(out.counters().packets, 2000);
}
