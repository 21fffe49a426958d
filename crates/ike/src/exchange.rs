//! Message IDs, retransmission and duplicate detection, in one place (after strongSwan's task
//! manager). The exchange logic decides *what* to send; this decides *when* and with which ID.
//!
//! We use a window of one (RFC 7296 §2.3): one request of ours outstanding at a time; the peer's
//! requests are answered in order, and our last response is kept to answer retransmissions.

use core::time::Duration;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use crate::config::RetransmitConfig;
use crate::wire::ExchangeType;

/// The 4-byte non-ESP marker that precedes IKE messages on port 4500 (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// A datagram for the caller to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Send it from the NAT-T socket (local port 4500, shared with ESP-in-UDP). When set, the
    /// payload already starts with the non-ESP marker.
    pub nat_t: bool,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

/// Where messages of the IKE SA go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Path {
    pub destination: SocketAddr,
    pub nat_t: bool,
}

impl Path {
    pub(crate) fn transmit(self, message: &[u8]) -> Transmit {
        let mut payload = Vec::with_capacity(message.len() + 4);
        if self.nat_t {
            payload.extend_from_slice(&NON_ESP_MARKER);
        }
        payload.extend_from_slice(message);
        Transmit {
            destination: self.destination,
            nat_t: self.nat_t,
            payload,
        }
    }
}

#[derive(Debug)]
struct PendingRequest {
    message_id: u32,
    exchange: ExchangeType,
    /// The request's datagrams: one, or all its RFC 7383 fragments (always resent together).
    transmits: Vec<Transmit>,
    attempts: u32,
    interval: Duration,
    next_retransmit: Instant,
    deadline: Instant,
}

/// How a received response relates to our outstanding request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseMatch {
    /// It answers the outstanding request.
    Expected(ExchangeType),
    /// Late, duplicate or unsolicited: drop it.
    Stale,
}

/// How a received request relates to what the peer sent before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestMatch {
    /// The next request: process it.
    New,
    /// A retransmission of the request we last answered: the cached response was queued again.
    Retransmitted,
    /// Outside the window: drop it.
    Invalid,
}

/// The outcome of a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerOutcome {
    /// Nothing was due, or a retransmission was queued.
    Pending,
    /// The outstanding request went unanswered for good.
    GaveUp {
        exchange: ExchangeType,
        attempts: u32,
    },
}

#[derive(Debug)]
pub(crate) struct TaskManager {
    config: RetransmitConfig,
    next_message_id: u32,
    pending: Option<PendingRequest>,
    peer_next_message_id: u32,
    last_response: Option<(u32, Transmit)>,
    transmits: VecDeque<Transmit>,
    /// Responses dropped as late or duplicate (for tests and diagnostics).
    pub stale_responses: u32,
}

impl TaskManager {
    pub(crate) fn new(config: RetransmitConfig) -> Self {
        Self {
            config,
            next_message_id: 0,
            pending: None,
            peer_next_message_id: 0,
            last_response: None,
            transmits: VecDeque::new(),
            stale_responses: 0,
        }
    }

    /// The message ID our next request will carry.
    pub(crate) fn next_message_id(&self) -> u32 {
        self.next_message_id
    }

    /// Sends a request (retransmitted until answered); `message` must carry
    /// [`Self::next_message_id`].
    pub(crate) fn send_request(
        &mut self,
        now: Instant,
        exchange: ExchangeType,
        message: &[u8],
        path: Path,
    ) {
        self.send_request_datagrams(now, exchange, &[message], path);
    }

    /// Sends a request made of several messages (its RFC 7383 fragments), all retransmitted
    /// together until answered; each must carry [`Self::next_message_id`].
    pub(crate) fn send_request_datagrams<M: AsRef<[u8]>>(
        &mut self,
        now: Instant,
        exchange: ExchangeType,
        messages: &[M],
        path: Path,
    ) {
        let transmits: Vec<Transmit> = messages.iter().map(|m| path.transmit(m.as_ref())).collect();
        self.transmits.extend(transmits.iter().cloned());
        let interval = self.config.initial_timeout;
        self.pending = Some(PendingRequest {
            message_id: self.next_message_id,
            exchange,
            transmits,
            attempts: 1,
            interval,
            next_retransmit: now + interval,
            deadline: now + self.config.total_timeout,
        });
    }

    /// Replaces the outstanding IKE_SA_INIT request (after COOKIE or INVALID_KE_PAYLOAD): same
    /// message ID 0, fresh retransmission schedule.
    pub(crate) fn restart_request(&mut self, now: Instant, message: &[u8], path: Path) {
        if let Some(p) = &self.pending {
            let exchange = p.exchange;
            self.send_request(now, exchange, message, path);
        }
    }

    /// Sends a message once, without expecting an answer (e.g. a final Delete).
    pub(crate) fn send_unreliable(&mut self, message: &[u8], path: Path) {
        self.transmits.push_back(path.transmit(message));
    }

    /// Matches a response's message ID against the outstanding request; on a match the request
    /// is complete and the next request gets the next ID.
    pub(crate) fn match_response(&mut self, message_id: u32) -> ResponseMatch {
        match &self.pending {
            Some(p) if p.message_id == message_id => {
                let exchange = p.exchange;
                self.pending = None;
                self.next_message_id = self.next_message_id.wrapping_add(1);
                ResponseMatch::Expected(exchange)
            }
            _ => {
                self.stale_responses += 1;
                ResponseMatch::Stale
            }
        }
    }

    /// Peeks whether a response would match, without completing the request (used before
    /// decryption succeeds, so that forged packets cannot complete an exchange).
    pub(crate) fn expects_response(&self, message_id: u32) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|p| p.message_id == message_id)
    }

    /// Classifies a peer request by message ID; on a retransmission, queues our cached answer.
    pub(crate) fn match_request(&mut self, message_id: u32) -> RequestMatch {
        if message_id == self.peer_next_message_id {
            return RequestMatch::New;
        }
        match &self.last_response {
            Some((id, transmit)) if *id == message_id => {
                self.transmits.push_back(transmit.clone());
                RequestMatch::Retransmitted
            }
            _ => RequestMatch::Invalid,
        }
    }

    /// Sends our response to the peer's request `message_id` and remembers it.
    pub(crate) fn send_response(&mut self, message_id: u32, message: &[u8], path: Path) {
        let transmit = path.transmit(message);
        self.transmits.push_back(transmit.clone());
        self.last_response = Some((message_id, transmit));
        self.peer_next_message_id = message_id.wrapping_add(1);
    }

    /// Queues a datagram (an answer prepared elsewhere).
    pub(crate) fn queue(&mut self, transmit: Transmit) {
        self.transmits.push_back(transmit);
    }

    /// Whether a request of ours is outstanding.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts the message-ID windows over for a new IKE SA (RFC 7296 §2.18) and returns the old
    /// SA's peer window: the next request ID expected and our last response.
    pub(crate) fn reset_for_new_sa(&mut self) -> (u32, Option<(u32, Transmit)>) {
        let old = (self.peer_next_message_id, self.last_response.take());
        self.next_message_id = 0;
        self.peer_next_message_id = 0;
        self.pending = None;
        old
    }

    /// Drops the outstanding request and stops all timers.
    pub(crate) fn abandon(&mut self) {
        self.pending = None;
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.pending
            .as_ref()
            .map(|p| p.next_retransmit.min(p.deadline))
    }

    /// Retransmits with exponential back-off; gives up after `max_retransmits` resends (plus
    /// one more interval of waiting) or at the total deadline, whichever comes first.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> TimerOutcome {
        let Some(p) = &mut self.pending else {
            return TimerOutcome::Pending;
        };
        if now < p.next_retransmit && now < p.deadline {
            return TimerOutcome::Pending;
        }
        if now >= p.deadline || p.attempts > self.config.max_retransmits {
            let outcome = TimerOutcome::GaveUp {
                exchange: p.exchange,
                attempts: p.attempts,
            };
            self.pending = None;
            return outcome;
        }
        p.attempts += 1;
        p.interval = p.interval.saturating_mul(2);
        p.next_retransmit = now + p.interval;
        self.transmits.extend(p.transmits.iter().cloned());
        TimerOutcome::Pending
    }
}
