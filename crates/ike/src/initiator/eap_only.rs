//! EAP-only authentication (RFC 5998): with a mutually authenticating, key-generating EAP
//! method the gateway may skip its certificate and signature, because the method itself
//! authenticates it and the MSK-keyed AUTH payloads bind the method to the IKE SA.
//!
//! We offer it (EAP_ONLY_AUTHENTICATION in the first IKE_AUTH request) only with EAP-TLS,
//! whose server certificate rustls checks against the profile's CA and name before the
//! handshake completes. A first answer without AUTH is accepted only then; the EAP client is
//! told the server is authenticated (so that the TLS handshake may run), but EAP-Success still
//! counts only after the handshake finished (an early Success is refused, CVE-2021-45079), and
//! the gateway's final AUTH must be keyed with the MSK.

use crate::config::AuthConfig;
use crate::eap::EapMethod;
use crate::error::{Error, PeerMisbehaved};
use crate::wire::{ExchangeType, IdRepr, Identity, Payload, PayloadType, rules};

use super::require_configured_id;

/// Whether we offer EAP-only authentication with this configuration.
pub(super) fn offered(auth: &AuthConfig) -> bool {
    matches!(
        auth,
        AuthConfig::Eap {
            method: EapMethod::Tls(_),
            ..
        }
    )
}

/// The gateway's first IKE_AUTH answer without AUTH (EAP-only): its IDr, checked against the
/// configured identity. Returns the identity and the IDr body the final AUTH is computed over.
pub(super) fn gateway_identity(
    configured: Option<&Identity>,
    inner: &[Payload],
) -> Result<(Identity, Vec<u8>), Error> {
    let idr: &IdRepr = inner
        .iter()
        .find_map(|p| match p {
            Payload::IdR(id) => Some(id),
            _ => None,
        })
        .ok_or(PeerMisbehaved::PayloadRules(rules::RuleViolation::Missing(
            ExchangeType::IKE_AUTH,
            PayloadType::IDR,
        )))?;
    let remote_id = Identity::from_repr(idr);
    require_configured_id(configured, &remote_id)?;
    Ok((remote_id, idr.to_body()))
}
