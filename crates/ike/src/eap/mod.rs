//! EAP for IKEv2 (RFC 7296 §2.16): the EAP packet codec (RFC 3748) and the peer side of
//! EAP-MSCHAPv2, driven by a small state machine, [`EapClient`].
//!
//! Room and rules:
//! - Sans-IO: EAP messages in (the EAP payload bodies of IKE_AUTH responses), EAP messages out,
//!   randomness through [`Random`].
//! - The password never leaves this module in any form until the IKE responder has been
//!   authenticated: [`EapClient::server_authenticated`] must have been called (after the
//!   responder's certificate chain and AUTH payload verified, see [`crate::cert`]) before the
//!   client answers a method challenge. This is the defence against a rogue gateway that
//!   collects MSCHAPv2 responses for offline cracking. (With EAP-only authentication, RFC 5998,
//!   the initiator calls it at once for EAP-TLS, whose handshake checks the server itself
//!   before our certificate is sent.)
//! - An EAP-Success is accepted only after the method finished and the server proved it knows
//!   the password (the MSCHAPv2 authenticator response); an early Success is an error.
//! - Methods: EAP-MSCHAPv2 and EAP-TLS ([`tls`], RFC 5216 / RFC 9190). Not implemented:
//!   EAP-MD5 (it cannot authenticate the server), the MSCHAPv2 retry and change-password flows,
//!   TLS session resumption. Offered methods we do not run are answered with a Nak proposing
//!   the configured method.

pub mod message;
pub mod mschapv2;
pub mod tls;

use std::fmt;

use zeroize::Zeroizing;

use crate::crypto::{CryptoError, Random};
pub use message::{EapCode, EapPacket, EapType};
use mschapv2::{FailureMessage, MsChapPacket, SuccessMessage, opcode};
pub use tls::EapTlsConfig;

/// Why an EAP message could not be handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EapError {
    /// The server's EAP message broke the format rules.
    #[error("the server sent a malformed EAP message: {0}")]
    Malformed(&'static str),
    /// A message to send would not fit an EAP packet.
    #[error("the EAP message would be too long (the user name is probably too long)")]
    TooLong,
    /// The password is longer than MSCHAPv2 allows.
    #[error("the password is longer than the 256 characters MSCHAPv2 allows")]
    PasswordTooLong,
    /// The caller asked for a challenge response before the server was authenticated.
    #[error(
        "refusing to answer the server's password challenge before the server proved its identity with its certificate"
    )]
    ServerNotAuthenticated,
    /// EAP-Success arrived before the method finished: a rogue or broken server.
    #[error(
        "the server declared the login successful before it was finished; the connection was stopped because this is how an impostor would behave"
    )]
    EarlySuccess,
    /// The MSCHAPv2 authenticator response did not match: the server does not know the
    /// password.
    #[error(
        "the server could not prove that it knows your password; it may be an impostor, so the connection was stopped"
    )]
    AuthenticatorMismatch,
    /// The server insisted on an EAP method Tern does not implement.
    #[error(
        "the server wants EAP method {0}, which Tern does not implement (it runs EAP-MSCHAPv2 and EAP-TLS); ask the administrator which of those the profile should use"
    )]
    UnsupportedMethod(u8),
    /// A message that does not fit the current step of the exchange.
    #[error("the server sent an unexpected EAP message ({0})")]
    Unexpected(&'static str),
    /// The random source failed.
    #[error("the random number generator failed")]
    Random(#[from] CryptoError),
    /// The EAP-TLS handshake failed (certificate rejected, no common cipher, alert, ...).
    #[error("the EAP-TLS handshake failed: {0}")]
    Tls(String),
    /// The EAP-TLS server's certificate did not check out (with EAP-only authentication this
    /// is how an impostor gateway shows).
    #[error("{0}")]
    ServerCertificate(crate::cert::CertError),
    /// The EAP-TLS server asked for a client certificate, and the profile has none (or none
    /// issued by a CA the server names).
    #[error("the server asked for a client certificate but the profile has none")]
    ClientCertificateRequired,
}

/// The method the client runs, with its credentials. `Debug` never prints the password.
#[derive(Clone)]
#[non_exhaustive]
pub enum EapMethod {
    /// EAP-MSCHAPv2 with a user name (optionally `DOMAIN\user`) and password.
    MsChapV2 {
        /// The user name sent in the MSCHAPv2 Response.
        user_name: String,
        /// The password.
        password: Zeroizing<String>,
    },
    /// EAP-TLS with a rustls client configuration (server verification and client
    /// certificate).
    Tls(EapTlsConfig),
}

impl fmt::Debug for EapMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MsChapV2 { user_name, .. } => f
                .debug_struct("MsChapV2")
                .field("user_name", user_name)
                .finish_non_exhaustive(),
            Self::Tls(config) => f.debug_tuple("Tls").field(config).finish(),
        }
    }
}

impl EapMethod {
    const fn eap_type(&self) -> EapType {
        match self {
            Self::MsChapV2 { .. } => EapType::MSCHAPV2,
            Self::Tls(_) => EapType::TLS,
        }
    }
}

/// Why the server ended the authentication with EAP-Failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EapFailure {
    /// The MSCHAPv2 Failure message that preceded it, if any.
    pub mschapv2: Option<FailureMessage>,
}

impl fmt::Display for EapFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mschapv2 {
            Some(m) => {
                write!(f, "the server refused the login: {}", m.explanation())?;
                if let Some(text) = &m.message {
                    write!(f, " (server says: {text})")?;
                }
                write!(f, " [error {}]", m.error)
            }
            None => f.write_str("the server refused the login"),
        }
    }
}

/// What to do after an EAP message.
#[derive(PartialEq, Eq)]
pub enum EapStep {
    /// Send this EAP message (in an EAP payload of the next IKE_AUTH request).
    Respond(Vec<u8>),
    /// Authentication succeeded. `msk` keys the final AUTH payloads (RFC 7296 §2.16); `None`
    /// for methods without keys (then SK_pi/SK_pr are used).
    Success {
        /// The Master Session Key.
        msk: Option<Zeroizing<Vec<u8>>>,
    },
    /// The server ended the authentication with EAP-Failure.
    Failure(EapFailure),
}

impl fmt::Debug for EapStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Respond(m) => f.debug_tuple("Respond").field(&m.len()).finish(),
            Self::Success { msk } => f
                .debug_struct("Success")
                .field("msk_len", &msk.as_ref().map(|m| m.len()))
                .finish(),
            Self::Failure(reason) => f.debug_tuple("Failure").field(reason).finish(),
        }
    }
}

enum State {
    /// No method request answered yet (Identity and Notification may come and go).
    Start,
    /// Our MSCHAPv2 Response is out; the Success must carry `expected`.
    ChallengeAnswered {
        expected: [u8; 20],
        msk: Zeroizing<Vec<u8>>,
    },
    /// The server proved the password; waiting for EAP-Success.
    SuccessAcknowledged { msk: Zeroizing<Vec<u8>> },
    /// The server sent an MSCHAPv2 Failure; waiting for EAP-Failure.
    FailureAcknowledged(FailureMessage),
    /// EAP-TLS is running.
    Tls(Box<tls::TlsSession>),
    /// Success, Failure or an error ended the conversation.
    Finished,
}

/// The EAP peer. Feed it each EAP message from the server with [`EapClient::handle`].
///
/// Call [`EapClient::server_authenticated`] as soon as the responder's certificate and AUTH
/// payload verified; until then method challenges are refused with
/// [`EapError::ServerNotAuthenticated`] (Identity requests are still answered).
pub struct EapClient {
    identity: String,
    method: EapMethod,
    server_authenticated: bool,
    state: State,
}

impl fmt::Debug for EapClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EapClient")
            .field("identity", &self.identity)
            .field("method", &self.method)
            .field("server_authenticated", &self.server_authenticated)
            .finish_non_exhaustive()
    }
}

impl EapClient {
    /// A client answering EAP-Identity with `identity` and running `method`.
    #[must_use]
    pub fn new(identity: &str, method: EapMethod) -> Self {
        Self {
            identity: identity.to_owned(),
            method,
            server_authenticated: false,
            state: State::Start,
        }
    }

    /// Records that the IKE responder's identity was verified (certificate chain and AUTH
    /// payload). Only then will the client answer a password challenge.
    pub fn server_authenticated(&mut self) {
        self.server_authenticated = true;
    }

    /// Whether the conversation ended (successfully or not).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// Handles one EAP message from the server.
    ///
    /// # Errors
    /// See [`EapError`]. Errors that indicate a rogue server ([`EapError::EarlySuccess`],
    /// [`EapError::AuthenticatorMismatch`]) end the conversation.
    pub fn handle(&mut self, eap: &[u8], rng: &mut dyn Random) -> Result<EapStep, EapError> {
        if self.is_finished() {
            return Err(EapError::Unexpected("the EAP conversation is over"));
        }
        let packet = EapPacket::parse(eap)?;
        match (packet.code, packet.body) {
            (EapCode::Success, _) => match std::mem::replace(&mut self.state, State::Finished) {
                State::SuccessAcknowledged { msk } => Ok(EapStep::Success { msk: Some(msk) }),
                State::Tls(session) => Ok(EapStep::Success {
                    msk: Some(session.finish()?),
                }),
                _ => Err(EapError::EarlySuccess),
            },
            (EapCode::Failure, _) => {
                let mschapv2 = match std::mem::replace(&mut self.state, State::Finished) {
                    State::FailureAcknowledged(m) => Some(m),
                    State::Tls(session) if session.certificate_missing() => {
                        return Err(EapError::ClientCertificateRequired);
                    }
                    _ => None,
                };
                Ok(EapStep::Failure(EapFailure { mschapv2 }))
            }
            (EapCode::Response, _) => Err(EapError::Unexpected("an EAP Response from the server")),
            (EapCode::Request, None) => Err(EapError::Malformed("request without a type")),
            (EapCode::Request, Some((ty, data))) => {
                self.handle_request(packet.identifier, ty, data, rng)
            }
        }
    }

    fn handle_request(
        &mut self,
        identifier: u8,
        ty: EapType,
        data: &[u8],
        rng: &mut dyn Random,
    ) -> Result<EapStep, EapError> {
        let respond =
            |ty, data: &[u8]| message::response(identifier, ty, data).map(EapStep::Respond);
        match ty {
            EapType::IDENTITY => {
                message::identity_response(identifier, &self.identity).map(EapStep::Respond)
            }
            // RFC 3748 §5.2: a Notification is acknowledged with an empty Notification.
            EapType::NOTIFICATION => respond(EapType::NOTIFICATION, &[]),
            EapType::NAK => Err(EapError::Unexpected("a Nak request")),
            ty if ty == self.method.eap_type() => {
                let type_data = match &self.method {
                    EapMethod::MsChapV2 {
                        user_name,
                        password,
                    } => {
                        let (user_name, password) = (user_name.clone(), password.clone());
                        self.handle_mschapv2(data, &user_name, &password, rng)
                    }
                    EapMethod::Tls(config) => {
                        let config = config.clone();
                        self.handle_tls(data, &config)
                    }
                };
                if type_data.is_err() {
                    self.state = State::Finished;
                }
                respond(ty, &type_data?)
            }
            other => {
                if matches!(self.state, State::Start) {
                    message::nak_response(identifier, &[self.method.eap_type()])
                        .map(EapStep::Respond)
                } else {
                    self.state = State::Finished;
                    Err(EapError::UnsupportedMethod(other.0))
                }
            }
        }
    }

    fn handle_tls(&mut self, data: &[u8], config: &EapTlsConfig) -> Result<Vec<u8>, EapError> {
        if !self.server_authenticated {
            return Err(EapError::ServerNotAuthenticated);
        }
        if matches!(self.state, State::Start) {
            self.state = State::Tls(Box::new(tls::TlsSession::new(config)?));
        }
        match &mut self.state {
            State::Tls(session) => session.handle(data),
            _ => Err(EapError::Unexpected("EAP-TLS after the conversation ended")),
        }
    }

    fn handle_mschapv2(
        &mut self,
        data: &[u8],
        user_name: &str,
        password: &str,
        rng: &mut dyn Random,
    ) -> Result<Vec<u8>, EapError> {
        let packet = MsChapPacket::parse(data)?;
        match (packet.opcode, &self.state) {
            (opcode::CHALLENGE, State::Start) => {
                if !self.server_authenticated {
                    return Err(EapError::ServerNotAuthenticated);
                }
                let auth_challenge = mschapv2::parse_challenge(packet.data)?;
                let mut peer_challenge = [0u8; 16];
                rng.fill(&mut peer_challenge)?;
                let nt_response = mschapv2::generate_nt_response(
                    &auth_challenge,
                    &peer_challenge,
                    user_name,
                    password,
                )?;
                let expected = mschapv2::authenticator_response(
                    password,
                    &nt_response,
                    &peer_challenge,
                    &auth_challenge,
                    user_name,
                )?;
                let msk = mschapv2::msk(password, &nt_response)?;
                let out = mschapv2::response_type_data(
                    packet.ms_id,
                    &peer_challenge,
                    &nt_response,
                    user_name,
                )?;
                self.state = State::ChallengeAnswered { expected, msk };
                Ok(out)
            }
            (opcode::SUCCESS, State::ChallengeAnswered { expected, .. }) => {
                let success = SuccessMessage::parse(packet.data)?;
                if !success.matches(expected) {
                    return Err(EapError::AuthenticatorMismatch);
                }
                let State::ChallengeAnswered { msk, .. } =
                    std::mem::replace(&mut self.state, State::Finished)
                else {
                    return Err(EapError::Unexpected("state changed"));
                };
                self.state = State::SuccessAcknowledged { msk };
                Ok(mschapv2::acknowledgement(opcode::SUCCESS).to_vec())
            }
            (opcode::FAILURE, State::Start | State::ChallengeAnswered { .. }) => {
                let failure = FailureMessage::parse(packet.data)?;
                self.state = State::FailureAcknowledged(failure);
                Ok(mschapv2::acknowledgement(opcode::FAILURE).to_vec())
            }
            (opcode::CHALLENGE | opcode::SUCCESS | opcode::FAILURE, _) => {
                Err(EapError::Unexpected("an MSCHAPv2 message out of order"))
            }
            _ => Err(EapError::Malformed("unknown MSCHAPv2 opcode")),
        }
    }
}
