//! EAP-TLS: [`EapClient`] against an in-process EAP-TLS server built on a rustls
//! `ServerConnection`, with TLS 1.2 and TLS 1.3, client certificates, fragmentation both ways,
//! and the MSK compared with the server's export.

// Test helpers panic on bad fixtures, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::sync::Arc;

use ike::cert::CertError;
use ike::crypto::SystemRandom;
use ike::eap::tls::{FLAG_LENGTH, FLAG_MORE, FLAG_START, TlsPacket};
use ike::eap::{
    EapClient, EapCode, EapError, EapMethod, EapPacket, EapStep, EapTlsConfig, EapType,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, RootCertStore, ServerConfig, ServerConnection, SupportedProtocolVersion,
};

struct Pki {
    ca: CertificateDer<'static>,
    server: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    client: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
}

/// The same names, another CA.
fn pki_with_other_ca() -> Pki {
    pki()
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "EAP CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |name: &str, alg| {
        let key = KeyPair::generate_for(alg).unwrap();
        let cert = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    };
    let mut client = leaf("alice.example.com", &rcgen::PKCS_ECDSA_P256_SHA256);
    // Extra chain certificates make the client's flight exceed one EAP-TLS fragment.
    client.0.push(ca.der().clone());
    client.0.push(ca.der().clone());
    client.0.push(ca.der().clone());
    Pki {
        ca: ca.der().clone(),
        // A P-384 server chain makes the server's flight large enough to fragment.
        server: leaf("radius.example.com", &rcgen::PKCS_ECDSA_P384_SHA384),
        client,
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn configs(
    pki: &Pki,
    version: &'static SupportedProtocolVersion,
) -> (Arc<ServerConfig>, EapTlsConfig) {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let roots = Arc::new(roots);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .build()
        .unwrap();
    let server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[version])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server.0.clone(), pki.server.1.clone_key())
        .unwrap();
    let client = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(pki.client.0.clone(), pki.client.1.clone_key())
        .unwrap();
    (
        Arc::new(server),
        EapTlsConfig {
            client_config: Arc::new(client),
            server_name: ServerName::try_from("radius.example.com").unwrap(),
        },
    )
}

fn request(id: u8, type_data: &[u8]) -> Vec<u8> {
    EapPacket {
        code: EapCode::Request,
        identifier: id,
        body: Some((EapType::TLS, type_data)),
    }
    .to_vec()
    .unwrap()
}

/// A minimal EAP-TLS server: fragments its flights at 300 bytes and acknowledges the client's
/// fragments. Returns the client's final step and the server's MSK.
fn run(
    client: &mut EapClient,
    server_config: Arc<ServerConfig>,
    tls13: bool,
) -> Result<(EapStep, Vec<u8>, usize), EapError> {
    let mut server = ServerConnection::new(server_config).unwrap();
    let mut rng = SystemRandom;
    let mut id = 0u8;
    let mut send = |client: &mut EapClient, type_data: &[u8]| -> Result<Vec<u8>, EapError> {
        id = id.wrapping_add(1);
        match client.handle(&request(id, type_data), &mut rng)? {
            EapStep::Respond(bytes) => {
                let p = EapPacket::parse(&bytes).unwrap();
                assert_eq!(p.identifier, id);
                let (ty, data) = p.body.unwrap();
                assert_eq!(ty, EapType::TLS);
                Ok(data.to_vec())
            }
            other => panic!("{other:?}"),
        }
    };
    let mut response = send(client, &[FLAG_START])?;
    let mut commitment_sent = false;
    let mut client_fragments = 0;
    for _ in 0..100 {
        // Reassemble the client's message, acknowledging fragments.
        let mut message = Vec::new();
        loop {
            let p = TlsPacket::parse(&response).unwrap();
            message.extend_from_slice(p.data);
            if p.flags & FLAG_MORE == 0 {
                break;
            }
            client_fragments += 1;
            response = send(client, &[0])?;
        }
        let mut reader = message.as_slice();
        while !reader.is_empty() {
            server.read_tls(&mut reader).unwrap();
            if server.process_new_packets().is_err() {
                // A rejected flight: the queued alert goes to the client below.
                break;
            }
        }
        if tls13 && !server.is_handshaking() && !commitment_sent {
            server.writer().write_all(&[0]).unwrap();
            commitment_sent = true;
        }
        let mut out = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut out).unwrap();
        }
        if out.is_empty() {
            assert!(!server.is_handshaking());
            let step = client.handle(&[3, id.wrapping_add(1), 0, 4], &mut rng)?;
            let label: &[u8] = if tls13 {
                b"EXPORTER_EAP_TLS_Key_Material"
            } else {
                b"client EAP encryption"
            };
            let context: Option<&[u8]> = if tls13 { Some(&[0x0d]) } else { None };
            let msk = server
                .export_keying_material(vec![0u8; 128], label, context)
                .unwrap();
            return Ok((step, msk[..64].to_vec(), client_fragments));
        }
        let chunks: Vec<&[u8]> = out.chunks(300).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let more = i + 1 < chunks.len();
            let mut data = vec![if more { FLAG_MORE } else { 0 }];
            if i == 0 {
                data[0] |= FLAG_LENGTH;
                data.extend_from_slice(&u32::try_from(out.len()).unwrap().to_be_bytes());
            }
            data.extend_from_slice(chunk);
            response = send(client, &data)?;
            if more {
                assert_eq!(response, [0], "the client must acknowledge a fragment");
            }
        }
    }
    panic!("the handshake did not finish");
}

fn client(config: EapTlsConfig) -> EapClient {
    let mut c = EapClient::new("alice@example.com", EapMethod::Tls(config));
    c.server_authenticated();
    c
}

#[test]
fn tls12_and_tls13_with_client_certificate() {
    let pki = pki();
    for (version, tls13) in [
        (&rustls::version::TLS12, false),
        (&rustls::version::TLS13, true),
    ] {
        let (server, config) = configs(&pki, version);
        let mut c = client(config);
        let (step, server_msk, client_fragments) = run(&mut c, server, tls13).unwrap();
        assert!(
            client_fragments > 0,
            "the client's flight should have been fragmented"
        );
        match step {
            EapStep::Success { msk: Some(msk) } => {
                assert_eq!(msk.len(), 64);
                assert_eq!(*msk, server_msk, "TLS 1.3: {tls13}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn wrong_server_name_fails_the_handshake() {
    let pki = pki();
    let (server, mut config) = configs(&pki, &rustls::version::TLS13);
    config.server_name = ServerName::try_from("other.example.com").unwrap();
    let mut c = client(config);
    let err = run(&mut c, server, true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the server's certificate is for radius.example.com, not other.example.com"
    );
    assert!(c.is_finished());
}

#[test]
fn early_success_and_unauthenticated_server_are_refused() {
    let pki = pki();
    let (_, config) = configs(&pki, &rustls::version::TLS13);
    let mut rng = SystemRandom;
    let mut c = client(config.clone());
    match c.handle(&request(1, &[FLAG_START]), &mut rng).unwrap() {
        EapStep::Respond(_) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.handle(&[3, 2, 0, 4], &mut rng).unwrap_err(),
        EapError::EarlySuccess
    );
    let mut c = EapClient::new("alice", EapMethod::Tls(config));
    assert_eq!(
        c.handle(&request(1, &[FLAG_START]), &mut rng).unwrap_err(),
        EapError::ServerNotAuthenticated
    );
    // Oversized announced length.
    let mut c = client(configs(&pki, &rustls::version::TLS13).1);
    c.handle(&request(1, &[FLAG_START]), &mut rng).unwrap();
    let mut big = vec![FLAG_LENGTH | FLAG_MORE];
    big.extend_from_slice(&1_000_000u32.to_be_bytes());
    assert!(matches!(
        c.handle(&request(2, &big), &mut rng),
        Err(EapError::Malformed(_))
    ));
}

#[test]
fn a_missing_client_certificate_is_named() {
    let pki = pki();
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let (server, mut config) = configs(&pki, version);
        let mut roots = RootCertStore::empty();
        roots.add(pki.ca.clone()).unwrap();
        config.client_config = Arc::new(
            ClientConfig::builder_with_provider(provider())
                .with_protocol_versions(&[version])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        let mut c = client(config);
        let err = run(
            &mut c,
            server,
            version.version == rustls::ProtocolVersion::TLSv1_3,
        )
        .unwrap_err();
        assert_eq!(err, EapError::ClientCertificateRequired, "{version:?}");
        assert_eq!(
            err.to_string(),
            "the server asked for a client certificate but the profile has none"
        );
    }
}

/// `EapTlsConfig::new` from the profile's trust store, expected name and client credential.
fn profile_config(pki: &Pki, name: &str, wall_clock: std::time::SystemTime) -> EapTlsConfig {
    let server = ike::ServerAuth {
        trust: Arc::new(ike::cert::TrustStore::from_ca_certificates(&[pki.ca.as_ref()]).unwrap()),
        expected_identity: ike::cert::GatewayIdentity::Fqdn(name.into()),
        request_certificates: true,
        wall_clock,
    };
    let credential =
        ike::cert::ClientCredential::from_pem_or_der(&pki.client.0[0], pki.client.1.secret_der())
            .unwrap();
    EapTlsConfig::new(&server, Some(&credential)).unwrap()
}

#[test]
fn a_config_from_the_profile_checks_name_and_time() {
    let pki = pki();
    let now = std::time::SystemTime::now();
    for (version, tls13) in [
        (&rustls::version::TLS12, false),
        (&rustls::version::TLS13, true),
    ] {
        let (server, _) = configs(&pki, version);
        let mut c = client(profile_config(&pki, "radius.example.com", now));
        let (step, server_msk, _) = run(&mut c, server, tls13).unwrap();
        match step {
            EapStep::Success { msk: Some(msk) } => assert_eq!(*msk, server_msk),
            other => panic!("{other:?}"),
        }
    }
    let (server, _) = configs(&pki, &rustls::version::TLS13);
    let mut c = client(profile_config(&pki, "vpn.example.org", now));
    assert!(matches!(
        run(&mut c, server, true),
        Err(EapError::ServerCertificate(CertError::NameMismatch { .. }))
    ));
    // In 1970 (rcgen's certificates are valid from 1975), the server's is not valid yet.
    let then = std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400);
    let (server, _) = configs(&pki, &rustls::version::TLS13);
    let mut c = client(profile_config(&pki, "radius.example.com", then));
    let err = run(&mut c, server, true).unwrap_err();
    assert!(
        matches!(err, EapError::ServerCertificate(CertError::NotYetValid(_))),
        "{err}"
    );
    // A CA the profile does not trust.
    let other = pki_with_other_ca();
    let (server, _) = configs(&other, &rustls::version::TLS13);
    let mut c = client(profile_config(&pki, "radius.example.com", now));
    assert_eq!(
        run(&mut c, server, true).unwrap_err(),
        EapError::ServerCertificate(CertError::NotSignedByProfileCa)
    );
}
