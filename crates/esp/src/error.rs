//! Typed errors: one enum for building SAs, one for packets.
//!
//! Packet errors say what was wrong with the packet (or with the caller's buffer), so `ternd`
//! can count and log drops by cause. None of them carries secret material.

use ipsec_types::EspSuite;

/// Why an SA could not be built from the given keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The suite pairs an AEAD with an integrity algorithm, or CBC without one.
    #[error("ESP suite {0} is not a valid combination (AEAD without integrity, CBC with it)")]
    InvalidSuite(EspSuite),
    /// The encryption key (plus salt for AEAD) has the wrong length.
    #[error("encryption key material has {got} bytes but {suite} needs {expected}")]
    EncryptionKeyLength {
        /// The suite the key was given for.
        suite: EspSuite,
        /// Bytes needed (key plus salt).
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The integrity key has the wrong length (must be empty for AEAD suites).
    #[error("integrity key has {got} bytes but {suite} needs {expected}")]
    IntegrityKeyLength {
        /// The suite the key was given for.
        suite: EspSuite,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The crypto library refused the key.
    #[error("the crypto library rejected the key for {0}")]
    Rejected(EspSuite),
}

/// Why a packet could not be encapsulated or decapsulated. Inbound variants describe a packet
/// that must be dropped; outbound variants describe a caller mistake or an SA that must be
/// replaced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EspError {
    /// The packet is shorter than the smallest valid ESP packet of this SA.
    #[error("ESP packet of {len} bytes is truncated: this SA needs at least {min}")]
    Truncated {
        /// Length received.
        len: usize,
        /// Smallest valid length.
        min: usize,
    },
    /// The ciphertext is not a whole number of cipher blocks (CBC).
    #[error("ESP ciphertext of {len} bytes is not a multiple of the {block}-byte cipher block")]
    Misaligned {
        /// Ciphertext length.
        len: usize,
        /// Block size.
        block: usize,
    },
    /// The packet's SPI is not the one of this SA.
    #[error("ESP packet for unknown SPI {spi:08x} (this SA is {expected:08x})")]
    UnknownSpi {
        /// SPI in the packet.
        spi: u32,
        /// SPI of the SA it was given to.
        expected: u32,
    },
    /// The sequence number was already received (anti-replay, RFC 4303 §3.4.3).
    #[error("replayed ESP packet: sequence number {seq} was already received")]
    Replayed {
        /// The (inferred 64-bit) sequence number.
        seq: u64,
    },
    /// The sequence number lies below the anti-replay window.
    #[error("ESP sequence number {seq} is too old: below the replay window ending at {top}")]
    OutsideWindow {
        /// The (inferred) sequence number.
        seq: u64,
        /// Highest sequence number received so far.
        top: u64,
    },
    /// The ICV (integrity check value / AEAD tag) did not verify: forged, corrupted, or keyed
    /// for another SA.
    #[error("ESP packet with sequence number {seq} failed authentication (bad ICV)")]
    AuthenticationFailed {
        /// The (inferred) sequence number.
        seq: u64,
    },
    /// The pad length is larger than the payload, or the padding bytes are not 1, 2, 3, ...
    #[error("ESP padding is malformed")]
    BadPadding,
    /// The next-header value is not an IP version this tunnel-mode SA carries (4 or 41).
    #[error("ESP next header {next_header} is not IPv4 (4) or IPv6 (41) as tunnel mode needs")]
    UnexpectedNextHeader {
        /// Next-header value found.
        next_header: u8,
    },
    /// A dummy packet (next header 59, RFC 4303 §2.6): authentic, to be dropped silently.
    #[error("ESP dummy packet (next header 59): drop silently")]
    DummyPacket,
    /// The inner packet's IP header does not match the next header, or claims more bytes than
    /// were carried.
    #[error("inner packet is malformed: {0}")]
    InnerPacketMalformed(&'static str),
    /// The SA has sent every sequence number it may use; it must be rekeyed (RFC 4303 §3.3.3).
    #[error("ESP sequence numbers are exhausted: the SA must be rekeyed")]
    SequenceExhausted,
    /// A hard byte or packet lifetime was reached; the SA must be replaced.
    #[error("ESP SA reached its hard {0} lifetime: the SA must be replaced")]
    LifetimeExpired(LifetimeKind),
    /// Outbound: the packet to send is not an IPv4 or IPv6 packet.
    #[error("cannot encapsulate: inner packet is not IPv4 or IPv6 (version nibble {version})")]
    UnsupportedInnerPacket {
        /// The version nibble found (0 for an empty packet).
        version: u8,
    },
    /// Outbound: the inner packet is longer than any IP packet without jumbograms.
    #[error("cannot encapsulate a {len}-byte inner packet: the limit is {max}")]
    InnerTooLong {
        /// Length given.
        len: usize,
        /// Longest accepted.
        max: usize,
    },
    /// Outbound: the caller's buffer lacks headroom before or tailroom after the inner packet.
    #[error("buffer too small for ESP: need {headroom} bytes headroom and {tailroom} tailroom")]
    BufferTooSmall {
        /// Headroom needed before the inner packet.
        headroom: usize,
        /// Tailroom needed after the inner packet.
        tailroom: usize,
    },
}

/// Which lifetime limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeKind {
    /// Bytes of inner packets.
    Bytes,
    /// Number of packets.
    Packets,
}

impl core::fmt::Display for LifetimeKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Bytes => "byte",
            Self::Packets => "packet",
        })
    }
}

/// Why a UDP datagram on the NAT-T port could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    /// Shorter than a UDP header, or than the length the header claims.
    #[error("UDP datagram of {len} bytes is truncated (header says {claimed})")]
    Truncated {
        /// Bytes available.
        len: usize,
        /// Length claimed by the UDP header (0 if there was no header).
        claimed: usize,
    },
    /// The UDP length field is below 8.
    #[error("UDP length field {0} is smaller than the UDP header")]
    BadLength(u16),
    /// A payload that is neither a keepalive, nor IKE (non-ESP marker), nor ESP.
    #[error("UDP payload of {0} bytes is neither NAT keepalive, IKE nor ESP")]
    Unclassifiable(usize),
    /// The buffer is too small to write the header or payload into.
    #[error("buffer of {got} bytes too small for {needed}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// Checksum requested for an IPv4 source and IPv6 destination or vice versa.
    #[error("UDP checksum needs source and destination of the same IP family")]
    MixedAddressFamilies,
    /// The payload does not fit in a UDP datagram.
    #[error("UDP payload of {0} bytes is too large")]
    TooLarge(usize),
}
