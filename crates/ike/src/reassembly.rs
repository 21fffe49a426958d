//! Reassembly of received IKE fragments (RFC 7383 §2.6). Each fragment is authenticated and
//! decrypted on its own before it is stored, so forged fragments never take up space; the
//! plaintext pieces are joined once all have arrived.

use zeroize::Zeroizing;

use crate::wire::{MAX_MESSAGE_LEN, PayloadType};

/// Most fragments we accept for one message.
pub(crate) const MAX_FRAGMENTS: u16 = 64;
/// Most reassembled plaintext we accept for one message.
const MAX_REASSEMBLED_LEN: usize = 2 * MAX_MESSAGE_LEN;

#[derive(Default)]
pub(crate) struct Reassembly {
    message_id: u32,
    total: u16,
    first_inner: PayloadType,
    pieces: Vec<Option<Zeroizing<Vec<u8>>>>,
    stored: usize,
}

impl Reassembly {
    /// Adds one decrypted fragment of message `message_id`. Returns the first inner payload type
    /// and the joined plaintext once every fragment is in. Fragments of a newer message, or
    /// with a different total, start over (RFC 7383 §2.6.1).
    pub(crate) fn add(
        &mut self,
        message_id: u32,
        number: u16,
        total: u16,
        first_inner: PayloadType,
        plaintext: Zeroizing<Vec<u8>>,
    ) -> Option<(PayloadType, Zeroizing<Vec<u8>>)> {
        if total == 0 || total > MAX_FRAGMENTS || number == 0 || number > total {
            return None;
        }
        if self.pieces.is_empty() || self.message_id != message_id || self.total != total {
            *self = Self {
                message_id,
                total,
                first_inner: PayloadType::NONE,
                pieces: (0..total).map(|_| None).collect(),
                stored: 0,
            };
        }
        let slot = self.pieces.get_mut(usize::from(number - 1))?;
        if slot.is_some() || self.stored + plaintext.len() > MAX_REASSEMBLED_LEN {
            return None;
        }
        if number == 1 {
            self.first_inner = first_inner;
        }
        self.stored += plaintext.len();
        *slot = Some(plaintext);
        if self.pieces.iter().any(Option::is_none) {
            return None;
        }
        let mut joined = Zeroizing::new(Vec::with_capacity(self.stored));
        for piece in self.pieces.iter().flatten() {
            joined.extend_from_slice(piece);
        }
        let first = self.first_inner;
        *self = Self::default();
        Some((first, joined))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn z(b: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(b.to_vec())
    }

    #[test]
    fn joins_in_order_whatever_the_arrival_order() {
        let mut r = Reassembly::default();
        assert!(r.add(1, 3, 3, PayloadType::NONE, z(b"ef")).is_none());
        assert!(r.add(1, 1, 3, PayloadType::IDR, z(b"ab")).is_none());
        assert!(
            r.add(1, 1, 3, PayloadType::IDR, z(b"xx")).is_none(),
            "duplicate"
        );
        let (first, joined) = r.add(1, 2, 3, PayloadType::NONE, z(b"cd")).unwrap();
        assert_eq!(first, PayloadType::IDR);
        assert_eq!(&joined[..], b"abcdef");
    }

    #[test]
    fn restarts_on_new_message_or_total_and_rejects_nonsense() {
        let mut r = Reassembly::default();
        assert!(r.add(1, 1, 2, PayloadType::IDR, z(b"a")).is_none());
        assert!(r.add(2, 2, 2, PayloadType::NONE, z(b"b")).is_none());
        assert!(r.add(2, 1, 3, PayloadType::IDR, z(b"a")).is_none());
        assert!(r.add(2, 0, 3, PayloadType::IDR, z(b"a")).is_none());
        assert!(
            r.add(2, 1, MAX_FRAGMENTS + 1, PayloadType::IDR, z(b"a"))
                .is_none()
        );
        assert!(r.add(2, 2, 3, PayloadType::NONE, z(b"b")).is_none());
        assert!(r.add(2, 3, 3, PayloadType::NONE, z(b"c")).is_some());
    }
}
