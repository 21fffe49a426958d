//! Building our AUTH payload and verifying the gateway's (RFC 7296 §2.15). Methods are behind
//! [`AuthConfig`] so that certificates and EAP can be added without touching the exchanges.

use ipsec_types::PrfAlgorithm;
use subtle::ConstantTimeEq as _;

use crate::config::AuthConfig;
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
    fn octets(&self) -> Vec<u8> {
        signed_octets(
            self.prf,
            self.sk_p,
            self.message,
            self.peer_nonce,
            self.id_body,
        )
    }
}

impl AuthConfig {
    /// Our AUTH payload.
    pub(crate) fn build(&self, input: &SignedOctetsInput<'_>) -> AuthRepr {
        match self {
            Self::Psk(psk) => AuthRepr {
                method: AuthMethod::SHARED_KEY_MIC,
                data: psk_auth(input.prf, psk, &input.octets()).to_vec(),
            },
        }
    }

    /// Checks the gateway's AUTH payload in constant time.
    pub(crate) fn verify(
        &self,
        input: &SignedOctetsInput<'_>,
        auth: &AuthRepr,
    ) -> Result<(), AuthFailure> {
        match self {
            Self::Psk(psk) => {
                if auth.method != AuthMethod::SHARED_KEY_MIC {
                    return Err(AuthFailure::UnexpectedMethod(auth.method.0));
                }
                let expected = psk_auth(input.prf, psk, &input.octets());
                if bool::from(expected.as_slice().ct_eq(&auth.data)) {
                    Ok(())
                } else {
                    Err(AuthFailure::PeerAuthInvalid)
                }
            }
        }
    }
}
