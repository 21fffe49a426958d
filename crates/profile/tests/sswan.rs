//! `.sswan` import: one realistic file per profile type, the format's quirks, and reporting.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions may unwrap too

use std::net::IpAddr;

use profile::{
    AuthMethod, EsnMode, IdentityKind, ImportError, SecretKind, WarningKind, import_any,
    import_sswan,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/sswan/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ca_pem() -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/ca.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn ca_der() -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/ca.der",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn p12() -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/client-random.p12",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn eap_profile_maps_every_field() {
    let preview = import_sswan(&fixture("eap.sswan")).unwrap();
    let p = &preview.profile;
    assert_eq!(p.id.to_string(), "d8a0f1f5-3b6f-4c53-9a3b-4a9e2f0c7b11");
    assert_eq!(p.name, "Example Corp (EAP)");
    assert_eq!(p.gateway.host, "vpn.example.com");
    assert_eq!(p.gateway.port, 500);
    assert_eq!(
        p.auth,
        AuthMethod::EapMschapv2 {
            username: Some("alice".into())
        }
    );
    let remote = p.remote_identity.as_ref().unwrap();
    assert_eq!(remote.kind, IdentityKind::Fqdn);
    assert_eq!(p.server_trust.ca_certificates.len(), 1);
    assert_eq!(p.server_trust.ca_certificates[0].0, ca_pem());
    let ike: Vec<String> = p.ike_proposals.iter().map(ToString::to_string).collect();
    assert_eq!(
        ike,
        [
            "aes256gcm16-prfsha384-ecp384",
            "aes256-sha256-prfsha256-modp2048"
        ]
    );
    assert_eq!(p.esp_proposals[0].to_string(), "aes256gcm16-ecp384");
    assert_eq!(p.dns.servers, [ip("10.8.0.1"), ip("10.8.0.2")]);
    assert_eq!(p.mtu, Some(1400));
    assert_eq!(p.nat_keepalive_secs, Some(45));
    let include: Vec<String> = p.routing.include.iter().map(ToString::to_string).collect();
    // The range 192.168.10.1 - 192.168.10.10 becomes the prefixes that cover it exactly.
    assert_eq!(
        include,
        [
            "10.8.0.0/16",
            "192.168.10.1/32",
            "192.168.10.2/31",
            "192.168.10.4/30",
            "192.168.10.8/31",
            "192.168.10.10/32"
        ]
    );
    assert_eq!(p.routing.exclude[0].to_string(), "10.8.99.0/24");
    assert!(p.routing.block_ipv6_outside);
    assert!(!p.routing.block_ipv4_outside);
    assert!(preview.secrets.is_empty());
    assert_eq!(p.required_secrets(), [SecretKind::EapPassword]);
    assert!(preview.warnings.is_empty(), "{:?}", preview.warnings);
}

#[test]
fn certificate_profile() {
    let preview = import_sswan(&fixture("cert.sswan")).unwrap();
    let p = &preview.profile;
    assert_eq!(p.auth, AuthMethod::Certificate { rsa_pss: true });
    assert_eq!(p.gateway.host, "203.0.113.10");
    assert_eq!(p.gateway.port, 4500);
    assert_eq!(
        p.remote_identity.as_ref().unwrap().kind,
        IdentityKind::DistinguishedName
    );
    let local = p.local_identity.as_ref().unwrap();
    assert_eq!(local.kind, IdentityKind::Email);
    assert_eq!(local.value, "alice@example.com");
    assert_eq!(p.server_trust.ca_certificates[0].0, ca_der());
    let checks = p.server_trust.checks;
    assert!(!checks.send_certificate_requests && !checks.crl && checks.ocsp && checks.strict);
    assert!(p.prefer_ipv6_transport);
    assert_eq!(
        preview.secrets.get(SecretKind::PrivateKey),
        Some(&p12()[..])
    );
    assert_eq!(preview.secrets.kinds(), [SecretKind::PrivateKey]);
    // The bundle goes to the profile store (encrypted), its passphrase to the keyring.
    assert_eq!(p.required_secrets(), [SecretKind::Pkcs12Passphrase]);
    assert!(preview.warnings.is_empty(), "{:?}", preview.warnings);
}

#[test]
fn certificate_eap_profile() {
    let preview = import_sswan(&fixture("cert-eap.sswan")).unwrap();
    assert_eq!(
        preview.profile.auth,
        AuthMethod::CertificateEap {
            username: Some("alice".into()),
            rsa_pss: false
        }
    );
    assert!(preview.secrets.pkcs12.is_some());
    let esp: Vec<String> = preview
        .profile
        .esp_proposals
        .iter()
        .map(ToString::to_string)
        .collect();
    // AEAD and classic ciphers in one proposal are split, as strongSwan does.
    assert_eq!(
        esp,
        ["aes128gcm16-modp3072-esn", "aes256-sha256-modp3072-esn"]
    );
    assert_eq!(preview.profile.esp_proposals[0].esn, EsnMode::On);
}

#[test]
fn eap_tls_profile() {
    let preview = import_sswan(&fixture("eap-tls.sswan")).unwrap();
    assert_eq!(preview.profile.auth, AuthMethod::EapTls);
    assert_eq!(
        preview.profile.ike_proposals[0].to_string(),
        "chacha20poly1305-prfsha256-curve25519"
    );
    assert!(preview.secrets.pkcs12.is_some());
}

#[test]
fn byod_profile_imports_as_eap_with_a_warning() {
    let preview = import_sswan(&fixture("byod.sswan")).unwrap();
    assert_eq!(
        preview.profile.auth,
        AuthMethod::EapMschapv2 {
            username: Some("bob".into())
        }
    );
    assert_eq!(preview.warnings.len(), 1);
    assert_eq!(preview.warnings[0].field, "type");
    assert!(matches!(
        preview.warnings[0].kind,
        WarningKind::Unsupported { .. }
    ));
}

#[test]
fn quirks_are_read_and_every_ignored_field_is_reported() {
    let preview = import_sswan(&fixture("quirks.sswan")).unwrap();
    let p = &preview.profile;
    // Upper-case UUIDs are accepted and stored in canonical form; names are trimmed.
    assert_eq!(p.id.to_string(), "ab0d1e2f-3a4b-4c5d-8e6f-708192a3b4c5");
    assert_eq!(p.name, "Provider with extras");
    // A port written as a string, as strongSwan's JSON reader allows.
    assert_eq!(p.gateway.port, 4500);
    assert_eq!(p.dns.servers, [ip("10.0.0.53"), ip("fd00::53")]);
    assert_eq!(p.mtu, None);
    // The p12 of a password-only profile is reported and not imported.
    assert!(preview.secrets.is_empty());
    assert_eq!(p.ike_proposals.len(), 1);
    assert_eq!(
        p.ike_proposals[0].to_string(),
        "aes256-sha256-prfsha256-modp2048"
    );

    let reported: Vec<String> = preview.warnings.iter().map(|w| w.field.clone()).collect();
    for field in [
        "local.password",
        "local.p12",
        "ike-proposal",
        "mtu",
        "apps",
        "proxy",
        "color",
    ] {
        assert!(
            reported.iter().any(|f| f == field),
            "{field} not reported: {reported:?}"
        );
    }
    assert!(preview.warnings.iter().any(|w| matches!(
        &w.kind,
        WarningKind::AlgorithmDropped { algorithm } if algorithm == "modp1024"
    )));
    assert!(preview.warnings.iter().any(|w| matches!(
        &w.kind,
        WarningKind::ProposalDropped { proposal, .. } if proposal == "3des-sha1-modp1024"
    )));
    // Every warning renders as a sentence naming its field.
    for warning in &preview.warnings {
        assert!(warning.to_string().starts_with(&warning.field));
    }
}

#[test]
fn list_fields_accept_arrays_and_strings() {
    let text = r#"{"uuid":"11111111-1111-4111-8111-111111111111","name":"n","type":"ikev2-eap",
        "remote":{"addr":"vpn.example.com"},
        "dns-servers":["10.0.0.1"],
        "split-tunneling":{"subnets":"10.0.0.0/8 172.16.0.0/12","excluded":["10.1.0.0/16"]}}"#;
    let p = import_sswan(text.as_bytes()).unwrap().profile;
    assert_eq!(p.routing.include.len(), 2);
    assert_eq!(p.routing.exclude.len(), 1);
}

#[test]
fn missing_and_malformed_fields_are_named() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"name":"n","type":"ikev2-eap","remote":{"addr":"a.b"}}"#,
            "uuid is missing",
        ),
        (
            r#"{"uuid":"x","name":"n","type":"ikev2-eap","remote":{"addr":"a.b"}}"#,
            "uuid: `x` is not a UUID",
        ),
        (
            r#"{"uuid":"11111111-1111-4111-8111-111111111111","name":"n","type":"ikev2-eap"}"#,
            "remote is missing",
        ),
        (
            r#"{"uuid":"11111111-1111-4111-8111-111111111111","name":"n","type":"ikev2-eap","remote":{"addr":"a.b"},"mtu":true}"#,
            "mtu must be a whole number",
        ),
        (
            r#"{"uuid":"11111111-1111-4111-8111-111111111111","name":"n","type":"ikev2-eap","remote":{"addr":"a.b"},"dns-servers":"dns.google"}"#,
            "dns-servers: `dns.google` is not an IP address",
        ),
        (
            r#"{"uuid":"11111111-1111-4111-8111-111111111111","name":"n","type":"ikev2-eap","remote":{"addr":"a.b","cert":"!!!"}}"#,
            "remote.cert: invalid base64",
        ),
        (
            r#"{"uuid":"11111111-1111-4111-8111-111111111111","name":"n","type":"ikev2-eap","remote":{"addr":"a.b"},"split-tunneling":{"subnets":["10.0.0.1/8"]}}"#,
            "split-tunneling.subnets: `10.0.0.1/8` has host bits set",
        ),
    ];
    for (text, expected) in cases {
        let error = import_sswan(text.as_bytes()).unwrap_err().to_string();
        assert!(
            error.starts_with(expected),
            "{error:?} should start with {expected:?}"
        );
    }
}

#[test]
fn detection_routes_sswan() {
    let (format, preview) = import_any(&fixture("eap.sswan")).unwrap();
    assert_eq!(format, profile::ImportFormat::Sswan);
    assert_eq!(preview.profile.name, "Example Corp (EAP)");
    assert!(matches!(
        import_any(b"\x00\x01binary"),
        Err(ImportError::UnknownFormat)
    ));
}
