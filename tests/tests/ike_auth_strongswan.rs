//! Tern's sans-IO IKEv2 initiator against a real strongSwan gateway with certificates
//! (issue 7): EAP-TLS, certificates both ways with ECDSA and with RSA, and a client
//! certificate chain so long that IKE_AUTH only gets through a path that drops IP fragments
//! when it is split into RFC 7383 fragments. Each successful row reaches an INSTALLED CHILD_SA
//! on the gateway and an ICMP echo through ESP.
//!
//! The EAP-MSCHAPv2 rows and their negatives (wrong password, untrusted gateway certificate,
//! wrong gateway name) are in `ike_eap_strongswan.rs`.
#![cfg(target_os = "linux")]

use std::sync::Arc;
use std::time::Duration;

use ike::cert::{CertError, ClientCredential};
use ike::eap::{EapError, EapMethod, EapTlsConfig};
use ike::wire::ExchangeType;
use ike::{AuthConfig, AuthFailure, Error, Identity, RetransmitConfig};
use tern_e2e::ike_client::{IkeOutcome, gateway_name, run_against_gateway, server_auth};
use tern_e2e::pki::{Ca, IssuedCert, KeyKind};
use tern_e2e::{CharonConfig, Lab, LabConfig, Ns, templates};
use zeroize::Zeroizing;

/// The EAP identity of the EAP-TLS rows; their client certificate carries it as a DNS SAN, so
/// that strongSwan finds the certificate for the identity.
const EAP_TLS_USER: &str = "alice.tern.test";

/// The MSCHAPv2 gateway template with the client side switched to `client_auth`.
fn gateway_with_client_auth(ca: &Ca, cert: &IssuedCert, client_auth: &str) -> CharonConfig {
    let mut conf = templates::gateway_eap_mschapv2(ca, cert, &[]);
    let eap = "auth = eap-mschapv2\n      eap_id = %any\n";
    assert!(conf.swanctl_conf.contains(eap), "template changed shape");
    conf.swanctl_conf = conf.swanctl_conf.replace(eap, client_auth);
    conf
}

fn gateway_cert(ca: &Ca, kind: KeyKind) -> IssuedCert {
    ca.issue(templates::GATEWAY_ID, &[templates::GATEWAY_ID], kind)
        .expect("gateway certificate")
}

fn expect_success(outcome: &IkeOutcome, gateway_log: &str) {
    if let Err(e) = &outcome.result {
        panic!(
            "{}\nfailed: {e:?}\ngateway log:\n{gateway_log}",
            outcome.log
        );
    }
}

/// The EAP-TLS configuration of a profile: `ca` as the only root, the gateway's name, and the
/// client certificate if given.
fn eap_tls_config(ca: &Ca, client: Option<&IssuedCert>) -> EapTlsConfig {
    let credential = client.map(|c| {
        ClientCredential::from_pem_or_der(c.cert_pem.as_bytes(), c.key_pem.as_bytes())
            .expect("client credential")
    });
    EapTlsConfig::new(&server_auth(ca, gateway_name()), credential.as_ref())
        .expect("EAP-TLS configuration")
}

/// How an EAP-TLS row differs from the plain login.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EapTlsCase {
    /// Gateway certificate in IKE, then EAP-TLS with our client certificate.
    Plain,
    /// As `Plain`, but the profile has no client certificate.
    NoClientCertificate,
    /// EAP-only (RFC 5998; strongSwan's `local { auth = eap }`): the gateway proves itself
    /// only inside EAP-TLS.
    EapOnly,
    /// As `EapOnly`, with a gateway certificate from a CA the profile does not trust.
    EapOnlyUntrustedGateway,
}

/// EAP-TLS against a gateway that requires a client certificate.
fn eap_tls(name: &str, case: EapTlsCase) -> Option<(IkeOutcome, String)> {
    if !tern_e2e::should_run(name) {
        return None;
    }
    let lab = Lab::new(LabConfig::default()).expect("lab");
    let ca = Ca::new("Tern Lab CA", KeyKind::EcdsaP256).expect("CA");
    let rogue_ca = Ca::new("Tern Lab CA", KeyKind::EcdsaP256).expect("CA");
    let gateway_ca = if case == EapTlsCase::EapOnlyUntrustedGateway {
        &rogue_ca
    } else {
        &ca
    };
    let gateway = gateway_cert(gateway_ca, KeyKind::EcdsaP256);
    let client = ca
        .issue(EAP_TLS_USER, &[EAP_TLS_USER], KeyKind::EcdsaP256)
        .expect("client certificate");
    let mut conf = gateway_with_client_auth(&ca, &gateway, "auth = eap-tls\n      eap_id = %any\n");
    if matches!(
        case,
        EapTlsCase::EapOnly | EapTlsCase::EapOnlyUntrustedGateway
    ) {
        let local = "auth = pubkey\n      certs";
        assert!(conf.swanctl_conf.contains(local), "template changed shape");
        conf.swanctl_conf = conf.swanctl_conf.replace(local, "auth = eap\n      certs");
    }
    let client = (case != EapTlsCase::NoClientCertificate).then_some(&client);
    let auth = AuthConfig::Eap {
        identity: EAP_TLS_USER.into(),
        method: EapMethod::Tls(eap_tls_config(&ca, client)),
        server: server_auth(&ca, gateway_name()),
    };
    let local_id = Identity::Fqdn(EAP_TLS_USER.into());
    Some(run_against_gateway(&lab, conf, (local_id, auth), |_| {}))
}

#[test]
fn eap_tls_login_and_ping() {
    let Some((outcome, gateway_log)) = eap_tls("eap-tls-success", EapTlsCase::Plain) else {
        return;
    };
    expect_success(&outcome, &gateway_log);
    assert!(
        gateway_log.contains("EAP method EAP_TLS succeeded"),
        "{gateway_log}"
    );
    // What the impostor row below must not see.
    assert!(
        gateway_log.contains("received TLS peer certificate"),
        "{gateway_log}"
    );
}

/// EAP-only authentication (RFC 5998): the gateway sends no certificate or AUTH of its own in
/// IKE; EAP-TLS authenticates it, and the MSK-keyed AUTH payloads finish the login.
#[test]
fn eap_only_eap_tls_login_and_ping() {
    let Some((outcome, gateway_log)) = eap_tls("eap-only-eap-tls", EapTlsCase::EapOnly) else {
        return;
    };
    expect_success(&outcome, &gateway_log);
    assert!(
        gateway_log.contains("EAP method EAP_TLS succeeded"),
        "{gateway_log}"
    );
    // The gateway's first answer: its identity and the EAP start, no CERT, no AUTH.
    assert!(
        gateway_log.contains("generating IKE_AUTH response 1 [ IDr EAP/REQ/ID ]"),
        "not EAP-only:\n{gateway_log}"
    );
}

/// EAP-only with an impostor gateway (a certificate from another CA of the same name): the
/// TLS handshake stops at its certificate, before ours is sent.
#[test]
fn eap_only_with_an_untrusted_gateway_certificate() {
    let Some((outcome, gateway_log)) = eap_tls(
        "eap-only-untrusted-gateway",
        EapTlsCase::EapOnlyUntrustedGateway,
    ) else {
        return;
    };
    match &outcome.result {
        Err(Error::AuthenticationFailed(AuthFailure::Eap(EapError::ServerCertificate(
            CertError::NotSignedByProfileCa,
        )))) => {}
        Err(e) => panic!("{}\nwrong error {e:?}\n{gateway_log}", outcome.log),
        Ok(_) => panic!("{}\nestablished with an impostor", outcome.log),
    }
    assert!(
        !gateway_log.contains("received TLS peer certificate"),
        "our certificate went out:\n{gateway_log}"
    );
}

#[test]
fn eap_tls_without_a_client_certificate() {
    let Some((outcome, gateway_log)) = eap_tls(
        "eap-tls-no-client-certificate",
        EapTlsCase::NoClientCertificate,
    ) else {
        return;
    };
    match &outcome.result {
        Err(Error::AuthenticationFailed(AuthFailure::Eap(EapError::ClientCertificateRequired))) => {
        }
        Err(e) => panic!("{}\nwrong error {e:?}\n{gateway_log}", outcome.log),
        Ok(_) => panic!("{}\nestablished without a client certificate", outcome.log),
    }
    if let Err(e) = &outcome.result {
        eprintln!("EAP-TLS without a client certificate: {e}");
    }
}

/// A password profile against a gateway that only takes client certificates: the gateway
/// refuses at once, and the error says what is missing (no password ever left).
#[test]
fn password_profile_against_a_certificate_only_gateway() {
    if !tern_e2e::should_run("password-profile-certificate-gateway") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).expect("lab");
    let ca = Ca::new("Tern Lab CA", KeyKind::EcdsaP256).expect("CA");
    let gateway = gateway_cert(&ca, KeyKind::EcdsaP256);
    let conf = gateway_with_client_auth(&ca, &gateway, "auth = pubkey\n");
    let auth = AuthConfig::Eap {
        identity: "alice".into(),
        method: EapMethod::MsChapV2 {
            user_name: "alice".into(),
            password: Zeroizing::new("secret-pw".into()),
        },
        server: server_auth(&ca, gateway_name()),
    };
    let local_id = Identity::Email("alice@tern.test".into());
    let (outcome, gateway_log) = run_against_gateway(&lab, conf, (local_id, auth), |_| {});
    match &outcome.result {
        Err(Error::AuthenticationFailed(AuthFailure::Certificate(
            CertError::NoClientCertificate,
        ))) => {}
        Err(e) => panic!("{}\nwrong error {e:?}\n{gateway_log}", outcome.log),
        Ok(_) => panic!("{}\nestablished without a client certificate", outcome.log),
    }
    assert_eq!(outcome.last_ike_auth_message_id, Some(1), "{}", outcome.log);
}

/// Certificates both ways (AUTH signatures, no EAP): the CA and the gateway with
/// `gateway_kind` keys, ours with `client_kind`; our IDi is our certificate's subject DN.
fn certificates_both_ways(name: &str, gateway_kind: KeyKind, client_kind: KeyKind, rsa_pss: bool) {
    if !tern_e2e::should_run(name) {
        return;
    }
    let lab = Lab::new(LabConfig::default()).expect("lab");
    let ca = Ca::new("Tern Lab CA", gateway_kind).expect("CA");
    let gateway = gateway_cert(&ca, gateway_kind);
    let client = ca
        .issue("alice", &["alice.tern.test"], client_kind)
        .expect("client certificate");
    let conf = gateway_with_client_auth(&ca, &gateway, "auth = pubkey\n");
    let credential =
        ClientCredential::from_pem_or_der(client.cert_pem.as_bytes(), client.key_pem.as_bytes())
            .expect("client credential");
    let local_id = Identity::DerAsn1Dn(credential.subject_der().expect("subject"));
    let auth = AuthConfig::Certificate {
        credential: Arc::new(credential),
        rsa_pss,
        server: server_auth(&ca, gateway_name()),
    };
    let (outcome, gateway_log) = run_against_gateway(&lab, conf, (local_id, auth), |_| {});
    expect_success(&outcome, &gateway_log);
    assert_eq!(outcome.last_ike_auth_message_id, Some(1), "{}", outcome.log);
    // For example "authentication of 'CN=alice, O=Tern Lab' with RSA_EMSA_PSS_SHA2_256 successful".
    let verified = gateway_log
        .lines()
        .find(|l| l.contains("authentication of 'CN=alice") && l.ends_with("successful"))
        .unwrap_or_else(|| panic!("the gateway did not verify our AUTH:\n{gateway_log}"));
    assert_eq!(verified.contains("PSS"), rsa_pss, "{verified}");
}

#[test]
fn certificates_both_ways_ecdsa_p384() {
    let kind = KeyKind::EcdsaP384;
    certificates_both_ways("certificates-ecdsa-p384", kind, kind, false);
}

#[test]
fn certificates_both_ways_rsa_pss() {
    let kind = KeyKind::Rsa3072;
    certificates_both_ways("certificates-rsa-pss", kind, kind, true);
}

/// The common mix: an RSA gateway, an ECDSA P-256 client.
#[test]
fn certificates_rsa_gateway_ecdsa_client() {
    certificates_both_ways(
        "certificates-rsa-gateway-ecdsa-client",
        KeyKind::Rsa3072,
        KeyKind::EcdsaP256,
        false,
    );
}

/// Drops every IPv4 fragment arriving in `ns` before reassembly (priority -500 runs before
/// conntrack's defragmentation), counting them.
fn drop_ip_fragments(lab: &Lab, ns: Ns) {
    let rules = "table inet tern_no_ip_fragments {\n\
         \tchain prerouting {\n\
         \t\ttype filter hook prerouting priority -500; policy accept;\n\
         \t\tmeta nfproto ipv4 ip frag-off & 0x3fff != 0 counter drop\n\
         \t}\n\
         }\n";
    let path = lab.dir().join(format!("no-ip-fragments-{}.nft", ns.role()));
    std::fs::write(&path, rules).expect("nft rules");
    lab.exec(ns, &["nft", "-f", &path.to_string_lossy()])
        .expect("nft");
}

/// How many IPv4 fragments `ns` dropped.
fn dropped_ip_fragments(lab: &Lab, ns: Ns) -> u64 {
    let listing = lab
        .exec(
            ns,
            &["nft", "list", "table", "inet", "tern_no_ip_fragments"],
        )
        .expect("nft list");
    listing
        .split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter in {listing}"))
}

/// A path with MTU 1280 that drops IP fragments, and a client whose certificate chain (RSA-3072
/// leaf and two intermediates) makes its IKE_AUTH request about 4 kB.
fn fragmenting_path(name: &str, fragment_size: usize) -> Option<(IkeOutcome, String, u64)> {
    if !tern_e2e::should_run(name) {
        return None;
    }
    let lab = Lab::new(LabConfig {
        nat: false,
        outer_mtu: 1280,
    })
    .expect("lab");
    drop_ip_fragments(&lab, Ns::Client);
    drop_ip_fragments(&lab, Ns::Gateway);
    let root = Ca::new("Tern Lab Root CA", KeyKind::Rsa3072).expect("CA");
    let first = root
        .intermediate("Tern Lab Intermediate 1", KeyKind::Rsa3072)
        .expect("intermediate");
    let second = first
        .intermediate("Tern Lab Intermediate 2", KeyKind::Rsa3072)
        .expect("intermediate");
    let client = second
        .issue("alice", &["alice.tern.test"], KeyKind::Rsa3072)
        .expect("client certificate");
    let gateway = gateway_cert(&root, KeyKind::Rsa3072);
    let conf = gateway_with_client_auth(&root, &gateway, "auth = pubkey\n");
    let chain = format!("{}{}{}", client.cert_pem, second.cert_pem, first.cert_pem);
    let credential = ClientCredential::from_pem_or_der(chain.as_bytes(), client.key_pem.as_bytes())
        .expect("client credential");
    let local_id = Identity::DerAsn1Dn(credential.subject_der().expect("subject"));
    let auth = AuthConfig::Certificate {
        credential: Arc::new(credential),
        rsa_pss: false,
        server: server_auth(&root, gateway_name()),
    };
    let (outcome, gateway_log) = run_against_gateway(&lab, conf, (local_id, auth), |config| {
        config.fragment_size = fragment_size;
        // The unfragmented control case should fail fast.
        config.retransmit = RetransmitConfig {
            initial_timeout: Duration::from_millis(500),
            max_retransmits: 2,
            total_timeout: Duration::from_secs(10),
        };
    });
    let dropped = dropped_ip_fragments(&lab, Ns::Gateway);
    Some((outcome, gateway_log, dropped))
}

#[test]
fn fragmented_ike_auth_through_a_path_that_drops_ip_fragments() {
    let Some((outcome, gateway_log, dropped)) =
        fragmenting_path("ike-fragments-mtu-1280", ike::DEFAULT_FRAGMENT_SIZE)
    else {
        return;
    };
    expect_success(&outcome, &gateway_log);
    // IKE_AUTH went out as several SKF fragments, each fitting the 1280-byte path (IPv4 and
    // UDP headers: 28 bytes), and the gateway put them back together.
    assert!(outcome.skf_datagrams_sent >= 3, "{}", outcome.log);
    assert!(outcome.largest_datagram + 28 <= 1280, "{}", outcome.log);
    assert_eq!(
        outcome.fragment_counts.0,
        u64::try_from(outcome.skf_datagrams_sent).expect("count"),
        "{}",
        outcome.log
    );
    assert!(
        gateway_log.contains("reassembled fragmented IKE message"),
        "{gateway_log}"
    );
    // The gateway's own answer (its RSA certificate) came back in fragments too.
    assert!(outcome.fragment_counts.1 >= 2, "{}", outcome.log);
    assert_eq!(dropped, 0, "no IP fragment should have been needed");
}

/// The control: the same request sent whole is split by IP, and the path drops it.
#[test]
fn unfragmented_ike_auth_is_lost_on_that_path() {
    let Some((outcome, gateway_log, dropped)) =
        fragmenting_path("ike-no-fragments-mtu-1280", 65_535)
    else {
        return;
    };
    match &outcome.result {
        Err(Error::Timeout {
            exchange: ExchangeType::IKE_AUTH,
            ..
        }) => {}
        Err(e) => panic!("{}\nwrong error {e:?}\n{gateway_log}", outcome.log),
        Ok(_) => panic!("{}\nIKE_AUTH got through whole", outcome.log),
    }
    assert_eq!(outcome.skf_datagrams_sent, 0, "{}", outcome.log);
    assert!(outcome.largest_datagram > 1280, "{}", outcome.log);
    assert!(dropped > 0, "the path dropped no IP fragment");
}
