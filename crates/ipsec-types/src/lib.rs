//! Shared IPsec value types: the vocabulary that the IKE core (`ike`), the ESP datapath (`esp`)
//! and the helper (`ternd`) use to talk to each other.
//!
//! Room and rules:
//! - Plain values only: no I/O, no clock, no randomness, no allocation-heavy logic. This crate
//!   depends on nothing but `thiserror` and `zeroize`, so every other crate may depend on it.
//! - Key material is held in [`zeroize::Zeroizing`] buffers and is never printed: `Debug` on key
//!   types shows lengths, never bytes.
//! - Numbers that appear on the wire are the IANA "IKEv2 Parameters" values, so the codec can map
//!   them 1:1.

mod keys;
mod selector;
mod suite;

pub use keys::{ChildSaKeys, DirectionalKeys, KeymatError, Role};
pub use selector::{IpPrefix, SelectorError, TrafficSelector};
pub use suite::{DhGroup, EncrAlgorithm, EspSuite, IntegAlgorithm, PrfAlgorithm, transform_type};

use core::fmt;

/// An ESP (or AH) Security Parameter Index: 32 bits, never zero on the wire (RFC 4303 §2.1;
/// values 1–255 are reserved by IANA, so we never allocate them either).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spi(u32);

impl Spi {
    /// Wraps a value received from a peer or chosen locally; `None` for the reserved 0.
    #[must_use]
    pub const fn new(value: u32) -> Option<Self> {
        if value == 0 { None } else { Some(Self(value)) }
    }

    /// The raw 32-bit value, as carried in network byte order on the wire.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Builds a locally allocated SPI from random bits, avoiding the reserved range 0–255.
    #[must_use]
    pub const fn from_random(random: u32) -> Self {
        if random < 256 {
            Self(random | 0x100)
        } else {
            Self(random)
        }
    }
}

impl fmt::Debug for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Spi({:08x})", self.0)
    }
}

impl fmt::Display for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// An IKE SA SPI (8 bytes, RFC 7296 §3.1). The initiator's is never zero; the responder's is zero
/// in the first IKE_SA_INIT request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IkeSpi(pub [u8; 8]);

impl IkeSpi {
    /// The all-zero SPI a responder's field carries before it has chosen one.
    pub const ZERO: Self = Self([0; 8]);

    /// Whether this is the all-zero SPI.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }
}

impl fmt::Debug for IkeSpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IkeSpi({self})")
    }
}

impl fmt::Display for IkeSpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Byte and packet limits of an SA; crossing a soft limit asks for a rekey, crossing a hard limit
/// ends the SA (RFC 4301 §4.4.2.1). `None` means "no limit".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SaLifetime {
    /// Bytes after which a rekey should start.
    pub soft_bytes: Option<u64>,
    /// Bytes after which the SA must no longer be used.
    pub hard_bytes: Option<u64>,
    /// Packets after which a rekey should start.
    pub soft_packets: Option<u64>,
    /// Packets after which the SA must no longer be used.
    pub hard_packets: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spi_rejects_zero_and_avoids_reserved_range() {
        assert!(Spi::new(0).is_none());
        assert_eq!(Spi::new(7).map(Spi::get), Some(7));
        assert!(Spi::from_random(0).get() >= 256);
        assert!(Spi::from_random(255).get() >= 256);
        assert_eq!(Spi::from_random(0xdead_beef).get(), 0xdead_beef);
    }

    #[test]
    fn ike_spi_formats_as_hex() {
        let spi = IkeSpi([0, 1, 2, 3, 0xa, 0xb, 0xc, 0xff]);
        assert_eq!(spi.to_string(), "000102030a0b0cff");
        assert!(IkeSpi::ZERO.is_zero());
        assert!(!spi.is_zero());
    }
}
