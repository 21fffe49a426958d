//! EAP-TLS (RFC 5216; TLS 1.3 per RFC 9190) with `rustls` driven over in-memory buffers.
//!
//! The TLS records travel in EAP-TLS packets: `Flags` (L = length included, M = more
//! fragments, S = start), an optional 4-byte TLS Message Length, then TLS data. Incoming
//! fragments are acknowledged with empty responses and reassembled (bounded); outgoing TLS data
//! is cut into [`MAX_FRAGMENT_LEN`]-byte fragments, each sent after the server's
//! acknowledgement.
//!
//! The server is authenticated by the `rustls::ClientConfig`'s certificate verifier (built by
//! the caller, e.g. from the profile's CA); a client certificate goes in the same config.
//! Keys: TLS 1.2 `TLS-PRF(master_secret, "client EAP encryption", client_random |
//! server_random)` (RFC 5216 §2.3, which is the RFC 5705 exporter without context), TLS 1.3
//! `TLS-Exporter("EXPORTER_EAP_TLS_Key_Material", 0x0D, 128)` (RFC 9190 §2.3); the MSK is the
//! first 64 bytes.

use std::fmt;
use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::client::ResolvesClientCert;
use rustls::pki_types::{ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, ClientConnection, ProtocolVersion, RootCertStore, SignatureScheme};
use zeroize::Zeroizing;

use super::EapError;
use crate::cert::{CertError, ClientCredential, GatewayIdentity, TrustSource};
use crate::config::ServerAuth;

/// Flag: the TLS Message Length field is present.
pub const FLAG_LENGTH: u8 = 0x80;
/// Flag: more fragments follow.
pub const FLAG_MORE: u8 = 0x40;
/// Flag: EAP-TLS start.
pub const FLAG_START: u8 = 0x20;
/// Largest TLS data we put in one EAP-TLS packet.
pub const MAX_FRAGMENT_LEN: usize = 1024;
/// Largest TLS message (sum of fragments) accepted from the server.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Caller configuration for EAP-TLS.
#[derive(Clone)]
pub struct EapTlsConfig {
    /// The TLS client configuration: root store / verifier for the EAP server's certificate,
    /// and the client certificate. Use TLS 1.2 and/or 1.3.
    pub client_config: Arc<ClientConfig>,
    /// The name the EAP server's certificate must carry.
    pub server_name: ServerName<'static>,
}

impl EapTlsConfig {
    /// The EAP-TLS configuration of a profile: the EAP server must present a certificate that
    /// chains to `server.trust` and names `server.expected_identity` (a DNS name or an IP
    /// address), valid at `server.wall_clock`, the same rules as for the gateway's IKE
    /// certificate; `credential` is our client certificate (EAP-TLS servers normally require
    /// one). TLS 1.2 and 1.3, with *ring*'s cipher suites.
    ///
    /// # Errors
    /// [`EapError::Tls`] if the expected identity is an email address or a DN (TLS checks
    /// names and addresses only), or the client key cannot be used for TLS.
    pub fn new(
        server: &ServerAuth,
        credential: Option<&ClientCredential>,
    ) -> Result<Self, EapError> {
        let server_name = match &server.expected_identity {
            GatewayIdentity::Fqdn(name) => ServerName::try_from(name.clone())
                .map_err(|e| EapError::Tls(format!("the gateway name {name:?}: {e}")))?,
            GatewayIdentity::Ip(ip) => ServerName::IpAddress((*ip).into()),
            GatewayIdentity::Email(_) | GatewayIdentity::Dn(_) => {
                return Err(EapError::Tls(
                    "EAP-TLS checks the gateway by its DNS name or IP address; set one as the profile's remote identity".into(),
                ));
            }
        };
        let roots = RootCertStore {
            roots: server.trust.anchors().to_vec(),
        };
        let tls_error = |e: rustls::Error| EapError::Tls(e.to_string());
        let builder = ClientConfig::builder_with_details(
            Arc::new(rustls::crypto::ring::default_provider()),
            Arc::new(ProfileClock(server.wall_clock)),
        )
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_root_certificates(roots);
        let client_config = match credential {
            Some(credential) => {
                let (chain, key) = credential.chain_and_key();
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(tls_error)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Self {
            client_config: Arc::new(client_config),
            server_name,
        })
    }
}

impl EapError {
    /// Names the right trust store in a server-certificate error: EAP-TLS reports an unknown
    /// issuer as the profile's CA, but the profile may trust the system's CAs.
    #[must_use]
    pub(crate) fn for_trust_source(self, source: TrustSource) -> Self {
        match (self, source) {
            (Self::ServerCertificate(CertError::NotSignedByProfileCa), TrustSource::System) => {
                Self::ServerCertificate(CertError::NotSignedBySystemCa)
            }
            (other, _) => other,
        }
    }
}

/// Certificate validity is checked at the time the profile's checks use (the initiator has no
/// clock of its own).
#[derive(Debug)]
struct ProfileClock(SystemTime);

impl TimeProvider for ProfileClock {
    fn current_time(&self) -> Option<UnixTime> {
        self.0
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(UnixTime::since_unix_epoch)
    }
}

impl fmt::Debug for EapTlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EapTlsConfig")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// A parsed EAP-TLS type-data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsPacket<'a> {
    /// The flags octet.
    pub flags: u8,
    /// The TLS Message Length, if L is set.
    pub message_len: Option<u32>,
    /// The TLS data.
    pub data: &'a [u8],
}

impl<'a> TlsPacket<'a> {
    /// Parses EAP-TLS type data.
    ///
    /// # Errors
    /// [`EapError::Malformed`] if the flags octet or the length field is missing.
    pub fn parse(type_data: &'a [u8]) -> Result<Self, EapError> {
        let (&flags, rest) = type_data
            .split_first()
            .ok_or(EapError::Malformed("EAP-TLS packet without flags"))?;
        if flags & FLAG_LENGTH == 0 {
            return Ok(Self {
                flags,
                message_len: None,
                data: rest,
            });
        }
        let (len, data) = rest
            .split_first_chunk::<4>()
            .ok_or(EapError::Malformed("EAP-TLS length field is truncated"))?;
        Ok(Self {
            flags,
            message_len: Some(u32::from_be_bytes(*len)),
            data,
        })
    }
}

/// Wraps the configured client-certificate resolver to remember whether the server asked for
/// a certificate we could not give, so that the failure that follows can say so.
#[derive(Debug)]
struct NoticeMissingCertificate {
    inner: Arc<dyn ResolvesClientCert>,
    asked_in_vain: Arc<AtomicBool>,
}

impl ResolvesClientCert for NoticeMissingCertificate {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let chosen = self.inner.resolve(root_hint_subjects, sigschemes);
        if chosen.is_none() {
            self.asked_in_vain.store(true, Ordering::Relaxed);
        }
        chosen
    }

    fn only_raw_public_keys(&self) -> bool {
        self.inner.only_raw_public_keys()
    }

    fn has_certs(&self) -> bool {
        self.inner.has_certs()
    }
}

/// One EAP-TLS conversation (client side).
pub(crate) struct TlsSession {
    conn: ClientConnection,
    /// The server asked for a client certificate and we had none to give.
    certificate_missing: Arc<AtomicBool>,
    /// Incoming TLS message being reassembled.
    incoming: Vec<u8>,
    incoming_expected: Option<usize>,
    /// Outgoing TLS data and how much of it was sent.
    outgoing: Vec<u8>,
    sent: usize,
    /// TLS 1.3: the server's protected success indication (one 0x00 byte) arrived.
    success_indication: bool,
    /// The server's EAP-TLS Start arrived.
    started: bool,
}

impl TlsSession {
    pub(crate) fn new(config: &EapTlsConfig) -> Result<Self, EapError> {
        let certificate_missing = Arc::new(AtomicBool::new(false));
        let mut client_config = (*config.client_config).clone();
        client_config.client_auth_cert_resolver = Arc::new(NoticeMissingCertificate {
            inner: client_config.client_auth_cert_resolver.clone(),
            asked_in_vain: certificate_missing.clone(),
        });
        let conn = ClientConnection::new(Arc::new(client_config), config.server_name.clone())
            .map_err(|e| EapError::Tls(e.to_string()))?;
        Ok(Self {
            conn,
            certificate_missing,
            incoming: Vec::new(),
            incoming_expected: None,
            outgoing: Vec::new(),
            sent: 0,
            success_indication: false,
            started: false,
        })
    }

    /// Handles one EAP-TLS request's type data; returns the response's type data.
    pub(crate) fn handle(&mut self, type_data: &[u8]) -> Result<Vec<u8>, EapError> {
        let packet = TlsPacket::parse(type_data)?;
        if packet.flags & FLAG_START != 0 {
            if self.started {
                return Err(EapError::Unexpected("a second EAP-TLS start"));
            }
            self.started = true;
            return self.flush_tls();
        }
        if !self.started {
            return Err(EapError::Unexpected("EAP-TLS data before the start"));
        }
        if self.sent < self.outgoing.len() {
            // We are sending fragments; the server must acknowledge with an empty packet.
            if !packet.data.is_empty() {
                return Err(EapError::Malformed(
                    "EAP-TLS data where an acknowledgement was due",
                ));
            }
            return Ok(self.next_fragment());
        }
        if self.incoming.is_empty() {
            self.incoming_expected = packet
                .message_len
                .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
            if self.incoming_expected.is_some_and(|l| l > MAX_MESSAGE_LEN) {
                return Err(EapError::Malformed("EAP-TLS message is too long"));
            }
        }
        let new_len = self.incoming.len().saturating_add(packet.data.len());
        if new_len > self.incoming_expected.unwrap_or(MAX_MESSAGE_LEN) {
            return Err(EapError::Malformed(
                "EAP-TLS fragments exceed the announced length",
            ));
        }
        self.incoming.extend_from_slice(packet.data);
        if packet.flags & FLAG_MORE != 0 {
            return Ok(vec![0]);
        }
        if self
            .incoming_expected
            .is_some_and(|l| l != self.incoming.len())
        {
            return Err(EapError::Malformed(
                "EAP-TLS message is shorter than announced",
            ));
        }
        let message = std::mem::take(&mut self.incoming);
        self.incoming_expected = None;
        let mut reader = message.as_slice();
        while !reader.is_empty() {
            self.conn
                .read_tls(&mut reader)
                .map_err(|e| EapError::Tls(e.to_string()))?;
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(_) if self.certificate_missing() => {
                    return Err(EapError::ClientCertificateRequired);
                }
                Err(rustls::Error::InvalidCertificate(e)) => {
                    // The trust source is the profile's unless the caller says otherwise
                    // (`for_trust_source`).
                    return Err(EapError::ServerCertificate(
                        crate::cert::from_tls_certificate_error(&e, TrustSource::Profile),
                    ));
                }
                Err(e) => return Err(EapError::Tls(e.to_string())),
            };
            if state.plaintext_bytes_to_read() > 0 {
                let mut plain = Zeroizing::new(vec![0u8; state.plaintext_bytes_to_read()]);
                self.conn
                    .reader()
                    .read_exact(&mut plain)
                    .map_err(|e| EapError::Tls(e.to_string()))?;
                // RFC 9190 §2.5: the only application data is the single 0x00 byte.
                if plain.as_slice() != [0] || self.success_indication {
                    return Err(EapError::Malformed("unexpected EAP-TLS application data"));
                }
                self.success_indication = true;
            }
        }
        self.flush_tls()
    }

    /// Collects what rustls wants to send and returns its first fragment (or an empty
    /// acknowledgement).
    fn flush_tls(&mut self) -> Result<Vec<u8>, EapError> {
        self.outgoing.clear();
        self.sent = 0;
        while self.conn.wants_write() {
            self.conn
                .write_tls(&mut self.outgoing)
                .map_err(|e| EapError::Tls(e.to_string()))?;
        }
        if self.outgoing.is_empty() {
            return Ok(vec![0]);
        }
        Ok(self.next_fragment())
    }

    fn next_fragment(&mut self) -> Vec<u8> {
        let total = self.outgoing.len();
        let end = total.min(self.sent + MAX_FRAGMENT_LEN);
        let first = self.sent == 0;
        let more = end < total;
        let mut flags = 0;
        let mut out = Vec::with_capacity(5 + end - self.sent);
        if more {
            flags |= FLAG_MORE;
        }
        if first && more {
            flags |= FLAG_LENGTH;
        }
        out.push(flags);
        if flags & FLAG_LENGTH != 0 {
            // Bounded by the TLS stack's own record sizes; saturate rather than truncate.
            out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
        }
        out.extend_from_slice(&self.outgoing[self.sent..end]);
        self.sent = end;
        if !more {
            self.outgoing.clear();
            self.sent = 0;
        }
        out
    }

    /// Whether the server asked for a client certificate and the configuration had none (or
    /// none it accepts): the reason the handshake fails, if it does.
    pub(crate) fn certificate_missing(&self) -> bool {
        self.certificate_missing.load(Ordering::Relaxed)
    }

    /// The MSK, once the handshake is complete (and for TLS 1.3 the success indication came).
    pub(crate) fn finish(&self) -> Result<Zeroizing<Vec<u8>>, EapError> {
        if self.conn.is_handshaking() || !self.outgoing.is_empty() || !self.incoming.is_empty() {
            return Err(EapError::EarlySuccess);
        }
        let tls13 = self.conn.protocol_version() == Some(ProtocolVersion::TLSv1_3);
        if tls13 && !self.success_indication {
            return Err(EapError::EarlySuccess);
        }
        let (label, context): (&[u8], Option<&[u8]>) = if tls13 {
            (b"EXPORTER_EAP_TLS_Key_Material", Some(&[0x0d]))
        } else {
            (b"client EAP encryption", None)
        };
        let keys = self
            .conn
            .export_keying_material(Zeroizing::new(vec![0u8; 128]), label, context)
            .map_err(|e| EapError::Tls(e.to_string()))?;
        Ok(Zeroizing::new(keys[..64].to_vec()))
    }
}
