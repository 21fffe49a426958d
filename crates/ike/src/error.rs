//! Why an IKE SA failed, layered by fault as in rustls: the message was malformed, the peer
//! broke the protocol, the peer cannot do what we need, authentication failed, or nobody
//! answered. Every message says what a user can do about it.

use crate::crypto::CryptoError;
use crate::wire::{ExchangeType, NotifyType, WireError, rules::RuleViolation};

/// The reason an IKE SA could not be set up or was torn down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A message from the gateway could not be parsed.
    #[error(
        "the VPN gateway sent a malformed {exchange:?} message ({source}); this is a gateway bug or interference on the path"
    )]
    MalformedMessage {
        /// The exchange the message belonged to.
        exchange: ExchangeType,
        /// What was wrong.
        source: WireError,
    },
    /// The gateway broke the protocol.
    #[error(
        "the VPN gateway broke the IKEv2 protocol: {0}; report this to the gateway's administrator"
    )]
    PeerMisbehaved(#[from] PeerMisbehaved),
    /// The gateway cannot do what we asked.
    #[error("{0}")]
    PeerIncompatible(#[from] PeerIncompatible),
    /// Authentication failed, in either direction.
    #[error("{0}")]
    AuthenticationFailed(#[from] AuthFailure),
    /// The gateway stopped answering.
    #[error(
        "the VPN gateway did not answer the {exchange:?} request after {attempts} attempts; check the address, that UDP ports 500 and 4500 are reachable, and that the gateway is up"
    )]
    Timeout {
        /// The exchange that went unanswered.
        exchange: ExchangeType,
        /// How many times the request was sent.
        attempts: u32,
    },
    /// The gateway reported an error we have no more specific variant for.
    #[error("the VPN gateway reported {notify} during {exchange:?}; check the gateway's logs")]
    PeerError {
        /// The exchange.
        exchange: ExchangeType,
        /// The error notify type.
        notify: NotifyType,
    },
    /// The configuration cannot work.
    #[error("invalid VPN configuration: {0}")]
    InvalidConfig(&'static str),
    /// A state the code should never reach; a bug in Tern.
    #[error("internal error in the IKE state machine ({0}); please report this bug")]
    Internal(&'static str),
    /// A local cryptographic operation failed (e.g. the random source).
    #[error("local cryptographic failure: {0}")]
    Crypto(CryptoError),
}

/// Ways the gateway broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerMisbehaved {
    /// A message's payloads do not fit the exchange.
    #[error("{0}")]
    PayloadRules(#[from] RuleViolation),
    /// The chosen proposal was not one we offered.
    #[error("it chose a {what} proposal we never offered")]
    UnofferedProposal {
        /// "IKE" or "ESP".
        what: &'static str,
    },
    /// The KE payload's group differs from the negotiated one or is not the one we sent.
    #[error("its key exchange group does not match the negotiated one")]
    KeGroupMismatch,
    /// The gateway's key-exchange value failed validation.
    #[error("its key exchange value is invalid")]
    InvalidKeyExchange,
    /// INVALID_KE_PAYLOAD asked for a group we did not offer, or for the one we already sent.
    #[error("it asked for key exchange group {0}, which we did not offer or already sent")]
    UnofferedGroup(u16),
    /// A COOKIE notify of impossible length.
    #[error("it sent an invalid COOKIE")]
    InvalidCookie,
    /// The responder SPI was zero.
    #[error("its IKE SPI is zero")]
    ZeroSpi,
    /// Narrowed traffic selectors were not inside what we proposed.
    #[error("its traffic selectors are not within the ones we proposed")]
    TrafficSelectorsNotNarrowed,
    /// The gateway's CHILD_SA SPI is not four non-zero bytes.
    #[error("its ESP SPI is invalid")]
    InvalidEspSpi,
    /// A decrypted message could not be parsed.
    #[error("an encrypted message was malformed ({0})")]
    MalformedEncrypted(WireError),
    /// Too many COOKIE or INVALID_KE_PAYLOAD round trips.
    #[error("it kept asking us to restart IKE_SA_INIT")]
    TooManyRetries,
}

/// Things the gateway cannot or will not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerIncompatible {
    /// NO_PROPOSAL_CHOSEN for the IKE SA.
    #[error(
        "the VPN gateway accepts none of our IKE algorithms; add the gateway's IKE proposal to the profile"
    )]
    NoIkeProposalChosen,
    /// NO_PROPOSAL_CHOSEN for the CHILD_SA.
    #[error(
        "the VPN gateway accepts none of our ESP algorithms; add the gateway's ESP proposal to the profile"
    )]
    NoEspProposalChosen,
    /// TS_UNACCEPTABLE.
    #[error(
        "the VPN gateway refused the requested networks (TS_UNACCEPTABLE); check the tunnel's local/remote subnets"
    )]
    TrafficSelectorsUnacceptable,
    /// SINGLE_PAIR_REQUIRED.
    #[error(
        "the VPN gateway only accepts a single subnet pair; configure exactly one local and one remote subnet"
    )]
    SinglePairRequired,
    /// INTERNAL_ADDRESS_FAILURE.
    #[error("the VPN gateway could not assign a virtual IP address (its pool may be exhausted)")]
    InternalAddressFailure,
    /// FAILED_CP_REQUIRED.
    #[error(
        "the VPN gateway requires a configuration request (virtual IP); enable it in the profile"
    )]
    ConfigurationRequired,
    /// NO_ADDITIONAL_SAS.
    #[error("the VPN gateway accepts no more tunnels for this connection")]
    NoAdditionalSas,
    /// The gateway's response lacks the NAT detection we need for UDP encapsulation.
    #[error("the VPN gateway does not support NAT traversal, which this connection needs")]
    NatTraversalUnsupported,
}

/// Authentication failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// The gateway rejected our credentials (AUTHENTICATION_FAILED).
    #[error("the VPN gateway rejected our credentials; check the identity and pre-shared key")]
    RejectedByPeer,
    /// The gateway's AUTH payload did not verify.
    #[error(
        "the VPN gateway failed to prove it knows the pre-shared key; check the key, or someone may be impersonating the gateway"
    )]
    PeerAuthInvalid,
    /// The gateway used an authentication method we did not configure.
    #[error(
        "the VPN gateway authenticated with AUTH method {0}, which does not fit the profile's authentication"
    )]
    UnexpectedMethod(u8),
    /// The gateway's certificate or signature did not check out.
    #[error("{0}")]
    Certificate(#[from] crate::cert::CertError),
    /// The EAP server ended the login with EAP-Failure.
    #[error("{0}")]
    EapRejected(String),
    /// The gateway answered our EAP login with AUTHENTICATION_FAILED.
    #[error("the VPN gateway rejected the user name or password")]
    CredentialsRejected,
    /// The gateway refused an EAP login outright, before any credential was sent.
    #[error(
        "the VPN gateway does not accept an EAP (user name and password) login for this identity; check the profile's identity and authentication method"
    )]
    EapRefused,
    /// The EAP conversation broke down (see the message).
    #[error("{0}")]
    Eap(#[from] crate::eap::EapError),
    /// The gateway's final AUTH after EAP was not keyed with the EAP session key.
    #[error(
        "the VPN gateway's final authentication does not match the EAP login; someone may be impersonating the gateway"
    )]
    EapAuthInvalid,
    /// The gateway's identity was not the one configured.
    #[error("the VPN gateway identified itself as {got}, but the profile expects {expected}")]
    PeerIdMismatch {
        /// What was configured.
        expected: String,
        /// What the gateway sent.
        got: String,
    },
}

impl Error {
    /// Maps an error notify from the gateway to the most specific error.
    #[must_use]
    pub fn from_notify(exchange: ExchangeType, notify: NotifyType, child: bool) -> Self {
        match notify {
            NotifyType::NO_PROPOSAL_CHOSEN if child => PeerIncompatible::NoEspProposalChosen.into(),
            NotifyType::NO_PROPOSAL_CHOSEN => PeerIncompatible::NoIkeProposalChosen.into(),
            NotifyType::TS_UNACCEPTABLE => PeerIncompatible::TrafficSelectorsUnacceptable.into(),
            NotifyType::SINGLE_PAIR_REQUIRED => PeerIncompatible::SinglePairRequired.into(),
            NotifyType::INTERNAL_ADDRESS_FAILURE => PeerIncompatible::InternalAddressFailure.into(),
            NotifyType::FAILED_CP_REQUIRED => PeerIncompatible::ConfigurationRequired.into(),
            NotifyType::NO_ADDITIONAL_SAS => PeerIncompatible::NoAdditionalSas.into(),
            NotifyType::AUTHENTICATION_FAILED => AuthFailure::RejectedByPeer.into(),
            _ => Self::PeerError { exchange, notify },
        }
    }
}
