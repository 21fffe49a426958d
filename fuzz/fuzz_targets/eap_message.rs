//! EAP packets, EAP-TLS framing, MSCHAPv2 Success/Failure strings and the EAP client on arbitrary input: no
//! panics, no unbounded allocation.
#![no_main]

use ike::crypto::{CryptoError, Random};
use ike::eap::mschapv2::{FailureMessage, MsChapPacket, SuccessMessage};
use ike::eap::tls::TlsPacket;
use ike::eap::{EapClient, EapMethod, EapPacket};
use libfuzzer_sys::fuzz_target;

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
});
