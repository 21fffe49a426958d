//! Codec tests: a hand-built IKE_SA_INIT, round trips for every Repr, and garbage input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipsec_types::{IkeSpi, TrafficSelector, transform_type};
use proptest::prelude::*;

use super::rules::{self, RuleViolation};
use super::*;

/// An IKE_SA_INIT request laid out byte by byte after RFC 7296 §3.1–§3.10.
#[rustfmt::skip]
fn hand_built_sa_init() -> Vec<u8> {
    let mut m = vec![
        // IKE header
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // SPIi
        0, 0, 0, 0, 0, 0, 0, 0,                         // SPIr
        33,                                             // next: SA
        0x20,                                           // version 2.0
        34,                                             // IKE_SA_INIT
        0x08,                                           // flags: Initiator
        0, 0, 0, 0,                                     // message ID
        0, 0, 0, 172,                                   // length
        // SA payload
        34, 0, 0, 40,                                   // next: KE, length 40
        0, 0, 0, 36, 1, 1, 0, 3,                        // last proposal, len 36, #1, IKE, no SPI, 3 transforms
        3, 0, 0, 12, 1, 0, 0, 20, 0x80, 14, 0x01, 0x00, // ENCR AES-GCM-16, Key Length 256 (TV)
        3, 0, 0, 8, 2, 0, 0, 7,                         // PRF HMAC-SHA2-512
        0, 0, 0, 8, 4, 0, 0, 31,                        // last: DH Curve25519
        // KE payload
        40, 0, 0, 40, 0, 31, 0, 0,                      // next: Nonce, length 40, group 31
    ];
    m.extend_from_slice(&[0x11; 32]);
    m.extend_from_slice(&[41, 0, 0, 36]); // Nonce: next N, length 36
    m.extend_from_slice(&[0x22; 32]);
    m.extend_from_slice(&[0, 0, 0, 28, 0, 0, 0x40, 0x04]); // N: last, len 28, NAT_DETECTION_SOURCE_IP
    m.extend_from_slice(&[0x33; 20]);
    m
}

#[test]
fn parses_hand_built_sa_init() {
    let bytes = hand_built_sa_init();
    assert_eq!(bytes.len(), 172);
    let msg = Message::parse(&bytes).unwrap();
    assert_eq!(msg.header.initiator_spi, IkeSpi([1, 2, 3, 4, 5, 6, 7, 8]));
    assert!(msg.header.responder_spi.is_zero());
    assert_eq!(msg.header.exchange_type, ExchangeType::IKE_SA_INIT);
    assert!(msg.header.flags.initiator() && !msg.header.flags.response());
    let [
        Payload::Sa(sa),
        Payload::Ke(ke),
        Payload::Nonce(nonce),
        Payload::Notify(n),
    ] = msg.payloads.as_slice()
    else {
        panic!("unexpected payloads {:?}", msg.payloads)
    };
    let [proposal] = sa.proposals.as_slice() else {
        panic!()
    };
    assert_eq!(proposal.protocol, ProtocolId::IKE);
    assert_eq!(proposal.transforms.len(), 3);
    assert_eq!(proposal.transforms[0].transform_type, transform_type::ENCR);
    assert_eq!(proposal.transforms[0].key_length(), Some(256));
    assert_eq!(proposal.transforms[2].transform_id, 31);
    assert_eq!(ke.group, 31);
    assert_eq!(ke.data, [0x11; 32]);
    assert_eq!(nonce.nonce, [0x22; 32]);
    assert_eq!(n.notify_type, NotifyType::NAT_DETECTION_SOURCE_IP);
    assert_eq!(n.data, [0x33; 20]);
    rules::check_outer(&msg.header, &msg.payloads).unwrap();
    // Emitting what we parsed gives the same bytes back.
    assert_eq!(msg.emit(), bytes);
}

#[test]
fn header_checks() {
    let mut bytes = hand_built_sa_init();
    assert_eq!(
        Message::parse(&bytes[..27]),
        Err(WireError::Truncated("IKE header"))
    );
    bytes[17] = 0x30;
    assert_eq!(
        Message::parse(&bytes),
        Err(WireError::UnsupportedMajorVersion(3))
    );
    assert_eq!(
        WireError::UnsupportedMajorVersion(3).notify_type(),
        NotifyType::INVALID_MAJOR_VERSION
    );
    bytes[17] = 0x20;
    bytes[27] = 171;
    assert_eq!(
        Message::parse(&bytes),
        Err(WireError::BadLength("IKE header"))
    );
    bytes[27] = 172;
    bytes.push(0);
    assert_eq!(
        Message::parse(&bytes),
        Err(WireError::BadLength("IKE header"))
    );
}

#[test]
fn unknown_payloads_follow_the_critical_bit() {
    let mut bytes = hand_built_sa_init();
    // Append an unknown payload type 200 after the Notify.
    let notify_at = bytes.len() - 28;
    bytes[notify_at] = 200;
    bytes.extend_from_slice(&[0, 0, 0, 6, 0xaa, 0xbb]);
    bytes[27] += 6;
    let msg = Message::parse(&bytes).unwrap();
    assert_eq!(
        msg.payloads.len(),
        4,
        "non-critical unknown payload skipped"
    );
    let crit = bytes.len() - 5;
    bytes[crit] = 0x80;
    let err = Message::parse(&bytes).unwrap_err();
    assert_eq!(err, WireError::UnsupportedCriticalPayload(200));
    assert_eq!(err.notify_type(), NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
}

#[test]
fn payload_count_is_bounded() {
    let header = HeaderRepr {
        initiator_spi: IkeSpi([1; 8]),
        responder_spi: IkeSpi::ZERO,
        exchange_type: ExchangeType::INFORMATIONAL,
        flags: Flags::new(true, false),
        message_id: 1,
    };
    let payloads = vec![Payload::VendorId(VendorIdRepr { data: vec![] }); MAX_PAYLOADS + 1];
    let msg = Message { header, payloads };
    assert_eq!(
        Message::parse(&msg.emit()),
        Err(WireError::TooMany("payloads"))
    );
}

#[test]
fn encrypted_message_parts() {
    let header = HeaderRepr {
        initiator_spi: IkeSpi([1; 8]),
        responder_spi: IkeSpi([2; 8]),
        exchange_type: ExchangeType::IKE_AUTH,
        flags: Flags::new(true, false),
        message_id: 1,
    };
    let inner = vec![
        Payload::IdI(Identity::Fqdn("client.example".into()).to_repr()),
        Payload::Auth(AuthRepr {
            method: AuthMethod::SHARED_KEY_MIC,
            data: vec![9; 32],
        }),
    ];
    // A stand-in "cipher": 8-byte IV, plaintext reversed, 16-byte tag.
    let bytes = emit_encrypted::<()>(
        &header,
        &[],
        &inner,
        |n| n + 24,
        |aad, plain| {
            assert_eq!(aad.len(), HEADER_LEN + GENERIC_HEADER_LEN);
            assert_eq!(&aad[24..28], &(28u32 + 4 + 22 + 40 + 24).to_be_bytes());
            let mut body = vec![0xee; 8];
            body.extend(plain.iter().rev());
            body.extend_from_slice(&[0xff; 16]);
            Ok(body)
        },
    )
    .unwrap();
    let msg = Message::parse(&bytes).unwrap();
    rules::check_outer(&msg.header, &msg.payloads).unwrap();
    let parts = msg.encrypted(&bytes).unwrap();
    assert_eq!(parts.first_inner, PayloadType::IDI);
    assert_eq!(parts.aad, &bytes[..32]);
    assert_eq!(parts.fragment, None);
    let plain: Vec<u8> = parts.body[8..parts.body.len() - 16]
        .iter()
        .rev()
        .copied()
        .collect();
    let got = parse_payload_chain(parts.first_inner, &plain).unwrap();
    assert_eq!(got, inner);
    rules::check_inner(&msg.header, &got).unwrap();
}

#[test]
fn fragments_round_trip() {
    let header = HeaderRepr {
        initiator_spi: IkeSpi([1; 8]),
        responder_spi: IkeSpi([2; 8]),
        exchange_type: ExchangeType::IKE_AUTH,
        flags: Flags::new(false, true),
        message_id: 1,
    };
    let inner = vec![
        Payload::IdR(Identity::Fqdn("gw.example.net".into()).to_repr()),
        Payload::Cert(CertRepr {
            encoding: CertEncoding::X509_SIGNATURE,
            data: (0..=255).collect(),
        }),
    ];
    // A stand-in "cipher" that stores the plaintext behind a 4-byte tag.
    let fragments = emit_encrypted_fragments::<()>(
        &header,
        &inner,
        100,
        |n| n + 4,
        |aad, plain| {
            assert_eq!(aad[16], PayloadType::SKF.0);
            let mut body = vec![0xaa; 4];
            body.extend_from_slice(plain);
            Ok(body)
        },
    )
    .unwrap();
    assert_eq!(fragments.len(), 3);
    let mut joined = Vec::new();
    let mut first = PayloadType::NONE;
    for (i, bytes) in fragments.iter().enumerate() {
        let msg = Message::parse(bytes).unwrap();
        rules::check_outer(&msg.header, &msg.payloads).unwrap();
        let parts = msg.encrypted(bytes).unwrap();
        let number = u16::try_from(i + 1).unwrap();
        assert_eq!(parts.fragment, Some((number, 3)));
        if number == 1 {
            first = parts.first_inner;
        } else {
            assert_eq!(parts.first_inner, PayloadType::NONE);
        }
        joined.extend_from_slice(&parts.body[4..]);
    }
    assert_eq!(parse_payload_chain(first, &joined).unwrap(), inner);
}

#[test]
fn exchange_rules() {
    let mut header = HeaderRepr {
        initiator_spi: IkeSpi([1; 8]),
        responder_spi: IkeSpi::ZERO,
        exchange_type: ExchangeType::IKE_SA_INIT,
        flags: Flags::new(false, true),
        message_id: 0,
    };
    let cookie = Payload::Notify(NotifyRepr::new(NotifyType::COOKIE, vec![1; 16]));
    rules::check_outer(&header, std::slice::from_ref(&cookie)).unwrap();
    let nonce = Payload::Nonce(NonceRepr { nonce: vec![0; 32] });
    assert_eq!(
        rules::check_outer(&header, std::slice::from_ref(&nonce)),
        Err(RuleViolation::Missing(
            ExchangeType::IKE_SA_INIT,
            PayloadType::SA
        ))
    );
    assert_eq!(
        rules::check_outer(&header, &[nonce.clone(), nonce.clone(), cookie.clone()]),
        Err(RuleViolation::TooMany(
            ExchangeType::IKE_SA_INIT,
            PayloadType::NONCE
        ))
    );
    header.exchange_type = ExchangeType::IKE_AUTH;
    assert_eq!(
        rules::check_outer(&header, &[cookie]),
        Err(RuleViolation::NotEncrypted(ExchangeType::IKE_AUTH))
    );
    assert_eq!(
        rules::check_inner(&header, &[nonce]),
        Err(RuleViolation::NotAllowed(
            ExchangeType::IKE_AUTH,
            PayloadType::NONCE
        ))
    );
    header.exchange_type = ExchangeType(99);
    assert_eq!(
        rules::check_outer(&header, &[]),
        Err(RuleViolation::UnknownExchange(ExchangeType(99)))
    );
}

#[test]
fn identity_forms() {
    for id in [
        Identity::Ipv4(Ipv4Addr::new(10, 1, 2, 3)),
        Identity::Ipv6(Ipv6Addr::LOCALHOST),
        Identity::Fqdn("vpn.example.com".into()),
        Identity::Email("alice@example.com".into()),
        Identity::KeyId(vec![1, 2, 3]),
        Identity::DerAsn1Dn(vec![0x30, 0]),
    ] {
        assert_eq!(Identity::from_repr(&id.to_repr()), id);
    }
    let odd = IdRepr {
        id_type: IdType::IPV4_ADDR,
        data: vec![1, 2, 3],
    };
    assert_eq!(
        Identity::from_repr(&odd),
        Identity::Other(IdType::IPV4_ADDR, vec![1, 2, 3])
    );
    assert_eq!(
        Identity::Fqdn("a.b".into()).to_repr().to_body(),
        [2, 0, 0, 0, b'a', b'.', b'b']
    );
}

#[test]
fn notify_names() {
    assert_eq!(NotifyType(16430), NotifyType::IKEV2_FRAGMENTATION_SUPPORTED);
    assert_eq!(
        NotifyType::SIGNATURE_HASH_ALGORITHMS.name(),
        Some("SIGNATURE_HASH_ALGORITHMS")
    );
    assert!(NotifyType::NO_PROPOSAL_CHOSEN.is_error());
    assert!(!NotifyType::COOKIE.is_error());
    assert_eq!(format!("{:?}", NotifyType(60000)), "NotifyType(60000)");
}

// ---- proptest strategies ----

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

fn attribute() -> impl Strategy<Value = AttributeRepr> {
    prop_oneof![
        (0u16..0x8000, any::<u16>())
            .prop_map(|(attr_type, value)| AttributeRepr::Tv { attr_type, value }),
        (0u16..0x8000, bytes(12))
            .prop_map(|(attr_type, value)| AttributeRepr::Tlv { attr_type, value }),
    ]
}

fn transform() -> impl Strategy<Value = TransformRepr> {
    (
        any::<u8>(),
        any::<u16>(),
        prop::collection::vec(attribute(), 0..3),
    )
        .prop_map(|(transform_type, transform_id, attributes)| TransformRepr {
            transform_type,
            transform_id,
            attributes,
        })
}

fn proposal() -> impl Strategy<Value = ProposalRepr> {
    (
        any::<u8>(),
        any::<u8>(),
        prop_oneof![Just(0usize), Just(4), Just(8)],
        prop::collection::vec(transform(), 0..6),
    )
        .prop_flat_map(|(number, protocol, spi_len, transforms)| {
            prop::collection::vec(any::<u8>(), spi_len).prop_map(move |spi| ProposalRepr {
                number,
                protocol: ProtocolId(protocol),
                spi,
                transforms: transforms.clone(),
            })
        })
}

fn sa() -> impl Strategy<Value = SaRepr> {
    prop::collection::vec(proposal(), 1..4).prop_map(|proposals| SaRepr { proposals })
}

fn selector() -> impl Strategy<Value = TrafficSelector> {
    (
        any::<u8>(),
        any::<[u16; 2]>(),
        any::<bool>(),
        any::<[u128; 2]>(),
    )
        .prop_map(|(proto, mut ports, v4, mut addrs)| {
            ports.sort_unstable();
            if v4 {
                addrs = addrs.map(|a| a & 0xffff_ffff);
            }
            addrs.sort_unstable();
            let to_ip = |a: u128| {
                if v4 {
                    IpAddr::V4(Ipv4Addr::from(u32::try_from(a).unwrap()))
                } else {
                    IpAddr::V6(Ipv6Addr::from(a))
                }
            };
            TrafficSelector::new(proto, ports[0], ports[1], to_ip(addrs[0]), to_ip(addrs[1]))
                .unwrap()
        })
}

fn config_attribute() -> impl Strategy<Value = ConfigAttribute> {
    let v4 = || prop::option::of(any::<[u8; 4]>().prop_map(Ipv4Addr::from));
    prop_oneof![
        v4().prop_map(ConfigAttribute::Ip4Address),
        v4().prop_map(ConfigAttribute::Ip4Netmask),
        v4().prop_map(ConfigAttribute::Ip4Dns),
        prop::option::of((any::<u128>(), 0u8..=128).prop_map(|(a, l)| (Ipv6Addr::from(a), l)))
            .prop_map(ConfigAttribute::Ip6Address),
        prop::option::of(any::<u128>().prop_map(Ipv6Addr::from)).prop_map(ConfigAttribute::Ip6Dns),
        prop::option::of("[a-z]{1,10}(\\.[a-z]{1,10}){0,3}").prop_map(ConfigAttribute::DnsDomain),
        bytes(16).prop_map(ConfigAttribute::ApplicationVersion),
        (0u16..0x8000, bytes(16))
            .prop_filter("typed numbers have variants", |(t, _)| {
                !ConfigAttributeType(*t).is_typed()
            })
            .prop_map(|(t, value)| ConfigAttribute::Other {
                attr_type: ConfigAttributeType(t),
                value
            }),
    ]
}

fn delete() -> impl Strategy<Value = DeleteRepr> {
    (any::<u8>(), 1u8..=8, 0usize..4).prop_flat_map(|(protocol, spi_size, n)| {
        prop::collection::vec(prop::collection::vec(any::<u8>(), usize::from(spi_size)), n)
            .prop_map(move |spis| DeleteRepr {
                protocol: ProtocolId(protocol),
                spi_size,
                spis,
            })
    })
}

fn eap() -> impl Strategy<Value = EapRepr> {
    (any::<u8>(), any::<u8>(), bytes(40)).prop_map(|(code, id, data)| {
        let len = u16::try_from(data.len() + 4).unwrap().to_be_bytes();
        let mut message = vec![code, id, len[0], len[1]];
        message.extend_from_slice(&data);
        EapRepr { message }
    })
}

/// Every payload except SK/SKF (which only end a chain).
fn plain_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        sa().prop_map(Payload::Sa),
        (any::<u16>(), bytes(64)).prop_map(|(group, data)| Payload::Ke(KeRepr { group, data })),
        (any::<u8>(), bytes(20)).prop_map(|(t, data)| Payload::IdI(IdRepr {
            id_type: IdType(t),
            data
        })),
        (any::<u8>(), bytes(20)).prop_map(|(t, data)| Payload::IdR(IdRepr {
            id_type: IdType(t),
            data
        })),
        (any::<u8>(), bytes(40)).prop_map(|(e, data)| Payload::Cert(CertRepr {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(40)).prop_map(|(e, data)| Payload::CertReq(CertRepr {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(64)).prop_map(|(m, data)| Payload::Auth(AuthRepr {
            method: AuthMethod(m),
            data
        })),
        prop::collection::vec(any::<u8>(), 16..=256)
            .prop_map(|nonce| Payload::Nonce(NonceRepr { nonce })),
        (any::<u8>(), bytes(8), any::<u16>(), bytes(32)).prop_map(|(p, spi, t, data)| {
            Payload::Notify(NotifyRepr {
                protocol: ProtocolId(p),
                spi,
                notify_type: NotifyType(t),
                data,
            })
        }),
        delete().prop_map(Payload::Delete),
        bytes(32).prop_map(|data| Payload::VendorId(VendorIdRepr { data })),
        prop::collection::vec(selector(), 0..4)
            .prop_map(|selectors| Payload::TsI(TsRepr { selectors })),
        prop::collection::vec(selector(), 0..4)
            .prop_map(|selectors| Payload::TsR(TsRepr { selectors })),
        (any::<u8>(), prop::collection::vec(config_attribute(), 0..6)).prop_map(
            |(t, attributes)| Payload::Cp(CpRepr {
                cfg_type: CfgType(t),
                attributes
            })
        ),
        eap().prop_map(Payload::Eap),
    ]
}

fn sealed_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (any::<u8>(), bytes(64)).prop_map(|(t, body)| Payload::Sk(SkRepr {
            first_inner: PayloadType(t),
            body
        })),
        (any::<u8>(), 1u16..10, 0u16..10, bytes(64)).prop_map(|(t, number, extra, body)| {
            Payload::Skf(SkfRepr {
                first_inner: PayloadType(t),
                fragment_number: number,
                total_fragments: number + extra,
                body,
            })
        }),
    ]
}

fn header() -> impl Strategy<Value = HeaderRepr> {
    (
        any::<[u8; 8]>(),
        any::<[u8; 8]>(),
        any::<u8>(),
        any::<u8>(),
        any::<u32>(),
    )
        .prop_map(|(i, r, exchange, flags, message_id)| HeaderRepr {
            initiator_spi: IkeSpi(i),
            responder_spi: IkeSpi(r),
            exchange_type: ExchangeType(exchange),
            flags: Flags(flags),
            message_id,
        })
}

fn message() -> impl Strategy<Value = Message> {
    (
        header(),
        prop::collection::vec(plain_payload(), 0..8),
        prop::option::of(sealed_payload()),
    )
        .prop_map(|(header, mut payloads, sealed)| {
            payloads.extend(sealed);
            Message { header, payloads }
        })
}

fn body_round_trip(payload: &Payload) {
    let mut body = Vec::new();
    payload.emit_body(&mut body);
    assert_eq!(body.len(), payload.body_len());
    let mut parsed = Payload::parse(payload.payload_type(), &body)
        .unwrap()
        .unwrap();
    // The chain walker, not the body, carries SK/SKF's first inner type.
    if let (Payload::Sk(a), Payload::Sk(b)) = (&mut parsed, payload) {
        a.first_inner = b.first_inner;
    }
    if let (Payload::Skf(a), Payload::Skf(b)) = (&mut parsed, payload) {
        a.first_inner = b.first_inner;
    }
    assert_eq!(&parsed, payload);
}

proptest! {
    #[test]
    fn every_payload_round_trips(payload in prop_oneof![plain_payload(), sealed_payload()]) {
        body_round_trip(&payload);
    }

    #[test]
    fn messages_round_trip(msg in message()) {
        let bytes = msg.emit();
        prop_assert_eq!(bytes.len(), msg.buffer_len());
        let parsed = Message::parse(&bytes).unwrap();
        prop_assert_eq!(parsed, msg);
    }

    #[test]
    fn chains_round_trip(payloads in prop::collection::vec(plain_payload(), 0..10)) {
        let mut out = Vec::new();
        emit_payload_chain(&payloads, &mut out);
        let first = payloads.first().map_or(PayloadType::NONE, Payload::payload_type);
        prop_assert_eq!(parse_payload_chain(first, &out).unwrap(), payloads);
    }

    #[test]
    fn garbage_never_panics(data in bytes(600), ty in any::<u8>()) {
        let _ = Message::parse(&data);
        let _ = parse_payload_chain(PayloadType(ty), &data);
        let _ = Payload::parse(PayloadType(ty), &data);
        for known in (33u8..=48).chain([53]) {
            let _ = Payload::parse(PayloadType(known), &data);
        }
        if let Ok(h) = IkeHeader::new_checked(&data) {
            let _ = (h.next_payload(), h.length(), h.message_id(), h.flags());
        }
        if let Ok(g) = GenericPayload::new_checked(&data) {
            let _ = (g.body(), g.critical(), g.next_payload());
        }
    }

    #[test]
    fn mutated_messages_never_panic(
        msg in message(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = msg.emit();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Ok(m) = Message::parse(&bytes) {
            let _ = m.encrypted(&bytes);
            let _ = rules::check_outer(&m.header, &m.payloads);
        }
        let cut = cut.index(bytes.len() + 1);
        let _ = Message::parse(&bytes[..cut]);
    }
}
