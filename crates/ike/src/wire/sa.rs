//! The Security Association payload (RFC 7296 §3.3): proposals of transforms with attributes.

use core::fmt;

use super::{AttributeRepr, Reader, WireError, attribute_type, len16};

/// Most proposals accepted in one SA payload.
pub const MAX_PROPOSALS: usize = 64;
/// Most transforms accepted in one proposal.
pub const MAX_TRANSFORMS: usize = 64;
/// Most attributes accepted on one transform.
pub const MAX_ATTRIBUTES: usize = 8;

const PROPOSAL_HEADER_LEN: usize = 8;
const TRANSFORM_HEADER_LEN: usize = 8;

/// The protocol a proposal negotiates (RFC 7296 §3.3.1). Unknown values are kept as numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolId(pub u8);

impl ProtocolId {
    /// No protocol (notifies about the IKE SA itself).
    pub const NONE: Self = Self(0);
    /// The IKE SA.
    pub const IKE: Self = Self(1);
    /// Authentication Header.
    pub const AH: Self = Self(2);
    /// Encapsulating Security Payload.
    pub const ESP: Self = Self(3);
}

impl fmt::Debug for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("NONE"),
            1 => f.write_str("IKE"),
            2 => f.write_str("AH"),
            3 => f.write_str("ESP"),
            n => write!(f, "ProtocolId({n})"),
        }
    }
}

/// One transform: a type (ENCR, PRF, INTEG, DH, ESN), an ID and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformRepr {
    /// Transform type (`ipsec_types::transform_type`).
    pub transform_type: u8,
    /// Transform ID within the type.
    pub transform_id: u16,
    /// Attributes (in practice at most a Key Length).
    pub attributes: Vec<AttributeRepr>,
}

impl TransformRepr {
    /// A transform without attributes.
    #[must_use]
    pub const fn new(transform_type: u8, transform_id: u16) -> Self {
        Self {
            transform_type,
            transform_id,
            attributes: Vec::new(),
        }
    }

    /// A transform with an optional Key Length attribute.
    #[must_use]
    pub fn with_key_length(transform_type: u8, transform_id: u16, bits: Option<u16>) -> Self {
        Self {
            transform_type,
            transform_id,
            attributes: bits.map(AttributeRepr::key_length).into_iter().collect(),
        }
    }

    /// The Key Length attribute, if present.
    #[must_use]
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            AttributeRepr::Tv { attr_type, value } if *attr_type == attribute_type::KEY_LENGTH => {
                Some(*value)
            }
            _ => None,
        })
    }

    fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes, "transform");
        let transform_type = r.u8()?;
        let _reserved = r.u8()?;
        let transform_id = r.u16()?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            if attributes.len() == MAX_ATTRIBUTES {
                return Err(WireError::TooMany("transform attributes"));
            }
            attributes.push(AttributeRepr::read(&mut r)?);
        }
        Ok(Self {
            transform_type,
            transform_id,
            attributes,
        })
    }

    /// Encoded length including the transform substructure header.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        TRANSFORM_HEADER_LEN
            + self
                .attributes
                .iter()
                .map(AttributeRepr::buffer_len)
                .sum::<usize>()
    }

    fn emit(&self, last: bool, out: &mut Vec<u8>) {
        out.push(if last { 0 } else { 3 });
        out.push(0);
        out.extend_from_slice(&len16(self.buffer_len()));
        out.push(self.transform_type);
        out.push(0);
        out.extend_from_slice(&self.transform_id.to_be_bytes());
        for attr in &self.attributes {
            attr.emit(out);
        }
    }
}

/// One proposal: a protocol, an SPI and the transforms offered (or chosen) for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalRepr {
    /// Proposal number, starting at 1; a responder echoes the number it chose.
    pub number: u8,
    /// The protocol negotiated.
    pub protocol: ProtocolId,
    /// The sender's SPI: empty for the first IKE SA, 8 bytes for IKE rekeys, 4 for ESP/AH.
    pub spi: Vec<u8>,
    /// The transforms.
    pub transforms: Vec<TransformRepr>,
}

impl ProposalRepr {
    fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes, "proposal");
        let number = r.u8()?;
        let protocol = ProtocolId(r.u8()?);
        let spi_size = usize::from(r.u8()?);
        let transform_count = usize::from(r.u8()?);
        if transform_count > MAX_TRANSFORMS {
            return Err(WireError::TooMany("transforms"));
        }
        let spi = r.take(spi_size)?.to_vec();
        let mut transforms = Vec::new();
        while !r.is_empty() {
            if transforms.len() == transform_count {
                return Err(WireError::BadLength("proposal transform count"));
            }
            let last_substruc = r.u8()?;
            let _reserved = r.u8()?;
            let len = usize::from(r.u16()?);
            if len < TRANSFORM_HEADER_LEN {
                return Err(WireError::BadLength("transform"));
            }
            transforms.push(TransformRepr::parse(r.take(len - 4)?)?);
            match last_substruc {
                0 if r.is_empty() => {}
                3 if !r.is_empty() => {}
                0 | 3 => return Err(WireError::BadLength("transform chain")),
                _ => return Err(WireError::Malformed("transform substructure type")),
            }
        }
        if transforms.len() != transform_count {
            return Err(WireError::BadLength("proposal transform count"));
        }
        Ok(Self {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    /// Encoded length including the proposal substructure header.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        PROPOSAL_HEADER_LEN
            + self.spi.len()
            + self
                .transforms
                .iter()
                .map(TransformRepr::buffer_len)
                .sum::<usize>()
    }

    fn emit(&self, last: bool, out: &mut Vec<u8>) {
        out.push(if last { 0 } else { 2 });
        out.push(0);
        out.extend_from_slice(&len16(self.buffer_len()));
        out.push(self.number);
        out.push(self.protocol.0);
        out.push(u8::try_from(self.spi.len()).unwrap_or(u8::MAX));
        out.push(u8::try_from(self.transforms.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.spi);
        let n = self.transforms.len();
        for (i, t) in self.transforms.iter().enumerate() {
            t.emit(i + 1 == n, out);
        }
    }
}

/// The SA payload: one or more proposals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaRepr {
    /// The proposals, in preference order.
    pub proposals: Vec<ProposalRepr>,
}

impl SaRepr {
    /// Parses an SA payload body.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "SA payload");
        let mut proposals = Vec::new();
        if r.is_empty() {
            return Err(WireError::Malformed("SA payload without proposals"));
        }
        loop {
            if proposals.len() == MAX_PROPOSALS {
                return Err(WireError::TooMany("proposals"));
            }
            let last_substruc = r.u8()?;
            let _reserved = r.u8()?;
            let len = usize::from(r.u16()?);
            if len < PROPOSAL_HEADER_LEN {
                return Err(WireError::BadLength("proposal"));
            }
            proposals.push(ProposalRepr::parse(r.take(len - 4)?)?);
            match last_substruc {
                0 if r.is_empty() => break,
                2 if !r.is_empty() => {}
                0 | 2 => return Err(WireError::BadLength("proposal chain")),
                _ => return Err(WireError::Malformed("proposal substructure type")),
            }
        }
        Ok(Self { proposals })
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        self.proposals.iter().map(ProposalRepr::buffer_len).sum()
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let n = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            p.emit(i + 1 == n, out);
        }
    }
}
