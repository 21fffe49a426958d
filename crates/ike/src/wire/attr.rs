//! Transform attributes (RFC 7296 §3.3.5): TV (fixed 2-byte value) or TLV.

use super::{Reader, WireError, len16};

/// Attribute type numbers.
pub mod attribute_type {
    /// Key Length in bits (TV), the only attribute RFC 7296 defines.
    pub const KEY_LENGTH: u16 = 14;
}

/// One transform attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeRepr {
    /// Type/Value format (AF bit set): a 16-bit value.
    Tv {
        /// Attribute type (15 bits).
        attr_type: u16,
        /// The value.
        value: u16,
    },
    /// Type/Length/Value format.
    Tlv {
        /// Attribute type (15 bits).
        attr_type: u16,
        /// The value bytes.
        value: Vec<u8>,
    },
}

impl AttributeRepr {
    /// A Key Length attribute (bits).
    #[must_use]
    pub const fn key_length(bits: u16) -> Self {
        Self::Tv {
            attr_type: attribute_type::KEY_LENGTH,
            value: bits,
        }
    }

    /// Reads one attribute from the reader.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let word = r.u16()?;
        let attr_type = word & 0x7fff;
        if word & 0x8000 != 0 {
            Ok(Self::Tv {
                attr_type,
                value: r.u16()?,
            })
        } else {
            let len = usize::from(r.u16()?);
            Ok(Self::Tlv {
                attr_type,
                value: r.take(len)?.to_vec(),
            })
        }
    }

    /// Encoded length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        match self {
            Self::Tv { .. } => 4,
            Self::Tlv { value, .. } => 4 + value.len(),
        }
    }

    /// Appends the encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Self::Tv { attr_type, value } => {
                out.extend_from_slice(&(0x8000 | (attr_type & 0x7fff)).to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
            Self::Tlv { attr_type, value } => {
                out.extend_from_slice(&(attr_type & 0x7fff).to_be_bytes());
                out.extend_from_slice(&len16(value.len()));
                out.extend_from_slice(value);
            }
        }
    }
}
