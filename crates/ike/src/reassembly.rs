//! Reassembly of received IKE fragments (RFC 7383 §2.6) for the initiator. Each fragment is
//! authenticated and decrypted on its own before it is stored, so forged fragments never take
//! up space; the plaintext pieces are joined once all have arrived.
//!
//! Limits ([`crate::fragment::Reassembler`] does the bookkeeping): at most
//! [`MAX_FRAGMENTS`] fragments and [`MAX_REASSEMBLED_LEN`] bytes per message, one message in
//! progress per direction (the gateway's responses, and its requests), and an incomplete message
//! is dropped [`REASSEMBLY_TIMEOUT`] after its first fragment. Time comes from the datagram or
//! timer that is being handled ([`Reassembly::set_clock`]).

use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::fragment::{Reassembler, Reassembly as Outcome, ReassemblyLimits};
use crate::wire::{MAX_MESSAGE_LEN, PayloadType};

/// Most fragments we accept for one message.
pub(crate) const MAX_FRAGMENTS: u16 = 64;
/// Most reassembled plaintext we accept for one message.
pub(crate) const MAX_REASSEMBLED_LEN: usize = 2 * MAX_MESSAGE_LEN;
/// How long an incomplete message may wait for its missing fragments: longer than a peer's
/// first few retransmissions, far shorter than its total timeout.
pub(crate) const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(15);

const LIMITS: ReassemblyLimits = ReassemblyLimits {
    max_fragments: MAX_FRAGMENTS,
    max_total_len: MAX_REASSEMBLED_LEN,
    timeout: REASSEMBLY_TIMEOUT,
};

pub(crate) struct Reassembly {
    /// The time of the datagram or timer being handled.
    now: Option<Instant>,
    /// Fragments of the gateway's responses to our requests.
    responses: Reassembler,
    /// Fragments of the gateway's requests.
    requests: Reassembler,
    /// Fragments stored so far (for diagnostics and tests).
    pub(crate) fragments_received: u64,
}

impl Default for Reassembly {
    fn default() -> Self {
        Self {
            now: None,
            responses: Reassembler::new(LIMITS),
            requests: Reassembler::new(LIMITS),
            fragments_received: 0,
        }
    }
}

impl Reassembly {
    /// Sets the time the next fragments arrive at.
    pub(crate) fn set_clock(&mut self, now: Instant) {
        self.now = Some(now);
    }

    /// When an incomplete message will be dropped, if one is waiting.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [self.responses.poll_timeout(), self.requests.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Drops incomplete messages whose time is up.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        self.responses.handle_timeout(now);
        self.requests.handle_timeout(now);
    }

    /// Adds one decrypted fragment of message `message_id` (a response if `response`). Returns
    /// the first inner payload type and the joined plaintext once every fragment is in.
    /// Fragments of a newer message, or of a finer re-fragmentation, start over; invalid ones
    /// are dropped (RFC 7383 §2.6.1).
    pub(crate) fn add(
        &mut self,
        (message_id, response): (u32, bool),
        number: u16,
        total: u16,
        first_inner: PayloadType,
        plaintext: &[u8],
    ) -> Option<(PayloadType, Zeroizing<Vec<u8>>)> {
        // Every datagram sets the clock before its fragments get here.
        let now = self.now?;
        let reassembler = if response {
            &mut self.responses
        } else {
            &mut self.requests
        };
        let outcome = reassembler.handle(now, message_id, number, total, first_inner.0, plaintext);
        match outcome {
            Ok(Outcome::Complete {
                first_payload,
                inner,
            }) => {
                self.fragments_received += 1;
                Some((PayloadType(first_payload), inner))
            }
            Ok(Outcome::Incomplete) => {
                self.fragments_received += 1;
                None
            }
            Ok(Outcome::Duplicate) | Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: (u32, bool) = (1, true);

    #[test]
    fn joins_in_order_whatever_the_arrival_order() {
        let mut r = Reassembly::default();
        r.set_clock(Instant::now());
        assert!(r.add(A, 3, 3, PayloadType::NONE, b"ef").is_none());
        assert!(r.add(A, 1, 3, PayloadType::IDR, b"ab").is_none());
        assert!(
            r.add(A, 1, 3, PayloadType::IDR, b"xx").is_none(),
            "duplicate"
        );
        let (first, joined) = r.add(A, 2, 3, PayloadType::NONE, b"cd").unwrap();
        assert_eq!(first, PayloadType::IDR);
        assert_eq!(&joined[..], b"abcdef");
        assert_eq!(r.fragments_received, 3);
    }

    #[test]
    fn restarts_on_new_message_and_rejects_nonsense() {
        let mut r = Reassembly::default();
        r.set_clock(Instant::now());
        assert!(r.add((1, true), 1, 2, PayloadType::IDR, b"a").is_none());
        assert!(r.add((2, true), 2, 2, PayloadType::NONE, b"b").is_none());
        assert!(r.add((2, true), 0, 3, PayloadType::IDR, b"a").is_none());
        assert!(
            r.add((2, true), 1, MAX_FRAGMENTS + 1, PayloadType::IDR, b"a")
                .is_none()
        );
        // A finer re-fragmentation of message 2 restarts it.
        assert!(r.add((2, true), 1, 3, PayloadType::IDR, b"a").is_none());
        assert!(r.add((2, true), 2, 3, PayloadType::NONE, b"b").is_none());
        assert!(r.add((2, true), 3, 3, PayloadType::NONE, b"c").is_some());
    }

    #[test]
    fn requests_and_responses_do_not_displace_each_other() {
        let mut r = Reassembly::default();
        r.set_clock(Instant::now());
        assert!(r.add((5, true), 1, 2, PayloadType::IDR, b"a").is_none());
        assert!(r.add((0, false), 1, 2, PayloadType::DELETE, b"x").is_none());
        let (_, response) = r.add((5, true), 2, 2, PayloadType::NONE, b"b").unwrap();
        assert_eq!(&response[..], b"ab");
        let (_, request) = r.add((0, false), 2, 2, PayloadType::NONE, b"y").unwrap();
        assert_eq!(&request[..], b"xy");
    }

    #[test]
    fn incomplete_messages_expire() {
        let mut r = Reassembly::default();
        let t0 = Instant::now();
        r.set_clock(t0);
        assert!(r.add(A, 1, 2, PayloadType::IDR, b"a").is_none());
        assert_eq!(r.poll_timeout(), Some(t0 + REASSEMBLY_TIMEOUT));
        r.handle_timeout(t0 + REASSEMBLY_TIMEOUT);
        assert_eq!(r.poll_timeout(), None);
        // The late fragment 2 alone does not complete anything.
        assert!(r.add(A, 2, 2, PayloadType::NONE, b"b").is_none());
    }

    #[test]
    fn oversized_messages_are_dropped() {
        let mut r = Reassembly::default();
        r.set_clock(Instant::now());
        let big = vec![0u8; MAX_REASSEMBLED_LEN / 2 + 1];
        assert!(r.add(A, 1, 3, PayloadType::IDR, &big).is_none());
        assert!(r.add(A, 2, 3, PayloadType::NONE, &big).is_none());
        assert!(r.add(A, 3, 3, PayloadType::NONE, b"c").is_none());
        assert!(r.poll_timeout().is_some(), "fragment 3 started over");
    }
}
