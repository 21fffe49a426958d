//! AUTH payload computation for pre-shared keys and the signed octets (RFC 7296 §2.15).

use zeroize::Zeroizing;

use super::kdf::prf;
use ipsec_types::PrfAlgorithm;

/// The fixed pad of RFC 7296 §2.15.
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// AUTH for a pre-shared key (RFC 7296 §2.15): `prf(prf(psk, "Key Pad for IKEv2"), signed_octets)`.
#[must_use]
pub fn psk_auth(prf_alg: PrfAlgorithm, psk: &[u8], signed_octets: &[u8]) -> Zeroizing<Vec<u8>> {
    let key = prf(prf_alg, psk, KEY_PAD);
    prf(prf_alg, &key, signed_octets)
}

/// InitiatorSignedOctets / ResponderSignedOctets (RFC 7296 §2.15):
/// `message | peer_nonce | prf(SK_px, id_payload_body)`, where `message` is the signer's whole
/// IKE_SA_INIT message, `peer_nonce` the other side's Nonce data, `sk_p` the signer's SK_pi or
/// SK_pr, and `id_payload_body` the signer's ID payload without its 4-byte generic header (ID
/// type, 3 reserved bytes, identification data).
#[must_use]
pub fn signed_octets(
    prf_alg: PrfAlgorithm,
    sk_p: &[u8],
    message: &[u8],
    peer_nonce: &[u8],
    id_payload_body: &[u8],
) -> Vec<u8> {
    let maced_id = prf(prf_alg, sk_p, id_payload_body);
    let mut out = Vec::with_capacity(message.len() + peer_nonce.len() + maced_id.len());
    out.extend_from_slice(message);
    out.extend_from_slice(peer_nonce);
    out.extend_from_slice(&maced_id);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::hmac;

    fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
            .as_ref()
            .to_vec()
    }

    #[test]
    fn psk_auth_is_nested_prf() {
        let alg = PrfAlgorithm::HmacSha2_256;
        let octets = signed_octets(alg, b"skp", b"MSG", b"NONCE", b"\x02\0\0\0id");
        let mut expected_octets = b"MSGNONCE".to_vec();
        expected_octets.extend_from_slice(&hmac256(b"skp", b"\x02\0\0\0id"));
        assert_eq!(octets, expected_octets);
        let auth = psk_auth(alg, b"secret", &octets);
        assert_eq!(
            *auth,
            hmac256(&hmac256(b"secret", b"Key Pad for IKEv2"), &octets)
        );
    }
}
