//! EAP packets, EAP-TLS framing, MSCHAPv2 Success/Failure strings and the EAP client (running
//! MSCHAPv2, and EAP-TLS with its fragment reassembly and rustls behind it) on arbitrary input:
//! no panics, no unbounded allocation.
#![no_main]

use std::sync::{Arc, OnceLock};

use ike::crypto::{CryptoError, Random};
use ike::eap::mschapv2::{FailureMessage, MsChapPacket, SuccessMessage};
use ike::eap::tls::TlsPacket;
use ike::eap::{EapClient, EapMethod, EapPacket, EapTlsConfig};
use libfuzzer_sys::fuzz_target;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};

/// An EAP-TLS configuration with no trust anchors (handshakes cannot succeed; parsing and
/// reassembly still run).
fn tls_config() -> EapTlsConfig {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth(),
        )
    });
    EapTlsConfig {
        client_config: config.clone(),
        server_name: ServerName::try_from("vpn.example.org").unwrap(),
    }
}

struct Zeros;

impl Random for Zeros {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        out.fill(0);
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = EapPacket::parse(data) {
        assert!(packet.buffer_len() <= data.len());
        if let Some((_, type_data)) = packet.body {
            if let Ok(tls) = TlsPacket::parse(type_data) {
                assert!(tls.data.len() < type_data.len());
            }
            if let Ok(ms) = MsChapPacket::parse(type_data) {
                let _ = SuccessMessage::parse(ms.data);
                let _ = FailureMessage::parse(ms.data);
            }
        }
    }
    let _ = SuccessMessage::parse(data);
    if let Ok(f) = FailureMessage::parse(data) {
        assert!(f.message.as_ref().is_none_or(|m| m.len() <= 4 * 512));
    }
    // A conversation: the input split at 0xfe bytes, each piece one server message.
    let mut client = EapClient::new(
        "fuzz",
        EapMethod::MsChapV2 {
            user_name: "user".into(),
            password: "password".to_owned().into(),
        },
    );
    client.server_authenticated();
    for message in data.split(|&b| b == 0xfe) {
        if client.handle(message, &mut Zeros).is_err() && client.is_finished() {
            break;
        }
    }
    let mut client = EapClient::new("fuzz", EapMethod::Tls(tls_config()));
    client.server_authenticated();
    for message in data.split(|&b| b == 0xfe) {
        if client.handle(message, &mut Zeros).is_err() && client.is_finished() {
            break;
        }
    }
});
