//! IKE message fragmentation (RFC 7383): splitting an encoded inner payload chain into SKF
//! fragments, and reassembling the fragments a peer sends.
//!
//! Room and rules:
//! - Works on plaintext only. The caller seals each outgoing fragment with
//!   [`SkCipher::seal`](crate::crypto::SkCipher::seal) and opens (authenticates) each incoming
//!   one with [`SkCipher::open`](crate::crypto::SkCipher::open) *before* handing it to the
//!   [`Reassembler`] (RFC 7383 §2.6.1), so nothing unauthenticated is ever buffered.
//! - No clock: the time of arrival is an argument, and the reassembly deadline is reported via
//!   [`Reassembler::poll_timeout`].
//! - Bounded: at most [`ReassemblyLimits::max_fragments`] fragments and
//!   [`ReassemblyLimits::max_total_len`] bytes, and only one message in progress at a time.

use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::crypto::SkCipher;

/// Length of the fixed IKE header (RFC 7296 §3.1).
pub const IKE_HEADER_LEN: usize = 28;
/// Length of the SKF payload header: generic payload header (4), Fragment Number (2) and Total
/// Fragments (2) (RFC 7383 §2.5).
pub const SKF_HEADER_LEN: usize = 8;
/// The IKE payload type of SKF (RFC 7383 §2.5).
pub const PAYLOAD_TYPE_SKF: u8 = 53;
/// Largest number of fragments this implementation will send or accept by default.
pub const DEFAULT_MAX_FRAGMENTS: u16 = 32;
/// Largest reassembled message (sum of fragment plaintexts) accepted by default.
pub const DEFAULT_MAX_TOTAL_LEN: usize = 64 * 1024;
/// Default time from the first fragment of a message until an incomplete message is dropped.
pub const DEFAULT_REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why fragmenting or reassembling failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// The message would need more fragments than allowed, or the datagram size leaves no room
    /// for payload data.
    #[error(
        "the message is too large to send in at most {max} fragments of this size; raise the fragment size or send less"
    )]
    MessageTooLarge {
        /// The fragment limit.
        max: u16,
    },
    /// A fragment's number was 0 or larger than its Total Fragments, or Total Fragments was 0.
    #[error("the peer sent a fragment with an invalid fragment number ({number} of {total})")]
    InvalidFragmentNumber {
        /// The Fragment Number field.
        number: u16,
        /// The Total Fragments field.
        total: u16,
    },
    /// The peer announced more fragments than allowed.
    #[error("the peer split a message into {total} fragments; at most {max} are accepted")]
    TooManyFragments {
        /// The Total Fragments field.
        total: u16,
        /// The limit.
        max: u16,
    },
    /// The fragments of a message add up to more than allowed; the message was dropped.
    #[error("the peer sent a fragmented message larger than {max} bytes; it was dropped")]
    TooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// The first fragment's Next Payload was 0, so the inner payloads cannot be decoded.
    #[error("the peer's first fragment does not name the type of the first inner payload")]
    MissingNextPayload,
    /// A fragment announced fewer Total Fragments than earlier fragments of the same message;
    /// it belongs to an outdated fragmentation and was discarded (RFC 7383 §2.6.1).
    #[error("the peer sent a fragment of an outdated fragmentation of the message; it was ignored")]
    StaleFragment,
}

/// How much of a datagram is left for the IKE message: the maximum datagram size minus the IP
/// header (20 bytes for IPv4, 40 for IPv6), the UDP header (8) and, on port 4500, the 4-byte
/// non-ESP marker. RFC 7383 §2.5.1 suggests 576 (IPv4) and 1280 (IPv6) datagrams when the path
/// MTU is unknown.
#[must_use]
pub const fn ike_message_budget(
    max_datagram_len: usize,
    ipv6: bool,
    non_esp_marker: bool,
) -> usize {
    let ip = if ipv6 { 40 } else { 20 };
    let marker = if non_esp_marker { 4 } else { 0 };
    max_datagram_len.saturating_sub(ip + 8 + marker)
}

/// How many bytes of the inner payload chain fit in one fragment: the IKE message budget minus
/// the IKE header, the SKF header and `cipher`'s IV, ICV, padding and pad-length byte.
/// `unprotected_len` counts unencrypted payloads before the SKF payload (normally 0).
#[must_use]
pub fn fragment_capacity(
    cipher: &SkCipher,
    max_message_len: usize,
    unprotected_len: usize,
) -> usize {
    let max_body =
        max_message_len.saturating_sub(IKE_HEADER_LEN + SKF_HEADER_LEN + unprotected_len);
    cipher.max_plaintext_len(max_body)
}

/// One outgoing fragment's plaintext and the SKF header fields to write in front of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingFragment<'a> {
    /// Fragment Number, from 1.
    pub number: u16,
    /// Total Fragments.
    pub total: u16,
    /// Next Payload of the SKF header: the type of the first inner payload in fragment 1, 0 in
    /// all others (RFC 7383 §2.5).
    pub next_payload: u8,
    /// The slice of the inner payload chain this fragment carries (to seal).
    pub plaintext: &'a [u8],
}

/// Splits an encoded inner payload chain (`inner`, whose first payload has type
/// `first_payload`) into fragments of at most `capacity` plaintext bytes (see
/// [`fragment_capacity`]), at most `max_fragments` of them.
///
/// # Errors
/// [`FragmentError::MessageTooLarge`] if `capacity` is 0 or more than `max_fragments` would be
/// needed.
pub fn split(
    inner: &[u8],
    first_payload: u8,
    capacity: usize,
    max_fragments: u16,
) -> Result<Vec<OutgoingFragment<'_>>, FragmentError> {
    let too_large = FragmentError::MessageTooLarge { max: max_fragments };
    if capacity == 0 {
        return Err(too_large);
    }
    let count = inner.len().div_ceil(capacity).max(1);
    let total = u16::try_from(count).map_err(|_| too_large)?;
    if total > max_fragments {
        return Err(too_large);
    }
    let mut chunks: Vec<&[u8]> = inner.chunks(capacity).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    Ok(chunks
        .into_iter()
        .zip(1..=total)
        .map(|(plaintext, number)| OutgoingFragment {
            number,
            total,
            next_payload: if number == 1 { first_payload } else { 0 },
            plaintext,
        })
        .collect())
}

/// Limits that bound what a [`Reassembler`] buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Largest Total Fragments accepted.
    pub max_fragments: u16,
    /// Largest sum of fragment plaintexts.
    pub max_total_len: usize,
    /// Time from the first fragment of a message until an incomplete message is dropped.
    pub timeout: Duration,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        Self {
            max_fragments: DEFAULT_MAX_FRAGMENTS,
            max_total_len: DEFAULT_MAX_TOTAL_LEN,
            timeout: DEFAULT_REASSEMBLY_TIMEOUT,
        }
    }
}

/// What one incoming fragment led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Reassembly {
    /// The fragment was stored; more are missing.
    Incomplete,
    /// The fragment had been received before and was ignored.
    Duplicate,
    /// The message is complete.
    Complete {
        /// Type of the first inner payload (from fragment 1's Next Payload).
        first_payload: u8,
        /// The inner payload chain, the fragments' plaintexts in order.
        inner: Zeroizing<Vec<u8>>,
    },
}

/// The one message being reassembled.
struct Partial {
    message_id: u32,
    total: u16,
    deadline: Instant,
    first_payload: Option<u8>,
    fragments: Vec<Option<Zeroizing<Vec<u8>>>>,
    received: u16,
    received_len: usize,
}

/// Reassembles the fragments of one message at a time (RFC 7383 §2.6.1). Use one per IKE SA
/// and direction; feed it fragments that already passed [`SkCipher::open`].
///
/// Fragments may arrive in any order; duplicates are ignored. A fragment of another message
/// (different Message ID) discards the message in progress, so at most one message's worth of
/// memory is held. When a fragment announces *more* Total Fragments than the message in
/// progress, the peer has re-fragmented a retransmission with smaller fragments: the old
/// fragments are discarded and reassembly restarts; a fragment announcing *fewer* is stale and
/// is rejected (RFC 7383 §2.6.1).
pub struct Reassembler {
    limits: ReassemblyLimits,
    partial: Option<Partial>,
}

impl std::fmt::Debug for Reassembler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Fragment contents are decrypted payloads: print only the bookkeeping.
        let mut s = f.debug_struct("Reassembler");
        s.field("limits", &self.limits);
        if let Some(p) = &self.partial {
            s.field("message_id", &p.message_id)
                .field("total", &p.total)
                .field("received", &p.received)
                .field("received_len", &p.received_len);
        }
        s.finish()
    }
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new(ReassemblyLimits::default())
    }
}

impl Reassembler {
    /// A reassembler with the given limits.
    #[must_use]
    pub fn new(limits: ReassemblyLimits) -> Self {
        Self {
            limits,
            partial: None,
        }
    }

    /// Handles one authenticated, decrypted fragment received at `now`: its message's
    /// `message_id`, the SKF header's `number`, `total` and `next_payload`, and the decrypted
    /// `plaintext`.
    ///
    /// # Errors
    /// Invalid numbers, too many fragments, a missing first-payload type and stale fragments
    /// reject the fragment (the message in progress is kept). Exceeding the size limit drops the
    /// whole message.
    pub fn handle(
        &mut self,
        now: Instant,
        message_id: u32,
        number: u16,
        total: u16,
        next_payload: u8,
        plaintext: &[u8],
    ) -> Result<Reassembly, FragmentError> {
        if number == 0 || total == 0 || number > total {
            return Err(FragmentError::InvalidFragmentNumber { number, total });
        }
        if total > self.limits.max_fragments {
            return Err(FragmentError::TooManyFragments {
                total,
                max: self.limits.max_fragments,
            });
        }
        if number == 1 && next_payload == 0 {
            return Err(FragmentError::MissingNextPayload);
        }
        self.handle_timeout(now);
        let restart = match &self.partial {
            None => true,
            Some(p) if p.message_id != message_id => true,
            Some(p) if total > p.total => true,
            Some(p) if total < p.total => return Err(FragmentError::StaleFragment),
            Some(_) => false,
        };
        if restart {
            self.partial = Some(Partial {
                message_id,
                total,
                deadline: now + self.limits.timeout,
                first_payload: None,
                fragments: (0..total).map(|_| None).collect(),
                received: 0,
                received_len: 0,
            });
        }
        let Some(partial) = self.partial.as_mut() else {
            return Ok(Reassembly::Incomplete);
        };
        let index = usize::from(number - 1);
        let Some(slot) = partial.fragments.get_mut(index) else {
            return Err(FragmentError::InvalidFragmentNumber { number, total });
        };
        if slot.is_some() {
            return Ok(Reassembly::Duplicate);
        }
        let new_len = partial.received_len.saturating_add(plaintext.len());
        if new_len > self.limits.max_total_len {
            self.partial = None;
            return Err(FragmentError::TooLarge {
                max: self.limits.max_total_len,
            });
        }
        *slot = Some(Zeroizing::new(plaintext.to_vec()));
        partial.received += 1;
        partial.received_len = new_len;
        if number == 1 {
            partial.first_payload = Some(next_payload);
        }
        if partial.received < partial.total {
            return Ok(Reassembly::Incomplete);
        }
        let Some(done) = self.partial.take() else {
            return Ok(Reassembly::Incomplete);
        };
        let mut inner = Zeroizing::new(Vec::with_capacity(done.received_len));
        for fragment in done.fragments.iter().flatten() {
            inner.extend_from_slice(fragment);
        }
        Ok(Reassembly::Complete {
            // Fragment 1 was stored, so this is set; 0 only if the invariant broke.
            first_payload: done.first_payload.unwrap_or(0),
            inner,
        })
    }

    /// When the message in progress will be dropped, if one is in progress.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.partial.as_ref().map(|p| p.deadline)
    }

    /// Drops the message in progress if its deadline has passed at `now`; returns whether it
    /// did.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if self.partial.as_ref().is_some_and(|p| now >= p.deadline) {
            self.partial = None;
            return true;
        }
        false
    }

    /// Drops any message in progress (e.g. when the exchange it belongs to is abandoned).
    pub fn reset(&mut self) {
        self.partial = None;
    }

    /// Whether a message is in progress.
    #[must_use]
    pub fn in_progress(&self) -> bool {
        self.partial.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{EncrAlgorithm, IntegAlgorithm};

    const T: u8 = 35; // IDr, say

    fn now() -> Instant {
        Instant::now()
    }

    #[test]
    fn capacity_accounts_for_headers_and_cipher() {
        let gcm = SkCipher::new(EncrAlgorithm::AesGcm16_256, None, &[7; 36], &[]).unwrap();
        // 1280 - 40 - 8 - 4 = 1228; minus 28 + 8 = 1192 body; minus IV 8 + tag 16 = 1168; minus pad length.
        let budget = ike_message_budget(1280, true, true);
        assert_eq!(budget, 1228);
        assert_eq!(fragment_capacity(&gcm, budget, 0), 1167);
        let cbc = SkCipher::new(
            EncrAlgorithm::AesCbc256,
            Some(IntegAlgorithm::HmacSha2_256_128),
            &[7; 32],
            &[1; 32],
        )
        .unwrap();
        let cap = fragment_capacity(&cbc, 576 - 28, 0);
        // Every fragment sealed at capacity fits the budget.
        assert!(IKE_HEADER_LEN + SKF_HEADER_LEN + cbc.body_len(cap) <= 576 - 28);
        assert!(IKE_HEADER_LEN + SKF_HEADER_LEN + cbc.body_len(cap + 1) > 576 - 28);
    }

    #[test]
    fn split_and_reassemble_round_trip() {
        let inner: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let frags = split(&inner, T, 300, 32).unwrap();
        assert_eq!(frags.len(), 4);
        assert_eq!(frags[0].next_payload, T);
        assert!(
            frags[1..]
                .iter()
                .all(|f| f.next_payload == 0 && f.total == 4)
        );
        let mut r = Reassembler::default();
        let t = now();
        // Out of order.
        for i in [3, 1, 2] {
            let f = frags[i];
            let out = r
                .handle(t, 1, f.number, f.total, f.next_payload, f.plaintext)
                .unwrap();
            assert_eq!(out, Reassembly::Incomplete);
        }
        let f = frags[0];
        match r
            .handle(t, 1, f.number, f.total, f.next_payload, f.plaintext)
            .unwrap()
        {
            Reassembly::Complete {
                first_payload,
                inner: got,
            } => {
                assert_eq!(first_payload, T);
                assert_eq!(*got, inner);
            }
            other => panic!("{other:?}"),
        }
        assert!(!r.in_progress());
    }

    #[test]
    fn split_limits() {
        assert_eq!(
            split(&[0; 100], T, 0, 32),
            Err(FragmentError::MessageTooLarge { max: 32 })
        );
        assert_eq!(
            split(&[0; 100], T, 3, 32),
            Err(FragmentError::MessageTooLarge { max: 32 })
        );
        let one = split(&[], T, 10, 32).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].total, 1);
    }

    #[test]
    fn missing_fragment_stays_incomplete() {
        let mut r = Reassembler::default();
        let t = now();
        assert_eq!(
            r.handle(t, 1, 1, 3, T, b"a").unwrap(),
            Reassembly::Incomplete
        );
        assert_eq!(
            r.handle(t, 1, 3, 3, 0, b"c").unwrap(),
            Reassembly::Incomplete
        );
        assert!(r.in_progress());
    }

    #[test]
    fn duplicates_are_ignored() {
        let mut r = Reassembler::default();
        let t = now();
        r.handle(t, 1, 1, 2, T, b"a").unwrap();
        assert_eq!(
            r.handle(t, 1, 1, 2, T, b"X").unwrap(),
            Reassembly::Duplicate
        );
        match r.handle(t, 1, 2, 2, 0, b"b").unwrap() {
            Reassembly::Complete { inner, .. } => assert_eq!(*inner, b"ab"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_numbers_and_too_many() {
        let mut r = Reassembler::default();
        let t = now();
        for (n, tot) in [(0, 1), (2, 1), (1, 0)] {
            assert_eq!(
                r.handle(t, 1, n, tot, T, b"x"),
                Err(FragmentError::InvalidFragmentNumber {
                    number: n,
                    total: tot
                })
            );
        }
        assert_eq!(
            r.handle(t, 1, 1, 33, T, b"x"),
            Err(FragmentError::TooManyFragments { total: 33, max: 32 })
        );
        assert_eq!(
            r.handle(t, 1, 1, 2, 0, b"x"),
            Err(FragmentError::MissingNextPayload)
        );
        assert!(!r.in_progress());
    }

    #[test]
    fn oversized_message_is_dropped() {
        let mut r = Reassembler::new(ReassemblyLimits {
            max_total_len: 10,
            ..ReassemblyLimits::default()
        });
        let t = now();
        r.handle(t, 1, 1, 3, T, &[0; 6]).unwrap();
        assert_eq!(
            r.handle(t, 1, 2, 3, 0, &[0; 5]),
            Err(FragmentError::TooLarge { max: 10 })
        );
        assert!(!r.in_progress());
    }

    #[test]
    fn timeout_drops_partial_message() {
        let mut r = Reassembler::default();
        let t = now();
        r.handle(t, 1, 1, 2, T, b"a").unwrap();
        let deadline = r.poll_timeout().unwrap();
        assert_eq!(deadline, t + DEFAULT_REASSEMBLY_TIMEOUT);
        assert!(!r.handle_timeout(deadline - Duration::from_millis(1)));
        // The late second fragment starts a new message instead of completing the old one.
        assert_eq!(
            r.handle(deadline, 1, 2, 2, 0, b"b").unwrap(),
            Reassembly::Incomplete
        );
        assert!(r.handle_timeout(deadline + DEFAULT_REASSEMBLY_TIMEOUT));
        assert!(!r.in_progress());
    }

    #[test]
    fn total_changes() {
        let mut r = Reassembler::default();
        let t = now();
        r.handle(t, 1, 1, 2, T, b"a").unwrap();
        // Fewer: stale, rejected, message kept.
        assert_eq!(
            r.handle(t, 1, 1, 1, T, b"a"),
            Err(FragmentError::StaleFragment)
        );
        // More: restart with the new fragmentation.
        assert_eq!(
            r.handle(t, 1, 2, 3, 0, b"b").unwrap(),
            Reassembly::Incomplete
        );
        assert_eq!(
            r.handle(t, 1, 1, 3, T, b"a").unwrap(),
            Reassembly::Incomplete
        );
        match r.handle(t, 1, 3, 3, 0, b"c").unwrap() {
            Reassembly::Complete { inner, .. } => assert_eq!(*inner, b"abc"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn new_message_id_replaces_old() {
        let mut r = Reassembler::default();
        let t = now();
        r.handle(t, 1, 1, 2, T, b"a").unwrap();
        r.handle(t, 2, 1, 2, T, b"x").unwrap();
        match r.handle(t, 2, 2, 2, 0, b"y").unwrap() {
            Reassembly::Complete { inner, .. } => assert_eq!(*inner, b"xy"),
            other => panic!("{other:?}"),
        }
    }
}
