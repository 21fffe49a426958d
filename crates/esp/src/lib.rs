//! Sans-IO ESP (RFC 4303) in tunnel mode, with UDP encapsulation (RFC 3948).
//!
//! Room and rules:
//! - Turns inner IP packets into ESP packets and back, in caller-owned buffers, without
//!   allocating per packet. No sockets, no clock, no threads: `ternd` calls it.
//! - Depends on `ipsec-types` and crypto crates only; never on `ike`, tokio or OS APIs.
//! - Untrusted bytes never panic: every failure is a typed error.
//!
//! Transforms: AES-GCM-16 (RFC 4106) and ChaCha20-Poly1305 (RFC 7634) through `ring`; AES-CBC
//! (RFC 3602, RustCrypto `aes`/`cbc`) with HMAC-SHA2-256/384/512 (RFC 4868, `ring`). 32-bit and
//! extended (64-bit) sequence numbers; an RFC 6479 anti-replay bitmap.
//!
//! IVs: AEAD transforms send the 64-bit sequence number as the explicit IV (unique per key,
//! RFC 4106 §3.1). AES-CBC needs unpredictable IVs, so each IV is the sequence number encrypted
//! under a separate per-SA AES-256 key (NIST SP 800-38A Appendix C); that key is derived from
//! the SA's key material, or from a caller-provided random seed ([`OutboundSa::with_iv_seed`]).
//!
//! Use:
//! ```
//! # use esp::*;
//! # use ipsec_types::{EncrAlgorithm, EspSuite, Spi};
//! let suite = EspSuite { encr: EncrAlgorithm::AesGcm16_128, integ: None, esn: true };
//! let spi = Spi::new(0x1234).unwrap();
//! let keys = manual_keys(spi, &[7; 20], &[]);
//! let config = EspSaConfig::default();
//! let out = OutboundSa::new(suite, &keys, &config)?;
//! let mut inb = InboundSa::new(suite, &keys, &config)?;
//!
//! // The inner packet goes after `headroom()` bytes, with `max_tailroom()` spare after it.
//! let inner = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
//! let mut buf = vec![0; out.headroom() + inner.len() + out.max_tailroom()];
//! let at = out.headroom();
//! buf[at..at + inner.len()].copy_from_slice(&inner);
//! let sent = out.encapsulate(&mut buf, at..at + inner.len())?;
//!
//! let received = inb.decapsulate(&mut buf[sent.packet])?;
//! assert_eq!(received.protocol, InnerProtocol::Ipv4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod crypto;
mod error;
mod replay;
mod sa;
mod udp;

#[cfg(test)]
mod kat_tests;

pub use error::{EspError, KeyError, LifetimeKind, UdpError};
pub use sa::{
    DEFAULT_REPLAY_WINDOW, Decapsulated, Encapsulated, EspSaConfig, InboundSa, InnerProtocol,
    MAX_HEADROOM, MAX_INNER_LEN, MAX_REPLAY_WINDOW, MAX_TAILROOM, NEXT_HEADER_DUMMY,
    NEXT_HEADER_IPV4, NEXT_HEADER_IPV6, OutboundSa, RekeyReason, SaCounters, SaEvent, headroom,
    manual_keys, max_overhead, sa_pair, tailroom,
};
pub use udp::{
    NAT_KEEPALIVE, NAT_T_PORT, NON_ESP_MARKER, UDP_HEADER_LEN, UdpHeader, UdpPayload, classify,
    classify_datagram, encapsulate_esp, encapsulate_ike, fill_checksum, write_keepalive,
};

/// The SPI of an ESP packet (its first four bytes), to find the inbound SA for it. `None` if the
/// packet is shorter than an ESP header or carries the reserved SPI 0.
#[must_use]
pub fn packet_spi(packet: &[u8]) -> Option<ipsec_types::Spi> {
    let spi = packet.first_chunk::<4>()?;
    ipsec_types::Spi::new(u32::from_be_bytes(*spi))
}
