//! Payload types, the generic payload header (RFC 7296 §3.2) and the [`Payload`] sum type.

use core::fmt;

use super::{
    AuthRepr, CertRepr, CpRepr, DeleteRepr, EapRepr, IdRepr, KeRepr, NonceRepr, NotifyRepr, SaRepr,
    SkRepr, SkfRepr, TsRepr, VendorIdRepr, WireError,
};

/// Length of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;

/// A payload type number (RFC 7296 §3.2, RFC 7383). Unknown values are kept as numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PayloadType(pub u8);

impl PayloadType {
    /// No next payload: the end of a chain.
    pub const NONE: Self = Self(0);
    /// Security Association.
    pub const SA: Self = Self(33);
    /// Key Exchange.
    pub const KE: Self = Self(34);
    /// Identification – Initiator.
    pub const IDI: Self = Self(35);
    /// Identification – Responder.
    pub const IDR: Self = Self(36);
    /// Certificate.
    pub const CERT: Self = Self(37);
    /// Certificate Request.
    pub const CERTREQ: Self = Self(38);
    /// Authentication.
    pub const AUTH: Self = Self(39);
    /// Nonce.
    pub const NONCE: Self = Self(40);
    /// Notify.
    pub const NOTIFY: Self = Self(41);
    /// Delete.
    pub const DELETE: Self = Self(42);
    /// Vendor ID.
    pub const VENDOR_ID: Self = Self(43);
    /// Traffic Selector – Initiator.
    pub const TSI: Self = Self(44);
    /// Traffic Selector – Responder.
    pub const TSR: Self = Self(45);
    /// Encrypted and Authenticated.
    pub const SK: Self = Self(46);
    /// Configuration.
    pub const CP: Self = Self(47);
    /// Extensible Authentication.
    pub const EAP: Self = Self(48);
    /// Encrypted and Authenticated Fragment (RFC 7383).
    pub const SKF: Self = Self(53);

    /// The IANA short name, if this is a type we know.
    #[must_use]
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "NONE",
            33 => "SA",
            34 => "KE",
            35 => "IDi",
            36 => "IDr",
            37 => "CERT",
            38 => "CERTREQ",
            39 => "AUTH",
            40 => "Ni/Nr",
            41 => "N",
            42 => "D",
            43 => "V",
            44 => "TSi",
            45 => "TSr",
            46 => "SK",
            47 => "CP",
            48 => "EAP",
            53 => "SKF",
            _ => return None,
        })
    }

    /// Whether this codec knows the payload type (and so parses it).
    #[must_use]
    pub const fn is_known(self) -> bool {
        matches!(self.0, 33..=48 | 53)
    }
}

impl fmt::Debug for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "PayloadType({})", self.0),
        }
    }
}

/// A checked view of one payload: its generic header and body.
#[derive(Debug, Clone)]
pub struct GenericPayload<T: AsRef<[u8]>> {
    buffer: T,
    len: usize,
}

impl<T: AsRef<[u8]>> GenericPayload<T> {
    /// Wraps the payload at the start of `buffer`, checking that its length field covers at
    /// least the generic header and fits in the buffer. Trailing bytes belong to later payloads.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let bytes = buffer.as_ref();
        let [_, _, hi, lo, ..] = *bytes else {
            return Err(WireError::Truncated("generic payload header"));
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len < GENERIC_HEADER_LEN {
            return Err(WireError::BadLength("generic payload header"));
        }
        if len > bytes.len() {
            return Err(WireError::Truncated("payload body"));
        }
        Ok(Self { buffer, len })
    }

    /// Type of the payload that follows this one.
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.buffer.as_ref().first().copied().unwrap_or(0))
    }

    /// Whether the critical bit is set.
    pub fn critical(&self) -> bool {
        self.buffer.as_ref().get(1).is_some_and(|b| b & 0x80 != 0)
    }

    /// The payload length including the generic header.
    pub fn payload_len(&self) -> usize {
        self.len
    }

    /// The body after the generic header.
    pub fn body(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(GENERIC_HEADER_LEN..self.len)
            .unwrap_or_default()
    }
}

/// Appends a generic payload header.
pub(crate) fn emit_generic_header(
    next: PayloadType,
    critical: bool,
    body_len: usize,
    out: &mut Vec<u8>,
) {
    out.push(next.0);
    out.push(if critical { 0x80 } else { 0 });
    out.extend_from_slice(&super::len16(GENERIC_HEADER_LEN + body_len));
}

/// One payload, parsed. SK and SKF carry their still-encrypted body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Security Association.
    Sa(SaRepr),
    /// Key Exchange.
    Ke(KeRepr),
    /// Identification – Initiator.
    IdI(IdRepr),
    /// Identification – Responder.
    IdR(IdRepr),
    /// Certificate.
    Cert(CertRepr),
    /// Certificate Request.
    CertReq(CertRepr),
    /// Authentication.
    Auth(AuthRepr),
    /// Nonce.
    Nonce(NonceRepr),
    /// Notify.
    Notify(NotifyRepr),
    /// Delete.
    Delete(DeleteRepr),
    /// Vendor ID.
    VendorId(VendorIdRepr),
    /// Traffic Selector – Initiator.
    TsI(TsRepr),
    /// Traffic Selector – Responder.
    TsR(TsRepr),
    /// Encrypted and Authenticated (body still sealed).
    Sk(SkRepr),
    /// Configuration.
    Cp(CpRepr),
    /// Extensible Authentication.
    Eap(EapRepr),
    /// Encrypted fragment (body still sealed).
    Skf(SkfRepr),
}

impl Payload {
    /// The payload type number.
    #[must_use]
    pub const fn payload_type(&self) -> PayloadType {
        match self {
            Self::Sa(_) => PayloadType::SA,
            Self::Ke(_) => PayloadType::KE,
            Self::IdI(_) => PayloadType::IDI,
            Self::IdR(_) => PayloadType::IDR,
            Self::Cert(_) => PayloadType::CERT,
            Self::CertReq(_) => PayloadType::CERTREQ,
            Self::Auth(_) => PayloadType::AUTH,
            Self::Nonce(_) => PayloadType::NONCE,
            Self::Notify(_) => PayloadType::NOTIFY,
            Self::Delete(_) => PayloadType::DELETE,
            Self::VendorId(_) => PayloadType::VENDOR_ID,
            Self::TsI(_) => PayloadType::TSI,
            Self::TsR(_) => PayloadType::TSR,
            Self::Sk(_) => PayloadType::SK,
            Self::Cp(_) => PayloadType::CP,
            Self::Eap(_) => PayloadType::EAP,
            Self::Skf(_) => PayloadType::SKF,
        }
    }

    /// Parses the body of a payload of known type `ty`; `Ok(None)` for a type this codec does
    /// not know (the chain walker decides on the critical bit).
    pub fn parse(ty: PayloadType, body: &[u8]) -> Result<Option<Self>, WireError> {
        Ok(Some(match ty {
            PayloadType::SA => Self::Sa(SaRepr::parse(body)?),
            PayloadType::KE => Self::Ke(KeRepr::parse(body)?),
            PayloadType::IDI => Self::IdI(IdRepr::parse(body)?),
            PayloadType::IDR => Self::IdR(IdRepr::parse(body)?),
            PayloadType::CERT => Self::Cert(CertRepr::parse(body)?),
            PayloadType::CERTREQ => Self::CertReq(CertRepr::parse(body)?),
            PayloadType::AUTH => Self::Auth(AuthRepr::parse(body)?),
            PayloadType::NONCE => Self::Nonce(NonceRepr::parse(body)?),
            PayloadType::NOTIFY => Self::Notify(NotifyRepr::parse(body)?),
            PayloadType::DELETE => Self::Delete(DeleteRepr::parse(body)?),
            PayloadType::VENDOR_ID => Self::VendorId(VendorIdRepr::parse(body)),
            PayloadType::TSI => Self::TsI(TsRepr::parse(body)?),
            PayloadType::TSR => Self::TsR(TsRepr::parse(body)?),
            PayloadType::SK => Self::Sk(SkRepr::parse(body)),
            PayloadType::CP => Self::Cp(CpRepr::parse(body)?),
            PayloadType::EAP => Self::Eap(EapRepr::parse(body)?),
            PayloadType::SKF => Self::Skf(SkfRepr::parse(body)?),
            _ => return Ok(None),
        }))
    }

    /// Length of the body (without the generic header).
    #[must_use]
    pub fn body_len(&self) -> usize {
        match self {
            Self::Sa(p) => p.buffer_len(),
            Self::Ke(p) => p.buffer_len(),
            Self::IdI(p) | Self::IdR(p) => p.buffer_len(),
            Self::Cert(p) | Self::CertReq(p) => p.buffer_len(),
            Self::Auth(p) => p.buffer_len(),
            Self::Nonce(p) => p.buffer_len(),
            Self::Notify(p) => p.buffer_len(),
            Self::Delete(p) => p.buffer_len(),
            Self::VendorId(p) => p.buffer_len(),
            Self::TsI(p) | Self::TsR(p) => p.buffer_len(),
            Self::Sk(p) => p.buffer_len(),
            Self::Cp(p) => p.buffer_len(),
            Self::Eap(p) => p.buffer_len(),
            Self::Skf(p) => p.buffer_len(),
        }
    }

    /// Appends the body (without the generic header).
    pub fn emit_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::Sa(p) => p.emit(out),
            Self::Ke(p) => p.emit(out),
            Self::IdI(p) | Self::IdR(p) => p.emit(out),
            Self::Cert(p) | Self::CertReq(p) => p.emit(out),
            Self::Auth(p) => p.emit(out),
            Self::Nonce(p) => p.emit(out),
            Self::Notify(p) => p.emit(out),
            Self::Delete(p) => p.emit(out),
            Self::VendorId(p) => p.emit(out),
            Self::TsI(p) | Self::TsR(p) => p.emit(out),
            Self::Sk(p) => p.emit(out),
            Self::Cp(p) => p.emit(out),
            Self::Eap(p) => p.emit(out),
            Self::Skf(p) => p.emit(out),
        }
    }
}
