//! The established phase's own requests and timers: CHILD_SA and IKE SA rekeys we start
//! (RFC 7296 §1.3.3, §1.3.2), rekey collisions (§2.8.1), liveness checks with a dead-peer
//! deadline, deletes of the CHILD_SAs and IKE SAs our rekeys replaced, and when a CHILD_SA the
//! gateway rekeyed may carry our traffic.
//!
//! Window of one (§2.3): one request of ours at a time. What comes due while another request is
//! in flight waits in [`Life`] and starts as soon as that exchange ends.
//!
//! Make-before-break, in both directions:
//! - Our rekey: the gateway installed the new SA when it answered, so we send with it at once
//!   ([`Event::ChildSaActive`] right after [`Event::ChildSaRekeyed`]); the old one keeps
//!   receiving until our Delete of it is answered (strongSwan sends with the old SA until then).
//! - The gateway's rekey: it installs the new SA only when it reads our answer, so we keep
//!   sending with the old SA until it deletes that one (or `rekey_activation_delay` passes).

use std::collections::VecDeque;
use std::time::Instant;

use ipsec_types::{ChildSaKeys, DhGroup, IkeSpi, Role, Spi, TrafficSelector, transform_type};

use super::{
    ChildPair, Event, IkeSa, Initiator, NONCE_LEN, OldIkeSa, State, check_narrowed, first_error,
    random_bytes,
};
use crate::config::InitiatorConfig;
use crate::crypto::{CryptoError, IkeSaKeys, KeyExchange, Random, child_sa_keymat};
use crate::error::{Error, PeerMisbehaved};
use crate::exchange::Transmit;
use crate::proposal;
use crate::wire::{
    DeleteRepr, ExchangeType, KeRepr, NonceRepr, NotifyRepr, NotifyType, Payload, PayloadType,
    ProtocolId, SaRepr, TransformRepr, TsRepr, rules,
};

use super::CloseReason;

/// How often our Delete of an IKE SA our rekey replaced is sent before we forget the SA anyway.
const OLD_SA_DELETE_ATTEMPTS: u32 = 3;
/// The shortest wait before a refused rekey is tried again.
const MIN_RETRY_DELAY: core::time::Duration = core::time::Duration::from_millis(100);

/// Our request in flight in the established phase.
pub(super) enum OwnRequest {
    /// An empty INFORMATIONAL (liveness check).
    Liveness,
    /// A CREATE_CHILD_SA rekeying a CHILD_SA.
    ChildRekey(Box<ChildRekey>),
    /// A CREATE_CHILD_SA rekeying the IKE SA.
    IkeRekey(Box<IkeRekey>),
    /// An INFORMATIONAL deleting a CHILD_SA.
    DeleteChild(ChildPair),
    /// A MOBIKE UPDATE_SA_ADDRESSES.
    UpdateAddresses(super::mobike::AddressUpdate),
}

/// Our half of a CHILD_SA rekey.
pub(super) struct ChildRekey {
    old: ChildPair,
    inbound: Spi,
    ni: Vec<u8>,
    ke: Option<KeyExchange>,
    offered: SaRepr,
    /// The gateway rekeyed the same CHILD_SA while ours was in flight (§2.8.1): its nonces
    /// and the CHILD_SA it created, to decide which of the two new SAs stays.
    collision: Option<Collision>,
}

/// The gateway's rekey that collided with ours.
struct Collision {
    /// The lower of its exchange's two nonces.
    lowest_nonce: Vec<u8>,
    child: ChildPair,
}

/// Our half of an IKE SA rekey.
pub(super) struct IkeRekey {
    spi_i: IkeSpi,
    ni: Vec<u8>,
    ke: KeyExchange,
    offered: SaRepr,
}

/// Our Delete of an IKE SA that our rekey replaced, retransmitted a few times.
pub(super) struct OldSaDelete {
    message_id: u32,
    transmit: Transmit,
    attempts: u32,
    next: Instant,
    interval: core::time::Duration,
}

/// A CHILD_SA the gateway created by rekeying, not yet used for sending.
struct Activation {
    new: ChildPair,
    replaces: ChildPair,
    deadline: Instant,
}

/// What [`Life::answered_child_rekey`] needs to know of a rekey the gateway started.
pub(super) struct AnsweredRekey<'a> {
    pub old: ChildPair,
    pub new: ChildPair,
    pub their_nonce: &'a [u8],
    pub our_nonce: &'a [u8],
    pub pfs: Option<DhGroup>,
    /// Our selectors and the gateway's, as agreed.
    pub ts: (&'a [TrafficSelector], &'a [TrafficSelector]),
}

/// The established phase's timers and queued work.
pub(super) struct Life {
    ts_local: Vec<TrafficSelector>,
    ts_remote: Vec<TrafficSelector>,
    /// Timers start with the first input after the SA is established.
    armed: bool,
    child_rekey_at: Option<Instant>,
    /// The current CHILD_SA's hard lifetime: past it, without a successful rekey, the SA
    /// must not be used any more.
    child_expires_at: Option<Instant>,
    ike_rekey_at: Option<Instant>,
    /// Nothing new starts before this (after TEMPORARY_FAILURE).
    retry_at: Option<Instant>,
    pending: Option<OwnRequest>,
    want_child_rekey: bool,
    want_ike_rekey: bool,
    /// CHILD_SAs to delete: replaced by our rekeys, or redundant after a lost collision.
    delete_queue: VecDeque<ChildPair>,
    activations: Vec<Activation>,
    dpd_deadline: Option<Instant>,
    /// The PFS group for our CHILD_SA rekeys, learned from the gateway's.
    pfs_group: Option<DhGroup>,
    /// The gateway refused PFS: rekey without a key exchange.
    pfs_refused: bool,
    /// The gateway's AUTH_LIFETIME (RFC 4478), until the timers are armed.
    auth_lifetime: Option<core::time::Duration>,
    /// When we reauthenticate (shortly before the gateway's AUTH_LIFETIME ends).
    reauth_at: Option<Instant>,
    /// What the gateway said about MOBIKE.
    pub(super) mobike: super::mobike::Mobike,
    /// Our new address, to announce with UPDATE_SA_ADDRESSES.
    pub(super) want_address_update: Option<std::net::SocketAddr>,
}

impl Life {
    /// `ike_auth` is the last IKE_AUTH response (for its AUTH_LIFETIME).
    pub(super) fn new(
        ts_local: &[TrafficSelector],
        ts_remote: &[TrafficSelector],
        ike_auth: &[Payload],
    ) -> Self {
        let auth_lifetime = super::notify(ike_auth, NotifyType::AUTH_LIFETIME)
            .and_then(|n| <[u8; 4]>::try_from(n.data.as_slice()).ok())
            .map(|secs| core::time::Duration::from_secs(u64::from(u32::from_be_bytes(secs))));
        Self {
            ts_local: ts_local.to_vec(),
            ts_remote: ts_remote.to_vec(),
            armed: false,
            child_rekey_at: None,
            child_expires_at: None,
            ike_rekey_at: None,
            retry_at: None,
            pending: None,
            want_child_rekey: false,
            want_ike_rekey: false,
            delete_queue: VecDeque::new(),
            activations: Vec::new(),
            dpd_deadline: None,
            pfs_group: None,
            pfs_refused: false,
            auth_lifetime,
            reauth_at: None,
            mobike: super::mobike::Mobike::from_ike_auth(ike_auth),
            want_address_update: None,
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        [
            self.child_rekey_at,
            self.child_expires_at,
            self.ike_rekey_at,
            self.retry_at,
            self.dpd_deadline,
            self.reauth_at,
        ]
        .into_iter()
        .chain(self.activations.iter().map(|a| Some(a.deadline)))
        .flatten()
        .min()
    }

    pub(super) fn child_rekey_pending(&self) -> bool {
        matches!(self.pending, Some(OwnRequest::ChildRekey(_)))
    }

    /// The gateway deletes CHILD_SAs (`delete` names its inbound SPIs, our outbound ones): a
    /// CHILD_SA it created by rekeying one of them may carry our traffic now.
    pub(super) fn peer_deleted(&mut self, delete: &DeleteRepr, events: &mut VecDeque<Event>) {
        let named = |pair: &ChildPair| {
            delete
                .spis
                .iter()
                .any(|s| s.as_slice() == pair.outbound.get().to_be_bytes())
        };
        self.activations.retain(|a| {
            if named(&a.replaces) {
                events.push_back(Event::ChildSaActive {
                    inbound_spi: a.new.inbound,
                });
                return false;
            }
            // The new one itself deleted (the redundant SA of a collision it lost).
            !named(&a.new)
        });
    }

    /// We answered the gateway's rekey of `old` with `new`.
    pub(super) fn answered_child_rekey(
        &mut self,
        now: Instant,
        config: &InitiatorConfig,
        rng: &mut dyn Random,
        answered: AnsweredRekey<'_>,
    ) -> Result<(), Error> {
        if let Some(group) = answered.pfs {
            self.pfs_group = Some(group);
        }
        self.ts_local = answered.ts.0.to_vec();
        self.ts_remote = answered.ts.1.to_vec();
        self.activations.push(Activation {
            new: answered.new,
            replaces: answered.old,
            deadline: now + config.lifecycle.rekey_activation_delay,
        });
        self.child_rekey_at = jittered(now, config.lifecycle.child_rekey, config, rng)?;
        self.child_expires_at = hard_lifetime(now, config);
        self.want_child_rekey = false;
        if let Some(OwnRequest::ChildRekey(ours)) = &mut self.pending
            && ours.old == answered.old
        {
            ours.collision = Some(Collision {
                lowest_nonce: answered.their_nonce.min(answered.our_nonce).to_vec(),
                child: answered.new,
            });
        }
        Ok(())
    }
}

/// `now + lifetime`, made earlier by a random part of the configured jitter (at most half the
/// lifetime).
fn jittered(
    now: Instant,
    lifetime: Option<core::time::Duration>,
    config: &InitiatorConfig,
    rng: &mut dyn Random,
) -> Result<Option<Instant>, Error> {
    let Some(lifetime) = lifetime else {
        return Ok(None);
    };
    let jitter = config.lifecycle.rekey_jitter.min(lifetime / 2);
    let fraction = f64::from(u32::from_be_bytes(random_bytes::<4>(rng)?)) / f64::from(u32::MAX);
    Ok(Some(now + lifetime - jitter.mul_f64(fraction)))
}

/// When a CHILD_SA created `now` expires: a tenth after its rekey time (strongSwan's default
/// `life_time`), leaving room for retries.
fn hard_lifetime(now: Instant, config: &InitiatorConfig) -> Option<Instant> {
    config
        .lifecycle
        .child_rekey
        .map(|lifetime| now + lifetime + lifetime / 10)
}

/// A random delay up to `max`.
fn random_delay(
    max: core::time::Duration,
    rng: &mut dyn Random,
) -> Result<core::time::Duration, Error> {
    let fraction = f64::from(u32::from_be_bytes(random_bytes::<4>(rng)?)) / f64::from(u32::MAX);
    Ok(max.mul_f64(fraction))
}

/// The payloads of a CREATE_CHILD_SA answer, by kind.
struct Answer<'a> {
    sa: Option<&'a SaRepr>,
    nonce: Option<&'a NonceRepr>,
    ke: Option<&'a KeRepr>,
    tsi: Option<&'a TsRepr>,
    tsr: Option<&'a TsRepr>,
}

impl<'a> Answer<'a> {
    fn of(inner: &'a [Payload]) -> Self {
        let mut answer = Self {
            sa: None,
            nonce: None,
            ke: None,
            tsi: None,
            tsr: None,
        };
        for p in inner {
            match p {
                Payload::Sa(s) => answer.sa = Some(s),
                Payload::Nonce(n) => answer.nonce = Some(n),
                Payload::Ke(k) => answer.ke = Some(k),
                Payload::TsI(t) => answer.tsi = Some(t),
                Payload::TsR(t) => answer.tsr = Some(t),
                _ => {}
            }
        }
        answer
    }
}

/// A payload the CREATE_CHILD_SA answer lacks.
fn missing(ty: PayloadType) -> Error {
    PeerMisbehaved::PayloadRules(rules::RuleViolation::Missing(
        ExchangeType::CREATE_CHILD_SA,
        ty,
    ))
    .into()
}

impl OldIkeSa {
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.delete.as_ref().map(|d| d.next)
    }
}

impl Initiator {
    /// Starts a rekey of the current CHILD_SA now (e.g. when ESP reports that its soft byte or
    /// packet lifetime, or its sequence space, is running out), or as soon as the request in
    /// flight is answered. Returns `false` unless the SA is established.
    pub fn rekey_child_sa(&mut self, now: Instant) -> bool {
        let State::Established(est) = &mut self.state else {
            return false;
        };
        if !est.life.child_rekey_pending() {
            est.life.want_child_rekey = true;
        }
        self.start_next_request(now);
        true
    }

    /// Starts a rekey of the IKE SA now, or as soon as the request in flight is answered.
    /// Returns `false` unless the SA is established.
    pub fn rekey_ike_sa(&mut self, now: Instant) -> bool {
        let State::Established(est) = &mut self.state else {
            return false;
        };
        if !matches!(est.life.pending, Some(OwnRequest::IkeRekey(_))) {
            est.life.want_ike_rekey = true;
        }
        self.start_next_request(now);
        true
    }

    /// The gateway rekeyed the IKE SA: ours is not needed before the new one's lifetime.
    pub(super) fn ike_rekeyed_by_peer(&mut self, now: Instant) {
        let Self {
            state, config, rng, ..
        } = self;
        let State::Established(est) = state else {
            return;
        };
        est.life.want_ike_rekey = false;
        match jittered(now, config.lifecycle.ike_rekey, config, rng.as_mut()) {
            Ok(at) => est.life.ike_rekey_at = at,
            Err(e) => self.fail(e),
        }
    }

    pub(super) fn liveness_check_pending(&self) -> bool {
        matches!(&self.state, State::Established(est)
            if matches!(est.life.pending, Some(OwnRequest::Liveness)))
    }

    pub(super) fn liveness_check_sent(&mut self, now: Instant) {
        let timeout = self.config.lifecycle.dpd_timeout;
        if let State::Established(est) = &mut self.state {
            est.life.pending = Some(OwnRequest::Liveness);
            est.life.dpd_deadline = Some(now + timeout);
        }
    }

    /// Arms the timers once the SA is up.
    pub(super) fn after_input(&mut self, now: Instant) {
        let Self {
            state, config, rng, ..
        } = self;
        let State::Established(est) = state else {
            return;
        };
        if est.life.armed {
            return;
        }
        est.life.armed = true;
        let armed =
            jittered(now, config.lifecycle.child_rekey, config, rng.as_mut()).and_then(|child| {
                Ok((
                    child,
                    jittered(now, config.lifecycle.ike_rekey, config, rng.as_mut())?,
                ))
            });
        // Reauthenticate a tenth of the lifetime (at most a minute, at least a second) early.
        est.life.reauth_at = est.life.auth_lifetime.map(|lifetime| {
            let margin = (lifetime / 10)
                .min(core::time::Duration::from_secs(60))
                .max(core::time::Duration::from_secs(1))
                .min(lifetime);
            now + lifetime - margin
        });
        match armed {
            Ok((child, ike)) => {
                est.life.child_rekey_at = child;
                est.life.child_expires_at = hard_lifetime(now, config);
                est.life.ike_rekey_at = ike;
            }
            Err(e) => self.fail(e),
        }
    }

    /// Whether a liveness check went unanswered until its deadline: then the SA is closed
    /// with [`CloseReason::PeerDead`].
    pub(super) fn dpd_expired(&mut self, now: Instant) -> bool {
        let State::Established(est) = &mut self.state else {
            return false;
        };
        if est.life.dpd_deadline.is_none_or(|d| d > now) {
            return false;
        }
        est.life.dpd_deadline = None;
        if !matches!(est.life.pending, Some(OwnRequest::Liveness)) {
            return false;
        }
        self.tasks.abandon();
        self.finish(CloseReason::PeerDead);
        true
    }

    pub(super) fn handle_life_timers(&mut self, now: Instant) {
        self.after_input(now);
        self.old_sa_delete_timer(now);
        let State::Established(est) = &mut self.state else {
            return;
        };
        if est.life.reauth_at.is_some_and(|t| t <= now) {
            self.tasks.abandon();
            self.send_delete_unreliably();
            self.finish(CloseReason::Reauthenticate);
            return;
        }
        if est.life.child_expires_at.is_some_and(|t| t <= now) {
            // Every rekey failed: the keys are not used past their lifetime.
            self.tasks.abandon();
            self.send_delete_unreliably();
            self.finish(CloseReason::ChildSaExpired);
            return;
        }
        let life = &mut est.life;
        let events = &mut self.events;
        life.activations.retain(|a| {
            if a.deadline <= now {
                events.push_back(Event::ChildSaActive {
                    inbound_spi: a.new.inbound,
                });
                return false;
            }
            true
        });
        if life.child_rekey_at.is_some_and(|t| t <= now) {
            life.child_rekey_at = None;
            life.want_child_rekey = true;
        }
        if life.ike_rekey_at.is_some_and(|t| t <= now) {
            life.ike_rekey_at = None;
            life.want_ike_rekey = true;
        }
        if life.retry_at.is_some_and(|t| t <= now) {
            life.retry_at = None;
        }
        self.start_next_request(now);
    }

    /// Starts the next queued request if none is in flight: a close, Deletes of replaced
    /// CHILD_SAs, an IKE SA rekey, a CHILD_SA rekey.
    pub(super) fn start_next_request(&mut self, now: Instant) {
        if self.tasks.has_pending() {
            return;
        }
        if self.close_requested {
            self.close_requested = false;
            self.close(now);
            return;
        }
        let State::Established(est) = &mut self.state else {
            return;
        };
        let life = &mut est.life;
        let result = if let Some(local) = life.want_address_update.take() {
            self.start_address_update(now, local)
        } else if let Some(pair) = life.delete_queue.pop_front() {
            self.send_child_delete(now, pair)
        } else if life.retry_at.is_some() {
            Ok(())
        } else if life.want_ike_rekey {
            life.want_ike_rekey = false;
            self.start_ike_rekey(now)
        } else if life.want_child_rekey {
            life.want_child_rekey = false;
            self.start_child_rekey(now)
        } else {
            Ok(())
        };
        if let Err(e) = result {
            self.fail(e);
        }
    }

    pub(super) fn send_own_request(
        &mut self,
        now: Instant,
        exchange: ExchangeType,
        inner: &[Payload],
        what: OwnRequest,
    ) -> Result<(), Error> {
        let (bytes, path) = self.encrypt_request(exchange, inner)?;
        self.tasks.send_request(now, exchange, &bytes, path);
        if let State::Established(est) = &mut self.state {
            est.life.pending = Some(what);
        }
        Ok(())
    }

    fn send_child_delete(&mut self, now: Instant, pair: ChildPair) -> Result<(), Error> {
        let inner = [Payload::Delete(DeleteRepr::esp(&[pair.inbound.get()]))];
        self.send_own_request(
            now,
            ExchangeType::INFORMATIONAL,
            &inner,
            OwnRequest::DeleteChild(pair),
        )
    }

    fn start_child_rekey(&mut self, now: Instant) -> Result<(), Error> {
        let Self {
            state, config, rng, ..
        } = self;
        let State::Established(est) = state else {
            return Ok(());
        };
        let Some(old) = est.children.last().copied() else {
            return Ok(());
        };
        let rng = rng.as_mut();
        let inbound = Spi::from_random(u32::from_be_bytes(random_bytes::<4>(rng)?));
        let ni = random_bytes::<NONCE_LEN>(rng)?.to_vec();
        let group = if est.life.pfs_refused {
            None
        } else {
            est.life.pfs_group.or(config.lifecycle.child_pfs)
        };
        let ke = group
            .map(|g| KeyExchange::generate(g, rng))
            .transpose()
            .map_err(Error::Crypto)?;
        let mut offered = proposal::esp_sa_payload(&config.esp_proposals, inbound.get());
        if let Some(group) = group {
            for p in &mut offered.proposals {
                // Before the ESN transforms, in transform-type order.
                let at = p
                    .transforms
                    .iter()
                    .position(|t| t.transform_type == transform_type::ESN)
                    .unwrap_or(p.transforms.len());
                p.transforms.insert(
                    at,
                    TransformRepr::new(transform_type::DH, group.transform_id()),
                );
            }
        }
        let mut inner = vec![
            Payload::Notify(NotifyRepr {
                protocol: ProtocolId::ESP,
                spi: old.inbound.get().to_be_bytes().to_vec(),
                notify_type: NotifyType::REKEY_SA,
                data: Vec::new(),
            }),
            Payload::Sa(offered.clone()),
            Payload::Nonce(NonceRepr { nonce: ni.clone() }),
        ];
        inner.extend(ke.as_ref().map(|k| {
            Payload::Ke(KeRepr {
                group: k.group().transform_id(),
                data: k.public_value().to_vec(),
            })
        }));
        inner.push(Payload::TsI(TsRepr {
            selectors: est.life.ts_local.clone(),
        }));
        inner.push(Payload::TsR(TsRepr {
            selectors: est.life.ts_remote.clone(),
        }));
        let rekey = ChildRekey {
            old,
            inbound,
            ni,
            ke,
            offered,
            collision: None,
        };
        self.send_own_request(
            now,
            ExchangeType::CREATE_CHILD_SA,
            &inner,
            OwnRequest::ChildRekey(Box::new(rekey)),
        )
    }

    fn start_ike_rekey(&mut self, now: Instant) -> Result<(), Error> {
        let Some(ike_sa) = self.ike_sa.as_ref() else {
            return Ok(());
        };
        let group = ike_sa.keys.suite.dh;
        let rng = self.rng.as_mut();
        let mut spi = random_bytes::<8>(rng)?;
        spi[0] |= 0x80;
        let ni = random_bytes::<NONCE_LEN>(rng)?.to_vec();
        let ke = KeyExchange::generate(group, rng).map_err(Error::Crypto)?;
        let mut offered = proposal::ike_sa_payload(&self.config.ike_proposals);
        for p in &mut offered.proposals {
            p.spi = spi.to_vec();
        }
        let inner = [
            Payload::Sa(offered.clone()),
            Payload::Nonce(NonceRepr { nonce: ni.clone() }),
            Payload::Ke(KeRepr {
                group: group.transform_id(),
                data: ke.public_value().to_vec(),
            }),
        ];
        let rekey = IkeRekey {
            spi_i: IkeSpi(spi),
            ni,
            ke,
            offered,
        };
        self.send_own_request(
            now,
            ExchangeType::CREATE_CHILD_SA,
            &inner,
            OwnRequest::IkeRekey(Box::new(rekey)),
        )
    }

    /// The gateway answered our request in the established phase.
    pub(super) fn on_own_response(
        &mut self,
        now: Instant,
        header: &crate::wire::HeaderRepr,
        inner: &[Payload],
    ) -> Result<(), Error> {
        let pending = match &mut self.state {
            State::Established(est) => est.life.pending.take(),
            _ => None,
        };
        rules::check_inner(header, inner).map_err(PeerMisbehaved::from)?;
        match pending {
            Some(OwnRequest::Liveness) => {
                if let State::Established(est) = &mut self.state {
                    est.life.dpd_deadline = None;
                }
            }
            Some(OwnRequest::DeleteChild(pair)) => {
                if let State::Established(est) = &mut self.state {
                    let before = est.children.len();
                    est.children.retain(|c| *c != pair);
                    if est.children.len() < before {
                        self.events.push_back(Event::ChildSaDeleted {
                            inbound_spi: pair.inbound,
                        });
                    }
                }
            }
            Some(OwnRequest::ChildRekey(rekey)) => {
                self.on_child_rekey_response(now, *rekey, inner)?;
            }
            Some(OwnRequest::IkeRekey(rekey)) => {
                self.on_ike_rekey_response(now, *rekey, inner)?;
            }
            Some(OwnRequest::UpdateAddresses(update)) => {
                self.on_address_update_response(&update, inner)?;
            }
            None => {}
        }
        if matches!(&self.state, State::Established(est) if est.children.is_empty()) {
            // The gateway deleted the CHILD_SA our failed rekey was for.
            self.send_delete_unreliably();
            self.finish(CloseReason::DeletedByPeer);
            return Ok(());
        }
        self.start_next_request(now);
        Ok(())
    }

    /// A refused rekey: when to try again.
    fn rekey_refused(
        &mut self,
        now: Instant,
        error: NotifyType,
        child: Option<&ChildRekey>,
        inner: &[Payload],
    ) -> Result<(), Error> {
        let ike_group = self.ike_sa.as_ref().map(|sa| sa.keys.suite.dh);
        let State::Established(est) = &mut self.state else {
            return Ok(());
        };
        let life = &mut est.life;
        let again = |life: &mut Life| {
            if child.is_some() {
                life.want_child_rekey = true;
            } else {
                life.want_ike_rekey = true;
            }
        };
        match (error, child) {
            // The SA is gone (the gateway deleted it meanwhile): nothing to rekey.
            (NotifyType::CHILD_SA_NOT_FOUND, Some(_)) => {}
            (NotifyType::INVALID_KE_PAYLOAD, _) => {
                let wanted = super::notify(inner, NotifyType::INVALID_KE_PAYLOAD)
                    .and_then(|n| <[u8; 2]>::try_from(n.data.as_slice()).ok())
                    .map(u16::from_be_bytes)
                    .and_then(DhGroup::from_transform_id)
                    .ok_or(PeerMisbehaved::UnofferedGroup(0))?;
                if child.is_some() {
                    life.pfs_group = Some(wanted);
                    life.pfs_refused = false;
                    again(life);
                } else {
                    // The IKE SA's group was offered; another one is not worth a retry loop.
                    return Err(PeerMisbehaved::UnofferedGroup(wanted.transform_id()).into());
                }
            }
            (NotifyType::NO_PROPOSAL_CHOSEN, Some(rekey)) if rekey.ke.is_some() => {
                life.pfs_refused = true;
                again(life);
            }
            // A gateway that insists on PFS: try the IKE SA's group (once: not if PFS was
            // refused before).
            (NotifyType::NO_PROPOSAL_CHOSEN, Some(_))
                if life.pfs_group.is_none() && !life.pfs_refused && ike_group.is_some() =>
            {
                life.pfs_group = ike_group;
                again(life);
            }
            _ => {
                // TEMPORARY_FAILURE (a collision, RFC 7296 §2.25) and anything else: later.
                again(life);
                let delay = random_delay(self.config.lifecycle.retry_delay, self.rng.as_mut())?;
                if let State::Established(est) = &mut self.state {
                    // Retried well before the CHILD_SA expires, however long the usual delay.
                    let left = est
                        .life
                        .child_expires_at
                        .map_or(delay, |t| t.saturating_duration_since(now) / 3)
                        .max(MIN_RETRY_DELAY);
                    est.life.retry_at = Some(now + delay.min(left));
                }
            }
        }
        Ok(())
    }

    fn on_child_rekey_response(
        &mut self,
        now: Instant,
        rekey: ChildRekey,
        inner: &[Payload],
    ) -> Result<(), Error> {
        if let Some(error) = first_error(inner) {
            return self.rekey_refused(now, error, Some(&rekey), inner);
        }
        let answer = Answer::of(inner);
        let ke = answer.ke;
        let sa = answer.sa.ok_or_else(|| missing(PayloadType::SA))?;
        let nr = answer.nonce.ok_or_else(|| missing(PayloadType::NONCE))?;
        let tsi = answer.tsi.ok_or_else(|| missing(PayloadType::TSI))?;
        let tsr = answer.tsr.ok_or_else(|| missing(PayloadType::TSR))?;
        let (suite, outbound) = proposal::select_esp(&rekey.offered, sa)?;
        let outbound = Spi::new(outbound).ok_or(PeerMisbehaved::InvalidEspSpi)?;
        check_narrowed(&self.config.ts_local, &tsi.selectors)?;
        check_narrowed(&self.config.ts_remote, &tsr.selectors)?;
        let shared = match (rekey.ke, ke) {
            (Some(ours), Some(theirs)) => {
                if theirs.group != ours.group().transform_id() {
                    return Err(PeerMisbehaved::KeGroupMismatch.into());
                }
                Some(
                    ours.agree(&theirs.data)
                        .map_err(|_| PeerMisbehaved::InvalidKeyExchange)?,
                )
            }
            (Some(_), None) => return Err(missing(PayloadType::KE)),
            (None, Some(_)) => return Err(PeerMisbehaved::KeGroupMismatch.into()),
            (None, None) => None,
        };
        let ike_sa = self
            .ike_sa
            .as_ref()
            .ok_or(Error::Internal("no IKE SA keys"))?;
        let keymat = child_sa_keymat(
            ike_sa.keys.suite.prf,
            &ike_sa.keys.sk_d,
            shared.as_ref(),
            &rekey.ni,
            &nr.nonce,
            2 * suite.keymat_len_per_direction(),
        )
        .map_err(Error::Crypto)?;
        let keys =
            ChildSaKeys::from_keymat(suite, Role::Initiator, rekey.inbound, outbound, &keymat)
                .map_err(|_| Error::Crypto(CryptoError::InvalidKeyLength))?;
        let new = ChildPair {
            inbound: rekey.inbound,
            outbound,
        };
        let Self {
            state,
            config,
            rng,
            events,
            ..
        } = self;
        let State::Established(est) = state else {
            return Ok(());
        };
        if let Some(collision) = &rekey.collision {
            // §2.8.1: the SA created with the lowest of the four nonces is redundant and is
            // deleted by its creator; the winner deletes the old SA.
            let ours_lowest = rekey.ni.as_slice().min(nr.nonce.as_slice());
            if ours_lowest < collision.lowest_nonce.as_slice() {
                est.life.delete_queue.push_back(new);
                return Ok(());
            }
            // We won: the gateway deletes its SA, which never carries our traffic.
            est.life.activations.retain(|a| a.new != collision.child);
        }
        est.life.ts_local = tsi.selectors.clone();
        est.life.ts_remote = tsr.selectors.clone();
        est.life.child_rekey_at =
            jittered(now, config.lifecycle.child_rekey, config, rng.as_mut())?;
        est.life.child_expires_at = hard_lifetime(now, config);
        est.children.push(new);
        let child = est.template.child(keys, &tsi.selectors, &tsr.selectors);
        events.push_back(Event::ChildSaRekeyed {
            replaces: rekey.old.inbound,
            child: Box::new(child),
        });
        events.push_back(Event::ChildSaActive {
            inbound_spi: new.inbound,
        });
        if est.children.contains(&rekey.old) {
            est.life.delete_queue.push_back(rekey.old);
        }
        Ok(())
    }

    fn on_ike_rekey_response(
        &mut self,
        now: Instant,
        rekey: IkeRekey,
        inner: &[Payload],
    ) -> Result<(), Error> {
        if let Some(error) = first_error(inner) {
            return self.rekey_refused(now, error, None, inner);
        }
        let answer = Answer::of(inner);
        let sa = answer.sa.ok_or_else(|| missing(PayloadType::SA))?;
        let nr = answer.nonce.ok_or_else(|| missing(PayloadType::NONCE))?;
        let ke = answer.ke.ok_or_else(|| missing(PayloadType::KE))?;
        // The answer carries the gateway's new SPI, which IKE_SA_INIT's check does not expect.
        let mut without_spi = sa.clone();
        for p in &mut without_spi.proposals {
            p.spi.clear();
        }
        let suite = proposal::select_ike(&rekey.offered, &without_spi)?;
        if suite.dh != rekey.ke.group() || ke.group != suite.dh.transform_id() {
            return Err(PeerMisbehaved::KeGroupMismatch.into());
        }
        let spi_r = sa
            .proposals
            .first()
            .and_then(|p| <[u8; 8]>::try_from(p.spi.as_slice()).ok())
            .filter(|s| *s != [0; 8])
            .map(IkeSpi)
            .ok_or(PeerMisbehaved::ZeroSpi)?;
        let shared = rekey
            .ke
            .agree(&ke.data)
            .map_err(|_| PeerMisbehaved::InvalidKeyExchange)?;
        let old = self
            .ike_sa
            .as_ref()
            .ok_or(Error::Internal("no IKE SA keys"))?;
        let keys = IkeSaKeys::derive_rekey(
            suite,
            old.keys.suite.prf,
            &old.keys.sk_d,
            &shared,
            &rekey.ni,
            &nr.nonce,
            rekey.spi_i,
            spi_r,
        )
        .map_err(Error::Crypto)?;
        let (outbound, inbound) = keys.sk_ciphers(Role::Initiator).map_err(Error::Crypto)?;
        let new_sa = IkeSa {
            role: Role::Initiator,
            spi_i: rekey.spi_i,
            spi_r,
            keys,
            outbound,
            inbound,
            path: old.path,
        };
        // Our Delete of the old SA carries its next message ID; sealed before the switch.
        let message_id = self.tasks.next_message_id();
        let delete = old.seal(
            self.rng.as_mut(),
            ExchangeType::INFORMATIONAL,
            message_id,
            false,
            &[Payload::Delete(DeleteRepr::ike())],
        )?;
        let transmit = old.path.transmit(&delete);
        self.switch_ike_sa(new_sa);
        self.tasks.queue(transmit.clone());
        let interval = self.config.retransmit.initial_timeout;
        if let Some(old) = &mut self.old_ike_sa {
            old.delete = Some(OldSaDelete {
                message_id,
                transmit,
                attempts: 1,
                next: now + interval,
                interval,
            });
        }
        let Self {
            state, config, rng, ..
        } = self;
        if let State::Established(est) = state {
            est.life.ike_rekey_at =
                jittered(now, config.lifecycle.ike_rekey, config, rng.as_mut())?;
        }
        Ok(())
    }

    /// A response on the IKE SA our rekey replaced: the answer to our Delete ends it.
    pub(super) fn on_old_sa_response(&mut self, data: &[u8]) {
        let Some(old) = &mut self.old_ike_sa else {
            return;
        };
        let Some(delete) = &old.delete else {
            return;
        };
        match old.sa.open(&mut self.reassembly, data) {
            Ok(Some((header, _))) if header.message_id == delete.message_id => {
                // Dropping it zeroizes its keys.
                self.old_ike_sa = None;
            }
            _ => {}
        }
    }

    fn old_sa_delete_timer(&mut self, now: Instant) {
        let Some(old) = &mut self.old_ike_sa else {
            return;
        };
        let Some(delete) = &mut old.delete else {
            return;
        };
        if delete.next > now {
            return;
        }
        if delete.attempts >= OLD_SA_DELETE_ATTEMPTS {
            self.old_ike_sa = None;
            return;
        }
        delete.attempts += 1;
        delete.interval = delete.interval.saturating_mul(2);
        delete.next = now + delete.interval;
        self.tasks.queue(delete.transmit.clone());
    }
}
