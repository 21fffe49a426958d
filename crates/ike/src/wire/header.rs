//! The fixed 28-byte IKE header (RFC 7296 §3.1).

use core::fmt;

use ipsec_types::IkeSpi;

use super::{PayloadType, WireError};

/// Length of the IKE header.
pub const HEADER_LEN: usize = 28;

/// The version octet we send: major 2, minor 0.
pub const IKE_VERSION: u8 = 0x20;

/// An IKEv2 exchange type (RFC 7296 §3.1). Unknown values are kept as numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExchangeType(pub u8);

impl ExchangeType {
    /// `IKE_SA_INIT`.
    pub const IKE_SA_INIT: Self = Self(34);
    /// `IKE_AUTH`.
    pub const IKE_AUTH: Self = Self(35);
    /// `CREATE_CHILD_SA`.
    pub const CREATE_CHILD_SA: Self = Self(36);
    /// `INFORMATIONAL`.
    pub const INFORMATIONAL: Self = Self(37);

    /// The IANA name, if known.
    #[must_use]
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            34 => "IKE_SA_INIT",
            35 => "IKE_AUTH",
            36 => "CREATE_CHILD_SA",
            37 => "INFORMATIONAL",
            _ => return None,
        })
    }
}

impl fmt::Debug for ExchangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ExchangeType({})", self.0),
        }
    }
}

/// The header flags octet (RFC 7296 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// Set in every message sent by the original initiator of the IKE SA.
    pub const INITIATOR: u8 = 0x08;
    /// "Version": we can speak a higher major version (never set by us).
    pub const VERSION: u8 = 0x10;
    /// Set in responses.
    pub const RESPONSE: u8 = 0x20;

    /// Flags from the two bits that matter.
    #[must_use]
    pub const fn new(initiator: bool, response: bool) -> Self {
        let mut bits = 0;
        if initiator {
            bits |= Self::INITIATOR;
        }
        if response {
            bits |= Self::RESPONSE;
        }
        Self(bits)
    }

    /// Whether the sender is the original initiator.
    #[must_use]
    pub const fn initiator(self) -> bool {
        self.0 & Self::INITIATOR != 0
    }

    /// Whether this is a response.
    #[must_use]
    pub const fn response(self) -> bool {
        self.0 & Self::RESPONSE != 0
    }
}

/// A checked view of the IKE header at the start of a buffer.
#[derive(Debug, Clone)]
pub struct IkeHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IkeHeader<T> {
    /// Wraps `buffer` after checking it holds at least a full header; accessors cannot panic.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated("IKE header"));
        }
        Ok(Self { buffer })
    }

    fn field<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        // `new_checked` guaranteed HEADER_LEN bytes, and every caller stays inside them.
        if let Some(src) = self.buffer.as_ref().get(at..at + N) {
            out.copy_from_slice(src);
        }
        out
    }

    /// The initiator's SPI.
    pub fn initiator_spi(&self) -> IkeSpi {
        IkeSpi(self.field(0))
    }

    /// The responder's SPI (zero in the first IKE_SA_INIT request).
    pub fn responder_spi(&self) -> IkeSpi {
        IkeSpi(self.field(8))
    }

    /// Type of the first payload.
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.field::<1>(16)[0])
    }

    /// The raw version octet.
    pub fn version(&self) -> u8 {
        self.field::<1>(17)[0]
    }

    /// The major version (high nibble).
    pub fn major_version(&self) -> u8 {
        self.version() >> 4
    }

    /// The exchange type.
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType(self.field::<1>(18)[0])
    }

    /// The flags octet.
    pub fn flags(&self) -> Flags {
        Flags(self.field::<1>(19)[0])
    }

    /// The message ID.
    pub fn message_id(&self) -> u32 {
        u32::from_be_bytes(self.field(20))
    }

    /// The total message length the header announces.
    pub fn length(&self) -> u32 {
        u32::from_be_bytes(self.field(24))
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// The IKE header as owned values. `length` is computed when a whole message is emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRepr {
    /// The initiator's SPI.
    pub initiator_spi: IkeSpi,
    /// The responder's SPI.
    pub responder_spi: IkeSpi,
    /// The exchange this message belongs to.
    pub exchange_type: ExchangeType,
    /// Initiator / response flags.
    pub flags: Flags,
    /// The message ID.
    pub message_id: u32,
}

impl HeaderRepr {
    /// Reads the header fields; checks the major version.
    pub fn parse<T: AsRef<[u8]>>(header: &IkeHeader<T>) -> Result<Self, WireError> {
        if header.major_version() != 2 {
            return Err(WireError::UnsupportedMajorVersion(header.major_version()));
        }
        Ok(Self {
            initiator_spi: header.initiator_spi(),
            responder_spi: header.responder_spi(),
            exchange_type: header.exchange_type(),
            flags: header.flags(),
            message_id: header.message_id(),
        })
    }

    /// Appends the 28 header bytes with the given first payload type and total length.
    pub fn emit(&self, next_payload: PayloadType, total_len: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.initiator_spi.0);
        out.extend_from_slice(&self.responder_spi.0);
        out.push(next_payload.0);
        out.push(IKE_VERSION);
        out.push(self.exchange_type.0);
        out.push(self.flags.0);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&total_len.to_be_bytes());
    }
}
