//! Turning what went wrong into an [`ipc::Failure`]: a class the UI can act on and one sentence
//! for people. IKE errors already carry user-facing messages; this adds the class.

use ike::eap::EapError;
use ike::{AuthFailure, CloseReason, Error, PeerIncompatible};
use ipc::{Failure, FailureKind};

use crate::platform::PlatformError;

/// The failure for an IKE error.
#[must_use]
pub fn from_ike(error: &Error) -> Failure {
    let kind = match error {
        Error::Timeout { .. } => FailureKind::GatewayUnreachable,
        // The gateway could not prove it is the one the profile names: that is for the user's
        // IT team or the profile to fix, not a password to type again.
        Error::AuthenticationFailed(
            AuthFailure::Certificate(_)
            | AuthFailure::PeerIdMismatch { .. }
            | AuthFailure::Eap(EapError::ServerCertificate(_)),
        ) => FailureKind::ServerCertificateRejected,
        Error::AuthenticationFailed(_) => FailureKind::AuthenticationFailed,
        Error::PeerIncompatible(
            PeerIncompatible::NoIkeProposalChosen | PeerIncompatible::NoEspProposalChosen,
        ) => FailureKind::NoCommonProposal,
        Error::PeerIncompatible(_)
        | Error::MalformedMessage { .. }
        | Error::PeerMisbehaved(_)
        | Error::PeerError { .. } => FailureKind::ProtocolError,
        Error::InvalidConfig(_) => FailureKind::InvalidProfile,
        Error::Internal(_) | Error::Crypto(_) => FailureKind::Internal,
    };
    Failure {
        kind,
        message: error.to_string(),
    }
}

/// The failure for an IKE SA that closed while we still wanted it.
#[must_use]
pub fn from_close(reason: &CloseReason) -> Failure {
    match reason {
        CloseReason::Failed(error) => from_ike(error),
        CloseReason::DeletedByPeer => Failure {
            kind: FailureKind::ProtocolError,
            message: "the VPN gateway closed the connection".into(),
        },
        CloseReason::PeerDead => Failure {
            kind: FailureKind::GatewayUnreachable,
            message: "the VPN gateway stopped answering (dead-peer detection)".into(),
        },
        CloseReason::Reauthenticate => Failure {
            kind: FailureKind::GatewayUnreachable,
            message: "the VPN gateway asked for a new login (reauthentication)".into(),
        },
        CloseReason::ChildSaExpired => Failure {
            kind: FailureKind::ProtocolError,
            message: "the VPN gateway did not agree to new keys in time (rekeying failed)".into(),
        },
        CloseReason::Closed => Failure {
            kind: FailureKind::Internal,
            message: "the connection was closed".into(),
        },
    }
}

/// The failure for a local system error while configuring the tunnel.
#[must_use]
pub fn from_platform(error: &PlatformError) -> Failure {
    Failure {
        kind: FailureKind::LocalSystem,
        message: format!("could not configure this computer's network for the tunnel: {error}"),
    }
}

/// The failure for a local I/O error (sockets).
#[must_use]
pub fn local_io(what: &str, error: &std::io::Error) -> Failure {
    Failure {
        kind: FailureKind::LocalSystem,
        message: format!("{what}: {error}"),
    }
}

/// Whether trying again later can help (the network or the gateway may come back), as opposed
/// to failures only a change of profile or credentials can fix.
#[must_use]
pub fn is_transient(failure: &Failure) -> bool {
    matches!(
        failure.kind,
        FailureKind::GatewayUnreachable | FailureKind::ProtocolError | FailureKind::LocalSystem
    )
}

#[cfg(test)]
mod tests {
    use ike::cert::CertError;
    use ike::wire::ExchangeType;

    use super::*;

    #[test]
    fn classes_and_sentences() {
        let timeout = from_ike(&Error::Timeout {
            exchange: ExchangeType::IKE_SA_INIT,
            attempts: 5,
        });
        assert_eq!(timeout.kind, FailureKind::GatewayUnreachable);
        assert!(
            timeout.message.contains("did not answer"),
            "{}",
            timeout.message
        );
        assert!(is_transient(&timeout));
        let auth = from_ike(&AuthFailure::RejectedByPeer.into());
        assert_eq!(auth.kind, FailureKind::AuthenticationFailed);
        assert!(!is_transient(&auth));
        let untrusted = from_ike(&AuthFailure::Certificate(CertError::NoServerCertificate).into());
        assert_eq!(untrusted.kind, FailureKind::ServerCertificateRejected);
        let impostor = from_ike(
            &AuthFailure::PeerIdMismatch {
                expected: "vpn.example.com".into(),
                got: "vpn.example.org".into(),
            }
            .into(),
        );
        assert_eq!(impostor.kind, FailureKind::ServerCertificateRejected);
        assert!(!is_transient(&impostor));
        let proposal = from_ike(&PeerIncompatible::NoEspProposalChosen.into());
        assert_eq!(proposal.kind, FailureKind::NoCommonProposal);
        assert_eq!(
            from_close(&CloseReason::DeletedByPeer).kind,
            FailureKind::ProtocolError
        );
    }
}
