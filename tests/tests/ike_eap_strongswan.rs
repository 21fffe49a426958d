//! Tern's sans-IO IKEv2 initiator logging in to a real strongSwan road-warrior gateway with
//! EAP-MSCHAPv2 (issue 7): the gateway proves itself with an RSA certificate (its IKE_AUTH
//! answers are large enough to be fragmented), the user with name and password.
//!
//! Cases: a good login (CHILD_SA INSTALLED on the gateway, an ICMP echo through ESP), a wrong
//! password, a gateway certificate from a CA the profile does not trust (no EAP answer may
//! leave Tern), and a gateway certificate that does not carry the expected name. Certificates
//! both ways, EAP-TLS and IKE fragmentation are in `ike_auth_strongswan.rs`.
#![cfg(target_os = "linux")]

use ike::cert::{CertError, GatewayIdentity};
use ike::eap::EapMethod;
use ike::{AuthConfig, AuthFailure, Error, Identity};
use tern_e2e::ike_client::{IkeOutcome, gateway_name, run_against_gateway, server_auth};
use tern_e2e::pki::{Ca, KeyKind};
use tern_e2e::{Lab, LabConfig, templates};
use zeroize::Zeroizing;

const USER: &str = "alice";
const PASSWORD: &str = "secret-pw";

/// Starts an EAP-MSCHAPv2 gateway whose certificate is issued by `gateway_ca`, then logs in
/// from the client namespace trusting `profile_ca` and expecting `expected` in the certificate.
fn run(
    name: &str,
    gateway_ca: &Ca,
    profile_ca: &Ca,
    password: &str,
    expected: GatewayIdentity,
) -> Option<(IkeOutcome, String)> {
    if !tern_e2e::should_run(name) {
        return None;
    }
    let lab = Lab::new(LabConfig::default()).expect("lab");
    let cert = gateway_ca
        .issue(
            templates::GATEWAY_ID,
            &[templates::GATEWAY_ID],
            KeyKind::Rsa3072,
        )
        .expect("gateway certificate");
    let conf = templates::gateway_eap_mschapv2(gateway_ca, &cert, &[(USER, PASSWORD)]);
    let auth = AuthConfig::Eap {
        identity: USER.into(),
        method: EapMethod::MsChapV2 {
            user_name: USER.into(),
            password: Zeroizing::new(password.into()),
        },
        server: server_auth(profile_ca, expected),
    };
    let local_id = Identity::Email("alice@tern.test".into());
    Some(run_against_gateway(&lab, conf, (local_id, auth), |_| {}))
}

#[test]
fn eap_mschapv2_login_and_ping() {
    let ca = Ca::new("Tern Lab CA", KeyKind::Rsa3072).expect("CA");
    let Some((outcome, gateway_log)) =
        run("eap-mschapv2-success", &ca, &ca, PASSWORD, gateway_name())
    else {
        return;
    };
    if let Err(e) = &outcome.result {
        panic!(
            "{}\nfailed: {e:?}\ngateway log:\n{gateway_log}",
            outcome.log
        );
    }
    // IKE_AUTH requests: the first, answers to EAP-Identity, the MSCHAPv2 challenge and the
    // MSCHAPv2 success, then our MSK-keyed AUTH.
    assert_eq!(outcome.last_ike_auth_message_id, Some(5), "{}", outcome.log);
}

#[test]
fn eap_mschapv2_wrong_password() {
    let ca = Ca::new("Tern Lab CA", KeyKind::Rsa3072).expect("CA");
    let Some((outcome, gateway_log)) = run(
        "eap-mschapv2-wrong-password",
        &ca,
        &ca,
        "not-the-password",
        gateway_name(),
    ) else {
        return;
    };
    match &outcome.result {
        Err(Error::AuthenticationFailed(
            AuthFailure::EapRejected(_) | AuthFailure::CredentialsRejected,
        )) => {}
        Err(e) => panic!("{}\nwrong error {e:?}\n{gateway_log}", outcome.log),
        Ok(_) => panic!("{}\nestablished with a wrong password", outcome.log),
    }
    if let Err(e) = &outcome.result {
        eprintln!("wrong password: {e}");
    }
}

#[test]
fn eap_gateway_certificate_from_another_ca() {
    let profile_ca = Ca::new("Tern Lab CA", KeyKind::Rsa3072).expect("CA");
    let rogue_ca = Ca::new("Someone Else's CA", KeyKind::Rsa3072).expect("CA");
    let Some((outcome, gateway_log)) = run(
        "eap-untrusted-gateway-certificate",
        &rogue_ca,
        &profile_ca,
        PASSWORD,
        gateway_name(),
    ) else {
        return;
    };
    match &outcome.result {
        Err(Error::AuthenticationFailed(AuthFailure::Certificate(
            CertError::NotSignedByProfileCa,
        ))) => {}
        Err(e) => panic!("{}\nwrong error {e:?}\n{gateway_log}", outcome.log),
        Ok(_) => panic!("{}\nestablished with an untrusted gateway", outcome.log),
    }
    // Only the first IKE_AUTH request (message ID 1) went out: no EAP answer at all.
    assert_eq!(outcome.last_ike_auth_message_id, Some(1), "{}", outcome.log);
}

#[test]
fn eap_gateway_certificate_with_the_wrong_name() {
    let ca = Ca::new("Tern Lab CA", KeyKind::Rsa3072).expect("CA");
    let Some((outcome, gateway_log)) = run(
        "eap-wrong-gateway-name",
        &ca,
        &ca,
        PASSWORD,
        GatewayIdentity::Fqdn("vpn.example.com".into()),
    ) else {
        return;
    };
    match &outcome.result {
        Err(Error::AuthenticationFailed(AuthFailure::Certificate(CertError::NameMismatch {
            ..
        }))) => {}
        Err(e) => panic!("{}\nwrong error {e:?}\n{gateway_log}", outcome.log),
        Ok(_) => panic!("{}\nestablished with the wrong gateway", outcome.log),
    }
    assert_eq!(outcome.last_ike_auth_message_id, Some(1), "{}", outcome.log);
}
