//! Building our AUTH payload and verifying the gateway's (RFC 7296 §2.15): the shared-key MIC
//! used with a PSK and, keyed with the MSK, at the end of EAP. Signatures are in [`crate::cert`].

use ipsec_types::PrfAlgorithm;
use subtle::ConstantTimeEq as _;

use crate::crypto::{psk_auth, signed_octets};
use crate::error::AuthFailure;
use crate::wire::{AuthMethod, AuthRepr};

/// The inputs of one side's AUTH: `message` is that side's IKE_SA_INIT message, `peer_nonce`
/// the other side's nonce, `sk_p` that side's SK_p and `id_body` its ID payload body.
pub(crate) struct SignedOctetsInput<'a> {
    pub prf: PrfAlgorithm,
    pub sk_p: &'a [u8],
    pub message: &'a [u8],
    pub peer_nonce: &'a [u8],
    pub id_body: &'a [u8],
}

impl SignedOctetsInput<'_> {
    pub(crate) fn octets(&self) -> Vec<u8> {
        signed_octets(
            self.prf,
            self.sk_p,
            self.message,
            self.peer_nonce,
            self.id_body,
        )
    }
}

/// A shared-key AUTH payload (RFC 7296 §2.15): `key` is the PSK, or for EAP the MSK (§2.16).
pub(crate) fn build_shared_key(input: &SignedOctetsInput<'_>, key: &[u8]) -> AuthRepr {
    AuthRepr {
        method: AuthMethod::SHARED_KEY_MIC,
        data: psk_auth(input.prf, key, &input.octets()).to_vec(),
    }
}

/// Checks the gateway's shared-key AUTH payload in constant time; `invalid` is the failure to
/// report when the MIC does not match.
pub(crate) fn verify_shared_key(
    input: &SignedOctetsInput<'_>,
    key: &[u8],
    auth: &AuthRepr,
    invalid: AuthFailure,
) -> Result<(), AuthFailure> {
    if auth.method != AuthMethod::SHARED_KEY_MIC {
        return Err(AuthFailure::UnexpectedMethod(auth.method.0));
    }
    let expected = psk_auth(input.prf, key, &input.octets());
    if bool::from(expected.as_slice().ct_eq(&auth.data)) {
        Ok(())
    } else {
        Err(invalid)
    }
}
