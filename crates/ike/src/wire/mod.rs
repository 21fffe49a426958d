//! The IKEv2 wire format (RFC 7296 §3, RFC 7383, RFC 8598): checked views and owned `Repr`s.
//!
//! The pattern is smoltcp's: a view such as [`IkeHeader`] or [`GenericPayload`] wraps a buffer
//! (`T: AsRef<[u8]>`) and is checked once by `new_checked`; after that no accessor can panic.
//! Each payload has an owned `…Repr` with `parse(body)` (the bytes after the 4-byte generic
//! payload header) and `emit(&mut Vec<u8>)` / `buffer_len()`.
//!
//! [`Message`] ties it together: it walks the payload chain (bounded in count and length, with
//! the critical bit honoured) and leaves an SK payload's body for the caller to open with
//! `crypto::SkCipher`; [`parse_payload_chain`] then parses the decrypted inner chain.
//! [`rules`] holds, in one table, which payloads each exchange may carry.
//!
//! Nothing in here allocates more than the input justifies: element counts are bounded and
//! every `Vec` grows only as elements are actually read from the buffer.

mod attr;
mod cp;
mod header;
mod message;
mod notify;
mod payload;
pub mod rules;
mod sa;
mod simple;
mod ts;

pub use attr::{AttributeRepr, attribute_type};
pub use cp::{CfgType, ConfigAttribute, ConfigAttributeType, CpRepr};
pub use header::{ExchangeType, Flags, HEADER_LEN, HeaderRepr, IKE_VERSION, IkeHeader};
pub use message::{
    EncryptedMessage, MAX_MESSAGE_LEN, MAX_PAYLOADS, Message, emit_encrypted,
    emit_encrypted_fragments, emit_payload_chain, parse_payload_chain,
};
pub use notify::{NotifyRepr, NotifyType};
pub use payload::{GENERIC_HEADER_LEN, GenericPayload, Payload, PayloadType};
pub use sa::{MAX_PROPOSALS, MAX_TRANSFORMS, ProposalRepr, ProtocolId, SaRepr, TransformRepr};
pub use simple::{
    AuthMethod, AuthRepr, CertEncoding, CertRepr, DeleteRepr, EapRepr, IdRepr, IdType, Identity,
    KeRepr, NonceRepr, SkRepr, SkfRepr, VendorIdRepr,
};
pub use ts::{TS_IPV4_ADDR_RANGE, TS_IPV6_ADDR_RANGE, TsRepr};

/// Why bytes could not be read as an IKEv2 message or payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer ends before a structure it announces.
    #[error("IKE message is truncated inside the {0}")]
    Truncated(&'static str),
    /// A length field disagrees with the bytes around it.
    #[error("IKE message has an inconsistent length field in the {0}")]
    BadLength(&'static str),
    /// The message is larger than the configured maximum.
    #[error("IKE message of {0} bytes exceeds the {MAX_MESSAGE_LEN}-byte limit")]
    TooLarge(usize),
    /// More elements (payloads, proposals, transforms, attributes, selectors) than allowed.
    #[error("IKE message has too many {0}")]
    TooMany(&'static str),
    /// The header carries a major version other than 2.
    #[error("IKE major version {0} is not supported (only IKEv2)")]
    UnsupportedMajorVersion(u8),
    /// An unknown payload type with the critical bit set (RFC 7296 §2.5).
    #[error("peer sent unknown critical payload type {0}")]
    UnsupportedCriticalPayload(u8),
    /// A field holds a value the RFC forbids.
    #[error("IKE message is malformed: {0}")]
    Malformed(&'static str),
}

impl WireError {
    /// The notify a responder would answer with (RFC 7296 §3.10.1).
    #[must_use]
    pub fn notify_type(&self) -> NotifyType {
        match self {
            Self::UnsupportedMajorVersion(_) => NotifyType::INVALID_MAJOR_VERSION,
            Self::UnsupportedCriticalPayload(_) => NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
            _ => NotifyType::INVALID_SYNTAX,
        }
    }
}

/// A bounds-checked cursor over untrusted bytes: every read either succeeds or returns
/// [`WireError::Truncated`]; nothing here can panic.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, what }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.buf.len() {
            return Err(WireError::Truncated(self.what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
}

/// Converts a length computed while emitting to a 16-bit wire field. Reprs whose encoding would
/// not fit cannot be built from parsed input (which is bounded by [`MAX_MESSAGE_LEN`]); for
/// hand-built oversized Reprs the field saturates, and the peer rejects the message.
pub(crate) fn len16(len: usize) -> [u8; 2] {
    u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes()
}

#[cfg(test)]
mod tests;
