//! Tunnel-mode security associations: [`OutboundSa`] encapsulates, [`InboundSa`] decapsulates.
//!
//! Packet layout (RFC 4303 §2):
//! `SPI(4) | Seq(4) | IV | inner packet | TFC padding | Padding | Pad Length | Next Header | ICV`.
//! Both directions work in place in a buffer the caller owns; nothing is allocated per packet.

use core::ops::Range;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ipsec_types::{ChildSaKeys, DirectionalKeys, EspSuite, SaLifetime, Spi};

use crate::crypto::{ESP_HEADER_LEN, MAX_ICV_LEN, Opener, Sealer};
use crate::error::{EspError, KeyError, LifetimeKind};
use crate::replay::ReplayWindow;

/// Next header for an IPv4 inner packet (IP-in-IP).
pub const NEXT_HEADER_IPV4: u8 = 4;
/// Next header for an IPv6 inner packet.
pub const NEXT_HEADER_IPV6: u8 = 41;
/// Next header of a dummy packet (RFC 4303 §2.6).
pub const NEXT_HEADER_DUMMY: u8 = 59;

/// Longest inner packet accepted for encapsulation: the IPv4/IPv6 maximum without jumbograms.
pub const MAX_INNER_LEN: usize = 65_535;

/// Default anti-replay window in packets.
pub const DEFAULT_REPLAY_WINDOW: u32 = 1024;
/// Largest anti-replay window honoured; larger configured values are clamped to it (the bitmap
/// is allocated when the SA is built: 8 KiB at this size).
pub const MAX_REPLAY_WINDOW: u32 = 1 << 16;

/// Headroom any suite needs before the inner packet: SPI, sequence number and the longest IV
/// (16 bytes, CBC). Add [`crate::UDP_HEADER_LEN`] for UDP encapsulation.
pub const MAX_HEADROOM: usize = ESP_HEADER_LEN + 16;
/// Tailroom any suite needs after the inner packet without TFC padding: up to 15 bytes of
/// padding, pad length, next header and the longest ICV (32 bytes).
pub const MAX_TAILROOM: usize = 15 + 2 + MAX_ICV_LEN;

/// Bytes `suite` needs before the inner packet: SPI, sequence number, IV.
#[must_use]
pub const fn headroom(suite: &EspSuite) -> usize {
    ESP_HEADER_LEN + suite.encr.iv_len()
}

/// Bytes `suite` needs after an inner packet of any length, without TFC padding: worst-case
/// padding, pad length, next header, ICV.
#[must_use]
pub const fn tailroom(suite: &EspSuite) -> usize {
    suite.encr.block_len() - 1 + 2 + suite.icv_len()
}

/// Worst-case bytes ESP adds to an inner packet (headroom plus tailroom, without TFC padding;
/// the same as [`EspSuite::max_overhead`]). UDP encapsulation adds 8 more.
#[must_use]
pub const fn max_overhead(suite: &EspSuite) -> usize {
    headroom(suite) + tailroom(suite)
}

/// Per-SA settings that are not negotiated keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EspSaConfig {
    /// Anti-replay window in packets (inbound only); 0 turns the replay check off. Clamped to
    /// [`MAX_REPLAY_WINDOW`].
    pub replay_window: u32,
    /// Byte and packet limits; crossing a soft limit yields [`SaEvent::RekeyNeeded`] once,
    /// reaching a hard limit makes every further packet fail with
    /// [`EspError::LifetimeExpired`].
    pub lifetime: SaLifetime,
    /// Outbound traffic-flow confidentiality (RFC 4303 §2.7): pad every inner packet shorter than
    /// this many bytes up to it before the ESP padding. The receiver strips it using the inner IP
    /// header's length.
    pub tfc_pad_to: Option<u16>,
}

impl Default for EspSaConfig {
    fn default() -> Self {
        Self {
            replay_window: DEFAULT_REPLAY_WINDOW,
            lifetime: SaLifetime::default(),
            tfc_pad_to: None,
        }
    }
}

/// Why an SA asks to be rekeyed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RekeyReason {
    /// The soft byte lifetime was crossed.
    SoftBytes,
    /// The soft packet lifetime was crossed.
    SoftPackets,
    /// 15/16 of the sequence-number space is used (outbound only).
    SequenceSpace,
}

/// Something the caller should act on, reported at most once per SA alongside a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaEvent {
    /// Start rekeying this SA (soft lifetime or sequence space): it still works for now.
    RekeyNeeded {
        /// SPI of the SA.
        spi: Spi,
        /// What was crossed.
        reason: RekeyReason,
    },
}

/// A snapshot of an SA's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SaCounters {
    /// Packets encapsulated, or decapsulated successfully.
    pub packets: u64,
    /// Inner-packet bytes of those packets.
    pub bytes: u64,
    /// Inbound packets dropped as replayed or outside the window.
    pub replay_drops: u64,
    /// Inbound packets whose ICV did not verify.
    pub auth_failures: u64,
    /// Inbound packets dropped as truncated, for another SPI, or with bad padding, next header
    /// or inner packet.
    pub malformed: u64,
}

/// The inner packet's IP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InnerProtocol {
    /// IPv4 (next header 4).
    Ipv4,
    /// IPv6 (next header 41).
    Ipv6,
}

impl InnerProtocol {
    /// The ESP next-header value.
    #[must_use]
    pub const fn next_header(self) -> u8 {
        match self {
            Self::Ipv4 => NEXT_HEADER_IPV4,
            Self::Ipv6 => NEXT_HEADER_IPV6,
        }
    }
}

/// Result of [`OutboundSa::encapsulate`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Encapsulated {
    /// Where the ESP packet lies in the caller's buffer.
    pub packet: Range<usize>,
    /// The 64-bit sequence number used.
    pub seq: u64,
    /// A rekey request, reported once.
    pub event: Option<SaEvent>,
}

/// Result of [`InboundSa::decapsulate`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Decapsulated {
    /// Where the inner IP packet lies in the caller's buffer (TFC padding stripped).
    pub inner: Range<usize>,
    /// The inner packet's IP version.
    pub protocol: InnerProtocol,
    /// The (inferred 64-bit) sequence number.
    pub seq: u64,
    /// A rekey request, reported once.
    pub event: Option<SaEvent>,
}

/// Builds both SAs of a CHILD_SA from the keys IKE derived.
pub fn sa_pair(
    keys: &ChildSaKeys,
    config: &EspSaConfig,
) -> Result<(OutboundSa, InboundSa), KeyError> {
    Ok((
        OutboundSa::new(keys.suite, &keys.outbound, config)?,
        InboundSa::new(keys.suite, &keys.inbound, config)?,
    ))
}

/// Key material for one direction given by hand (tests, benchmarks, static configurations).
#[must_use]
pub fn manual_keys(spi: Spi, encr_key: &[u8], integ_key: &[u8]) -> DirectionalKeys {
    DirectionalKeys {
        spi,
        encr_key: zeroize::Zeroizing::new(encr_key.to_vec()),
        integ_key: zeroize::Zeroizing::new(integ_key.to_vec()),
    }
}

/// Rounds `len` up to a multiple of `block`, a power of two (4 or 16): a mask, not a division,
/// on the per-packet path.
const fn align_up(len: usize, block: usize) -> usize {
    (len + block - 1) & !(block - 1)
}

fn soft_reason(lifetime: &SaLifetime, packets: u64, bytes: u64) -> Option<RekeyReason> {
    if lifetime.soft_packets.is_some_and(|limit| packets >= limit) {
        Some(RekeyReason::SoftPackets)
    } else if lifetime.soft_bytes.is_some_and(|limit| bytes >= limit) {
        Some(RekeyReason::SoftBytes)
    } else {
        None
    }
}

fn hard_reached(lifetime: &SaLifetime, packets: u64, bytes: u64) -> Result<(), EspError> {
    if lifetime.hard_packets.is_some_and(|limit| packets >= limit) {
        return Err(EspError::LifetimeExpired(LifetimeKind::Packets));
    }
    if lifetime.hard_bytes.is_some_and(|limit| bytes >= limit) {
        return Err(EspError::LifetimeExpired(LifetimeKind::Bytes));
    }
    Ok(())
}

/// An outbound ESP SA. `Sync`: several threads may encapsulate through one `&OutboundSa`; each
/// packet takes the next sequence number atomically.
pub struct OutboundSa {
    spi: Spi,
    suite: EspSuite,
    sealer: Sealer,
    iv_len: usize,
    block_len: usize,
    icv_len: usize,
    tfc_pad_to: usize,
    lifetime: SaLifetime,
    /// Last sequence number handed out (the first packet gets 1).
    seq: AtomicU64,
    max_seq: u64,
    packets: AtomicU64,
    bytes: AtomicU64,
    event_sent: AtomicBool,
}

impl core::fmt::Debug for OutboundSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OutboundSa")
            .field("spi", &self.spi)
            .field("suite", &self.suite)
            .field("seq", &self.seq.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl OutboundSa {
    /// Builds an outbound SA. CBC IVs are keyed from the key material (see the crate docs).
    pub fn new(
        suite: EspSuite,
        keys: &DirectionalKeys,
        config: &EspSaConfig,
    ) -> Result<Self, KeyError> {
        Self::build(suite, keys, config, None)
    }

    /// Builds an outbound SA whose CBC IVs are keyed by a caller-provided random seed instead of
    /// the key material (ignored for AEAD suites, whose IV is the sequence number).
    pub fn with_iv_seed(
        suite: EspSuite,
        keys: &DirectionalKeys,
        config: &EspSaConfig,
        iv_seed: &[u8; 32],
    ) -> Result<Self, KeyError> {
        Self::build(suite, keys, config, Some(iv_seed))
    }

    fn build(
        suite: EspSuite,
        keys: &DirectionalKeys,
        config: &EspSaConfig,
        iv_seed: Option<&[u8; 32]>,
    ) -> Result<Self, KeyError> {
        let sealer = Sealer::new(suite, &keys.encr_key, &keys.integ_key, iv_seed)?;
        Ok(Self {
            spi: keys.spi,
            suite,
            sealer,
            iv_len: suite.encr.iv_len(),
            block_len: suite.encr.block_len(),
            icv_len: suite.icv_len(),
            tfc_pad_to: config.tfc_pad_to.map_or(0, usize::from),
            lifetime: config.lifetime,
            seq: AtomicU64::new(0),
            max_seq: if suite.esn {
                u64::MAX
            } else {
                u64::from(u32::MAX)
            },
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            event_sent: AtomicBool::new(false),
        })
    }

    /// The SPI carried by this SA's packets.
    #[must_use]
    pub fn spi(&self) -> Spi {
        self.spi
    }

    /// The SA's algorithms.
    #[must_use]
    pub fn suite(&self) -> EspSuite {
        self.suite
    }

    /// Bytes needed before the inner packet.
    #[must_use]
    pub fn headroom(&self) -> usize {
        ESP_HEADER_LEN + self.iv_len
    }

    /// Bytes needed after an inner packet of `inner_len` bytes (TFC padding, padding, trailer,
    /// ICV).
    #[must_use]
    pub fn tailroom_for(&self, inner_len: usize) -> usize {
        let payload = inner_len.max(self.tfc_pad_to);
        let plain = align_up(payload + 2, self.block_len);
        plain - inner_len + self.icv_len
    }

    /// Bytes needed after an inner packet of any length.
    #[must_use]
    pub fn max_tailroom(&self) -> usize {
        self.tfc_pad_to + self.block_len - 1 + 2 + self.icv_len
    }

    /// The next sequence number this SA will use.
    #[must_use]
    pub fn next_sequence(&self) -> u64 {
        self.seq.load(Ordering::Relaxed).saturating_add(1)
    }

    /// Moves the sequence counter forward so the next packet uses `next` (never backwards, so
    /// no (key, IV) pair can repeat). For tests and benchmarks that need to start near the end
    /// of the sequence space.
    pub fn skip_sequence_to(&self, next: u64) {
        self.seq
            .fetch_max(next.saturating_sub(1), Ordering::Relaxed);
    }

    /// Counters so far.
    #[must_use]
    pub fn counters(&self) -> SaCounters {
        SaCounters {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            ..SaCounters::default()
        }
    }

    /// Encrypts the inner IP packet at `buf[inner]` into an ESP packet in place. `buf` must have
    /// [`Self::headroom`] bytes before `inner.start` and [`Self::tailroom_for`] bytes after
    /// `inner.end`; the result says where the ESP packet lies (its first byte is the SPI).
    pub fn encapsulate(
        &self,
        buf: &mut [u8],
        inner: Range<usize>,
    ) -> Result<Encapsulated, EspError> {
        let inner_len = inner.len();
        let protocol = match buf
            .get(inner.clone())
            .and_then(|p| p.first())
            .map(|b| b >> 4)
        {
            Some(4) => InnerProtocol::Ipv4,
            Some(6) => InnerProtocol::Ipv6,
            other => {
                return Err(EspError::UnsupportedInnerPacket {
                    version: other.unwrap_or(0),
                });
            }
        };
        if inner_len > MAX_INNER_LEN {
            return Err(EspError::InnerTooLong {
                len: inner_len,
                max: MAX_INNER_LEN,
            });
        }
        let headroom = self.headroom();
        let payload_len = inner_len.max(self.tfc_pad_to);
        let plain_len = align_up(payload_len + 2, self.block_len);
        let tailroom = plain_len - inner_len + self.icv_len;
        if inner.start < headroom || buf.len() - inner.end < tailroom {
            return Err(EspError::BufferTooSmall { headroom, tailroom });
        }
        let packets = self.packets.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        hard_reached(&self.lifetime, packets, bytes)?;
        let max = self.max_seq;
        let seq = self
            .seq
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                s.checked_add(1).filter(|&next| next <= max)
            })
            .map_err(|_| EspError::SequenceExhausted)?
            + 1;

        let start = inner.start - headroom;
        let end = inner.end + tailroom;
        let packet = &mut buf[start..end];
        let spi = self.spi.get();
        packet[..4].copy_from_slice(&spi.to_be_bytes());
        packet[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        self.sealer
            .write_iv(spi, seq, &mut packet[ESP_HEADER_LEN..headroom]);
        let trailer_at = headroom + payload_len;
        // TFC padding (zeros), then the RFC 4303 §2.4 default padding 1, 2, 3, ...
        if trailer_at > headroom + inner_len {
            packet[headroom + inner_len..trailer_at].fill(0);
        }
        let pad_len = plain_len - payload_len - 2;
        for (i, byte) in packet[trailer_at..trailer_at + pad_len]
            .iter_mut()
            .enumerate()
        {
            *byte = (i + 1) as u8;
        }
        packet[trailer_at + pad_len] = pad_len as u8;
        packet[trailer_at + pad_len + 1] = protocol.next_header();
        self.sealer.seal(packet, self.iv_len, seq, self.suite.esn);

        let packets = self.packets.fetch_add(1, Ordering::Relaxed) + 1;
        let inner_bytes = inner_len as u64;
        let bytes = self.bytes.fetch_add(inner_bytes, Ordering::Relaxed) + inner_bytes;
        let reason = soft_reason(&self.lifetime, packets, bytes)
            .or_else(|| (seq >= max - (max >> 4)).then_some(RekeyReason::SequenceSpace));
        let event = match reason {
            Some(reason) if !self.event_sent.swap(true, Ordering::Relaxed) => {
                Some(SaEvent::RekeyNeeded {
                    spi: self.spi,
                    reason,
                })
            }
            _ => None,
        };
        Ok(Encapsulated {
            packet: start..end,
            seq,
            event,
        })
    }
}

/// An inbound ESP SA: checks, verifies and decrypts packets carrying its SPI. Holds the
/// anti-replay window, so decapsulation takes `&mut self`.
pub struct InboundSa {
    spi: Spi,
    suite: EspSuite,
    opener: Opener,
    iv_len: usize,
    icv_len: usize,
    min_len: usize,
    lifetime: SaLifetime,
    window: ReplayWindow,
    counters: SaCounters,
    event_sent: bool,
}

impl core::fmt::Debug for InboundSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InboundSa")
            .field("spi", &self.spi)
            .field("suite", &self.suite)
            .field("top", &self.window.top())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl InboundSa {
    /// Builds an inbound SA.
    pub fn new(
        suite: EspSuite,
        keys: &DirectionalKeys,
        config: &EspSaConfig,
    ) -> Result<Self, KeyError> {
        let opener = Opener::new(suite, &keys.encr_key, &keys.integ_key)?;
        let iv_len = suite.encr.iv_len();
        let icv_len = suite.icv_len();
        // Smallest ciphertext: the two trailer bytes, padded to the block for CBC.
        let min_text = if suite.encr.is_aead() {
            2
        } else {
            suite.encr.block_len()
        };
        Ok(Self {
            spi: keys.spi,
            suite,
            opener,
            iv_len,
            icv_len,
            min_len: ESP_HEADER_LEN + iv_len + min_text + icv_len,
            lifetime: config.lifetime,
            window: ReplayWindow::new(config.replay_window.min(MAX_REPLAY_WINDOW)),
            counters: SaCounters::default(),
            event_sent: false,
        })
    }

    /// The SPI this SA accepts.
    #[must_use]
    pub fn spi(&self) -> Spi {
        self.spi
    }

    /// The SA's algorithms.
    #[must_use]
    pub fn suite(&self) -> EspSuite {
        self.suite
    }

    /// Highest authenticated sequence number received so far (0 before the first packet).
    #[must_use]
    pub fn highest_sequence(&self) -> u64 {
        self.window.top()
    }

    /// Counters so far.
    #[must_use]
    pub fn counters(&self) -> SaCounters {
        self.counters
    }

    /// Verifies and decrypts the ESP packet `packet` (starting at the SPI, without any UDP
    /// header) in place and returns where the inner packet lies in it.
    ///
    /// Order (RFC 4303 §3.4): length, SPI, replay check, ICV, then the window moves, then
    /// padding, next header and the inner IP length are checked. Only packets whose ICV verified
    /// move the window.
    pub fn decapsulate(&mut self, packet: &mut [u8]) -> Result<Decapsulated, EspError> {
        let result = self.decapsulate_inner(packet);
        match &result {
            Ok(_) => {}
            Err(EspError::Replayed { .. } | EspError::OutsideWindow { .. }) => {
                self.counters.replay_drops += 1;
            }
            Err(EspError::AuthenticationFailed { .. }) => self.counters.auth_failures += 1,
            Err(EspError::LifetimeExpired(_) | EspError::DummyPacket) => {}
            Err(_) => self.counters.malformed += 1,
        }
        result
    }

    fn decapsulate_inner(&mut self, packet: &mut [u8]) -> Result<Decapsulated, EspError> {
        let len = packet.len();
        if len < self.min_len {
            return Err(EspError::Truncated {
                len,
                min: self.min_len,
            });
        }
        let text_len = len - ESP_HEADER_LEN - self.iv_len - self.icv_len;
        let block = self.suite.encr.block_len();
        if !self.suite.encr.is_aead() && !text_len.is_multiple_of(block) {
            return Err(EspError::Misaligned {
                len: text_len,
                block,
            });
        }
        let spi = u32::from_be_bytes([packet[0], packet[1], packet[2], packet[3]]);
        if spi != self.spi.get() {
            return Err(EspError::UnknownSpi {
                spi,
                expected: self.spi.get(),
            });
        }
        hard_reached(&self.lifetime, self.counters.packets, self.counters.bytes)?;
        let low = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let seq = if self.suite.esn {
            self.window.infer_esn(low).ok_or(EspError::OutsideWindow {
                seq: u64::from(low),
                top: self.window.top(),
            })?
        } else {
            u64::from(low)
        };
        self.window.check(seq)?;
        let plain_end = self
            .opener
            .open(packet, self.iv_len, seq, self.suite.esn)
            .map_err(|_| EspError::AuthenticationFailed { seq })?;
        // Authentic: from here on the packet may move the window, even if its contents are bad.
        self.window.accept(seq);

        let plain_start = ESP_HEADER_LEN + self.iv_len;
        let plain = &packet[plain_start..plain_end];
        let (&next_header, rest) = plain.split_last().ok_or(EspError::BadPadding)?;
        let (&pad_len, rest) = rest.split_last().ok_or(EspError::BadPadding)?;
        let pad_len = usize::from(pad_len);
        let payload_len = rest
            .len()
            .checked_sub(pad_len)
            .ok_or(EspError::BadPadding)?;
        let padding_ok = rest[payload_len..]
            .iter()
            .enumerate()
            .all(|(i, &b)| usize::from(b) == i + 1);
        if !padding_ok {
            return Err(EspError::BadPadding);
        }
        let payload = &rest[..payload_len];
        let (protocol, ip_len) = match next_header {
            NEXT_HEADER_IPV4 => (InnerProtocol::Ipv4, ipv4_len(payload)?),
            NEXT_HEADER_IPV6 => (InnerProtocol::Ipv6, ipv6_len(payload)?),
            NEXT_HEADER_DUMMY => {
                self.count_packet(0);
                return Err(EspError::DummyPacket);
            }
            other => return Err(EspError::UnexpectedNextHeader { next_header: other }),
        };
        let event = self.count_packet(ip_len);
        Ok(Decapsulated {
            inner: plain_start..plain_start + ip_len,
            protocol,
            seq,
            event,
        })
    }

    fn count_packet(&mut self, inner_len: usize) -> Option<SaEvent> {
        self.counters.packets += 1;
        self.counters.bytes += inner_len as u64;
        let reason = soft_reason(&self.lifetime, self.counters.packets, self.counters.bytes)?;
        if self.event_sent {
            return None;
        }
        self.event_sent = true;
        Some(SaEvent::RekeyNeeded {
            spi: self.spi,
            reason,
        })
    }

    /// Starts the window at `top` as if every packet up to it had been received (vectors with
    /// large ESNs).
    #[cfg(test)]
    pub(crate) fn set_window_top(&mut self, top: u64) {
        self.window.set_top(top);
    }
}

/// Length of the IPv4 packet at the start of `payload`, checked against what was carried.
fn ipv4_len(payload: &[u8]) -> Result<usize, EspError> {
    if payload.len() < 20 {
        return Err(EspError::InnerPacketMalformed(
            "IPv4 packet shorter than its header",
        ));
    }
    if payload[0] >> 4 != 4 {
        return Err(EspError::InnerPacketMalformed(
            "next header 4 but not an IPv4 packet",
        ));
    }
    let total = usize::from(u16::from_be_bytes([payload[2], payload[3]]));
    if total < 20 || total > payload.len() {
        return Err(EspError::InnerPacketMalformed(
            "IPv4 total length does not match the ESP payload",
        ));
    }
    Ok(total)
}

/// Length of the IPv6 packet at the start of `payload`, checked against what was carried.
fn ipv6_len(payload: &[u8]) -> Result<usize, EspError> {
    if payload.len() < 40 {
        return Err(EspError::InnerPacketMalformed(
            "IPv6 packet shorter than its header",
        ));
    }
    if payload[0] >> 4 != 6 {
        return Err(EspError::InnerPacketMalformed(
            "next header 41 but not an IPv6 packet",
        ));
    }
    let total = 40 + usize::from(u16::from_be_bytes([payload[4], payload[5]]));
    if total > payload.len() {
        return Err(EspError::InnerPacketMalformed(
            "IPv6 payload length does not match the ESP payload",
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipsec_types::{EncrAlgorithm, IntegAlgorithm};

    fn suites() -> [EspSuite; 2] {
        [
            EspSuite {
                encr: EncrAlgorithm::AesGcm16_128,
                integ: None,
                esn: true,
            },
            EspSuite {
                encr: EncrAlgorithm::AesCbc128,
                integ: Some(IntegAlgorithm::HmacSha2_256_128),
                esn: false,
            },
        ]
    }

    fn sa_pair_for(suite: EspSuite) -> (OutboundSa, InboundSa) {
        let keys = manual_keys(
            Spi::new(0x777).unwrap(),
            &vec![3; suite.encr.keymat_len()],
            &vec![4; suite.integ.map_or(0, IntegAlgorithm::key_len)],
        );
        let config = EspSaConfig::default();
        (
            OutboundSa::new(suite, &keys, &config).unwrap(),
            InboundSa::new(suite, &keys, &config).unwrap(),
        )
    }

    /// An authentic packet around an arbitrary (block-aligned) plaintext, trailer included.
    fn authentic(out: &OutboundSa, plaintext: &[u8]) -> Vec<u8> {
        let seq = out.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut packet = vec![0u8; out.headroom() + plaintext.len() + out.icv_len];
        packet[..4].copy_from_slice(&out.spi.get().to_be_bytes());
        packet[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        out.sealer
            .write_iv(out.spi.get(), seq, &mut packet[8..out.headroom()]);
        let h = out.headroom();
        packet[h..h + plaintext.len()].copy_from_slice(plaintext);
        out.sealer.seal(&mut packet, out.iv_len, seq, out.suite.esn);
        packet
    }

    fn ipv4(len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p
    }

    #[test]
    fn authentic_but_malformed_contents_are_rejected_and_consume_the_number() {
        for suite in suites() {
            let (out, mut inb) = sa_pair_for(suite);
            let block = suite.encr.block_len();
            let with_trailer = |mut body: Vec<u8>, pad: &[u8], nh: u8| {
                body.extend_from_slice(pad);
                body.push(pad.len() as u8);
                body.push(nh);
                // Pad with a valid-looking prefix so the length stays block-aligned.
                assert_eq!(body.len() % block, 0, "test plaintext must be aligned");
                body
            };
            let body_len = 28;
            let cases: [(Vec<u8>, EspError); 5] = [
                (
                    with_trailer(ipv4(body_len), &[1, 3], 4),
                    EspError::BadPadding,
                ),
                (
                    with_trailer(ipv4(body_len), &[1, 2], NEXT_HEADER_DUMMY),
                    EspError::DummyPacket,
                ),
                (
                    with_trailer(ipv4(body_len), &[1, 2], 17),
                    EspError::UnexpectedNextHeader { next_header: 17 },
                ),
                (
                    with_trailer(ipv4(body_len), &[1, 2], NEXT_HEADER_IPV6),
                    EspError::InnerPacketMalformed("IPv6 packet shorter than its header"),
                ),
                (
                    {
                        let mut p = ipv4(body_len);
                        p[2..4].copy_from_slice(&500u16.to_be_bytes());
                        with_trailer(p, &[1, 2], 4)
                    },
                    EspError::InnerPacketMalformed(
                        "IPv4 total length does not match the ESP payload",
                    ),
                ),
            ];
            for (i, (plaintext, expected)) in cases.into_iter().enumerate() {
                let mut packet = authentic(&out, &plaintext);
                assert_eq!(
                    inb.decapsulate(&mut packet),
                    Err(expected),
                    "{suite} case {i}"
                );
                assert_eq!(inb.highest_sequence(), i as u64 + 1);
            }
            // A pad length larger than the plaintext.
            let mut plaintext = vec![0u8; block];
            plaintext[block - 2] = 200;
            plaintext[block - 1] = 4;
            let mut packet = authentic(&out, &plaintext);
            assert_eq!(inb.decapsulate(&mut packet), Err(EspError::BadPadding));
            let c = inb.counters();
            assert_eq!(
                (c.malformed, c.packets, c.auth_failures),
                (5, 1, 0),
                "{suite}"
            );
        }
    }

    #[test]
    fn tailroom_matches_what_encapsulate_writes() {
        for suite in suites() {
            let (out, _) = sa_pair_for(suite);
            for len in 20..80 {
                let mut buf = vec![0u8; out.headroom() + len + out.tailroom_for(len)];
                let h = out.headroom();
                buf[h..h + len].copy_from_slice(&ipv4(len));
                let sent = out.encapsulate(&mut buf, h..h + len).unwrap();
                assert_eq!(sent.packet, 0..buf.len());
                assert!(out.tailroom_for(len) <= out.max_tailroom());
                assert!(out.tailroom_for(len) <= tailroom(&suite));
            }
        }
    }
}
