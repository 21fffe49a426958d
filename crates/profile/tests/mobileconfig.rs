//! `.mobileconfig` import: PSK, certificate with an embedded PKCS#12, EAP, EAP-TLS, signed.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions may unwrap too

use std::net::IpAddr;

use profile::{AuthMethod, ImportFormat, SecretKind, WarningKind, import_any, import_mobileconfig};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/mobileconfig/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn shared(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn warned_fields(preview: &profile::ImportPreview) -> Vec<String> {
    preview.warnings.iter().map(|w| w.field.clone()).collect()
}

#[test]
fn psk_profile() {
    let preview = import_mobileconfig(&fixture("psk.mobileconfig")).unwrap();
    let p = &preview.profile;
    assert_eq!(p.id.to_string(), "2f9e6c1b-7a3d-4e8f-9b0c-5d4e3f2a1b0c");
    assert_eq!(p.name, "Example Corp (PSK)");
    assert_eq!(p.gateway.host, "vpn.example.com");
    assert_eq!(p.auth, AuthMethod::Psk);
    assert_eq!(
        p.local_identity.as_ref().unwrap().value,
        "client.example.com"
    );
    assert_eq!(
        preview.secrets.get(SecretKind::PreSharedKey),
        Some(&b"correct horse battery staple"[..])
    );
    // GCM: the integrity algorithm only chooses the PRF; PFS puts the group in ESP.
    assert_eq!(
        p.ike_proposals[0].to_string(),
        "aes256gcm16-prfsha384-ecp384"
    );
    assert_eq!(p.esp_proposals[0].to_string(), "aes256gcm16-ecp384");
    assert_eq!(p.lifetimes.ike_secs, Some(480 * 60));
    assert_eq!(p.lifetimes.child_secs, Some(60 * 60));
    assert_eq!(p.dpd.interval_secs, Some(60));
    assert!(p.mobike);
    assert!(!p.server_trust.checks.crl && !p.server_trust.checks.ocsp);
    assert_eq!(p.nat_keepalive_secs, Some(20));
    assert_eq!(p.dns.servers, [ip("10.10.0.1")]);
    assert_eq!(p.dns.search_domains, ["corp.example.com", "example.com"]);
    // Offload asks for an iOS power feature Tern does not have: reported.
    assert_eq!(
        warned_fields(&preview),
        ["PayloadContent[0].IKEv2.NATKeepAliveOffloadEnable"]
    );
}

#[test]
fn certificate_profile_with_embedded_pkcs12() {
    let preview = import_mobileconfig(&fixture("cert-p12.mobileconfig")).unwrap();
    let p = &preview.profile;
    assert_eq!(p.auth, AuthMethod::Certificate { rsa_pss: false });
    assert_eq!(p.gateway.host, "203.0.113.7");
    assert_eq!(p.server_trust.ca_certificates.len(), 1);
    assert_eq!(p.server_trust.ca_certificates[0].0, shared("ca.der"));
    assert_eq!(
        p.server_trust.issuer_common_name.as_deref(),
        Some("Example VPN Root CA")
    );
    assert_eq!(
        p.server_trust.server_common_name.as_deref(),
        Some("vpn.example.com")
    );
    assert!(p.server_trust.checks.strict);
    assert_eq!(
        preview.secrets.get(SecretKind::PrivateKey),
        Some(&shared("client-random.p12")[..])
    );
    assert_eq!(
        preview.secrets.get(SecretKind::Pkcs12Passphrase),
        Some(&b"p12-passphrase"[..])
    );
    assert_eq!(
        p.ike_proposals[0].to_string(),
        "aes256-sha256-prfsha256-ecp256"
    );
    assert_eq!(p.esp_proposals[0].to_string(), "aes128gcm16-ecp256");
    assert!(!p.mobike);
    assert_eq!(p.dpd.interval_secs, Some(30 * 60));
    assert_eq!(p.mtu, Some(1380));
    let fields = warned_fields(&preview);
    for field in [
        "PayloadContent[2].IKEv2.OnDemandEnabled",
        "PayloadContent[2].IKEv2.OnDemandRules",
        "PayloadContent[2].Proxies",
    ] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} missing in {fields:?}"
        );
    }
}

#[test]
fn eap_profile_with_kill_switch_and_dns_warnings() {
    let preview = import_mobileconfig(&fixture("eap.mobileconfig")).unwrap();
    let p = &preview.profile;
    assert_eq!(
        p.auth,
        AuthMethod::EapMschapv2 {
            username: Some("alice".into())
        }
    );
    assert_eq!(
        preview.secrets.get(SecretKind::EapPassword),
        Some(&b"s3cret!"[..])
    );
    assert!(p.routing.block_ipv4_outside && p.routing.block_ipv6_outside);
    // Apple's defaults when no SA parameters are given.
    assert_eq!(
        p.ike_proposals[0].to_string(),
        "aes256-sha256-prfsha256-modp2048"
    );
    assert_eq!(p.esp_proposals[0].to_string(), "aes256-sha256");
    let fields = warned_fields(&preview);
    for field in [
        "PayloadContent[0].IKEv2.ExcludeLocalNetworks",
        "PayloadContent[0].DNS.SupplementalMatchDomains",
        "PayloadContent[0].DNS.DNSProtocol",
        "PayloadContent[0].DNS.ServerURL",
    ] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} missing in {fields:?}"
        );
    }
}

#[test]
fn eap_tls_profile_and_unrelated_payloads() {
    let preview = import_mobileconfig(&fixture("eap-tls.mobileconfig")).unwrap();
    assert_eq!(preview.profile.auth, AuthMethod::EapTls);
    // The certificate UUID matches regardless of case.
    assert!(preview.secrets.pkcs12.is_some());
    assert!(preview.secrets.pkcs12_passphrase.is_none());
    let fields = warned_fields(&preview);
    assert!(
        fields
            .iter()
            .any(|f| f == "PayloadContent[1].IKEv2.TLSMinimumVersion")
    );
    // The Wi-Fi payload is reported, not silently skipped.
    assert!(fields.iter().any(|f| f == "PayloadContent[2]"));
}

#[test]
fn signed_profiles_are_unwrapped_with_a_warning() {
    for (signed, plain) in [
        ("signed.mobileconfig", "cert-p12.mobileconfig"),
        ("signed-ber.mobileconfig", "psk.mobileconfig"),
    ] {
        let preview = import_mobileconfig(&fixture(signed)).unwrap();
        let unsigned = import_mobileconfig(&fixture(plain)).unwrap();
        assert_eq!(preview.profile, unsigned.profile, "{signed}");
        assert_eq!(preview.secrets, unsigned.secrets);
        assert_eq!(preview.warnings[0].kind, WarningKind::SignatureNotVerified);
        assert_eq!(&preview.warnings[1..], &unsigned.warnings[..]);
        let (format, _) = import_any(&fixture(signed)).unwrap();
        assert_eq!(format, ImportFormat::MobileConfig);
    }
}
