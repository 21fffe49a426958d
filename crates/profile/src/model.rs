//! The Tern profile model: everything needed to reach a gateway, except the secrets.
//!
//! Secrets never appear here. A profile only says which secrets it needs
//! ([`Profile::required_secrets`]); the secrets themselves live in the OS keyring.

use core::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipsec_types::IpPrefix;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::proposal::{EspProposal, IkeProposal};
use crate::secrets::SecretKind;

/// A profile's stable identity. Store file names are derived from it, never from the user's name
/// for the profile; importing a file with the same id replaces the stored profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProfileId(pub Uuid);

impl ProfileId {
    /// A fresh random (version 4) id.
    #[must_use]
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for ProfileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Lowercase hyphenated: the one spelling used for file names.
        write!(f, "{}", self.0.as_hyphenated())
    }
}

impl FromStr for ProfileId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// A VPN profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Stable identity (UUID).
    pub id: ProfileId,
    /// Display name chosen by the user or the file's author.
    pub name: String,
    /// Where to send IKE.
    pub gateway: Gateway,
    /// The identity the gateway must prove (IDr). `None`: the gateway address is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_identity: Option<Identity>,
    /// Our identity (IDi). `None`: derived from the certificate subject or the EAP username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_identity: Option<Identity>,
    /// How we authenticate to the gateway.
    pub auth: AuthMethod,
    /// How the gateway's certificate is checked (unused for PSK authentication).
    #[serde(default)]
    pub server_trust: ServerTrust,
    /// IKE SA proposals, most preferred first. Empty: Tern's defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ike_proposals: Vec<IkeProposal>,
    /// CHILD SA (ESP) proposals, most preferred first. Empty: Tern's defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub esp_proposals: Vec<EspProposal>,
    /// Which destinations use the tunnel.
    #[serde(default)]
    pub routing: Routing,
    /// DNS settings that override what the gateway assigns.
    #[serde(default)]
    pub dns: DnsOverride,
    /// Tunnel interface MTU in bytes. `None`: Tern picks one from the path and the ESP overhead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    /// Seconds between NAT keepalives while behind a NAT. `None`: Tern's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_keepalive_secs: Option<u16>,
    /// Dead peer detection.
    #[serde(default)]
    pub dpd: Dpd,
    /// SA lifetimes (rekey intervals).
    #[serde(default)]
    pub lifetimes: Lifetimes,
    /// Whether MOBIKE (RFC 4555) may be used to move the SA to a new address.
    #[serde(default = "default_true")]
    pub mobike: bool,
    /// What happens to IPv6 traffic.
    #[serde(default)]
    pub ipv6: Ipv6Policy,
    /// Prefer IPv6 addresses of the gateway for the outer (transport) packets.
    #[serde(default, skip_serializing_if = "is_false")]
    pub prefer_ipv6_transport: bool,
}

fn default_true() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_false(value: &bool) -> bool {
    !*value
}

impl Profile {
    /// A profile with Tern's defaults for everything but the essentials.
    #[must_use]
    pub fn new(id: ProfileId, name: impl Into<String>, gateway: Gateway, auth: AuthMethod) -> Self {
        Self {
            id,
            name: name.into(),
            gateway,
            remote_identity: None,
            local_identity: None,
            auth,
            server_trust: ServerTrust::default(),
            ike_proposals: Vec::new(),
            esp_proposals: Vec::new(),
            routing: Routing::default(),
            dns: DnsOverride::default(),
            mtu: None,
            nat_keepalive_secs: None,
            dpd: Dpd::default(),
            lifetimes: Lifetimes::default(),
            mobike: true,
            ipv6: Ipv6Policy::default(),
            prefer_ipv6_transport: false,
        }
    }

    /// The secrets the caller must find in (or put into) the keyring before connecting.
    #[must_use]
    pub fn required_secrets(&self) -> Vec<SecretKind> {
        self.auth.required_secrets()
    }
}

/// The gateway's address and IKE port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// A DNS name or an IP address literal.
    pub host: String,
    /// The UDP port for IKE (500 unless the gateway says otherwise; NAT-T floats to 4500 only
    /// when this is 500).
    #[serde(default = "default_ike_port")]
    pub port: u16,
}

/// IKE's well-known port (RFC 7296 §2).
pub const DEFAULT_IKE_PORT: u16 = 500;

fn default_ike_port() -> u16 {
    DEFAULT_IKE_PORT
}

impl Gateway {
    /// A gateway on the default IKE port.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: DEFAULT_IKE_PORT,
        }
    }
}

/// An IKE identity (RFC 7296 §3.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The identity type.
    pub kind: IdentityKind,
    /// Its textual value: a name, an address, an RFC 4514 DN or hex key id.
    pub value: String,
}

/// The ID types Tern uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityKind {
    /// `ID_FQDN`.
    Fqdn,
    /// `ID_RFC822_ADDR` (an email address).
    Email,
    /// `ID_IPV4_ADDR` or `ID_IPV6_ADDR`.
    IpAddr,
    /// `ID_DER_ASN1_DN`, written as an RFC 4514 string.
    DistinguishedName,
    /// `ID_KEY_ID`, written as hex.
    KeyId,
}

impl Identity {
    /// Reads an identity the way strongSwan and Apple write them: an IP literal is an address;
    /// `@name` forces an FQDN and `@#hex` a key id; text with `=` is a distinguished name;
    /// text with `@` is an email address; anything else is an FQDN.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        let (kind, value) = if text.parse::<IpAddr>().is_ok() {
            (IdentityKind::IpAddr, text)
        } else if let Some(hex) = text.strip_prefix("@#") {
            (IdentityKind::KeyId, hex)
        } else if let Some(name) = text.strip_prefix('@') {
            (IdentityKind::Fqdn, name)
        } else if text.contains('=') {
            (IdentityKind::DistinguishedName, text)
        } else if text.contains('@') {
            (IdentityKind::Email, text)
        } else {
            (IdentityKind::Fqdn, text)
        };
        Self {
            kind,
            value: value.to_owned(),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            IdentityKind::KeyId => write!(f, "@#{}", self.value),
            _ => f.write_str(&self.value),
        }
    }
}

/// How the client authenticates. The gateway always authenticates with a certificate, except
/// with [`AuthMethod::Psk`] where both sides use the pre-shared key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AuthMethod {
    /// Pre-shared key for both sides (secret: [`SecretKind::PreSharedKey`]).
    Psk,
    /// EAP-MSCHAPv2 with a username and password (secret: [`SecretKind::EapPassword`]).
    EapMschapv2 {
        /// The EAP identity. `None`: the file left it out; ask the user before connecting.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
    },
    /// EAP-TLS with a client certificate (kept in the profile store, encrypted; secret: its
    /// passphrase).
    EapTls,
    /// IKEv2 certificate (public key signature) authentication.
    Certificate {
        /// Sign with RSASSA-PSS instead of PKCS#1 v1.5 when the key is RSA (RFC 7427).
        #[serde(default, skip_serializing_if = "is_false")]
        rsa_pss: bool,
    },
    /// A certificate first, then EAP-MSCHAPv2 (RFC 4739 multiple authentication rounds).
    CertificateEap {
        /// The EAP identity. `None`: the file left it out; ask the user before connecting.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        /// Sign with RSASSA-PSS instead of PKCS#1 v1.5 when the key is RSA (RFC 7427).
        #[serde(default, skip_serializing_if = "is_false")]
        rsa_pss: bool,
    },
}

impl AuthMethod {
    /// The secrets this method needs in the keyring. Methods with a client certificate also
    /// need the certificate and key in the profile store ([`Self::uses_client_certificate`]).
    #[must_use]
    pub fn required_secrets(&self) -> Vec<SecretKind> {
        match self {
            Self::Psk => vec![SecretKind::PreSharedKey],
            Self::EapMschapv2 { .. } => vec![SecretKind::EapPassword],
            // The key itself is in the profile store, encrypted under this passphrase (see
            // `ProfileStore::save_client_key`).
            Self::EapTls | Self::Certificate { .. } => vec![SecretKind::Pkcs12Passphrase],
            Self::CertificateEap { .. } => {
                vec![SecretKind::Pkcs12Passphrase, SecretKind::EapPassword]
            }
        }
    }

    /// Whether the client uses a certificate (and so needs a private key).
    #[must_use]
    pub const fn uses_client_certificate(&self) -> bool {
        matches!(
            self,
            Self::EapTls | Self::Certificate { .. } | Self::CertificateEap { .. }
        )
    }

    /// The EAP username, for methods that have one.
    #[must_use]
    pub fn eap_username(&self) -> Option<&str> {
        match self {
            Self::EapMschapv2 { username } | Self::CertificateEap { username, .. } => {
                username.as_deref()
            }
            _ => None,
        }
    }
}

/// A certificate as the file carried it: DER or PEM bytes. Tern parses it when connecting.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Certificate(#[serde(with = "crate::serde_helpers::base64_bytes")] pub Vec<u8>);

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encoding = if self.is_pem() { "PEM" } else { "DER" };
        write!(f, "Certificate({encoding}, {} bytes)", self.0.len())
    }
}

impl Certificate {
    /// Whether the bytes are PEM text rather than DER.
    #[must_use]
    pub fn is_pem(&self) -> bool {
        let trimmed = self.0.trim_ascii_start();
        trimmed.starts_with(b"-----BEGIN ")
    }

    /// Whether the bytes plausibly hold a certificate: PEM with a `CERTIFICATE` block, or DER
    /// that opens with a definite-length SEQUENCE. A shape check only, not a parse.
    #[must_use]
    pub fn looks_valid(&self) -> bool {
        if self.is_pem() {
            return self
                .0
                .windows(b"-----BEGIN CERTIFICATE-----".len())
                .any(|w| w == b"-----BEGIN CERTIFICATE-----");
        }
        matches!(self.0.as_slice(), [0x30, 0x81..=0x84, ..])
    }
}

/// How the gateway's certificate is trusted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTrust {
    /// Trust anchors for the gateway's certificate chain. Empty (and no pin): the system's
    /// trust store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_certificates: Vec<Certificate>,
    /// Accept exactly this gateway certificate (no chain building). Exclusive with
    /// `ca_certificates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_certificate: Option<Certificate>,
    /// The gateway certificate's subject common name must equal this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_common_name: Option<String>,
    /// The gateway certificate's issuer common name must equal this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_common_name: Option<String>,
    /// Revocation checking and certificate requests.
    #[serde(default)]
    pub checks: CertificateChecks,
}

/// Revocation and certificate-request behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateChecks {
    /// Send CERTREQ payloads so the gateway sends its certificate chain.
    pub send_certificate_requests: bool,
    /// Fetch CRLs named in certificates.
    pub crl: bool,
    /// Query OCSP responders named in certificates.
    pub ocsp: bool,
    /// Fail when revocation status cannot be determined (instead of only when revoked).
    pub strict: bool,
}

impl Default for CertificateChecks {
    fn default() -> Self {
        Self {
            send_certificate_requests: true,
            crl: true,
            ocsp: true,
            strict: false,
        }
    }
}

/// Which destinations go through the tunnel.
///
/// The tunnel asks the gateway for everything (`0.0.0.0/0`, `::/0`); the gateway's traffic
/// selectors may narrow that. `include` narrows it further on our side, `exclude` cuts holes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// Only these destinations use the tunnel (split tunnel). Empty: every destination the
    /// gateway accepts.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::serde_helpers::prefix_list"
    )]
    pub include: Vec<IpPrefix>,
    /// These destinations never use the tunnel, even when included.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::serde_helpers::prefix_list"
    )]
    pub exclude: Vec<IpPrefix>,
    /// Drop IPv4 traffic that does not use the tunnel, instead of sending it in the clear.
    #[serde(default, skip_serializing_if = "is_false")]
    pub block_ipv4_outside: bool,
    /// Drop IPv6 traffic that does not use the tunnel, instead of sending it in the clear.
    #[serde(default, skip_serializing_if = "is_false")]
    pub block_ipv6_outside: bool,
}

impl Routing {
    /// Whether this is a split tunnel (some destinations bypass the VPN on our side).
    #[must_use]
    pub fn is_split(&self) -> bool {
        !self.include.is_empty() || !self.exclude.is_empty()
    }

    /// Whether traffic to `addr` would use the tunnel, as far as our side decides.
    #[must_use]
    pub fn routes_through_tunnel(&self, addr: IpAddr) -> bool {
        // An include list of one family says nothing about the other.
        let mut same_family = self
            .include
            .iter()
            .filter(|prefix| prefix.addr().is_ipv4() == addr.is_ipv4())
            .peekable();
        let included =
            same_family.peek().is_none() || same_family.any(|prefix| prefix.contains(addr));
        included && !self.exclude.iter().any(|prefix| prefix.contains(addr))
    }
}

/// DNS settings that replace the ones the gateway assigns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsOverride {
    /// Resolvers to use while connected. Empty: the gateway's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<IpAddr>,
    /// Search domains to use while connected. Empty: the gateway's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search_domains: Vec<String>,
}

/// Dead peer detection (RFC 7296 §2.4 liveness checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dpd {
    /// Seconds of silence after which we send an empty INFORMATIONAL. `None`: disabled.
    pub interval_secs: Option<u32>,
}

/// Tern's default DPD interval.
pub const DEFAULT_DPD_INTERVAL_SECS: u32 = 30;

impl Default for Dpd {
    fn default() -> Self {
        Self {
            interval_secs: Some(DEFAULT_DPD_INTERVAL_SECS),
        }
    }
}

/// SA lifetimes; `None` means Tern's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifetimes {
    /// Seconds after which the IKE SA is rekeyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ike_secs: Option<u32>,
    /// Seconds after which CHILD SAs are rekeyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_secs: Option<u32>,
}

/// What happens to IPv6 traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ipv6Policy {
    /// Ask for an inner IPv6 address and route IPv6 like IPv4; if the gateway offers none,
    /// IPv6 is blocked so it cannot leak around the tunnel.
    #[default]
    Tunnel,
    /// Never tunnel IPv6 and drop it while connected.
    Block,
    /// Never tunnel IPv6 and leave it alone (it travels outside the VPN).
    Bypass,
}
