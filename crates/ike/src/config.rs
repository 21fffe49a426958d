//! What the caller configures: the gateway, identities, credentials, proposals, selectors,
//! the configuration to request and the retransmission policy.

use core::fmt;
use core::time::Duration;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use ipsec_types::{DhGroup, EncrAlgorithm, IntegAlgorithm, PrfAlgorithm, TrafficSelector};
use zeroize::Zeroizing;

use crate::cert::{ClientCredential, GatewayIdentity, TrustStore};
use crate::eap::EapMethod;
use crate::wire::Identity;

/// How we prove who we are (and check who the gateway is).
#[derive(Clone)]
pub enum AuthConfig {
    /// A pre-shared key (AUTH method 2, RFC 7296 §2.15), used in both directions.
    Psk(Zeroizing<Vec<u8>>),
    /// EAP (RFC 7296 §2.16): the gateway proves itself with its certificate (checked against
    /// `server` before any EAP method challenge is answered), we with an EAP method; both final
    /// AUTH payloads are then keyed with the method's MSK.
    Eap {
        /// What we answer to EAP-Identity (normally the user name).
        identity: String,
        /// The EAP method and its credentials.
        method: EapMethod,
        /// How the gateway's certificate is checked.
        server: ServerAuth,
    },
    /// Certificates both ways (RFC 7296 §2.15, RFC 7427 signatures): the gateway's checked
    /// against `server`, ours sent with our chain and signed with its private key.
    Certificate {
        /// Our certificate chain and private key.
        credential: Arc<ClientCredential>,
        /// Sign with RSASSA-PSS rather than PKCS#1 v1.5 when our key is RSA.
        rsa_pss: bool,
        /// How the gateway's certificate is checked.
        server: ServerAuth,
    },
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Psk(_) => f.write_str("Psk(<redacted>)"),
            Self::Eap {
                identity,
                method,
                server,
            } => f
                .debug_struct("Eap")
                .field("identity", identity)
                .field("method", method)
                .field("server", server)
                .finish(),
            Self::Certificate {
                credential,
                rsa_pss,
                server,
            } => f
                .debug_struct("Certificate")
                .field("credential", credential)
                .field("rsa_pss", rsa_pss)
                .field("server", server)
                .finish(),
        }
    }
}

/// How the gateway's certificate is checked ([`crate::cert::verify_server`]).
#[derive(Debug, Clone)]
pub struct ServerAuth {
    /// The CAs the gateway's chain must lead to. With a profile store, our first IKE_AUTH
    /// request also carries a CERTREQ naming them.
    pub trust: Arc<TrustStore>,
    /// The name the gateway's certificate must carry: the profile's remote identity, else the
    /// gateway's host name or address.
    pub expected_identity: GatewayIdentity,
    /// Send a CERTREQ naming the profile's CAs in the first IKE_AUTH request (many gateways
    /// send their certificate only when asked).
    pub request_certificates: bool,
    /// The wall-clock time certificate validity is checked at. The initiator has no clock of
    /// its own: set this to `SystemTime::now()` when creating the initiator (the check happens
    /// within seconds of that).
    pub wall_clock: SystemTime,
}

/// One IKE SA proposal: any combination of the listed algorithms is acceptable.
/// AEAD and non-AEAD ciphers must be in separate proposals (RFC 5282 §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeProposal {
    /// Encryption algorithms, preferred first.
    pub encr: Vec<EncrAlgorithm>,
    /// Integrity algorithms; must be empty for AEAD proposals and non-empty otherwise.
    pub integ: Vec<IntegAlgorithm>,
    /// Pseudorandom functions.
    pub prf: Vec<PrfAlgorithm>,
    /// Key-exchange groups; the first group of the first proposal is used for our KE payload
    /// (unless [`InitiatorConfig::first_ke_group`] names another offered group).
    pub dh: Vec<DhGroup>,
}

impl IkeProposal {
    /// The default list: modern AEAD suites first, then AES-CBC + HMAC-SHA2 with MODP-2048 and
    /// friends for older gateways.
    #[must_use]
    pub fn defaults() -> Vec<Self> {
        vec![
            Self {
                encr: vec![
                    EncrAlgorithm::AesGcm16_256,
                    EncrAlgorithm::ChaCha20Poly1305,
                    EncrAlgorithm::AesGcm16_128,
                ],
                integ: vec![],
                prf: vec![
                    PrfAlgorithm::HmacSha2_256,
                    PrfAlgorithm::HmacSha2_384,
                    PrfAlgorithm::HmacSha2_512,
                ],
                dh: vec![DhGroup::Curve25519, DhGroup::Ecp256, DhGroup::Ecp384],
            },
            Self {
                encr: vec![EncrAlgorithm::AesCbc256, EncrAlgorithm::AesCbc128],
                integ: vec![
                    IntegAlgorithm::HmacSha2_256_128,
                    IntegAlgorithm::HmacSha2_384_192,
                    IntegAlgorithm::HmacSha2_512_256,
                ],
                prf: vec![
                    PrfAlgorithm::HmacSha2_256,
                    PrfAlgorithm::HmacSha2_384,
                    PrfAlgorithm::HmacSha2_512,
                ],
                dh: vec![
                    DhGroup::Modp2048,
                    DhGroup::Ecp256,
                    DhGroup::Curve25519,
                    DhGroup::Ecp384,
                    DhGroup::Modp3072,
                    DhGroup::Modp4096,
                ],
            },
        ]
    }
}

/// One ESP proposal for the CHILD_SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspProposal {
    /// Encryption algorithms, preferred first.
    pub encr: Vec<EncrAlgorithm>,
    /// Integrity algorithms; empty for AEAD proposals.
    pub integ: Vec<IntegAlgorithm>,
    /// Offer extended sequence numbers (with a fallback to none: both ESN transforms are sent).
    pub esn: bool,
}

impl EspProposal {
    /// The default list: AEAD first, then AES-CBC + HMAC-SHA2.
    #[must_use]
    pub fn defaults() -> Vec<Self> {
        vec![
            Self {
                encr: vec![
                    EncrAlgorithm::AesGcm16_256,
                    EncrAlgorithm::ChaCha20Poly1305,
                    EncrAlgorithm::AesGcm16_128,
                ],
                integ: vec![],
                esn: true,
            },
            Self {
                encr: vec![EncrAlgorithm::AesCbc256, EncrAlgorithm::AesCbc128],
                integ: vec![
                    IntegAlgorithm::HmacSha2_256_128,
                    IntegAlgorithm::HmacSha2_384_192,
                    IntegAlgorithm::HmacSha2_512_256,
                ],
                esn: true,
            },
        ]
    }
}

/// Which configuration attributes to ask for in the CP payload (RFC 7296 §3.15, RFC 8598).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigRequest {
    /// Ask for a virtual IPv4 address (and IPv4 DNS servers if `dns`).
    pub ipv4: bool,
    /// Ask for a virtual IPv6 address (and IPv6 DNS servers if `dns`).
    pub ipv6: bool,
    /// Ask for DNS servers.
    pub dns: bool,
    /// Ask for split-DNS domains (`INTERNAL_DNS_DOMAIN`).
    pub dns_domains: bool,
}

impl Default for ConfigRequest {
    fn default() -> Self {
        Self {
            ipv4: true,
            ipv6: true,
            dns: true,
            dns_domains: true,
        }
    }
}

impl ConfigRequest {
    /// Whether anything is requested at all (if not, no CP payload is sent).
    #[must_use]
    pub const fn any(&self) -> bool {
        self.ipv4 || self.ipv6
    }
}

/// Retransmission of requests (RFC 7296 §2.1): resend after `initial_timeout`, doubling each
/// time, at most `max_retransmits` times, and give up after `total_timeout` in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitConfig {
    /// Wait before the first retransmission.
    pub initial_timeout: Duration,
    /// Retransmissions after the first send.
    pub max_retransmits: u32,
    /// Give up on an exchange after this long.
    pub total_timeout: Duration,
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        Self {
            initial_timeout: Duration::from_secs(1),
            max_retransmits: 5,
            total_timeout: Duration::from_secs(60),
        }
    }
}

/// Everything an [`crate::Initiator`] needs.
#[derive(Debug, Clone)]
pub struct InitiatorConfig {
    /// The gateway: IP and IKE port (normally 500; 4500 starts directly with NAT-T framing).
    pub remote: SocketAddr,
    /// Our identity (IDi).
    pub local_id: Identity,
    /// The gateway identity to ask for (IDr in our request) and to require in its answer.
    pub remote_id: Option<Identity>,
    /// Our credentials.
    pub auth: AuthConfig,
    /// IKE SA proposals, preferred first.
    pub ike_proposals: Vec<IkeProposal>,
    /// ESP proposals for the CHILD_SA, preferred first.
    pub esp_proposals: Vec<EspProposal>,
    /// Our side's selectors (TSi); usually `0.0.0.0/0` and `::/0`, narrowed by the gateway.
    pub ts_local: Vec<TrafficSelector>,
    /// The remote side's selectors (TSr).
    pub ts_remote: Vec<TrafficSelector>,
    /// Configuration to request.
    pub config_request: ConfigRequest,
    /// Make the gateway believe we are behind a NAT so that it always encapsulates ESP in UDP
    /// (strongSwan's `encap = yes`): our NAT_DETECTION_SOURCE_IP is a hash that cannot match.
    pub force_udp_encapsulation: bool,
    /// Our IKE address and port, if known before the first send. Only used when
    /// `force_udp_encapsulation` is off, for a truthful NAT_DETECTION_SOURCE_IP; without it
    /// the hash is random and the gateway encapsulates anyway.
    pub local_addr: Option<SocketAddr>,
    /// Send INITIAL_CONTACT so that the gateway drops stale SAs of ours.
    pub initial_contact: bool,
    /// Retransmission policy.
    pub retransmit: RetransmitConfig,
    /// How many COOKIE requests we follow before giving up.
    pub max_cookie_retries: u32,
    /// How many INVALID_KE_PAYLOAD answers we follow before giving up.
    pub max_invalid_ke_retries: u32,
    /// The key-exchange group of the first IKE_SA_INIT's KE payload, if not the first group of
    /// the first proposal: normally the group this gateway chose last time, so that it need
    /// not ask for it again with INVALID_KE_PAYLOAD (one round trip saved). The SA payload
    /// still offers every proposal in its order. Ignored when no proposal offers the group.
    pub first_ke_group: Option<DhGroup>,
    /// The largest IP packet an encrypted IKE message may take once both sides support IKE
    /// fragmentation (RFC 7383): larger messages go out as fragments that each fit, counting
    /// the IP (20 or 40 bytes) and UDP (8) headers and on port 4500 the non-ESP marker (4).
    /// At least 576. The default, [`DEFAULT_FRAGMENT_SIZE`], passes every IPv6 path and
    /// nearly every IPv4 one (strongSwan's `charon.fragment_size` has the same default);
    /// lower it to 576 for IPv4 paths that are known to be worse (RFC 7383 §2.5.1).
    pub fragment_size: usize,
    /// Rekeying, dead-peer detection and teardown once the tunnel is up.
    pub lifecycle: LifecycleConfig,
}

/// The default [`InitiatorConfig::fragment_size`]: the IPv6 minimum MTU.
pub const DEFAULT_FRAGMENT_SIZE: usize = 1280;

impl InitiatorConfig {
    /// A configuration with the defaults: both address families everywhere, default proposals,
    /// forced UDP encapsulation, full CP request.
    #[must_use]
    pub fn new(remote: SocketAddr, local_id: Identity, auth: AuthConfig) -> Self {
        Self {
            remote,
            local_id,
            remote_id: None,
            auth,
            ike_proposals: IkeProposal::defaults(),
            esp_proposals: EspProposal::defaults(),
            ts_local: vec![TrafficSelector::ipv4_any(), TrafficSelector::ipv6_any()],
            ts_remote: vec![TrafficSelector::ipv4_any(), TrafficSelector::ipv6_any()],
            config_request: ConfigRequest::default(),
            force_udp_encapsulation: true,
            local_addr: None,
            initial_contact: true,
            retransmit: RetransmitConfig::default(),
            max_cookie_retries: 3,
            max_invalid_ke_retries: 2,
            first_ke_group: None,
            fragment_size: DEFAULT_FRAGMENT_SIZE,
            lifecycle: LifecycleConfig::default(),
        }
    }
}

/// What keeps an established tunnel alive: when we rekey, how long a dead gateway may stay
/// unnoticed. Times are measured on the caller's clock (the `now` it passes in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleConfig {
    /// Rekey each CHILD_SA this long after it was created (its soft lifetime); `None`: only
    /// when the gateway does it or [`crate::Initiator::rekey_child_sa`] is called.
    pub child_rekey: Option<Duration>,
    /// Rekey the IKE SA this long after it was created; `None`: only when the gateway does it.
    pub ike_rekey: Option<Duration>,
    /// Each rekey happens up to this much earlier than its lifetime says, at random, so that
    /// both ends do not systematically start rekeys at the same moment (RFC 7296 §2.8.1).
    pub rekey_jitter: Duration,
    /// The key-exchange group for perfect forward secrecy in CHILD_SA rekeys we start;
    /// `None`: no new key exchange, unless the gateway used one in its own rekeys (then its
    /// group).
    pub child_pfs: Option<DhGroup>,
    /// A liveness check unanswered this long means the gateway is dead
    /// ([`crate::CloseReason::PeerDead`]); retransmissions follow the usual doubling schedule
    /// within it.
    pub dpd_timeout: Duration,
    /// Before sending anything that uses a rekeyed CHILD_SA the gateway created, wait at most
    /// this long for it to delete the old one (it may not have installed the new one yet).
    pub rekey_activation_delay: Duration,
    /// A request refused with TEMPORARY_FAILURE (a collision) is tried again after a random
    /// delay up to this long.
    pub retry_delay: Duration,
    /// Announce MOBIKE support (RFC 4555) in IKE_AUTH.
    pub mobike: bool,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            child_rekey: Some(Duration::from_secs(3600)),
            ike_rekey: Some(Duration::from_secs(4 * 3600)),
            rekey_jitter: Duration::from_secs(60),
            child_pfs: None,
            dpd_timeout: Duration::from_secs(30),
            rekey_activation_delay: Duration::from_secs(3),
            retry_delay: Duration::from_secs(10),
            mobike: true,
        }
    }
}
