//! Tern's sans-IO IKEv2 initiator logging in to a real strongSwan road-warrior gateway with
//! EAP-MSCHAPv2 (issue 7): the gateway proves itself with an RSA certificate (its IKE_AUTH
//! answers are large enough to be fragmented), the user with name and password.
//!
//! Cases: a good login (CHILD_SA INSTALLED on the gateway, an ICMP echo through ESP), a wrong
//! password, a gateway certificate from a CA the profile does not trust (no EAP answer may
//! leave Tern), and a gateway certificate that does not carry the expected name. Also
//! certificates both ways (no EAP): a client certificate from the same CA.
#![cfg(target_os = "linux")]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ike::cert::{CertError, ClientCredential, GatewayIdentity, TrustStore};
use ike::crypto::SystemRandom;
use ike::eap::EapMethod;
use ike::{
    AuthConfig, AuthFailure, ChildSaEstablished, CloseReason, Error, Event, Identity, Initiator,
    InitiatorConfig, ServerAuth,
};
use tern_e2e::esp_probe::ping_through_tunnel;
use tern_e2e::pki::{Ca, KeyKind};
use tern_e2e::{CharonConfig, Gateway, Lab, LabConfig, Ns, addr, templates};
use zeroize::Zeroizing;

const USER: &str = "alice";
const PASSWORD: &str = "secret-pw";
/// IKE_AUTH's exchange type (RFC 7296 §3.1).
const IKE_AUTH: u8 = 35;

struct Outcome {
    /// The CHILD_SA and whether an echo reply came back through it, or the error.
    result: Result<(Box<ChildSaEstablished>, bool), Error>,
    /// Highest message ID of any IKE_AUTH request we sent.
    last_ike_auth_message_id: Option<u32>,
    log: String,
}

/// Starts an EAP-MSCHAPv2 gateway whose certificate is issued by `gateway_ca`, then logs in
/// from the client namespace trusting `profile_ca` and expecting `expected` in the certificate.
fn run(
    name: &str,
    gateway_ca: &Ca,
    profile_ca: &Ca,
    password: &str,
    expected: GatewayIdentity,
) -> Option<(Outcome, String)> {
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
    Some(run_with(&lab, conf, auth, local_id))
}

fn server_auth(profile_ca: &Ca, expected: GatewayIdentity) -> ServerAuth {
    ServerAuth {
        trust: Arc::new(
            TrustStore::from_ca_certificates(&[profile_ca.cert_pem.as_bytes()])
                .expect("trust store"),
        ),
        expected_identity: expected,
        request_certificates: true,
        wall_clock: SystemTime::now(),
    }
}

/// Starts the gateway and connects with `auth` from the client namespace.
fn run_with(
    lab: &Lab,
    conf: CharonConfig,
    auth: AuthConfig,
    local_id: Identity,
) -> (Outcome, String) {
    let gateway = Gateway::start(lab, conf).expect("gateway");
    let remote = SocketAddr::new(IpAddr::V4(addr::GATEWAY_V4), 500);
    let outcome = lab
        .run_in(Ns::Client, move || connect_and_ping(remote, auth, local_id))
        .expect("run in client namespace");
    if let Ok((_, ping)) = &outcome.result {
        let sa = gateway
            .wait_for_child_sa(Duration::from_secs(5))
            .expect("gateway CHILD_SA");
        assert_eq!(sa.state, "INSTALLED");
        assert!(ping, "no ICMP echo reply came back through the tunnel");
    }
    (outcome, gateway.log())
}

fn connect_and_ping(remote: SocketAddr, auth: AuthConfig, local_id: Identity) -> Outcome {
    let mut log = String::new();
    let mut last_ike_auth_message_id = None;
    let result = drive(
        remote,
        auth,
        local_id,
        &mut log,
        &mut last_ike_auth_message_id,
    );
    Outcome {
        result,
        last_ike_auth_message_id,
        log,
    }
}

fn drive(
    remote: SocketAddr,
    auth: AuthConfig,
    local_id: Identity,
    log: &mut String,
    last_ike_auth: &mut Option<u32>,
) -> Result<(Box<ChildSaEstablished>, bool), Error> {
    let ike_socket = UdpSocket::bind("0.0.0.0:500").expect("socket");
    ike_socket.connect(remote).expect("socket");
    let nat_t_socket = UdpSocket::bind("0.0.0.0:4500").expect("socket");
    nat_t_socket
        .connect(SocketAddr::new(remote.ip(), 4500))
        .expect("socket");
    for s in [&ike_socket, &nat_t_socket] {
        s.set_read_timeout(Some(Duration::from_millis(10)))
            .expect("socket");
    }
    let mut config = InitiatorConfig::new(remote, local_id, auth);
    config.local_addr = ike_socket.local_addr().ok();
    let mut initiator = Initiator::new(config, Instant::now(), Box::new(SystemRandom))?;

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = vec![0u8; 65536];
    let child = loop {
        assert!(Instant::now() < deadline, "{log}\ntimed out");
        while let Some(t) = initiator.poll_transmit() {
            let socket = if t.nat_t { &nat_t_socket } else { &ike_socket };
            socket.send(&t.payload).expect("socket");
            let header = t.payload.strip_prefix(&[0u8; 4]).unwrap_or(&t.payload);
            if header.len() >= 28 && header[18] == IKE_AUTH {
                let id = u32::from_be_bytes(header[20..24].try_into().expect("4 bytes"));
                *last_ike_auth = Some(last_ike_auth.map_or(id, |m| m.max(id)));
            }
            *log += &format!("sent {} bytes (nat_t={})\n", t.payload.len(), t.nat_t);
        }
        let mut established = None;
        while let Some(event) = initiator.poll_event() {
            *log += &format!("event {event:?}\n");
            match event {
                Event::ChildSaEstablished(child) => established = Some(child),
                Event::Closed {
                    reason: CloseReason::Failed(e),
                } => return Err(e),
                Event::Closed { reason } => panic!("{log}\nclosed: {reason:?}"),
                _ => {}
            }
        }
        if let Some(child) = established {
            break child;
        }
        for socket in [&ike_socket, &nat_t_socket] {
            if let Ok(n) = socket.recv(&mut buf) {
                let local = socket.local_addr().expect("socket");
                initiator.handle_datagram(
                    Instant::now(),
                    remote_of(socket, remote),
                    local,
                    &buf[..n],
                );
            }
        }
        if initiator
            .poll_timeout()
            .is_some_and(|t| Instant::now() >= t)
        {
            initiator.handle_timeout(Instant::now());
        }
    };
    let virtual_ip = *child
        .config
        .ipv4_addresses
        .first()
        .expect("no virtual IPv4 address assigned");
    let ping = ping_through_tunnel(&child, &nat_t_socket, virtual_ip, &mut initiator)
        .unwrap_or_else(|e| panic!("{log}\nping: {e}"));
    Ok((child, ping))
}

fn remote_of(socket: &UdpSocket, fallback: SocketAddr) -> SocketAddr {
    socket.peer_addr().unwrap_or(fallback)
}

fn gateway_name() -> GatewayIdentity {
    GatewayIdentity::Fqdn(templates::GATEWAY_ID.into())
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

/// Certificates both ways: the gateway's RSA certificate, and ours (ECDSA P-256) from the
/// same CA, with our subject DN as IDi.
#[test]
fn client_certificate_login_and_ping() {
    if !tern_e2e::should_run("client-certificate") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).expect("lab");
    let ca = Ca::new("Tern Lab CA", KeyKind::Rsa3072).expect("CA");
    let gateway_cert = ca
        .issue(
            templates::GATEWAY_ID,
            &[templates::GATEWAY_ID],
            KeyKind::Rsa3072,
        )
        .expect("gateway certificate");
    let client_cert = ca
        .issue("alice", &["alice.tern.test"], KeyKind::EcdsaP256)
        .expect("client certificate");
    let mut conf = templates::gateway_eap_mschapv2(&ca, &gateway_cert, &[]);
    let eap = "auth = eap-mschapv2\n      eap_id = %any\n";
    assert!(conf.swanctl_conf.contains(eap), "template changed shape");
    conf.swanctl_conf = conf.swanctl_conf.replace(eap, "auth = pubkey\n");
    let credential = ClientCredential::from_pem_or_der(
        client_cert.cert_pem.as_bytes(),
        client_cert.key_pem.as_bytes(),
    )
    .expect("client credential");
    let local_id = Identity::DerAsn1Dn(credential.subject_der().expect("subject"));
    let auth = AuthConfig::Certificate {
        credential: Arc::new(credential),
        rsa_pss: false,
        server: server_auth(&ca, gateway_name()),
    };
    let (outcome, gateway_log) = run_with(&lab, conf, auth, local_id);
    if let Err(e) = &outcome.result {
        panic!(
            "{}\nfailed: {e:?}\ngateway log:\n{gateway_log}",
            outcome.log
        );
    }
    assert_eq!(outcome.last_ike_auth_message_id, Some(1), "{}", outcome.log);
}
