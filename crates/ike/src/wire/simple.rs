//! The payloads with flat bodies: KE, ID, CERT/CERTREQ, AUTH, Nonce, Delete, Vendor ID, SK,
//! SKF and EAP.

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{PayloadType, ProtocolId, Reader, WireError};

/// Key Exchange payload (RFC 7296 §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeRepr {
    /// The key-exchange method (D-H group) transform ID.
    pub group: u16,
    /// The public value.
    pub data: Vec<u8>,
}

impl KeRepr {
    /// Parses a KE payload body.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "KE payload");
        let group = r.u16()?;
        let _reserved = r.u16()?;
        Ok(Self {
            group,
            data: r.rest().to_vec(),
        })
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.group.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.data);
    }
}

/// An identification type (RFC 7296 §3.5). Unknown values are kept as numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdType(pub u8);

impl IdType {
    /// A single IPv4 address.
    pub const IPV4_ADDR: Self = Self(1);
    /// A fully qualified domain name.
    pub const FQDN: Self = Self(2);
    /// An RFC 822 email address (USER_FQDN).
    pub const RFC822_ADDR: Self = Self(3);
    /// A single IPv6 address.
    pub const IPV6_ADDR: Self = Self(5);
    /// A DER-encoded X.500 distinguished name.
    pub const DER_ASN1_DN: Self = Self(9);
    /// A DER-encoded X.509 GeneralName.
    pub const DER_ASN1_GN: Self = Self(10);
    /// Opaque vendor-specific bytes.
    pub const KEY_ID: Self = Self(11);
}

impl fmt::Debug for IdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("ID_IPV4_ADDR"),
            2 => f.write_str("ID_FQDN"),
            3 => f.write_str("ID_RFC822_ADDR"),
            5 => f.write_str("ID_IPV6_ADDR"),
            9 => f.write_str("ID_DER_ASN1_DN"),
            10 => f.write_str("ID_DER_ASN1_GN"),
            11 => f.write_str("ID_KEY_ID"),
            n => write!(f, "IdType({n})"),
        }
    }
}

/// Identification payload (IDi / IDr, RFC 7296 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdRepr {
    /// The identification type.
    pub id_type: IdType,
    /// The identification data.
    pub data: Vec<u8>,
}

impl IdRepr {
    /// Parses an ID payload body.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "ID payload");
        let id_type = IdType(r.u8()?);
        let _reserved = r.take(3)?;
        Ok(Self {
            id_type,
            data: r.rest().to_vec(),
        })
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }

    /// Appends the body. This is also the `RestOfIDPayload` the AUTH computation hashes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.id_type.0);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
    }

    /// The body as bytes (for AUTH: RFC 7296 §2.15 `RestOfInitIDPayload`).
    #[must_use]
    pub fn to_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buffer_len());
        self.emit(&mut out);
        out
    }
}

/// A typed identity, as configured or as read from an ID payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// `ID_IPV4_ADDR`.
    Ipv4(Ipv4Addr),
    /// `ID_IPV6_ADDR`.
    Ipv6(Ipv6Addr),
    /// `ID_FQDN`, e.g. `vpn.example.com`.
    Fqdn(String),
    /// `ID_RFC822_ADDR` (USER_FQDN), e.g. `alice@example.com`.
    Email(String),
    /// `ID_KEY_ID`: opaque bytes.
    KeyId(Vec<u8>),
    /// `ID_DER_ASN1_DN`: a DER-encoded distinguished name.
    DerAsn1Dn(Vec<u8>),
    /// Any other type, kept raw.
    Other(IdType, Vec<u8>),
}

impl Identity {
    /// The payload form.
    #[must_use]
    pub fn to_repr(&self) -> IdRepr {
        let (id_type, data) = match self {
            Self::Ipv4(a) => (IdType::IPV4_ADDR, a.octets().to_vec()),
            Self::Ipv6(a) => (IdType::IPV6_ADDR, a.octets().to_vec()),
            Self::Fqdn(s) => (IdType::FQDN, s.as_bytes().to_vec()),
            Self::Email(s) => (IdType::RFC822_ADDR, s.as_bytes().to_vec()),
            Self::KeyId(b) => (IdType::KEY_ID, b.clone()),
            Self::DerAsn1Dn(b) => (IdType::DER_ASN1_DN, b.clone()),
            Self::Other(t, b) => (*t, b.clone()),
        };
        IdRepr { id_type, data }
    }

    /// Reads the typed identity; types whose data does not fit their form stay `Other`.
    #[must_use]
    pub fn from_repr(repr: &IdRepr) -> Self {
        let raw = || Self::Other(repr.id_type, repr.data.clone());
        match repr.id_type {
            IdType::IPV4_ADDR => <[u8; 4]>::try_from(repr.data.as_slice())
                .map_or_else(|_| raw(), |o| Self::Ipv4(o.into())),
            IdType::IPV6_ADDR => <[u8; 16]>::try_from(repr.data.as_slice())
                .map_or_else(|_| raw(), |o| Self::Ipv6(o.into())),
            IdType::FQDN => String::from_utf8(repr.data.clone()).map_or_else(|_| raw(), Self::Fqdn),
            IdType::RFC822_ADDR => {
                String::from_utf8(repr.data.clone()).map_or_else(|_| raw(), Self::Email)
            }
            IdType::KEY_ID => Self::KeyId(repr.data.clone()),
            IdType::DER_ASN1_DN => Self::DerAsn1Dn(repr.data.clone()),
            _ => raw(),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ipv4(a) => write!(f, "{a}"),
            Self::Ipv6(a) => write!(f, "{a}"),
            Self::Fqdn(s) | Self::Email(s) => f.write_str(s),
            Self::KeyId(b) => write!(f, "keyid:{}", b.len()),
            Self::DerAsn1Dn(b) => write!(f, "dn:{} bytes", b.len()),
            Self::Other(t, b) => write!(f, "{t:?}:{} bytes", b.len()),
        }
    }
}

/// A certificate encoding (RFC 7296 §3.6). Unknown values are kept as numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CertEncoding(pub u8);

impl CertEncoding {
    /// X.509 certificate – signature.
    pub const X509_SIGNATURE: Self = Self(4);
    /// Certificate revocation list.
    pub const CRL: Self = Self(7);
    /// Hash and URL of an X.509 certificate.
    pub const HASH_URL_X509: Self = Self(12);
}

/// Certificate or Certificate Request payload (RFC 7296 §3.6, §3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRepr {
    /// The certificate encoding.
    pub encoding: CertEncoding,
    /// Certificate data, or for CERTREQ the concatenated CA key hashes.
    pub data: Vec<u8>,
}

impl CertRepr {
    /// Parses a CERT or CERTREQ payload body.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "CERT payload");
        let encoding = CertEncoding(r.u8()?);
        Ok(Self {
            encoding,
            data: r.rest().to_vec(),
        })
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        1 + self.data.len()
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.encoding.0);
        out.extend_from_slice(&self.data);
    }
}

/// An authentication method (RFC 7296 §3.8). Unknown values are kept as numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuthMethod(pub u8);

impl AuthMethod {
    /// RSA digital signature (PKCS#1 v1.5 with SHA-1).
    pub const RSA_SIGNATURE: Self = Self(1);
    /// Shared key message integrity code.
    pub const SHARED_KEY_MIC: Self = Self(2);
    /// DSS digital signature.
    pub const DSS_SIGNATURE: Self = Self(3);
    /// ECDSA with SHA-256 on P-256 (RFC 4754).
    pub const ECDSA_SHA256_P256: Self = Self(9);
    /// ECDSA with SHA-384 on P-384.
    pub const ECDSA_SHA384_P384: Self = Self(10);
    /// ECDSA with SHA-512 on P-521.
    pub const ECDSA_SHA512_P521: Self = Self(11);
    /// Digital signature (RFC 7427).
    pub const DIGITAL_SIGNATURE: Self = Self(14);
}

/// Authentication payload (RFC 7296 §3.8).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthRepr {
    /// The authentication method.
    pub method: AuthMethod,
    /// The authentication data (a MIC or a signature).
    pub data: Vec<u8>,
}

impl fmt::Debug for AuthRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRepr")
            .field("method", &self.method)
            .field("data_len", &self.data.len())
            .finish()
    }
}

impl AuthRepr {
    /// Parses an AUTH payload body.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "AUTH payload");
        let method = AuthMethod(r.u8()?);
        let _reserved = r.take(3)?;
        Ok(Self {
            method,
            data: r.rest().to_vec(),
        })
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.method.0);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
    }
}

/// Nonce payload (RFC 7296 §3.9): 16 to 256 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceRepr {
    /// The nonce.
    pub nonce: Vec<u8>,
}

impl NonceRepr {
    /// Shortest nonce the RFC allows.
    pub const MIN_LEN: usize = 16;
    /// Longest nonce the RFC allows.
    pub const MAX_LEN: usize = 256;

    /// Parses a Nonce payload body, checking the length limits.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&body.len()) {
            return Err(WireError::Malformed("nonce must be 16 to 256 bytes"));
        }
        Ok(Self {
            nonce: body.to_vec(),
        })
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        self.nonce.len()
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.nonce);
    }
}

/// Delete payload (RFC 7296 §3.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRepr {
    /// Protocol of the SAs deleted (IKE, AH or ESP).
    pub protocol: ProtocolId,
    /// Size of each SPI (0 for IKE, 4 for ESP/AH).
    pub spi_size: u8,
    /// The SPIs (the deleting side's inbound SPIs); empty for the IKE SA.
    pub spis: Vec<Vec<u8>>,
}

impl DeleteRepr {
    /// Deletes the IKE SA this message travels on.
    #[must_use]
    pub const fn ike() -> Self {
        Self {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: Vec::new(),
        }
    }

    /// Deletes ESP SAs by their 32-bit SPIs.
    #[must_use]
    pub fn esp(spis: &[u32]) -> Self {
        Self {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        }
    }

    /// Parses a Delete payload body.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "Delete payload");
        let protocol = ProtocolId(r.u8()?);
        let spi_size = r.u8()?;
        let count = usize::from(r.u16()?);
        if count > 0 && spi_size == 0 {
            return Err(WireError::Malformed("Delete payload lists SPIs of size 0"));
        }
        if count * usize::from(spi_size) != r.remaining() {
            return Err(WireError::BadLength("Delete payload"));
        }
        let mut spis = Vec::new();
        for _ in 0..count {
            spis.push(r.take(usize::from(spi_size))?.to_vec());
        }
        Ok(Self {
            protocol,
            spi_size,
            spis,
        })
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        4 + self.spis.len() * usize::from(self.spi_size)
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.protocol.0);
        out.push(self.spi_size);
        out.extend_from_slice(
            &u16::try_from(self.spis.len())
                .unwrap_or(u16::MAX)
                .to_be_bytes(),
        );
        for spi in &self.spis {
            // Keep the announced layout even for a hand-built SPI of the wrong size.
            let mut fixed = vec![0u8; usize::from(self.spi_size)];
            let n = fixed.len().min(spi.len());
            fixed[..n].copy_from_slice(&spi[..n]);
            out.extend_from_slice(&fixed);
        }
    }
}

/// Vendor ID payload (RFC 7296 §3.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorIdRepr {
    /// The vendor ID bytes.
    pub data: Vec<u8>,
}

impl VendorIdRepr {
    /// Parses a Vendor ID payload body.
    #[must_use]
    pub fn parse(body: &[u8]) -> Self {
        Self {
            data: body.to_vec(),
        }
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        self.data.len()
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.data);
    }
}

/// Encrypted and Authenticated payload (RFC 7296 §3.14): IV, ciphertext, ICV, still sealed.
/// The generic header's next-payload field names the first inner payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkRepr {
    /// Type of the first inner payload (the SK generic header's next-payload field).
    pub first_inner: PayloadType,
    /// The sealed body.
    pub body: Vec<u8>,
}

impl SkRepr {
    /// Wraps an SK payload body; the chain walker fills in `first_inner`.
    #[must_use]
    pub fn parse(body: &[u8]) -> Self {
        Self {
            first_inner: PayloadType::NONE,
            body: body.to_vec(),
        }
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        self.body.len()
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.body);
    }
}

/// Encrypted and Authenticated Fragment payload (RFC 7383 §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkfRepr {
    /// Type of the first inner payload of the whole message (fragment 1 only; 0 otherwise).
    pub first_inner: PayloadType,
    /// This fragment's number, from 1.
    pub fragment_number: u16,
    /// How many fragments the message was split into.
    pub total_fragments: u16,
    /// The sealed body.
    pub body: Vec<u8>,
}

impl SkfRepr {
    /// Length of the fragment number and total fields that precede the sealed body.
    pub const FIELDS_LEN: usize = 4;

    /// Parses an SKF payload body; checks 1 ≤ number ≤ total.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "SKF payload");
        let fragment_number = r.u16()?;
        let total_fragments = r.u16()?;
        if fragment_number == 0 || fragment_number > total_fragments {
            return Err(WireError::Malformed("SKF fragment number out of range"));
        }
        Ok(Self {
            first_inner: PayloadType::NONE,
            fragment_number,
            total_fragments,
            body: r.rest().to_vec(),
        })
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        Self::FIELDS_LEN + self.body.len()
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.fragment_number.to_be_bytes());
        out.extend_from_slice(&self.total_fragments.to_be_bytes());
        out.extend_from_slice(&self.body);
    }
}

/// EAP payload (RFC 7296 §3.16): one raw EAP message (RFC 3748).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EapRepr {
    /// The EAP message: code, identifier, length, then type data.
    pub message: Vec<u8>,
}

impl EapRepr {
    /// Parses an EAP payload body, checking the EAP length field matches.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "EAP message");
        let _code = r.u8()?;
        let _identifier = r.u8()?;
        let len = usize::from(r.u16()?);
        if len != body.len() {
            return Err(WireError::BadLength("EAP message"));
        }
        Ok(Self {
            message: body.to_vec(),
        })
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        self.message.len()
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.message);
    }
}
