//! The sans-IO IKEv2 initiator: IKE_SA_INIT, IKE_AUTH (a pre-shared key, or EAP after the
//! gateway proved itself with its certificate, RFC 7296 §2.16) and one CHILD_SA,
//! then answering the gateway's requests until the SA is closed: INFORMATIONAL (liveness
//! checks, Delete of the IKE SA or of CHILD_SAs) and CREATE_CHILD_SA rekeys of our CHILD_SA
//! and of the IKE SA (after which we are the original *responder* of the new IKE SA, and the
//! old one lingers only to answer the gateway's Delete of it).
//! [`Initiator::send_liveness_check`] asks whether the gateway is alive. Our own rekeys, the
//! dead-peer deadline, reauthentication (AUTH_LIFETIME) and deletes of replaced CHILD_SAs live
//! in `initiator/lifecycle.rs`, MOBIKE address updates in `initiator/mobike.rs`.
//! IKE fragmentation (RFC 7383): our requests are fragmented once negotiated (`fragments`),
//! received fragments reassembled. Not yet: additional CHILD_SAs.
//!
//! EAP order of trust: the gateway's certificate chain, identity and AUTH signature are all
//! verified on the first IKE_AUTH response before the EAP client is told the server is
//! authenticated; only then may it answer a method challenge (e.g. MSCHAPv2's, which an impostor
//! could crack offline).
//!
//! Driving it (the order of calls, like quinn-proto's `Connection`):
//! 1. [`Initiator::new`] queues the first IKE_SA_INIT request.
//! 2. Loop: send everything [`Initiator::poll_transmit`] returns; drain
//!    [`Initiator::poll_event`]; wait for a datagram or until [`Initiator::poll_timeout`];
//!    pass datagrams to [`Initiator::handle_datagram`] and expired deadlines to
//!    [`Initiator::handle_timeout`].
//! 3. Stop after [`Event::Closed`].
//!
//! Every datagram from the gateway's address goes to `handle_datagram`, from either socket;
//! datagrams on the NAT-T socket that do not start with the non-ESP marker are ESP and are not
//! for us (they are ignored).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use ipsec_types::{ChildSaKeys, DhGroup, EspSuite, IkeSpi, Role, Spi, TrafficSelector};
use zeroize::Zeroizing;

use crate::auth::{SignedOctetsInput, build_shared_key, verify_shared_key};
use crate::cert::{self, CERT_ENCODING_X509_SIGNATURE, HashAlgorithm};
use crate::config::{AuthConfig, InitiatorConfig, ServerAuth};
use crate::crypto::{
    CryptoError, IkeSaKeys, IkeSuite, KeyExchange, Random, SkCipher, child_sa_keymat,
};
use crate::eap::{EapClient, EapStep};
use crate::error::{AuthFailure, Error, PeerIncompatible, PeerMisbehaved};
use crate::exchange::{
    NON_ESP_MARKER, Path, RequestMatch, ResponseMatch, TaskManager, TimerOutcome, Transmit,
};
use crate::nat::{NatState, endpoint_hash as nat_detection_hash};
use crate::proposal;
use crate::reassembly::Reassembly;
use crate::wire::{
    AuthMethod, AuthRepr, CertEncoding, CertRepr, CfgType, ConfigAttribute, CpRepr, DeleteRepr,
    EapRepr, ExchangeType, Flags, HeaderRepr, IdRepr, Identity, IkeHeader, KeRepr, Message,
    NonceRepr, NotifyRepr, NotifyType, Payload, PayloadType, ProtocolId, SaRepr, TsRepr,
    emit_encrypted, parse_payload_chain, rules,
};

/// Length of our nonces (RFC 7296 §2.10: at least half the PRF key size; 32 covers SHA2-512's
/// 256-bit strength).
const NONCE_LEN: usize = 32;
/// IKE's NAT-T port.
const NAT_T_PORT: u16 = 4500;
/// RFC 7427 hash algorithm IDs we accept for signatures: SHA2-256, SHA2-384, SHA2-512.
const SIGNATURE_HASHES: [u16; 3] = [2, 3, 4];
/// Most EAP messages we answer in one login: EAP-TLS with a long chain in 1 KiB fragments
/// needs a few dozen; a gateway that never ends the conversation is cut off.
const MAX_EAP_ROUNDS: u32 = 100;
/// Longest COOKIE we echo (RFC 7296 §2.6: 1 to 64 bytes).
const MAX_COOKIE_LEN: usize = 64;

/// Progress of the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// IKE_SA_INIT request sent.
    SendingIkeSaInit,
    /// The gateway asked for a cookie; IKE_SA_INIT sent again with it.
    RetryingWithCookie,
    /// The gateway asked for another key-exchange group; IKE_SA_INIT sent again with it.
    RetryingWithGroup(DhGroup),
    /// IKE SA keys derived; IKE_AUTH sent.
    Authenticating,
    /// The gateway is authenticated and the CHILD_SA is up.
    Established,
    /// We asked the gateway to delete the IKE SA.
    Closing,
}

/// Configuration the gateway assigned through the CP payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NegotiatedConfig {
    /// Virtual IPv4 addresses.
    pub ipv4_addresses: Vec<Ipv4Addr>,
    /// The IPv4 netmask, if the gateway sent one.
    pub ipv4_netmask: Option<Ipv4Addr>,
    /// Virtual IPv6 addresses with prefix lengths.
    pub ipv6_addresses: Vec<(Ipv6Addr, u8)>,
    /// DNS servers, IPv4 and IPv6, in the order received.
    pub dns_servers: Vec<IpAddr>,
    /// Split-DNS domains (RFC 8598).
    pub dns_domains: Vec<String>,
    /// The gateway's application version, if sent.
    pub application_version: Option<Vec<u8>>,
}

/// Everything the datapath needs once the CHILD_SA is up.
#[derive(Debug)]
pub struct ChildSaEstablished {
    /// ESP keys and SPIs, both directions.
    pub keys: ChildSaKeys,
    /// Our side's selectors as narrowed by the gateway (TSi).
    pub ts_local: Vec<TrafficSelector>,
    /// The remote side's selectors (TSr).
    pub ts_remote: Vec<TrafficSelector>,
    /// Assigned virtual IPs, DNS servers and domains.
    pub config: NegotiatedConfig,
    /// NAT detection results and whether ESP is UDP-encapsulated.
    pub nat: NatState,
    /// Where ESP packets go: the gateway's address, port 4500 when encapsulated.
    pub esp_destination: SocketAddr,
    /// The IKE SA's algorithms.
    pub ike_suite: IkeSuite,
    /// The CHILD_SA's algorithms (also in `keys.suite`).
    pub esp_suite: EspSuite,
    /// The gateway's identity (IDr), as authenticated.
    pub remote_id: Identity,
}

/// Why the IKE SA ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// Set-up or operation failed.
    Failed(Error),
    /// The gateway deleted the IKE SA or our CHILD_SA.
    DeletedByPeer,
    /// The gateway left a liveness check unanswered for
    /// [`crate::LifecycleConfig::dpd_timeout`] (dead-peer detection): reconnect.
    PeerDead,
    /// The gateway limited how long our authentication holds (AUTH_LIFETIME, RFC 4478) and
    /// that time is nearly up: connect again, which authenticates afresh (the new IKE_AUTH's
    /// INITIAL_CONTACT clears whatever of the old SA the gateway still has).
    Reauthenticate,
    /// The CHILD_SA reached its hard lifetime because every rekey of it failed: connect again.
    ChildSaExpired,
    /// [`Initiator::close`] was called.
    Closed,
}

/// What the caller should know about.
#[derive(Debug)]
pub enum Event {
    /// Handshake progress.
    Stage(Stage),
    /// The CHILD_SA is up: install its keys.
    ChildSaEstablished(Box<ChildSaEstablished>),
    /// A CHILD_SA was rekeyed (by us or by the gateway): accept packets on the new one next to
    /// the old, keep sending with the old one until [`Event::ChildSaActive`] names the new one,
    /// and keep accepting the old one until [`Event::ChildSaDeleted`].
    ChildSaRekeyed {
        /// Inbound SPI of the CHILD_SA being replaced.
        replaces: Spi,
        /// The new CHILD_SA (configuration and NAT state carried over).
        child: Box<ChildSaEstablished>,
    },
    /// Send with this CHILD_SA from now on (make-before-break: the gateway accepts it). Follows
    /// [`Event::ChildSaRekeyed`] at once for rekeys we started; for the gateway's, once it
    /// deletes the old SA or after [`crate::LifecycleConfig::rekey_activation_delay`].
    ChildSaActive {
        /// Its inbound SPI (as in the [`Event::ChildSaRekeyed`] that announced it).
        inbound_spi: Spi,
    },
    /// The gateway accepted our new address (MOBIKE UPDATE_SA_ADDRESSES): the tunnel goes on
    /// from it.
    PathUpdated {
        /// Whether a NAT is in front of us now (RFC 3948 keepalives needed).
        local_behind_nat: bool,
    },
    /// The IKE SA was rekeyed (by us or by the gateway); CHILD_SAs are unaffected.
    IkeSaRekeyed {
        /// The new IKE SA's algorithms.
        ike_suite: IkeSuite,
    },
    /// The gateway deleted a CHILD_SA (normally the old one after a rekey): remove it. When the
    /// last one goes, [`Event::Closed`] is sent instead.
    ChildSaDeleted {
        /// Its inbound SPI.
        inbound_spi: Spi,
    },
    /// The IKE SA is gone; remove any installed CHILD_SA. Nothing else follows.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

struct SaInit {
    ke: KeyExchange,
    ni: Vec<u8>,
    offered: SaRepr,
    cookie: Option<Vec<u8>>,
    cookie_retries: u32,
    ke_retries: u32,
    request: Vec<u8>,
}

/// The keys and state of an IKE SA once IKE_SA_INIT is done.
struct IkeSa {
    /// Our role in this IKE SA: Initiator for the first; Responder of an IKE SA the gateway
    /// created by rekeying (the rekey's initiator is the new SA's original initiator).
    role: Role,
    spi_i: IkeSpi,
    spi_r: IkeSpi,
    keys: IkeSaKeys,
    outbound: SkCipher,
    inbound: SkCipher,
    path: Path,
}

impl IkeSa {
    /// Whether a header belongs to this SA and was sent by the peer.
    fn is_from_peer<T: AsRef<[u8]>>(&self, view: &IkeHeader<T>) -> bool {
        view.initiator_spi() == self.spi_i
            && view.responder_spi() == self.spi_r
            && view.flags().initiator() == (self.role == Role::Responder)
    }

    /// Seals `inner` into a protected message of this SA.
    fn seal(
        &self,
        rng: &mut dyn Random,
        exchange: ExchangeType,
        message_id: u32,
        response: bool,
        inner: &[Payload],
    ) -> Result<Vec<u8>, Error> {
        let header = HeaderRepr {
            initiator_spi: self.spi_i,
            responder_spi: self.spi_r,
            exchange_type: exchange,
            flags: Flags::new(self.role == Role::Initiator, response),
            message_id,
        };
        emit_encrypted(
            &header,
            &[],
            inner,
            |n| self.outbound.body_len(n),
            |aad, plaintext| self.outbound.seal(aad, plaintext, rng),
        )
        .map_err(Error::Crypto)
    }

    /// Parses and opens a protected message of this SA. `Ok(None)`: drop it silently (wrong
    /// SPI, failed integrity check, incomplete fragments): forged or damaged packets must not
    /// end the SA.
    fn open(
        &self,
        reassembly: &mut Reassembly,
        data: &[u8],
    ) -> Result<Option<(HeaderRepr, Vec<Payload>)>, Error> {
        let Ok(msg) = Message::parse(data) else {
            return Ok(None);
        };
        if msg.header.initiator_spi != self.spi_i || msg.header.responder_spi != self.spi_r {
            return Ok(None);
        }
        if rules::check_outer(&msg.header, &msg.payloads).is_err() {
            return Ok(None);
        }
        let Some(parts) = msg.encrypted(data) else {
            return Ok(None);
        };
        let Ok(plaintext) = self.inbound.open(parts.aad, parts.body) else {
            return Ok(None);
        };
        let (first_inner, plaintext) = match parts.fragment {
            None => (parts.first_inner, plaintext),
            Some((number, total)) => {
                match reassembly.add(
                    (msg.header.message_id, msg.header.flags.response()),
                    number,
                    total,
                    parts.first_inner,
                    &plaintext,
                ) {
                    Some(whole) => whole,
                    None => return Ok(None),
                }
            }
        };
        let inner = parse_payload_chain(first_inner, &plaintext)
            .map_err(PeerMisbehaved::MalformedEncrypted)?;
        Ok(Some((msg.header, inner)))
    }
}

/// The IKE SA a rekey replaced: kept only to answer the gateway's requests on it (its Delete)
/// with its own keys and message IDs, and, after our own rekey, to delete it.
struct OldIkeSa {
    sa: IkeSa,
    peer_next_message_id: u32,
    last_response: Option<(u32, Transmit)>,
    /// Our Delete of it, after a rekey we started.
    delete: Option<lifecycle::OldSaDelete>,
}

struct Auth {
    ni: Vec<u8>,
    nr: Vec<u8>,
    /// Our IKE_SA_INIT request (InitiatorSignedOctets).
    request: Vec<u8>,
    /// The gateway's IKE_SA_INIT response (ResponderSignedOctets).
    response: Vec<u8>,
    offered_esp: SaRepr,
    inbound_spi: Spi,
    nat: NatState,
    /// The RFC 7427 hashes the gateway announced in IKE_SA_INIT, if it did.
    peer_hashes: Option<Vec<HashAlgorithm>>,
    /// The gateway sent CERTREQ in IKE_SA_INIT (it may want a certificate from us).
    certificate_requested: bool,
    /// The EAP conversation, with EAP authentication.
    eap: Option<Box<EapRounds>>,
}

/// IKE_AUTH with EAP (RFC 7296 §2.16) takes several rounds: the gateway's certificate and AUTH
/// come first, then EAP messages, then both sides' AUTH keyed with the MSK.
struct EapRounds {
    client: EapClient,
    /// The gateway's identity and IDr payload body, once its certificate and AUTH verified.
    gateway: Option<(Identity, Vec<u8>)>,
    /// Once EAP succeeded and our final AUTH is out: the key of the gateway's final AUTH (the
    /// MSK, or SK_pr for methods without one).
    gateway_auth_key: Option<Zeroizing<Vec<u8>>>,
    /// EAP messages handled so far.
    rounds: u32,
}

/// One CHILD_SA by its SPIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChildPair {
    inbound: Spi,
    outbound: Spi,
}

/// What rekeyed CHILD_SAs inherit from the first one.
struct ChildTemplate {
    config: NegotiatedConfig,
    nat: NatState,
    esp_destination: SocketAddr,
    ike_suite: IkeSuite,
    remote_id: Identity,
}

struct Established {
    /// Live CHILD_SAs: the current one last; older ones until the gateway deletes them.
    children: Vec<ChildPair>,
    template: ChildTemplate,
    /// Our own requests and the timers of the established phase.
    life: lifecycle::Life,
}

enum State {
    SaInit(Box<SaInit>),
    Auth(Box<Auth>),
    Established(Box<Established>),
    Closing,
    Closed,
}

/// An IKEv2 initiator for one IKE SA with one CHILD_SA.
pub struct Initiator {
    config: InitiatorConfig,
    rng: Box<dyn Random + Send>,
    spi_i: IkeSpi,
    fake_nat_source: [u8; 20],
    state: State,
    ike_sa: Option<IkeSa>,
    old_ike_sa: Option<OldIkeSa>,
    /// [`Initiator::close`] was called while a request was in flight.
    close_requested: bool,
    tasks: TaskManager,
    reassembly: Reassembly,
    /// RFC 7383 fragmentation of our messages.
    fragmentation: fragments::Fragmentation,
    events: VecDeque<Event>,
}

impl core::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Initiator")
            .field("remote", &self.config.remote)
            .field("spi_i", &self.spi_i)
            .field("established", &matches!(self.state, State::Established(_)))
            .finish_non_exhaustive()
    }
}

fn random_bytes<const N: usize>(rng: &mut dyn Random) -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    rng.fill(&mut out).map_err(Error::Crypto)?;
    Ok(out)
}

fn notifies(payloads: &[Payload]) -> impl Iterator<Item = &NotifyRepr> {
    payloads.iter().filter_map(|p| match p {
        Payload::Notify(n) => Some(n),
        _ => None,
    })
}

fn first_error(payloads: &[Payload]) -> Option<NotifyType> {
    notifies(payloads)
        .map(|n| n.notify_type)
        .find(|t| t.is_error())
}

fn notify(payloads: &[Payload], ty: NotifyType) -> Option<&NotifyRepr> {
    notifies(payloads).find(|n| n.notify_type == ty)
}

impl Initiator {
    /// Starts a handshake: checks the configuration, chooses SPIs, nonce and key share from
    /// `rng`, and queues the IKE_SA_INIT request.
    pub fn new(
        config: InitiatorConfig,
        now: Instant,
        mut rng: Box<dyn Random + Send>,
    ) -> Result<Self, Error> {
        proposal::check_ike_proposals(&config.ike_proposals)?;
        proposal::check_esp_proposals(&config.esp_proposals)?;
        fragments::check_config(&config)?;
        if config.ts_local.is_empty() || config.ts_remote.is_empty() {
            return Err(Error::InvalidConfig("traffic selectors must not be empty"));
        }
        match &config.auth {
            AuthConfig::Psk(psk) if psk.is_empty() => {
                return Err(Error::InvalidConfig("the pre-shared key is empty"));
            }
            AuthConfig::Eap { identity, .. } if identity.is_empty() => {
                return Err(Error::InvalidConfig(
                    "the EAP identity (user name) is empty",
                ));
            }
            _ => {}
        }
        let mut spi = random_bytes::<8>(rng.as_mut())?;
        // A non-zero first word keeps our messages distinguishable from the non-ESP marker.
        spi[0] |= 0x80;
        let spi_i = IkeSpi(spi);
        let fake_nat_source = random_bytes::<20>(rng.as_mut())?;
        let preferred = config
            .ike_proposals
            .first()
            .and_then(|p| p.dh.first().copied())
            .ok_or(Error::InvalidConfig("no DH group configured"))?;
        let group = config
            .first_ke_group
            .filter(|g| proposal::offers_group(&config.ike_proposals, *g))
            .unwrap_or(preferred);
        let ke = KeyExchange::generate(group, rng.as_mut()).map_err(Error::Crypto)?;
        let ni = random_bytes::<NONCE_LEN>(rng.as_mut())?.to_vec();
        let offered = proposal::ike_sa_payload(&config.ike_proposals);
        let mut this = Self {
            rng,
            spi_i,
            fake_nat_source,
            state: State::Closed,
            ike_sa: None,
            old_ike_sa: None,
            close_requested: false,
            tasks: TaskManager::new(config.retransmit),
            reassembly: Reassembly::default(),
            fragmentation: fragments::Fragmentation::default(),
            events: VecDeque::new(),
            config,
        };
        let mut init = Box::new(SaInit {
            ke,
            ni,
            offered,
            cookie: None,
            cookie_retries: 0,
            ke_retries: 0,
            request: Vec::new(),
        });
        init.request = this.build_sa_init(&init);
        let path = this.initial_path();
        this.tasks
            .send_request(now, ExchangeType::IKE_SA_INIT, &init.request, path);
        this.state = State::SaInit(init);
        this.events.push_back(Event::Stage(Stage::SendingIkeSaInit));
        Ok(this)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tasks.poll_transmit()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next, if at all.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Closed => None,
            State::Established(est) => [
                self.tasks.poll_timeout(),
                self.reassembly.poll_timeout(),
                est.life.poll_timeout(),
                self.old_ike_sa.as_ref().and_then(OldIkeSa::poll_timeout),
            ]
            .into_iter()
            .flatten()
            .min(),
            _ => [self.tasks.poll_timeout(), self.reassembly.poll_timeout()]
                .into_iter()
                .flatten()
                .min(),
        }
    }

    /// Whether the IKE SA is gone (after [`Event::Closed`]).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Our IKE SPI.
    #[must_use]
    pub fn initiator_spi(&self) -> IkeSpi {
        self.spi_i
    }

    /// Number of responses dropped as late or duplicate.
    #[must_use]
    pub fn stale_responses(&self) -> u32 {
        self.tasks.stale_responses
    }

    /// Runs retransmissions and gives up on unanswered requests.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, State::Closed) || self.dpd_expired(now) {
            return;
        }
        self.reassembly.handle_timeout(now);
        if let TimerOutcome::GaveUp { exchange, attempts } = self.tasks.handle_timeout(now) {
            if matches!(self.state, State::Closing) {
                self.finish(CloseReason::Closed);
            } else if self.liveness_check_pending() {
                self.finish(CloseReason::PeerDead);
            } else {
                self.fail(Error::Timeout { exchange, attempts });
            }
            return;
        }
        self.handle_life_timers(now);
    }

    /// Deletes the IKE SA (and with it the CHILD_SA): an INFORMATIONAL Delete is sent and
    /// [`Event::Closed`] follows when the gateway answers or the request times out.
    pub fn close(&mut self, now: Instant) {
        match self.state {
            State::Established(_) if self.tasks.has_pending() => {
                // One request at a time (window size 1): delete once the liveness check ends.
                self.close_requested = true;
            }
            State::Established(_) => {
                let inner = [Payload::Delete(DeleteRepr::ike())];
                match self.encrypt_request(ExchangeType::INFORMATIONAL, &inner) {
                    Ok((bytes, path)) => {
                        self.tasks
                            .send_request(now, ExchangeType::INFORMATIONAL, &bytes, path);
                        self.state = State::Closing;
                        self.events.push_back(Event::Stage(Stage::Closing));
                    }
                    Err(e) => self.fail(e),
                }
            }
            State::Closing | State::Closed => {}
            State::SaInit(_) | State::Auth(_) => {
                self.send_delete_unreliably();
                self.finish(CloseReason::Closed);
            }
        }
    }

    /// Asks the gateway whether it is still there (an empty INFORMATIONAL request, RFC 7296
    /// §1.4), e.g. when no ESP has arrived for a while. Unanswered, it ends the SA with
    /// [`Error::Timeout`] after the usual retransmissions. Returns `false` (and sends nothing)
    /// unless the SA is established and no other request of ours is in flight.
    pub fn send_liveness_check(&mut self, now: Instant) -> bool {
        if !matches!(self.state, State::Established(_)) || self.tasks.has_pending() {
            return false;
        }
        match self.encrypt_request(ExchangeType::INFORMATIONAL, &[]) {
            Ok((bytes, path)) => {
                self.tasks
                    .send_request(now, ExchangeType::INFORMATIONAL, &bytes, path);
                self.liveness_check_sent(now);
                true
            }
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }

    /// Processes one datagram from the network. `remote` is its source and `local` the address
    /// it was received on (used for NAT detection: pass the real local address, e.g. a
    /// connected socket's `local_addr()`).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local: SocketAddr,
        datagram: &[u8],
    ) {
        // Dual-stack sockets report IPv4 peers as IPv4-mapped IPv6 addresses.
        let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
        let (remote, local) = (canonical(remote), canonical(local));
        self.reassembly.set_clock(now);
        if matches!(self.state, State::Closed)
            || remote.ip() != self.config.remote.ip().to_canonical()
        {
            return;
        }
        let data = match datagram.strip_prefix(&NON_ESP_MARKER) {
            Some(rest) => rest,
            None => datagram,
        };
        let Ok(view) = IkeHeader::new_checked(data) else {
            return;
        };
        if let Some(old) = &self.old_ike_sa
            && old.sa.is_from_peer(&view)
        {
            if view.flags().response() {
                self.on_old_sa_response(data);
            } else {
                self.on_old_sa_request(data);
            }
            return;
        }
        let ours = match &self.ike_sa {
            Some(sa) => sa.is_from_peer(&view),
            None => view.initiator_spi() == self.spi_i && !view.flags().initiator(),
        };
        if !ours {
            return;
        }
        if view.flags().response() {
            if !self.tasks.expects_response(view.message_id()) {
                self.tasks.stale_responses += 1;
                return;
            }
            let result = if matches!(self.state, State::SaInit(_)) {
                self.on_sa_init_response(now, remote, local, data)
            } else {
                self.on_encrypted_response(now, data)
            };
            if let Err(e) = result {
                self.fail(e);
            }
        } else if let Err(e) = self.on_request(now, data) {
            self.fail(e);
        }
        self.after_input(now);
    }

    // ---- IKE_SA_INIT ----

    fn initial_path(&self) -> Path {
        Path {
            destination: self.config.remote,
            nat_t: self.config.remote.port() == NAT_T_PORT,
        }
    }

    fn build_sa_init(&self, init: &SaInit) -> Vec<u8> {
        let mut payloads = Vec::new();
        if let Some(cookie) = &init.cookie {
            payloads.push(Payload::Notify(NotifyRepr::new(
                NotifyType::COOKIE,
                cookie.clone(),
            )));
        }
        payloads.push(Payload::Sa(init.offered.clone()));
        payloads.push(Payload::Ke(KeRepr {
            group: init.ke.group().transform_id(),
            data: init.ke.public_value().to_vec(),
        }));
        payloads.push(Payload::Nonce(NonceRepr {
            nonce: init.ni.clone(),
        }));
        // With forced encapsulation our source hash is random, so it cannot match and the
        // gateway believes we are behind a NAT; the destination hash is always real.
        let source = match self.config.local_addr {
            Some(local) if !self.config.force_udp_encapsulation => {
                nat_detection_hash(self.spi_i, IkeSpi::ZERO, local)
            }
            _ => self.fake_nat_source,
        };
        payloads.push(Payload::Notify(NotifyRepr::new(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            source.to_vec(),
        )));
        payloads.push(Payload::Notify(NotifyRepr::new(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            nat_detection_hash(self.spi_i, IkeSpi::ZERO, self.config.remote).to_vec(),
        )));
        payloads.push(Payload::Notify(NotifyRepr::new(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            Vec::new(),
        )));
        payloads.push(Payload::Notify(NotifyRepr::new(
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            SIGNATURE_HASHES
                .iter()
                .flat_map(|h| h.to_be_bytes())
                .collect(),
        )));
        Message {
            header: HeaderRepr {
                initiator_spi: self.spi_i,
                responder_spi: IkeSpi::ZERO,
                exchange_type: ExchangeType::IKE_SA_INIT,
                flags: Flags::new(true, false),
                message_id: 0,
            },
            payloads,
        }
        .emit()
    }

    fn on_sa_init_response(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local: SocketAddr,
        data: &[u8],
    ) -> Result<(), Error> {
        let exchange = ExchangeType::IKE_SA_INIT;
        let msg =
            Message::parse(data).map_err(|source| Error::MalformedMessage { exchange, source })?;
        if msg.header.exchange_type != exchange {
            return Err(
                PeerMisbehaved::PayloadRules(rules::RuleViolation::UnknownExchange(
                    msg.header.exchange_type,
                ))
                .into(),
            );
        }
        rules::check_outer(&msg.header, &msg.payloads).map_err(PeerMisbehaved::from)?;
        let State::SaInit(init) = &mut self.state else {
            return Ok(());
        };

        if let Some(cookie) = notify(&msg.payloads, NotifyType::COOKIE) {
            if cookie.data.is_empty() || cookie.data.len() > MAX_COOKIE_LEN {
                return Err(PeerMisbehaved::InvalidCookie.into());
            }
            if init.cookie.as_ref() == Some(&cookie.data) {
                // A duplicate of the answer we already followed.
                self.tasks.stale_responses += 1;
                return Ok(());
            }
            if init.cookie_retries >= self.config.max_cookie_retries {
                return Err(PeerMisbehaved::TooManyRetries.into());
            }
            init.cookie_retries += 1;
            init.cookie = Some(cookie.data.clone());
            self.restart_sa_init(now, Stage::RetryingWithCookie);
            return Ok(());
        }
        if let Some(invalid_ke) = notify(&msg.payloads, NotifyType::INVALID_KE_PAYLOAD) {
            let wanted = <[u8; 2]>::try_from(invalid_ke.data.as_slice())
                .map(u16::from_be_bytes)
                .map_err(|_| PeerMisbehaved::UnofferedGroup(0))?;
            if init.ke_retries > 0 && wanted == init.ke.group().transform_id() {
                // A duplicate of the answer we already followed.
                self.tasks.stale_responses += 1;
                return Ok(());
            }
            let group = DhGroup::from_transform_id(wanted)
                .filter(|g| {
                    proposal::offers_group(&self.config.ike_proposals, *g) && *g != init.ke.group()
                })
                .ok_or(PeerMisbehaved::UnofferedGroup(wanted))?;
            if init.ke_retries >= self.config.max_invalid_ke_retries {
                return Err(PeerMisbehaved::TooManyRetries.into());
            }
            init.ke_retries += 1;
            init.ke = KeyExchange::generate(group, self.rng.as_mut()).map_err(Error::Crypto)?;
            self.restart_sa_init(now, Stage::RetryingWithGroup(group));
            return Ok(());
        }
        if let Some(error) = first_error(&msg.payloads) {
            return Err(Error::from_notify(exchange, error, false));
        }

        let spi_r = msg.header.responder_spi;
        if spi_r.is_zero() {
            return Err(PeerMisbehaved::ZeroSpi.into());
        }
        let (mut sa, mut ke, mut nr) = (None, None, None);
        for p in &msg.payloads {
            match p {
                Payload::Sa(s) => sa = Some(s),
                Payload::Ke(k) => ke = Some(k),
                Payload::Nonce(n) => nr = Some(n),
                _ => {}
            }
        }
        let missing = |ty| {
            Error::from(PeerMisbehaved::PayloadRules(rules::RuleViolation::Missing(
                exchange, ty,
            )))
        };
        let sa = sa.ok_or_else(|| missing(PayloadType::SA))?;
        let ke = ke.ok_or_else(|| missing(PayloadType::KE))?;
        let nr = nr.ok_or_else(|| missing(PayloadType::NONCE))?;
        let suite = proposal::select_ike(&init.offered, sa)?;
        if suite.dh != init.ke.group() || ke.group != suite.dh.transform_id() {
            return Err(PeerMisbehaved::KeGroupMismatch.into());
        }

        // NAT detection with the real addresses, whatever we claimed ourselves.
        let sources: Vec<&NotifyRepr> = notifies(&msg.payloads)
            .filter(|n| n.notify_type == NotifyType::NAT_DETECTION_SOURCE_IP)
            .collect();
        let destination = notify(&msg.payloads, NotifyType::NAT_DETECTION_DESTINATION_IP);
        let mut nat = NatState::default();
        if let Some(dst) = destination {
            nat.supported = !sources.is_empty();
            nat.local_behind_nat =
                dst.data.as_slice() != nat_detection_hash(self.spi_i, spi_r, local).as_slice();
            let remote_hash = nat_detection_hash(self.spi_i, spi_r, remote);
            nat.remote_behind_nat = !sources.iter().any(|s| s.data.as_slice() == remote_hash);
        }
        let want_encap =
            self.config.force_udp_encapsulation || nat.local_behind_nat || nat.remote_behind_nat;
        if self.config.force_udp_encapsulation && !nat.supported {
            return Err(PeerIncompatible::NatTraversalUnsupported.into());
        }
        nat.udp_encapsulation = want_encap && nat.supported;

        let State::SaInit(init) = std::mem::replace(&mut self.state, State::Closed) else {
            return Ok(());
        };
        let SaInit {
            ke: our_ke,
            ni,
            request,
            ..
        } = *init;
        let shared = our_ke
            .agree(&ke.data)
            .map_err(|_| PeerMisbehaved::InvalidKeyExchange)?;
        let keys = IkeSaKeys::derive(suite, &shared, &ni, &nr.nonce, self.spi_i, spi_r)
            .map_err(Error::Crypto)?;
        let (outbound, inbound) = keys.sk_ciphers(Role::Initiator).map_err(Error::Crypto)?;
        let path = if nat.udp_encapsulation {
            Path {
                destination: SocketAddr::new(self.config.remote.ip(), NAT_T_PORT),
                nat_t: true,
            }
        } else {
            self.initial_path()
        };
        self.ike_sa = Some(IkeSa {
            role: Role::Initiator,
            spi_i: self.spi_i,
            spi_r,
            keys,
            outbound,
            inbound,
            path,
        });
        let _ = self.tasks.match_response(0);

        let inbound_spi =
            Spi::from_random(u32::from_be_bytes(random_bytes::<4>(self.rng.as_mut())?));
        let offered_esp = proposal::esp_sa_payload(&self.config.esp_proposals, inbound_spi.get());
        self.fragmentation.negotiated =
            notify(&msg.payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
        let peer_hashes = notify(&msg.payloads, NotifyType::SIGNATURE_HASH_ALGORITHMS)
            .and_then(|n| cert::parse_signature_hash_algorithms(&n.data).ok());
        let eap = match &self.config.auth {
            AuthConfig::Psk(_) | AuthConfig::Certificate { .. } => None,
            AuthConfig::Eap {
                identity, method, ..
            } => Some(Box::new(EapRounds {
                client: EapClient::new(identity, method.clone()),
                gateway: None,
                gateway_auth_key: None,
                rounds: 0,
            })),
        };
        let auth = Auth {
            ni,
            nr: nr.nonce.clone(),
            request,
            response: data.to_vec(),
            offered_esp,
            inbound_spi,
            nat,
            peer_hashes,
            certificate_requested: msg
                .payloads
                .iter()
                .any(|p| matches!(p, Payload::CertReq(_))),
            eap,
        };
        let inner = self.build_ike_auth(&auth)?;
        self.send_protected_request(now, ExchangeType::IKE_AUTH, &inner)?;
        self.state = State::Auth(Box::new(auth));
        self.events.push_back(Event::Stage(Stage::Authenticating));
        Ok(())
    }

    fn restart_sa_init(&mut self, now: Instant, stage: Stage) {
        let State::SaInit(init) = &self.state else {
            return;
        };
        let request = self.build_sa_init(init);
        let path = self.initial_path();
        self.tasks.restart_request(now, &request, path);
        if let State::SaInit(init) = &mut self.state {
            init.request = request;
        }
        self.events.push_back(Event::Stage(stage));
    }

    // ---- IKE_AUTH ----

    fn build_ike_auth(&self, auth: &Auth) -> Result<Vec<Payload>, Error> {
        let ike_sa = self
            .ike_sa
            .as_ref()
            .ok_or(Error::Internal("no IKE SA keys"))?;
        let idi = self.config.local_id.to_repr();
        // With EAP our AUTH comes last, keyed with the MSK; its absence here asks for EAP.
        let mut certificates = Vec::new();
        let (auth_payload, certificate_request) = match &self.config.auth {
            AuthConfig::Psk(psk) => {
                let input = SignedOctetsInput {
                    prf: ike_sa.keys.suite.prf,
                    sk_p: &ike_sa.keys.sk_pi,
                    message: &auth.request,
                    peer_nonce: &auth.nr,
                    id_body: &idi.to_body(),
                };
                (Some(build_shared_key(&input, psk)), Vec::new())
            }
            AuthConfig::Eap { server, .. } if server.request_certificates => {
                (None, server.trust.certificate_request_data())
            }
            AuthConfig::Eap { .. } => (None, Vec::new()),
            AuthConfig::Certificate {
                credential,
                rsa_pss,
                server,
            } => {
                let octets = SignedOctetsInput {
                    prf: ike_sa.keys.suite.prf,
                    sk_p: &ike_sa.keys.sk_pi,
                    message: &auth.request,
                    peer_nonce: &auth.nr,
                    id_body: &idi.to_body(),
                }
                .octets();
                let signed = credential
                    .sign_auth(auth.peer_hashes.as_deref(), *rsa_pss, &octets)
                    .map_err(AuthFailure::from)?;
                certificates.extend(credential.certificates().map(|der| {
                    Payload::Cert(CertRepr {
                        encoding: CertEncoding(CERT_ENCODING_X509_SIGNATURE),
                        data: der.to_vec(),
                    })
                }));
                let auth_payload = AuthRepr {
                    method: AuthMethod(signed.method),
                    data: signed.data,
                };
                let request = if server.request_certificates {
                    server.trust.certificate_request_data()
                } else {
                    Vec::new()
                };
                (Some(auth_payload), request)
            }
        };
        let mut inner = vec![Payload::IdI(idi)];
        inner.extend(certificates);
        if !certificate_request.is_empty() {
            inner.push(Payload::CertReq(CertRepr {
                encoding: CertEncoding(CERT_ENCODING_X509_SIGNATURE),
                data: certificate_request,
            }));
        }
        if self.config.initial_contact {
            inner.push(Payload::Notify(NotifyRepr::new(
                NotifyType::INITIAL_CONTACT,
                Vec::new(),
            )));
        }
        if eap_only::offered(&self.config.auth) {
            inner.push(Payload::Notify(NotifyRepr::new(
                NotifyType::EAP_ONLY_AUTHENTICATION,
                Vec::new(),
            )));
        }
        if self.config.lifecycle.mobike {
            inner.push(Payload::Notify(NotifyRepr::new(
                NotifyType::MOBIKE_SUPPORTED,
                Vec::new(),
            )));
        }
        if let Some(remote_id) = &self.config.remote_id {
            inner.push(Payload::IdR(remote_id.to_repr()));
        }
        inner.extend(auth_payload.map(Payload::Auth));
        let request = self.config.config_request;
        if request.any() {
            let mut attributes = Vec::new();
            if request.ipv4 {
                attributes.push(ConfigAttribute::Ip4Address(None));
                if request.dns {
                    attributes.push(ConfigAttribute::Ip4Dns(None));
                }
            }
            if request.ipv6 {
                attributes.push(ConfigAttribute::Ip6Address(None));
                if request.dns {
                    attributes.push(ConfigAttribute::Ip6Dns(None));
                }
            }
            if request.dns_domains {
                attributes.push(ConfigAttribute::DnsDomain(None));
            }
            inner.push(Payload::Cp(CpRepr {
                cfg_type: CfgType::REQUEST,
                attributes,
            }));
        }
        inner.push(Payload::Sa(auth.offered_esp.clone()));
        inner.push(Payload::TsI(TsRepr {
            selectors: self.config.ts_local.clone(),
        }));
        inner.push(Payload::TsR(TsRepr {
            selectors: self.config.ts_remote.clone(),
        }));
        Ok(inner)
    }

    fn on_ike_auth_response(
        &mut self,
        now: Instant,
        header: &HeaderRepr,
        inner: &[Payload],
    ) -> Result<(), Error> {
        let exchange = ExchangeType::IKE_AUTH;
        rules::check_inner(header, inner).map_err(PeerMisbehaved::from)?;
        let psk = match &self.config.auth {
            AuthConfig::Psk(psk) => psk,
            AuthConfig::Eap { .. } => return self.on_eap_auth_response(now, inner),
            AuthConfig::Certificate { server, .. } => {
                let (State::Auth(auth), Some(ike_sa)) = (&self.state, self.ike_sa.as_ref()) else {
                    return Ok(());
                };
                let (remote_id, _) = verify_gateway_certificate(
                    server,
                    self.config.remote_id.as_ref(),
                    ike_sa,
                    (&auth.response, &auth.ni),
                    inner,
                    |n| Error::from_notify(exchange, n, false),
                )?;
                return self.establish_child(inner, remote_id);
            }
        };
        let State::Auth(auth) = &self.state else {
            return Ok(());
        };
        let ike_sa = self
            .ike_sa
            .as_ref()
            .ok_or(Error::Internal("no IKE SA keys"))?;
        let missing = |ty| {
            Error::from(PeerMisbehaved::PayloadRules(rules::RuleViolation::Missing(
                exchange, ty,
            )))
        };

        // Authenticate the gateway before believing anything else it says.
        let auth_payload = inner.iter().find_map(|p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        });
        let Some(auth_payload) = auth_payload else {
            return Err(first_error(inner).map_or_else(
                || missing(PayloadType::AUTH),
                |n| Error::from_notify(exchange, n, false),
            ));
        };
        let idr: &IdRepr = inner
            .iter()
            .find_map(|p| match p {
                Payload::IdR(id) => Some(id),
                _ => None,
            })
            .ok_or_else(|| missing(PayloadType::IDR))?;
        verify_shared_key(
            &SignedOctetsInput {
                prf: ike_sa.keys.suite.prf,
                sk_p: &ike_sa.keys.sk_pr,
                message: &auth.response,
                peer_nonce: &auth.ni,
                id_body: &idr.to_body(),
            },
            psk,
            auth_payload,
            AuthFailure::PeerAuthInvalid,
        )?;
        let remote_id = Identity::from_repr(idr);
        self.check_remote_id(&remote_id)?;
        self.establish_child(inner, remote_id)
    }

    /// The gateway's identity must be the configured one, if any.
    fn check_remote_id(&self, remote_id: &Identity) -> Result<(), Error> {
        require_configured_id(self.config.remote_id.as_ref(), remote_id)
    }

    /// One IKE_AUTH response of an EAP login (RFC 7296 §2.16): first the gateway's
    /// certificate, AUTH and first EAP request; then EAP requests; then, after our MSK-keyed
    /// AUTH, the gateway's MSK-keyed AUTH with the CHILD_SA.
    fn on_eap_auth_response(&mut self, now: Instant, inner: &[Payload]) -> Result<(), Error> {
        let exchange = ExchangeType::IKE_AUTH;
        let missing = |ty| {
            Error::from(PeerMisbehaved::PayloadRules(rules::RuleViolation::Missing(
                exchange, ty,
            )))
        };
        // AUTHENTICATION_FAILED in an EAP login means the user's credentials were refused.
        let refused = |n: NotifyType| {
            if n == NotifyType::AUTHENTICATION_FAILED {
                AuthFailure::CredentialsRejected.into()
            } else {
                Error::from_notify(exchange, n, false)
            }
        };
        let auth_payload = inner.iter().find_map(|p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        });
        let eap_payload = inner.iter().find_map(|p| match p {
            Payload::Eap(e) => Some(e),
            _ => None,
        });
        let Self {
            state,
            ike_sa,
            rng,
            config,
            ..
        } = self;
        let AuthConfig::Eap { server, .. } = &config.auth else {
            return Err(Error::Internal("EAP round without EAP configured"));
        };
        let (State::Auth(auth), Some(ike_sa)) = (state, ike_sa.as_ref()) else {
            return Ok(());
        };
        let Some(eap) = auth.eap.as_mut() else {
            return Err(Error::Internal("EAP round without EAP state"));
        };

        if let Some(theirs) = &eap.gateway_auth_key {
            // The last round: the gateway's AUTH, keyed like ours, and the CHILD_SA.
            let Some(auth_payload) = auth_payload else {
                return Err(first_error(inner).map_or_else(|| missing(PayloadType::AUTH), refused));
            };
            let (remote_id, idr_body) = eap.gateway.clone().ok_or(Error::Internal(
                "EAP finished before the gateway was verified",
            ))?;
            verify_shared_key(
                &SignedOctetsInput {
                    prf: ike_sa.keys.suite.prf,
                    sk_p: &ike_sa.keys.sk_pr,
                    message: &auth.response,
                    peer_nonce: &auth.ni,
                    id_body: &idr_body,
                },
                theirs,
                auth_payload,
                AuthFailure::EapAuthInvalid,
            )?;
            return self.establish_child(inner, remote_id);
        }

        if eap.gateway.is_none()
            && auth_payload.is_none()
            && eap_payload.is_some()
            && eap_only::offered(&config.auth)
        {
            // EAP-only (RFC 5998): the method (EAP-TLS) authenticates the gateway itself.
            eap.gateway = Some(eap_only::gateway_identity(
                config.remote_id.as_ref(),
                inner,
            )?);
            eap.client.server_authenticated();
        }
        if eap.gateway.is_none() {
            // The first answer: the gateway proves itself with its certificate before the EAP
            // client may answer any method challenge (the password must not reach an impostor).
            let gateway = verify_gateway_certificate(
                server,
                config.remote_id.as_ref(),
                ike_sa,
                (&auth.response, &auth.ni),
                inner,
                |n| {
                    eap_refused_at_once(n, auth.certificate_requested).unwrap_or_else(|| refused(n))
                },
            )?;
            eap.gateway = Some(gateway);
            eap.client.server_authenticated();
        }

        let Some(eap_payload) = eap_payload else {
            return Err(first_error(inner).map_or_else(|| missing(PayloadType::EAP), refused));
        };
        eap.rounds += 1;
        if eap.rounds > MAX_EAP_ROUNDS {
            return Err(AuthFailure::Eap(crate::eap::EapError::Unexpected(
                "the server never ended the EAP conversation",
            ))
            .into());
        }
        let step = eap
            .client
            .handle(&eap_payload.message, rng.as_mut())
            .map_err(|e| AuthFailure::from(e.for_trust_source(server.trust.source())))?;
        let request = match step {
            EapStep::Respond(message) => vec![Payload::Eap(EapRepr { message })],
            EapStep::Success { msk } => {
                // RFC 7296 §2.16: the MSK keys both AUTH payloads; without one, SK_pi/SK_pr.
                let (ours, theirs) = match msk {
                    Some(msk) => (msk.clone(), msk),
                    None => (
                        Zeroizing::new(ike_sa.keys.sk_pi.to_vec()),
                        Zeroizing::new(ike_sa.keys.sk_pr.to_vec()),
                    ),
                };
                let idi_body = config.local_id.to_repr().to_body();
                let our_auth = build_shared_key(
                    &SignedOctetsInput {
                        prf: ike_sa.keys.suite.prf,
                        sk_p: &ike_sa.keys.sk_pi,
                        message: &auth.request,
                        peer_nonce: &auth.nr,
                        id_body: &idi_body,
                    },
                    &ours,
                );
                eap.gateway_auth_key = Some(theirs);
                vec![Payload::Auth(our_auth)]
            }
            EapStep::Failure(failure) => {
                return Err(AuthFailure::EapRejected(failure.to_string()).into());
            }
        };
        self.send_protected_request(now, exchange, &request)
    }

    /// The IKE SA is authenticated: the CHILD_SA from the last IKE_AUTH response.
    fn establish_child(&mut self, inner: &[Payload], remote_id: Identity) -> Result<(), Error> {
        let exchange = ExchangeType::IKE_AUTH;
        let missing = |ty| {
            Error::from(PeerMisbehaved::PayloadRules(rules::RuleViolation::Missing(
                exchange, ty,
            )))
        };
        let (State::Auth(auth), Some(ike_sa)) = (&self.state, self.ike_sa.as_ref()) else {
            return Err(Error::Internal("CHILD_SA outside IKE_AUTH"));
        };
        if let Some(error) = first_error(inner) {
            return Err(Error::from_notify(exchange, error, true));
        }
        let (mut sa, mut tsi, mut tsr, mut cp) = (None, None, None, None);
        for p in inner {
            match p {
                Payload::Sa(s) => sa = Some(s),
                Payload::TsI(t) => tsi = Some(t),
                Payload::TsR(t) => tsr = Some(t),
                Payload::Cp(c) => cp = Some(c),
                _ => {}
            }
        }
        let sa = sa.ok_or_else(|| missing(PayloadType::SA))?;
        let tsi = tsi.ok_or_else(|| missing(PayloadType::TSI))?;
        let tsr = tsr.ok_or_else(|| missing(PayloadType::TSR))?;
        let (esp_suite, outbound_spi) = proposal::select_esp(&auth.offered_esp, sa)?;
        check_narrowed(&self.config.ts_local, &tsi.selectors)?;
        check_narrowed(&self.config.ts_remote, &tsr.selectors)?;
        let config = cp.map(negotiated_config).unwrap_or_default();

        let outbound_spi = Spi::new(outbound_spi).ok_or(PeerMisbehaved::InvalidEspSpi)?;
        let keymat_len = 2 * esp_suite.keymat_len_per_direction();
        let keymat: Zeroizing<Vec<u8>> = child_sa_keymat(
            ike_sa.keys.suite.prf,
            &ike_sa.keys.sk_d,
            None,
            &auth.ni,
            &auth.nr,
            keymat_len,
        )
        .map_err(Error::Crypto)?;
        let keys = ChildSaKeys::from_keymat(
            esp_suite,
            Role::Initiator,
            auth.inbound_spi,
            outbound_spi,
            &keymat,
        )
        .map_err(|_| Error::Crypto(CryptoError::InvalidKeyLength))?;
        let esp_destination = if auth.nat.udp_encapsulation {
            SocketAddr::new(self.config.remote.ip(), NAT_T_PORT)
        } else {
            self.config.remote
        };
        let template = ChildTemplate {
            config,
            nat: auth.nat,
            esp_destination,
            ike_suite: ike_sa.keys.suite,
            remote_id,
        };
        let established = template.child(keys, &tsi.selectors, &tsr.selectors);
        let children = vec![ChildPair {
            inbound: auth.inbound_spi,
            outbound: outbound_spi,
        }];
        let life = lifecycle::Life::new(&tsi.selectors, &tsr.selectors, inner);
        self.state = State::Established(Box::new(Established {
            children,
            template,
            life,
        }));
        self.events
            .push_back(Event::ChildSaEstablished(Box::new(established)));
        self.events.push_back(Event::Stage(Stage::Established));
        Ok(())
    }

    // ---- protected messages ----

    fn encrypt_request(
        &mut self,
        exchange: ExchangeType,
        inner: &[Payload],
    ) -> Result<(Vec<u8>, Path), Error> {
        let message_id = self.tasks.next_message_id();
        self.encrypt(exchange, message_id, false, inner)
    }

    fn encrypt(
        &mut self,
        exchange: ExchangeType,
        message_id: u32,
        response: bool,
        inner: &[Payload],
    ) -> Result<(Vec<u8>, Path), Error> {
        let ike_sa = self
            .ike_sa
            .as_ref()
            .ok_or(Error::Internal("no IKE SA keys"))?;
        let bytes = ike_sa.seal(self.rng.as_mut(), exchange, message_id, response, inner)?;
        Ok((bytes, ike_sa.path))
    }

    fn decrypt(&mut self, data: &[u8]) -> Result<Option<(HeaderRepr, Vec<Payload>)>, Error> {
        match &self.ike_sa {
            Some(ike_sa) => ike_sa.open(&mut self.reassembly, data),
            None => Ok(None),
        }
    }

    fn on_encrypted_response(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        let Some((header, inner)) = self.decrypt(data)? else {
            return Ok(());
        };
        let ResponseMatch::Expected(exchange) = self.tasks.match_response(header.message_id) else {
            return Ok(());
        };
        if header.exchange_type != exchange {
            return Err(
                PeerMisbehaved::PayloadRules(rules::RuleViolation::UnknownExchange(
                    header.exchange_type,
                ))
                .into(),
            );
        }
        match (&self.state, exchange) {
            (State::Auth(_), ExchangeType::IKE_AUTH) => {
                self.on_ike_auth_response(now, &header, &inner)
            }
            (State::Closing, _) => {
                self.finish(CloseReason::Closed);
                Ok(())
            }
            (State::Established(_), _) => self.on_own_response(now, &header, &inner),
            _ => Ok(()),
        }
    }

    // ---- requests from the gateway ----

    fn on_request(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        if !matches!(self.state, State::Established(_) | State::Closing) {
            return Ok(());
        }
        let Some((header, inner)) = self.decrypt(data)? else {
            return Ok(());
        };
        if self.tasks.match_request(header.message_id) != RequestMatch::New {
            return Ok(());
        }
        rules::check_inner(&header, &inner).map_err(PeerMisbehaved::from)?;
        let mut ike_deleted = false;
        let mut removed = Vec::new();
        let mut new_sa = None;
        let reply = match header.exchange_type {
            ExchangeType::INFORMATIONAL => {
                if let State::Established(est) = &mut self.state {
                    est.life.mobike.note_addresses(&inner);
                }
                for p in &inner {
                    let Payload::Delete(d) = p else { continue };
                    if d.protocol == ProtocolId::IKE {
                        ike_deleted = true;
                    } else if let State::Established(est) = &mut self.state
                        && d.protocol == ProtocolId::ESP
                    {
                        // The gateway names its inbound SPIs, which are our outbound ones.
                        est.life.peer_deleted(d, &mut self.events);
                        est.children.retain(|c| {
                            let named = d
                                .spis
                                .iter()
                                .any(|s| s.as_slice() == c.outbound.get().to_be_bytes());
                            if named {
                                removed.push(*c);
                            }
                            !named
                        });
                    }
                }
                if removed.is_empty() {
                    Vec::new()
                } else {
                    let ours: Vec<u32> = removed.iter().map(|c| c.inbound.get()).collect();
                    vec![Payload::Delete(DeleteRepr::esp(&ours))]
                }
            }
            ExchangeType::CREATE_CHILD_SA => {
                let (reply, sa) = self.on_create_child_sa(now, &inner)?;
                new_sa = sa;
                reply
            }
            _ => return Ok(()),
        };
        let (bytes, path) = self.encrypt(header.exchange_type, header.message_id, true, &reply)?;
        self.tasks.send_response(header.message_id, &bytes, path);
        if let Some(new_sa) = new_sa {
            self.switch_ike_sa(new_sa);
            self.ike_rekeyed_by_peer(now);
        }
        // Unless our rekey of the deleted one is still under way.
        let no_children_left = matches!(&self.state, State::Established(est)
            if est.children.is_empty() && !est.life.child_rekey_pending());
        if ike_deleted {
            self.finish(CloseReason::DeletedByPeer);
        } else if no_children_left {
            // Our last CHILD_SA went: we have no use for the IKE SA without it.
            self.send_delete_unreliably();
            self.finish(CloseReason::DeletedByPeer);
        } else {
            for child in removed {
                self.events.push_back(Event::ChildSaDeleted {
                    inbound_spi: child.inbound,
                });
            }
        }
        Ok(())
    }

    /// A CREATE_CHILD_SA request from the gateway: a rekey of our CHILD_SA (RFC 7296 §1.3.3)
    /// or of the IKE SA (§1.3.2, returned as the new SA to switch to once the answer is sent).
    /// New CHILD_SAs are refused with NO_ADDITIONAL_SAS.
    fn on_create_child_sa(
        &mut self,
        now: Instant,
        inner: &[Payload],
    ) -> Result<(Vec<Payload>, Option<IkeSa>), Error> {
        let ike_offer = inner.iter().find_map(|p| match p {
            Payload::Sa(sa) if sa.proposals.iter().any(|p| p.protocol == ProtocolId::IKE) => {
                Some(sa)
            }
            _ => None,
        });
        if notify(inner, NotifyType::REKEY_SA).is_none()
            && let Some(offer) = ike_offer
        {
            return self.on_ike_rekey(inner, offer);
        }
        Ok((self.on_child_rekey(now, inner)?, None))
    }

    /// The gateway rekeys the IKE SA: we answer as the responder of the new SA.
    fn on_ike_rekey(
        &mut self,
        inner: &[Payload],
        offer: &SaRepr,
    ) -> Result<(Vec<Payload>, Option<IkeSa>), Error> {
        let refuse =
            |t: NotifyType| Ok((vec![Payload::Notify(NotifyRepr::new(t, Vec::new()))], None));
        let Some(ike_sa) = self.ike_sa.as_ref() else {
            return refuse(NotifyType::TEMPORARY_FAILURE);
        };
        if self.tasks.has_pending() || !matches!(self.state, State::Established(_)) {
            // Our own request (a Delete) is in flight on this SA.
            return refuse(NotifyType::TEMPORARY_FAILURE);
        }
        let (mut ni, mut ke) = (None, None);
        for p in inner {
            match p {
                Payload::Nonce(n) => ni = Some(n),
                Payload::Ke(k) => ke = Some(k),
                _ => {}
            }
        }
        let Some(ni) = ni else {
            return refuse(NotifyType::INVALID_SYNTAX);
        };
        let (mut answer, suite, peer_spi) = match proposal::choose_ike_as_responder(
            &self.config.ike_proposals,
            offer,
            ke.map(|k| k.group),
        ) {
            proposal::IkeResponderChoice::Chosen {
                answer,
                suite,
                peer_spi,
            } => (answer, suite, peer_spi),
            proposal::IkeResponderChoice::NoProposal => {
                return refuse(NotifyType::NO_PROPOSAL_CHOSEN);
            }
            proposal::IkeResponderChoice::InvalidKe(group) => {
                return Ok((
                    vec![Payload::Notify(NotifyRepr::new(
                        NotifyType::INVALID_KE_PAYLOAD,
                        group.transform_id().to_be_bytes().to_vec(),
                    ))],
                    None,
                ));
            }
        };
        let Some(ke) = ke else {
            return refuse(NotifyType::INVALID_SYNTAX);
        };
        let rng = self.rng.as_mut();
        let mut spi_r = random_bytes::<8>(rng)?;
        spi_r[0] |= 0x80;
        let nr = random_bytes::<NONCE_LEN>(rng)?.to_vec();
        let ours = KeyExchange::generate(suite.dh, rng).map_err(Error::Crypto)?;
        let public = ours.public_value().to_vec();
        let Ok(shared) = ours.agree(&ke.data) else {
            return refuse(NotifyType::INVALID_SYNTAX);
        };
        let (spi_i, spi_r) = (IkeSpi(peer_spi), IkeSpi(spi_r));
        // The old SA's PRF and SK_d seed the new keys (RFC 7296 §2.18).
        let keys = IkeSaKeys::derive_rekey(
            suite,
            ike_sa.keys.suite.prf,
            &ike_sa.keys.sk_d,
            &shared,
            &ni.nonce,
            &nr,
            spi_i,
            spi_r,
        )
        .map_err(Error::Crypto)?;
        let (outbound, inbound) = keys.sk_ciphers(Role::Responder).map_err(Error::Crypto)?;
        let new_sa = IkeSa {
            role: Role::Responder,
            spi_i,
            spi_r,
            keys,
            outbound,
            inbound,
            path: ike_sa.path,
        };
        answer.spi = spi_r.0.to_vec();
        let reply = vec![
            Payload::Sa(SaRepr {
                proposals: vec![answer],
            }),
            Payload::Nonce(NonceRepr { nonce: nr }),
            Payload::Ke(KeRepr {
                group: suite.dh.transform_id(),
                data: public,
            }),
        ];
        Ok((reply, Some(new_sa)))
    }

    /// Moves to the IKE SA a rekey created; the old one only answers the gateway from now on.
    fn switch_ike_sa(&mut self, new_sa: IkeSa) {
        let ike_suite = new_sa.keys.suite;
        let (peer_next_message_id, last_response) = self.tasks.reset_for_new_sa();
        if let Some(old) = self.ike_sa.replace(new_sa) {
            self.old_ike_sa = Some(OldIkeSa {
                sa: old,
                peer_next_message_id,
                last_response,
                delete: None,
            });
        }
        if let State::Established(est) = &mut self.state {
            est.template.ike_suite = ike_suite;
        }
        self.events.push_back(Event::IkeSaRekeyed { ike_suite });
    }

    /// A request on the IKE SA a rekey replaced (normally the gateway's Delete of it): answered
    /// with an empty response under the old keys; it ends nothing.
    fn on_old_sa_request(&mut self, data: &[u8]) {
        let Some(old) = &mut self.old_ike_sa else {
            return;
        };
        let Ok(Some((header, _inner))) = old.sa.open(&mut self.reassembly, data) else {
            return;
        };
        if header.message_id != old.peer_next_message_id {
            if let Some((id, transmit)) = &old.last_response
                && *id == header.message_id
            {
                self.tasks.queue(transmit.clone());
            }
            return;
        }
        let Ok(bytes) = old.sa.seal(
            self.rng.as_mut(),
            header.exchange_type,
            header.message_id,
            true,
            &[],
        ) else {
            return;
        };
        let transmit = old.sa.path.transmit(&bytes);
        old.last_response = Some((header.message_id, transmit.clone()));
        old.peer_next_message_id = header.message_id.wrapping_add(1);
        self.tasks.queue(transmit);
    }

    /// The gateway rekeys one of our CHILD_SAs.
    fn on_child_rekey(&mut self, now: Instant, inner: &[Payload]) -> Result<Vec<Payload>, Error> {
        let refuse = |t: NotifyType| Ok(vec![Payload::Notify(NotifyRepr::new(t, Vec::new()))]);
        let Some(rekey) = notify(inner, NotifyType::REKEY_SA) else {
            return refuse(NotifyType::NO_ADDITIONAL_SAS);
        };
        let Self {
            state,
            rng,
            ike_sa,
            config,
            events,
            ..
        } = self;
        let (State::Established(est), Some(ike_sa)) = (state, ike_sa.as_ref()) else {
            return refuse(NotifyType::TEMPORARY_FAILURE);
        };
        let old = <[u8; 4]>::try_from(rekey.spi.as_slice())
            .ok()
            .map(u32::from_be_bytes)
            .and_then(|spi| {
                est.children
                    .iter()
                    .find(|c| c.outbound.get() == spi)
                    .copied()
            })
            .filter(|_| rekey.protocol == ProtocolId::ESP);
        if old.is_some_and(|old| est.children.last() != Some(&old)) {
            // Already replaced (by our rekey): it is about to be deleted.
            return refuse(NotifyType::TEMPORARY_FAILURE);
        }
        let Some(old) = old else {
            return Ok(vec![Payload::Notify(NotifyRepr {
                protocol: rekey.protocol,
                spi: rekey.spi.clone(),
                notify_type: NotifyType::CHILD_SA_NOT_FOUND,
                data: Vec::new(),
            })]);
        };
        let (mut sa, mut ni, mut ke, mut tsi, mut tsr) = (None, None, None, None, None);
        for p in inner {
            match p {
                Payload::Sa(s) => sa = Some(s),
                Payload::Nonce(n) => ni = Some(n),
                Payload::Ke(k) => ke = Some(k),
                Payload::TsI(t) => tsi = Some(t),
                Payload::TsR(t) => tsr = Some(t),
                _ => {}
            }
        }
        let (Some(sa), Some(ni), Some(tsi), Some(tsr)) = (sa, ni, tsi, tsr) else {
            return refuse(NotifyType::INVALID_SYNTAX);
        };
        // The gateway started this exchange: TSi is its side, TSr ours.
        if check_narrowed(&config.ts_local, &tsr.selectors).is_err()
            || check_narrowed(&config.ts_remote, &tsi.selectors).is_err()
        {
            return refuse(NotifyType::TS_UNACCEPTABLE);
        }
        let (mut answer, suite, peer_spi, dh) =
            match proposal::choose_esp_as_responder(&config.esp_proposals, sa, ke.map(|k| k.group))
            {
                proposal::ResponderChoice::Chosen {
                    answer,
                    suite,
                    peer_spi,
                    dh,
                } => (answer, suite, peer_spi, dh),
                proposal::ResponderChoice::NoProposal => {
                    return refuse(NotifyType::NO_PROPOSAL_CHOSEN);
                }
                proposal::ResponderChoice::InvalidKe(group) => {
                    return Ok(vec![Payload::Notify(NotifyRepr::new(
                        NotifyType::INVALID_KE_PAYLOAD,
                        group.transform_id().to_be_bytes().to_vec(),
                    ))]);
                }
            };
        let inbound = Spi::from_random(u32::from_be_bytes(random_bytes::<4>(rng.as_mut())?));
        let outbound = Spi::new(peer_spi).ok_or(PeerMisbehaved::InvalidEspSpi)?;
        answer.spi = inbound.get().to_be_bytes().to_vec();
        let nr = random_bytes::<NONCE_LEN>(rng.as_mut())?.to_vec();
        let (ke_reply, shared) = match (dh, ke) {
            (Some(group), Some(peer)) => {
                let ours = KeyExchange::generate(group, rng.as_mut()).map_err(Error::Crypto)?;
                let public = ours.public_value().to_vec();
                let Ok(shared) = ours.agree(&peer.data) else {
                    return refuse(NotifyType::INVALID_SYNTAX);
                };
                (
                    Some(KeRepr {
                        group: group.transform_id(),
                        data: public,
                    }),
                    Some(shared),
                )
            }
            _ => (None, None),
        };
        let keymat = child_sa_keymat(
            ike_sa.keys.suite.prf,
            &ike_sa.keys.sk_d,
            shared.as_ref(),
            &ni.nonce,
            &nr,
            2 * suite.keymat_len_per_direction(),
        )
        .map_err(Error::Crypto)?;
        // In this exchange we are the responder: its keys come second in KEYMAT.
        let keys = ChildSaKeys::from_keymat(suite, Role::Responder, inbound, outbound, &keymat)
            .map_err(|_| Error::Crypto(CryptoError::InvalidKeyLength))?;
        let new = ChildPair { inbound, outbound };
        est.children.push(new);
        let child = est.template.child(keys, &tsr.selectors, &tsi.selectors);
        events.push_back(Event::ChildSaRekeyed {
            replaces: old.inbound,
            child: Box::new(child),
        });
        est.life.answered_child_rekey(
            now,
            config,
            rng.as_mut(),
            lifecycle::AnsweredRekey {
                old,
                new,
                their_nonce: &ni.nonce,
                our_nonce: &nr,
                pfs: dh,
                ts: (&tsr.selectors, &tsi.selectors),
            },
        )?;
        let mut reply = vec![
            Payload::Sa(SaRepr {
                proposals: vec![answer],
            }),
            Payload::Nonce(NonceRepr { nonce: nr }),
        ];
        reply.extend(ke_reply.map(Payload::Ke));
        reply.push(Payload::TsI(tsi.clone()));
        reply.push(Payload::TsR(tsr.clone()));
        Ok(reply)
    }

    // ---- endings ----

    /// Sends an INFORMATIONAL Delete of the IKE SA once, if keys exist, without waiting.
    fn send_delete_unreliably(&mut self) {
        if self.ike_sa.is_none() {
            return;
        }
        let inner = [Payload::Delete(DeleteRepr::ike())];
        if let Ok((bytes, path)) = self.encrypt_request(ExchangeType::INFORMATIONAL, &inner) {
            self.tasks.send_unreliable(&bytes, path);
        }
    }

    fn fail(&mut self, error: Error) {
        // A gateway that authenticated us deserves to learn that we are gone.
        if matches!(self.state, State::Auth(_) | State::Established(_)) {
            self.tasks.abandon();
            self.send_delete_unreliably();
        }
        self.finish(CloseReason::Failed(error));
    }

    fn finish(&mut self, reason: CloseReason) {
        self.tasks.abandon();
        self.state = State::Closed;
        // Dropping the SAs zeroizes their keys.
        self.ike_sa = None;
        self.old_ike_sa = None;
        self.events.push_back(Event::Closed { reason });
    }
}

impl ChildTemplate {
    fn child(
        &self,
        keys: ChildSaKeys,
        ts_local: &[TrafficSelector],
        ts_remote: &[TrafficSelector],
    ) -> ChildSaEstablished {
        ChildSaEstablished {
            esp_suite: keys.suite,
            keys,
            ts_local: ts_local.to_vec(),
            ts_remote: ts_remote.to_vec(),
            config: self.config.clone(),
            nat: self.nat,
            esp_destination: self.esp_destination,
            ike_suite: self.ike_suite,
            remote_id: self.remote_id.clone(),
        }
    }
}

/// Checks the gateway's IKE_AUTH answer signed with its certificate: the chain against
/// `server` (trust, validity, usage, name), the AUTH signature over ResponderSignedOctets, and
/// IDr against `configured_id`. Returns the gateway's identity and IDr body. `refused` maps an
/// error notify sent instead of AUTH.
fn verify_gateway_certificate(
    server: &ServerAuth,
    configured_id: Option<&Identity>,
    ike_sa: &IkeSa,
    (sa_init_response, ni): (&[u8], &[u8]),
    inner: &[Payload],
    refused: impl Fn(NotifyType) -> Error,
) -> Result<(Identity, Vec<u8>), Error> {
    let missing = |ty| {
        Error::from(PeerMisbehaved::PayloadRules(rules::RuleViolation::Missing(
            ExchangeType::IKE_AUTH,
            ty,
        )))
    };
    let auth_payload = inner.iter().find_map(|p| match p {
        Payload::Auth(a) => Some(a),
        _ => None,
    });
    let Some(auth_payload) = auth_payload else {
        return Err(first_error(inner).map_or_else(|| missing(PayloadType::AUTH), refused));
    };
    let idr: &IdRepr = inner
        .iter()
        .find_map(|p| match p {
            Payload::IdR(id) => Some(id),
            _ => None,
        })
        .ok_or_else(|| missing(PayloadType::IDR))?;
    let chain: Vec<&[u8]> = inner
        .iter()
        .filter_map(|p| match p {
            Payload::Cert(c) if c.encoding == CertEncoding(CERT_ENCODING_X509_SIGNATURE) => {
                Some(c.data.as_slice())
            }
            _ => None,
        })
        .collect();
    let verified = cert::verify_server(
        &chain,
        &server.trust,
        server.wall_clock,
        &server.expected_identity,
    )
    .map_err(AuthFailure::from)?;
    let id_body = idr.to_body();
    let octets = SignedOctetsInput {
        prf: ike_sa.keys.suite.prf,
        sk_p: &ike_sa.keys.sk_pr,
        message: sa_init_response,
        peer_nonce: ni,
        id_body: &id_body,
    }
    .octets();
    verified
        .verify_auth(auth_payload.method.0, &auth_payload.data, &octets)
        .map_err(AuthFailure::from)?;
    let remote_id = Identity::from_repr(idr);
    require_configured_id(configured_id, &remote_id)?;
    Ok((remote_id, id_body))
}

/// The gateway's identity must be the configured one, if any.
fn require_configured_id(configured: Option<&Identity>, got: &Identity) -> Result<(), Error> {
    if let Some(expected) = configured
        && expected != got
    {
        return Err(AuthFailure::PeerIdMismatch {
            expected: expected.to_string(),
            got: got.to_string(),
        }
        .into());
    }
    Ok(())
}

/// The gateway's answer to our first IKE_AUTH request of an EAP login was the error `notify`
/// instead of its certificate and the EAP start: if that is AUTHENTICATION_FAILED, it refused
/// EAP before any credential was sent, which usually means it wants a certificate from us.
fn eap_refused_at_once(notify: NotifyType, certificate_requested: bool) -> Option<Error> {
    if notify != NotifyType::AUTHENTICATION_FAILED {
        return None;
    }
    Some(if certificate_requested {
        AuthFailure::Certificate(cert::CertError::NoClientCertificate).into()
    } else {
        AuthFailure::EapRefused.into()
    })
}

/// Every selector the gateway returned must lie inside one we proposed (RFC 7296 §2.9).
fn check_narrowed(proposed: &[TrafficSelector], got: &[TrafficSelector]) -> Result<(), Error> {
    if got.is_empty()
        || !got.iter().all(|g| {
            proposed.iter().any(|p| {
                p.contains(g) && (p.ip_protocol() == 0 || p.ip_protocol() == g.ip_protocol())
            })
        })
    {
        return Err(PeerMisbehaved::TrafficSelectorsNotNarrowed.into());
    }
    Ok(())
}

fn negotiated_config(cp: &CpRepr) -> NegotiatedConfig {
    let mut config = NegotiatedConfig::default();
    if cp.cfg_type != CfgType::REPLY {
        return config;
    }
    for attr in &cp.attributes {
        match attr {
            ConfigAttribute::Ip4Address(Some(a)) => config.ipv4_addresses.push(*a),
            ConfigAttribute::Ip4Netmask(Some(m)) => config.ipv4_netmask = Some(*m),
            ConfigAttribute::Ip4Dns(Some(a)) => config.dns_servers.push(IpAddr::V4(*a)),
            ConfigAttribute::Ip6Address(Some(a)) => config.ipv6_addresses.push(*a),
            ConfigAttribute::Ip6Dns(Some(a)) => config.dns_servers.push(IpAddr::V6(*a)),
            ConfigAttribute::DnsDomain(Some(d)) => config.dns_domains.push(d.clone()),
            ConfigAttribute::ApplicationVersion(v) if !v.is_empty() => {
                config.application_version = Some(v.clone());
            }
            _ => {}
        }
    }
    config
}

mod eap_only;
mod fragments;
mod lifecycle;
mod mobike;
#[cfg(test)]
mod tests;
