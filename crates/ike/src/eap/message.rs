//! The EAP packet codec (RFC 3748 §4, §5).

use super::EapError;

/// EAP header length: Code, Identifier, Length (2).
pub const EAP_HEADER_LEN: usize = 4;

/// The largest EAP message this codec builds or accepts: an EAP payload's body must fit an
/// IKE payload (16-bit length) with its 4-byte header.
pub const MAX_EAP_LEN: usize = u16::MAX as usize - 4;

/// An EAP Code (RFC 3748 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EapCode {
    /// 1: from the authenticator (the IKE responder).
    Request,
    /// 2: from the peer (us).
    Response,
    /// 3: authentication succeeded.
    Success,
    /// 4: authentication failed.
    Failure,
}

impl EapCode {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Request,
            2 => Self::Response,
            3 => Self::Success,
            4 => Self::Failure,
            _ => return None,
        })
    }

    const fn to_u8(self) -> u8 {
        match self {
            Self::Request => 1,
            Self::Response => 2,
            Self::Success => 3,
            Self::Failure => 4,
        }
    }
}

/// An EAP method type (RFC 3748 §5, IANA "Method Types"). Unknown values are kept as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EapType(pub u8);

impl EapType {
    /// Identity (RFC 3748 §5.1).
    pub const IDENTITY: Self = Self(1);
    /// Notification (RFC 3748 §5.2).
    pub const NOTIFICATION: Self = Self(2);
    /// Legacy Nak (RFC 3748 §5.3.1), response only.
    pub const NAK: Self = Self(3);
    /// MD5-Challenge (RFC 3748 §5.4). Not supported: it cannot authenticate the server.
    pub const MD5_CHALLENGE: Self = Self(4);
    /// EAP-TLS (RFC 5216).
    pub const TLS: Self = Self(13);
    /// EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2).
    pub const MSCHAPV2: Self = Self(26);
    /// Expanded Types (RFC 3748 §5.7).
    pub const EXPANDED: Self = Self(254);
}

/// A parsed EAP packet borrowing its type data from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EapPacket<'a> {
    /// The Code.
    pub code: EapCode,
    /// The Identifier (a response echoes its request's).
    pub identifier: u8,
    /// Type and type data; `None` exactly for Success and Failure.
    pub body: Option<(EapType, &'a [u8])>,
}

impl<'a> EapPacket<'a> {
    /// Parses one EAP packet.
    ///
    /// Strict: the Length field must be at least 4 and fit the input; Success and Failure must
    /// be exactly 4 bytes long, Requests and Responses must carry a Type. Bytes after Length
    /// are link-layer padding and ignored (RFC 3748 §4).
    ///
    /// # Errors
    /// [`EapError::Malformed`] for any violation.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, EapError> {
        let [code, identifier, l0, l1, ..] = *bytes else {
            return Err(EapError::Malformed("shorter than the EAP header"));
        };
        let code = EapCode::from_u8(code).ok_or(EapError::Malformed("unknown EAP code"))?;
        let length = usize::from(u16::from_be_bytes([l0, l1]));
        if length < EAP_HEADER_LEN {
            return Err(EapError::Malformed("EAP length is shorter than its header"));
        }
        let packet = bytes
            .get(..length)
            .ok_or(EapError::Malformed("EAP length exceeds the received data"))?;
        let body = match code {
            EapCode::Success | EapCode::Failure => {
                if length != EAP_HEADER_LEN {
                    return Err(EapError::Malformed("EAP Success/Failure carries data"));
                }
                None
            }
            EapCode::Request | EapCode::Response => {
                let (&ty, data) = packet[EAP_HEADER_LEN..]
                    .split_first()
                    .ok_or(EapError::Malformed("EAP request/response without a type"))?;
                Some((EapType(ty), data))
            }
        };
        Ok(Self {
            code,
            identifier,
            body,
        })
    }

    /// The encoded length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        EAP_HEADER_LEN + self.body.map_or(0, |(_, data)| 1 + data.len())
    }

    /// Encodes the packet.
    ///
    /// # Errors
    /// [`EapError::TooLong`] if it would exceed [`MAX_EAP_LEN`].
    pub fn to_vec(&self) -> Result<Vec<u8>, EapError> {
        let len = self.buffer_len();
        let len16 = u16::try_from(len)
            .ok()
            .filter(|_| len <= MAX_EAP_LEN)
            .ok_or(EapError::TooLong)?;
        let mut out = Vec::with_capacity(len);
        out.push(self.code.to_u8());
        out.push(self.identifier);
        out.extend_from_slice(&len16.to_be_bytes());
        if let Some((ty, data)) = self.body {
            out.push(ty.0);
            out.extend_from_slice(data);
        }
        Ok(out)
    }
}

/// A Response to the request with `identifier`, of type `ty` with `data`.
///
/// # Errors
/// [`EapError::TooLong`] if `data` is too long for one EAP packet.
pub fn response(identifier: u8, ty: EapType, data: &[u8]) -> Result<Vec<u8>, EapError> {
    EapPacket {
        code: EapCode::Response,
        identifier,
        body: Some((ty, data)),
    }
    .to_vec()
}

/// The EAP-Identity Response (RFC 3748 §5.1) carrying `identity` (UTF-8, no terminator).
///
/// # Errors
/// [`EapError::TooLong`] if the identity does not fit one EAP packet.
pub fn identity_response(identifier: u8, identity: &str) -> Result<Vec<u8>, EapError> {
    response(identifier, EapType::IDENTITY, identity.as_bytes())
}

/// A Legacy Nak (RFC 3748 §5.3.1) proposing the `desired` method types instead.
///
/// # Errors
/// [`EapError::TooLong`] never in practice (at most 255 types).
pub fn nak_response(identifier: u8, desired: &[EapType]) -> Result<Vec<u8>, EapError> {
    let types: Vec<u8> = desired.iter().map(|t| t.0).collect();
    response(identifier, EapType::NAK, &types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_emit() {
        let req = [1, 7, 0, 5, 1];
        let p = EapPacket::parse(&req).unwrap();
        assert_eq!(p.code, EapCode::Request);
        assert_eq!(p.identifier, 7);
        assert_eq!(p.body, Some((EapType::IDENTITY, &[][..])));
        assert_eq!(p.to_vec().unwrap(), req);
        assert_eq!(
            identity_response(7, "alice").unwrap(),
            b"\x02\x07\x00\x0a\x01alice"
        );
        assert_eq!(
            nak_response(3, &[EapType::MSCHAPV2]).unwrap(),
            [2, 3, 0, 6, 3, 26]
        );
        let ok = EapPacket::parse(&[3, 9, 0, 4]).unwrap();
        assert_eq!((ok.code, ok.body), (EapCode::Success, None));
        // Trailing padding is ignored.
        assert!(EapPacket::parse(&[4, 9, 0, 4, 0, 0]).is_ok());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &[][..],
            &[1, 1, 0],
            &[5, 1, 0, 4],
            &[1, 1, 0, 3],
            &[1, 1, 0, 4],
            &[1, 1, 0, 9, 1],
            &[3, 1, 0, 5, 1],
        ] {
            assert!(EapPacket::parse(bad).is_err(), "{bad:?}");
        }
    }
}
