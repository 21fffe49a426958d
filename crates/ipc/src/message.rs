//! The messages of protocol version [`PROTOCOL_VERSION`]. Their JSON form is also what
//! `tern status --json` prints, so field names are stable: add fields, never rename them.

use core::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Version of this protocol. A helper answers a `Hello` with another major version with
/// [`ErrorCode::UnsupportedVersion`].
pub const PROTOCOL_VERSION: u32 = 1;

/// A request from a client, tagged with an ID the response echoes.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClientMessage {
    /// Chosen by the client, unique among its outstanding requests.
    pub id: u64,
    /// What the client asks for.
    pub request: Request,
}

/// What a client can ask the helper.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// First message on every connection: the client's protocol version and name.
    Hello {
        /// The client's [`PROTOCOL_VERSION`].
        version: u32,
        /// Free-form client name for logs (`tern-cli 0.1.0`).
        client: String,
    },
    /// The current tunnel status.
    Status,
    /// Bring the tunnel up with this profile and its secrets.
    Connect(Box<ConnectRequest>),
    /// Take the tunnel down.
    Disconnect,
    /// Receive [`Event`]s for status changes and traffic statistics from now on.
    Subscribe,
    /// Recent log lines after sequence number `since`; with `follow`, new lines arrive as events.
    Logs {
        /// Only lines with a sequence number above this.
        since: Option<u64>,
        /// Keep sending new lines as [`Event::Log`].
        follow: bool,
    },
    /// Change the helper's log level until it restarts.
    SetLogLevel {
        /// The new level.
        level: LogLevel,
    },
}

/// A connect request: the profile and its secrets.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConnectRequest {
    /// The profile. Deserializing refuses unknown fields, and the helper runs
    /// [`profile::Profile::validate`] before using any of it.
    pub profile: profile::Profile,
    /// The secrets the profile needs, from the keyring or the user.
    pub secrets: Secrets,
}

/// Secrets sent with a connect; zeroized when dropped and never printed.
#[derive(Default, Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Secrets {
    /// The IKE pre-shared key.
    pub psk: Option<String>,
    /// The EAP password.
    pub eap_password: Option<String>,
    /// The client's certificate chain and private key, for certificate and EAP-TLS
    /// authentication. The front end opens the PKCS#12 bundle; the helper never parses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<ClientCertificate>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |set: bool| if set { "<set>" } else { "<none>" };
        f.debug_struct("Secrets")
            .field("psk", &shown(self.psk.is_some()))
            .field("eap_password", &shown(self.eap_password.is_some()))
            .field(
                "client_certificate",
                &shown(self.client_certificate.is_some()),
            )
            .finish()
    }
}

/// The client's certificate chain (public) and private key (secret), as they cross to the
/// helper: DER, base64 in JSON. The key is zeroized on drop and never printed.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificate {
    /// The certificate chain, DER, own certificate first, then intermediates.
    #[zeroize(skip)]
    pub certificates: Vec<profile::Certificate>,
    /// The private key, PKCS#8 DER.
    #[serde(with = "private_key_base64")]
    pub private_key: Vec<u8>,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("certificates", &self.certificates.len())
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl ClientCertificate {
    /// The wire form of a key the front end opened.
    #[must_use]
    pub fn from_key(key: &profile::ClientKey) -> Self {
        Self {
            certificates: key.certificates().to_vec(),
            private_key: key.private_key_der().to_vec(),
        }
    }

    /// Checks sizes and that the key and certificates parse (the helper trusts nothing from
    /// clients); whether the key belongs to the certificate is checked when it is loaded for
    /// signing.
    ///
    /// # Errors
    /// A [`profile::CredentialError`] naming what is wrong.
    pub fn to_key(&self) -> Result<profile::ClientKey, profile::CredentialError> {
        profile::ClientKey::from_der(
            &self.private_key,
            self.certificates.iter().map(|c| c.0.clone()).collect(),
        )
    }
}

/// The private key as one base64 string: no JSON escapes, so the parser copies it once, into
/// the zeroized field, and leaves no unescaping scratch copy behind.
mod private_key_base64 {
    use base64::Engine as _;
    use serde::{Deserialize as _, Deserializer, Serializer, de};
    use zeroize::Zeroizing;

    // The `with` protocol hands the field by reference.
    #[allow(clippy::ptr_arg)]
    pub fn serialize<S: Serializer>(key: &Vec<u8>, serializer: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(key));
        serializer.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        // Bounded before decoding: base64 of the largest key accepted, rounded up.
        if text.len() > profile::MAX_PRIVATE_KEY_BYTES.div_ceil(3) * 4 {
            return Err(de::Error::custom("the private key is too large"));
        }
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|_| de::Error::custom("the private key is not base64"))
    }
}

/// Anything the helper sends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to the request with the same ID.
    Response {
        /// The request's ID.
        id: u64,
        /// What happened.
        result: Result<Response, ErrorReply>,
    },
    /// Something that happened, sent to subscribed clients.
    Event {
        /// The event.
        event: Event,
    },
}

/// A successful answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// Answer to [`Request::Hello`].
    Hello {
        /// The helper's [`PROTOCOL_VERSION`].
        version: u32,
        /// The helper's name and version.
        server: String,
    },
    /// Answer to [`Request::Status`].
    Status(Box<Status>),
    /// The request was carried out (connect started, disconnect started, subscribed…).
    Done,
    /// Answer to [`Request::Logs`].
    Logs {
        /// The lines, oldest first.
        lines: Vec<LogLine>,
    },
}

/// A refused request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ErrorReply {
    /// What kind of refusal, for programs.
    pub code: ErrorCode,
    /// One sentence for people.
    pub message: String,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The client speaks a protocol version the helper does not.
    UnsupportedVersion,
    /// The first request was not `Hello`, or a request made no sense now.
    InvalidRequest,
    /// The profile in a connect request failed validation.
    InvalidProfile,
    /// A secret the profile needs was not sent.
    MissingSecret,
    /// The profile authenticates with a client certificate, and none was sent (import the
    /// profile's PKCS#12 bundle again, or add one).
    MissingClientCertificate,
    /// The client certificate or key sent cannot be used (unreadable, unsupported key type,
    /// or the key does not belong to the certificate).
    InvalidClientCertificate,
    /// Disconnect while no tunnel is up.
    NotConnected,
    /// Connect while a tunnel is up or coming up.
    AlreadyConnected,
    /// The client is not allowed to do this.
    PermissionDenied,
    /// Something failed inside the helper; its log says more.
    Internal,
}

/// Something the helper reports without being asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The status changed, or traffic statistics were refreshed.
    Status(Box<Status>),
    /// A new log line (only after `Logs { follow: true }`).
    Log(LogLine),
}

/// Everything a client shows about the tunnel.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    /// Where the tunnel is in its life.
    pub state: TunnelState,
    /// The profile in use, if any.
    pub profile: Option<ProfileSummary>,
    /// The gateway address being used.
    pub gateway: Option<String>,
    /// What was negotiated, while connected.
    pub connection: Option<ConnectionInfo>,
    /// Counters of the current connection.
    pub traffic: TrafficStats,
}

/// The tunnel's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TunnelState {
    /// No tunnel.
    #[default]
    Disconnected,
    /// Coming up.
    Connecting {
        /// The step in progress.
        stage: ConnectStage,
    },
    /// Up; traffic flows.
    Connected,
    /// Lost the gateway; trying again.
    Reconnecting {
        /// Attempt number, from 1.
        attempt: u32,
        /// Why the previous connection ended.
        reason: String,
    },
    /// Going down; the system is being restored.
    Disconnecting,
    /// The last attempt failed.
    Failed {
        /// Why.
        failure: Failure,
    },
}

/// Steps of a connect, for progress display.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConnectStage {
    /// Looking up the gateway's address.
    Resolving,
    /// Sent IKE_SA_INIT, waiting for the gateway.
    ContactingGateway,
    /// In IKE_AUTH.
    Authenticating,
    /// Setting up the TUN device, routes and DNS.
    ConfiguringNetwork,
}

/// A failure, classified for the UI, with a sentence for people.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failure {
    /// The class of failure.
    pub kind: FailureKind,
    /// One sentence a user can act on.
    pub message: String,
}

/// Classes of failure the UI can word and act on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The gateway did not answer.
    GatewayUnreachable,
    /// The gateway refused our credentials, or its own did not verify.
    AuthenticationFailed,
    /// The gateway's certificate is not trusted for this profile.
    ServerCertificateRejected,
    /// No algorithms in common with the gateway.
    NoCommonProposal,
    /// The gateway broke the protocol.
    ProtocolError,
    /// The local network or system refused a change.
    LocalSystem,
    /// The profile cannot be used as it is.
    InvalidProfile,
    /// Anything else.
    Internal,
}

/// Which profile is in use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileSummary {
    /// The profile's UUID.
    pub uuid: String,
    /// Its display name.
    pub name: String,
}

/// What was negotiated and configured for the current connection.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Addresses the gateway assigned to us.
    pub virtual_ips: Vec<IpAddr>,
    /// DNS servers in use through the tunnel.
    pub dns_servers: Vec<IpAddr>,
    /// DNS domains routed to those servers.
    pub dns_domains: Vec<String>,
    /// Networks routed into the tunnel, as prefixes (`10.0.0.0/8`).
    pub routes: Vec<String>,
    /// The IKE SA's algorithms (`aes256gcm16-prfsha384-curve25519`).
    pub ike_suite: String,
    /// The CHILD_SA's algorithms (`aes256gcm16`).
    pub esp_suite: String,
    /// Whether a NAT sits in front of us.
    pub local_behind_nat: bool,
    /// Whether a NAT sits in front of the gateway.
    pub remote_behind_nat: bool,
    /// When the tunnel came up, in milliseconds since the Unix epoch.
    pub connected_at_unix_ms: u64,
    /// How long the IKE handshake took.
    pub handshake_ms: u64,
    /// Completed CHILD_SA and IKE SA rekeys.
    pub rekeys: u32,
}

/// Traffic counters of the current connection.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrafficStats {
    /// Inner bytes received from the tunnel.
    pub bytes_in: u64,
    /// Inner bytes sent into the tunnel.
    pub bytes_out: u64,
    /// Inner packets received.
    pub packets_in: u64,
    /// Inner packets sent.
    pub packets_out: u64,
    /// Inbound packets dropped (replayed, failed integrity, outside the traffic selectors).
    pub dropped_in: u64,
}

/// One line of the helper's log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogLine {
    /// Increasing sequence number, for `Logs { since }`.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// Severity.
    pub level: LogLevel,
    /// The module that logged it.
    pub target: String,
    /// The text.
    pub message: String,
}

/// Log severities, most severe first.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something looks wrong.
    Warn,
    /// Normal operation.
    Info,
    /// Details for debugging.
    Debug,
    /// Everything.
    Trace,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let mut secrets = Secrets::default();
        secrets.psk = Some("hunter2".into());
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("<set>"));
    }

    fn client_certificate() -> ClientCertificate {
        ClientCertificate {
            certificates: vec![profile::Certificate(vec![0x30, 0x82, 0x01, 0x00])],
            private_key: b"pkcs8-key-bytes".to_vec(),
        }
    }

    #[test]
    fn client_certificates_round_trip_as_base64_and_never_print() {
        let mut secrets = Secrets::default();
        secrets.client_certificate = Some(client_certificate());
        let shown = format!("{secrets:?} {:?}", secrets.client_certificate);
        assert!(
            !shown.contains("pkcs8") && !shown.contains("112"),
            "{shown}"
        );
        let json = serde_json::to_value(&secrets).unwrap();
        assert_eq!(
            json["client_certificate"]["private_key"],
            "cGtjczgta2V5LWJ5dGVz"
        );
        assert_eq!(json["client_certificate"]["certificates"][0], "MIIBAA==");
        let back: Secrets = serde_json::from_value(json).unwrap();
        let cert = back.client_certificate.as_ref().unwrap();
        assert_eq!(cert.private_key, b"pkcs8-key-bytes");
        assert_eq!(cert.certificates[0].0, [0x30, 0x82, 0x01, 0x00]);
        // Older clients send no certificate; the field may be left out.
        let plain: Secrets = serde_json::from_str(r#"{"psk":"k","eap_password":null}"#).unwrap();
        assert!(plain.client_certificate.is_none());
        assert!(
            !serde_json::to_string(&plain)
                .unwrap()
                .contains("client_certificate")
        );
    }

    #[test]
    fn hostile_client_certificates_are_refused() {
        let huge = format!(
            r#"{{"certificates":[],"private_key":"{}"}}"#,
            "A".repeat(64 * 1024)
        );
        let err = serde_json::from_str::<ClientCertificate>(&huge).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
        let err = serde_json::from_str::<ClientCertificate>(
            r#"{"certificates":[],"private_key":"not base64!"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
        let err = serde_json::from_str::<ClientCertificate>(
            r#"{"certificates":[],"private_key":"","pkcs12":""}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        // Parses, but is no key: `to_key` says what is wrong.
        let err = client_certificate().to_key().unwrap_err();
        assert!(
            matches!(err, profile::CredentialError::BadPrivateKey(_)),
            "{err}"
        );
        let empty = ClientCertificate {
            certificates: Vec::new(),
            private_key: Vec::new(),
        };
        assert!(empty.to_key().is_err());
    }

    #[test]
    fn status_json_shape_is_stable() {
        let status = Status {
            state: TunnelState::Connecting {
                stage: ConnectStage::Authenticating,
            },
            ..Status::default()
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["state"]["state"], "connecting");
        assert_eq!(json["state"]["stage"], "authenticating");
        assert_eq!(json["traffic"]["bytes_in"], 0);
    }

    #[test]
    fn requests_round_trip() {
        let msg = ClientMessage {
            id: 3,
            request: Request::Logs {
                since: Some(9),
                follow: true,
            },
        };
        let json = serde_json::to_string(&msg).unwrap();
        assert_eq!(
            json,
            r#"{"id":3,"request":{"type":"logs","since":9,"follow":true}}"#
        );
        let back: ClientMessage = serde_json::from_str(&json).unwrap();
        assert!(matches!(
            back.request,
            Request::Logs {
                since: Some(9),
                follow: true
            }
        ));
    }
}
