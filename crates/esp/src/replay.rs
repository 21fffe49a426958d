//! Anti-replay window (RFC 4303 §3.4.3) as a ring of 64-bit words (RFC 6479), with the
//! extended-sequence-number inference of RFC 4303 Appendix A.
//!
//! The check ([`ReplayWindow::check`]) and the update ([`ReplayWindow::accept`]) are separate so
//! the caller can verify the ICV in between: a forged packet must never move the window.

use crate::error::EspError;

const WORD_BITS: u64 = 64;

/// Sliding bitmap of received sequence numbers.
#[derive(Debug, Clone)]
pub(crate) struct ReplayWindow {
    /// Configured window size in packets; 0 disables the replay check (the top is still tracked
    /// so ESN inference works).
    size: u64,
    /// Highest authenticated sequence number so far (0 = none yet).
    top: u64,
    /// Ring of words; its length is a power of two and covers `size` plus one spare word, so
    /// sliding forward only ever clears whole words (RFC 6479 §2).
    words: Box<[u64]>,
}

impl ReplayWindow {
    /// A window of `size` packets (allocated once, here).
    pub(crate) fn new(size: u32) -> Self {
        let size = u64::from(size);
        let words = if size == 0 {
            0
        } else {
            (size.div_ceil(WORD_BITS) + 1).next_power_of_two()
        };
        Self {
            size,
            top: 0,
            words: vec![0; usize::try_from(words).unwrap_or(usize::MAX)].into_boxed_slice(),
        }
    }

    /// Highest authenticated sequence number so far.
    pub(crate) fn top(&self) -> u64 {
        self.top
    }

    /// Sets the highest sequence number as if everything up to it was received (tests: start an
    /// SA near the 2^32 boundary).
    #[cfg(test)]
    pub(crate) fn set_top(&mut self, top: u64) {
        self.top = top;
        self.words.fill(u64::MAX);
    }

    /// Reconstructs the full 64-bit sequence number from the 32 bits on the wire
    /// (RFC 4303 Appendix A.2). Returns `None` when the number would lie below 0, i.e. it can only
    /// be a very old packet.
    pub(crate) fn infer_esn(&self, low: u32) -> Option<u64> {
        // With the check disabled, assume the peer is never more than half the space behind.
        let window = if self.size == 0 {
            1u64 << 31
        } else {
            self.size.min(1 << 31)
        };
        let top_low = self.top & 0xffff_ffff;
        let top_high = self.top >> 32;
        let low64 = u64::from(low);
        let high = if top_low + 1 >= window {
            // Case A: the window lies within one 2^32 subspace.
            if low64 + window > top_low {
                top_high
            } else {
                top_high + 1
            }
        } else {
            // Case B: the window spans two subspaces; numbers above `top_low - window + 1
            // (mod 2^32)` belong to the previous one.
            let lower_edge = (top_low + (1 << 32) + 1 - window) & 0xffff_ffff;
            if low64 >= lower_edge {
                top_high.checked_sub(1)?
            } else {
                top_high
            }
        };
        Some((high << 32) | low64)
    }

    /// Whether `seq` may be accepted: not zero, not below the window, not seen before. Does not
    /// change the window.
    pub(crate) fn check(&self, seq: u64) -> Result<(), EspError> {
        if self.size == 0 {
            return Ok(());
        }
        if seq == 0 {
            return Err(EspError::OutsideWindow { seq, top: self.top });
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.size {
            return Err(EspError::OutsideWindow { seq, top: self.top });
        }
        let (word, bit) = self.position(seq);
        if self.words[word] & bit != 0 {
            return Err(EspError::Replayed { seq });
        }
        Ok(())
    }

    /// Records `seq` as received, sliding the window if it is ahead. Call only after
    /// [`Self::check`] passed and the ICV verified.
    pub(crate) fn accept(&mut self, seq: u64) {
        if self.size == 0 {
            self.top = self.top.max(seq);
            return;
        }
        if seq > self.top {
            let mask = self.words.len() as u64 - 1;
            let old_word = self.top / WORD_BITS;
            let new_word = seq / WORD_BITS;
            // Clear the words the window slides over; after a full turn everything is stale.
            let steps = (new_word - old_word).min(self.words.len() as u64);
            for i in 1..=steps {
                let index = ((old_word + i) & mask) as usize;
                self.words[index] = 0;
            }
            self.top = seq;
        }
        let (word, bit) = self.position(seq);
        self.words[word] |= bit;
    }

    fn position(&self, seq: u64) -> (usize, u64) {
        let mask = self.words.len() as u64 - 1;
        (
            ((seq / WORD_BITS) & mask) as usize,
            1u64 << (seq % WORD_BITS),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_old_and_far_ahead() {
        let mut w = ReplayWindow::new(64);
        assert!(w.check(0).is_err());
        for seq in [1, 2, 5, 3] {
            w.check(seq).unwrap();
            w.accept(seq);
        }
        assert_eq!(w.check(2), Err(EspError::Replayed { seq: 2 }));
        w.check(4).unwrap();
        w.accept(1000);
        assert_eq!(
            w.check(936),
            Err(EspError::OutsideWindow {
                seq: 936,
                top: 1000
            })
        );
        w.check(937).unwrap();
        assert!(w.check(1000).is_err());
        w.check(1001).unwrap();
        // Jump far ahead: every old bit must be forgotten.
        w.accept(1_000_000);
        w.check(999_999).unwrap();
        w.check(999_937).unwrap();
        assert!(w.check(999_936).is_err());
    }

    #[test]
    fn window_edge_is_exact_for_odd_sizes() {
        for size in [2u32, 63, 64, 65, 1000, 1024, 4096] {
            let mut w = ReplayWindow::new(size);
            let top = 10_000;
            w.accept(top);
            let lowest = top - u64::from(size) + 1;
            w.check(lowest).unwrap();
            assert!(w.check(lowest - 1).is_err(), "size {size}");
            w.accept(lowest);
            assert_eq!(w.check(lowest), Err(EspError::Replayed { seq: lowest }));
        }
    }

    #[test]
    fn window_of_one_accepts_only_increasing() {
        let mut w = ReplayWindow::new(1);
        w.accept(5);
        assert!(w.check(5).is_err());
        assert!(w.check(4).is_err());
        w.check(6).unwrap();
    }

    #[test]
    fn disabled_window_accepts_everything() {
        let mut w = ReplayWindow::new(0);
        w.accept(5);
        w.check(5).unwrap();
        w.check(1).unwrap();
        assert_eq!(w.top(), 5);
    }

    #[test]
    fn esn_inference_follows_appendix_a() {
        let mut w = ReplayWindow::new(64);
        // Fresh SA: low numbers are in subspace 0.
        assert_eq!(w.infer_esn(1), Some(1));
        // Near the top of subspace 0 with a window reaching into it (case A).
        w.accept(0xffff_fff0);
        assert_eq!(w.infer_esn(0xffff_fff1), Some(0xffff_fff1));
        assert_eq!(w.infer_esn(0xffff_ffb1), Some(0xffff_ffb1));
        // Below the window: assumed to be a wrap into the next subspace.
        assert_eq!(w.infer_esn(5), Some(0x1_0000_0005));
        // After the rollover (case B): numbers just below 2^32 belong to subspace 0.
        w.accept(0x1_0000_0005);
        assert_eq!(w.infer_esn(0xffff_fffa), Some(0xffff_fffa));
        assert_eq!(w.infer_esn(7), Some(0x1_0000_0007));
        // Case B in subspace 0 itself: nothing lies below zero.
        let mut fresh = ReplayWindow::new(64);
        fresh.accept(3);
        assert_eq!(fresh.infer_esn(0xffff_fffe), None);
    }
}
