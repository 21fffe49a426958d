//! Tern's own format: export/import round trips (property-based), versioning and strictness.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions may unwrap too

use std::net::IpAddr;

use ipsec_types::{DhGroup, EncrAlgorithm, IntegAlgorithm, IpPrefix, PrfAlgorithm};
use profile::{
    AuthMethod, Certificate, EsnMode, EspProposal, Gateway, Identity, IdentityKind, IkeProposal,
    ImportError, Ipv6Policy, Profile, ProfileId, TERN_FORMAT_VERSION, export_tern, import_any,
    import_sswan, import_tern,
};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use uuid::Uuid;

fn sswan_fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/sswan/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn imported_profiles_survive_export_and_import() {
    for name in [
        "eap.sswan",
        "cert.sswan",
        "cert-eap.sswan",
        "eap-tls.sswan",
        "quirks.sswan",
    ] {
        let original = import_sswan(&sswan_fixture(name)).unwrap().profile;
        let text = export_tern(&original).unwrap();
        let back = import_tern(text.as_bytes()).unwrap();
        assert_eq!(back.profile, original, "{name}");
        assert!(back.secrets.is_empty());
        let (format, _) = import_any(text.as_bytes()).unwrap();
        assert_eq!(format, profile::ImportFormat::Tern);
    }
}

#[test]
fn export_is_readable_and_holds_no_secrets() {
    let preview = import_sswan(&sswan_fixture("cert.sswan")).unwrap();
    let text = export_tern(&preview.profile).unwrap();
    assert!(text.contains("\"format\": \"tern-profile\""));
    assert!(text.contains("\"version\": 1"));
    assert!(text.contains("\"method\": \"certificate\""));
    let p12 = std::fs::read(format!(
        "{}/tests/fixtures/client-random.p12",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    use base64::Engine as _;
    let p12_b64 = base64::engine::general_purpose::STANDARD.encode(&p12);
    assert!(!text.contains(&p12_b64[..40]));
}

#[test]
fn versions_and_unknown_fields() {
    let p = import_sswan(&sswan_fixture("eap.sswan")).unwrap().profile;
    let text = export_tern(&p).unwrap();
    let newer = text.replace("\"version\": 1", "\"version\": 2");
    assert_eq!(
        import_tern(newer.as_bytes()),
        Err(ImportError::UnsupportedVersion {
            found: 2,
            supported: TERN_FORMAT_VERSION
        })
    );
    let misspelt = text.replace("\"mtu\"", "\"mtuu\"");
    assert!(matches!(
        import_tern(misspelt.as_bytes()),
        Err(ImportError::Malformed { .. })
    ));
    let wrong = text.replace("tern-profile", "other");
    assert!(import_tern(wrong.as_bytes()).is_err());
    let invalid = text.replace("\"mtu\": 1400", "\"mtu\": 10");
    assert!(matches!(
        import_tern(invalid.as_bytes()),
        Err(ImportError::Invalid(_))
    ));
    let weak = text.replace("aes256gcm16-ecp384", "aes256gcm16-modp1024");
    assert!(
        import_tern(weak.as_bytes()).is_err(),
        "strict about algorithms"
    );
}

fn prefix() -> impl Strategy<Value = IpPrefix> {
    prop_oneof![
        (any::<u32>(), 0u8..=32)
            .prop_map(|(a, l)| IpPrefix::new(IpAddr::from(a.to_be_bytes()), l).unwrap()),
        (any::<u128>(), 0u8..=128).prop_map(|(a, l)| IpPrefix::new(
            IpAddr::from(a.to_be_bytes()),
            l
        )
        .unwrap()),
    ]
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        "[a-z]{1,10}(\\.[a-z]{2,5}){1,2}".prop_map(|v| Identity {
            kind: IdentityKind::Fqdn,
            value: v
        }),
        "[a-z]{1,8}@[a-z]{1,8}\\.com".prop_map(|v| Identity {
            kind: IdentityKind::Email,
            value: v
        }),
        any::<u32>().prop_map(|a| Identity {
            kind: IdentityKind::IpAddr,
            value: IpAddr::from(a.to_be_bytes()).to_string()
        }),
        "CN=[A-Za-z ]{1,20}, O=[A-Za-z]{1,10}".prop_map(|v| Identity {
            kind: IdentityKind::DistinguishedName,
            value: v
        }),
        "([0-9a-f]{2}){1,20}".prop_map(|v| Identity {
            kind: IdentityKind::KeyId,
            value: v
        }),
    ]
}

fn auth() -> impl Strategy<Value = AuthMethod> {
    let username = proptest::option::of("[a-z][a-z0-9.@]{0,20}");
    prop_oneof![
        Just(AuthMethod::Psk),
        username
            .clone()
            .prop_map(|username| AuthMethod::EapMschapv2 { username }),
        Just(AuthMethod::EapTls),
        any::<bool>().prop_map(|rsa_pss| AuthMethod::Certificate { rsa_pss }),
        (username, any::<bool>())
            .prop_map(|(username, rsa_pss)| AuthMethod::CertificateEap { username, rsa_pss }),
    ]
}

fn non_empty<T: Clone + core::fmt::Debug + 'static>(all: Vec<T>) -> impl Strategy<Value = Vec<T>> {
    let len = all.len();
    subsequence(all, 1..=len)
}

fn ike_proposal() -> impl Strategy<Value = IkeProposal> {
    let aead = vec![
        EncrAlgorithm::AesGcm16_128,
        EncrAlgorithm::AesGcm16_256,
        EncrAlgorithm::ChaCha20Poly1305,
    ];
    let classic = vec![EncrAlgorithm::AesCbc128, EncrAlgorithm::AesCbc256];
    let ciphers = prop_oneof![
        non_empty(aead).prop_map(|e| (e, Vec::new())),
        (non_empty(classic), non_empty(IntegAlgorithm::ALL.to_vec())),
    ];
    (
        ciphers,
        non_empty(PrfAlgorithm::ALL.to_vec()),
        non_empty(DhGroup::ALL.to_vec()),
    )
        .prop_map(|((encryption, integrity), prf, dh_groups)| IkeProposal {
            encryption,
            integrity,
            prf,
            dh_groups,
        })
}

fn esp_proposal() -> impl Strategy<Value = EspProposal> {
    (
        ike_proposal(),
        subsequence(DhGroup::ALL.to_vec(), 0..=2),
        select(vec![EsnMode::Off, EsnMode::On, EsnMode::Either]),
    )
        .prop_map(|(ike, dh_groups, esn)| EspProposal {
            encryption: ike.encryption,
            integrity: ike.integrity,
            dh_groups,
            esn,
        })
}

prop_compose! {
    fn profile()(
        id in any::<u128>(),
        name in "[A-Za-z0-9][A-Za-z0-9 ()_.,-]{0,40}[A-Za-z0-9)]",
        host in prop_oneof!["[a-z]{1,12}(\\.[a-z]{2,6}){1,3}", any::<u32>().prop_map(|a| IpAddr::from(a.to_be_bytes()).to_string())],
        port in 1u16..,
        remote in proptest::option::of(identity()),
        local in proptest::option::of(identity()),
        auth in auth(),
        ca in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..3),
        ike in proptest::collection::vec(ike_proposal(), 0..3),
        esp in proptest::collection::vec(esp_proposal(), 0..3),
        include in proptest::collection::vec(prefix(), 0..5),
        exclude in proptest::collection::vec(prefix(), 0..5),
        blocks in any::<(bool, bool, bool, bool)>(),
        dns in proptest::collection::vec(any::<u32>().prop_map(|a| IpAddr::from((a | 1).to_be_bytes())), 0..3),
        search in proptest::collection::vec("[a-z]{1,10}\\.[a-z]{2,5}", 0..3),
        mtu in proptest::option::of(1280u16..=9000),
        keepalive in proptest::option::of(10u16..=3600),
        dpd in proptest::option::of(10u32..=86_400),
        lifetimes in (proptest::option::of(300u32..=604_800), proptest::option::of(300u32..=604_800)),
        ipv6 in select(vec![Ipv6Policy::Tunnel, Ipv6Policy::Block, Ipv6Policy::Bypass]),
        checks in any::<(bool, bool, bool, bool)>(),
        names in (proptest::option::of("[A-Za-z ]{1,20}"), proptest::option::of("[A-Za-z ]{1,20}")),
    ) -> Profile {
        let mut p = Profile::new(ProfileId(Uuid::from_u128(id)), name, Gateway { host, port }, auth);
        p.remote_identity = remote;
        p.local_identity = local;
        p.server_trust.ca_certificates = ca
            .into_iter()
            .map(|mut der| { let mut cert = vec![0x30, 0x82, 0, 0]; cert.append(&mut der); Certificate(cert) })
            .collect();
        p.server_trust.server_common_name = names.0;
        p.server_trust.issuer_common_name = names.1;
        p.server_trust.checks = profile::CertificateChecks { send_certificate_requests: checks.0, crl: checks.1, ocsp: checks.2, strict: checks.3 };
        p.ike_proposals = ike;
        p.esp_proposals = esp;
        p.routing.include = include;
        p.routing.exclude = exclude;
        p.routing.block_ipv4_outside = blocks.0;
        p.routing.block_ipv6_outside = blocks.1;
        p.mobike = blocks.2;
        p.prefer_ipv6_transport = blocks.3;
        p.dns.servers = dns.into_iter().filter(|a| !a.is_multicast()).collect();
        p.dns.search_domains = search;
        p.mtu = mtu;
        p.nat_keepalive_secs = keepalive;
        p.dpd.interval_secs = dpd;
        p.lifetimes.ike_secs = lifetimes.0;
        p.lifetimes.child_secs = lifetimes.1;
        p.ipv6 = ipv6;
        p
    }
}

proptest! {
    #[test]
    fn any_valid_profile_round_trips(p in profile()) {
        prop_assert_eq!(p.validate(), Ok(()));
        let text = export_tern(&p).unwrap();
        let back = import_tern(text.as_bytes()).unwrap();
        prop_assert_eq!(back.profile, p);
    }

    #[test]
    fn import_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = import_any(&bytes);
        let _ = import_tern(&bytes);
        let _ = import_sswan(&bytes);
        let _ = profile::import_mobileconfig(&bytes);
    }
}
