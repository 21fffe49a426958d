//! EAP-MSCHAPv2: the MS-CHAP-V2 computations (RFC 2759), the key derivation of RFC 3079, and the
//! EAP encapsulation of draft-kamath-pppext-eap-mschapv2.
//!
//! MD4, single DES and SHA-1 are weak primitives; they are used here only because MS-CHAPv2
//! prescribes them. MS-CHAPv2 is safe only inside an IKE SA whose responder was authenticated
//! by certificate first (which [`super::EapClient`] enforces).

use des::Des;
use des::cipher::{BlockCipherEncrypt, KeyInit};
use md4::{Digest, Md4};
use ring::digest;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::EapError;

/// The MS-CHAPv2 OpCodes (draft-kamath §2).
pub mod opcode {
    /// Challenge (server → peer).
    pub const CHALLENGE: u8 = 1;
    /// Response (peer → server).
    pub const RESPONSE: u8 = 2;
    /// Success (server → peer, and the peer's acknowledgement).
    pub const SUCCESS: u8 = 3;
    /// Failure (server → peer, and the peer's acknowledgement).
    pub const FAILURE: u8 = 4;
}

/// Longest password MS-CHAPv2 allows, in UTF-16 code units (RFC 2759 §9.2: 256 characters).
pub const MAX_PASSWORD_UNITS: usize = 256;
/// Length of the MSK this method exports (RFC 3748 §7.10: at least 64 octets).
pub const MSK_LEN: usize = 64;

/// RFC 2759 §8.7 Magic1: "Magic server to client signing constant".
const AUTH_MAGIC1: &[u8] = b"Magic server to client signing constant";
/// RFC 2759 §8.7 Magic2.
const AUTH_MAGIC2: &[u8] = b"Pad to make it do more than one iteration";
/// RFC 3079 §3.4 Magic1.
const KEY_MAGIC1: &[u8] = b"This is the MPPE Master Key";
/// RFC 3079 §3.4 Magic2.
const KEY_MAGIC2: &[u8] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";
/// RFC 3079 §3.4 Magic3.
const KEY_MAGIC3: &[u8] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0; 20];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The user name that goes into the challenge hash: without a `DOMAIN\` prefix (RFC 2759
/// §8.2).
#[must_use]
pub fn challenge_user_name(user_name: &str) -> &str {
    user_name
        .rsplit_once('\\')
        .map_or(user_name, |(_, user)| user)
}

/// ChallengeHash (RFC 2759 §8.2): the first 8 bytes of
/// `SHA1(PeerChallenge | AuthenticatorChallenge | UserName)`.
#[must_use]
pub fn challenge_hash(
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    user_name: &str,
) -> [u8; 8] {
    let digest = sha1(&[
        peer_challenge,
        auth_challenge,
        challenge_user_name(user_name).as_bytes(),
    ]);
    let mut out = [0; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// NtPasswordHash (RFC 2759 §8.3): MD4 of the UTF-16LE password.
///
/// # Errors
/// [`EapError::PasswordTooLong`] beyond [`MAX_PASSWORD_UNITS`].
pub fn nt_password_hash(password: &str) -> Result<Zeroizing<[u8; 16]>, EapError> {
    let mut unicode = Zeroizing::new(Vec::with_capacity(password.len() * 2));
    for unit in password.encode_utf16() {
        unicode.extend_from_slice(&unit.to_le_bytes());
    }
    if unicode.len() > MAX_PASSWORD_UNITS * 2 {
        return Err(EapError::PasswordTooLong);
    }
    Ok(Zeroizing::new(Md4::digest(unicode.as_slice()).into()))
}

/// HashNtPasswordHash (RFC 2759 §8.4).
#[must_use]
pub fn hash_nt_password_hash(password_hash: &[u8; 16]) -> Zeroizing<[u8; 16]> {
    Zeroizing::new(Md4::digest(password_hash).into())
}

/// Spreads 56 key bits over 8 bytes, leaving the (ignored) parity bits 0 (RFC 2759 §8.6).
fn des_key(seven: &[u8]) -> [u8; 8] {
    let mut bits: u64 = 0;
    for &b in seven {
        bits = (bits << 8) | u64::from(b);
    }
    let mut key = [0u8; 8];
    for (i, k) in key.iter_mut().enumerate() {
        // Bits 55..49 for the first byte, and so on; the shift keeps the low parity bit 0.
        let shifted = bits >> (49 - 7 * i);
        *k = ((shifted & 0x7f) as u8) << 1;
    }
    key
}

/// ChallengeResponse (RFC 2759 §8.5): three DES encryptions of the 8-byte challenge with keys
/// from the zero-padded 21-byte password hash.
#[must_use]
pub fn challenge_response(challenge: &[u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = Zeroizing::new([0u8; 21]);
    z[..16].copy_from_slice(password_hash);
    let mut out = [0u8; 24];
    for (key7, block) in z.chunks_exact(7).zip(out.chunks_exact_mut(8)) {
        let key = Zeroizing::new(des_key(key7));
        let cipher = Des::new(&(*key).into());
        let mut b = (*challenge).into();
        cipher.encrypt_block(&mut b);
        block.copy_from_slice(&b);
    }
    out
}

/// GenerateNTResponse (RFC 2759 §8.1).
///
/// # Errors
/// [`EapError::PasswordTooLong`].
pub fn generate_nt_response(
    auth_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user_name: &str,
    password: &str,
) -> Result<[u8; 24], EapError> {
    let challenge = challenge_hash(peer_challenge, auth_challenge, user_name);
    let hash = nt_password_hash(password)?;
    Ok(challenge_response(&challenge, &hash))
}

/// GenerateAuthenticatorResponse (RFC 2759 §8.7), as the 20 raw bytes (the wire form is
/// `"S="` and 40 upper-case hex digits).
///
/// # Errors
/// [`EapError::PasswordTooLong`].
pub fn authenticator_response(
    password: &str,
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    user_name: &str,
) -> Result<[u8; 20], EapError> {
    let hash_hash = hash_nt_password_hash(&*nt_password_hash(password)?);
    let digest = sha1(&[&*hash_hash, nt_response, AUTH_MAGIC1]);
    let challenge = challenge_hash(peer_challenge, auth_challenge, user_name);
    Ok(sha1(&[&digest, &challenge, AUTH_MAGIC2]))
}

/// GetMasterKey (RFC 3079 §3.4).
#[must_use]
pub fn master_key(password_hash_hash: &[u8; 16], nt_response: &[u8; 24]) -> Zeroizing<[u8; 16]> {
    let digest = Zeroizing::new(sha1(&[password_hash_hash, nt_response, KEY_MAGIC1]));
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&digest[..16]);
    out
}

/// GetAsymmetricStartKey (RFC 3079 §3.4) for the client side with a 16-byte session key:
/// `send = true` gives the client's send key (Magic2), `false` its receive key (Magic3).
#[must_use]
pub fn client_start_key(master_key: &[u8; 16], send: bool) -> Zeroizing<[u8; 16]> {
    const SHS_PAD1: [u8; 40] = [0; 40];
    const SHS_PAD2: [u8; 40] = [0xf2; 40];
    let magic = if send { KEY_MAGIC2 } else { KEY_MAGIC3 };
    let digest = Zeroizing::new(sha1(&[master_key, &SHS_PAD1, magic, &SHS_PAD2]));
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&digest[..16]);
    out
}

/// The 64-byte MSK the way strongSwan and Windows build it: the client's send key (Magic2),
/// the client's receive key (Magic3), then 32 zero bytes. The IKE AUTH payload for EAP is keyed
/// with it (RFC 7296 §2.16), so both ends must agree on this layout.
///
/// # Errors
/// [`EapError::PasswordTooLong`].
pub fn msk(password: &str, nt_response: &[u8; 24]) -> Result<Zeroizing<Vec<u8>>, EapError> {
    let hash_hash = hash_nt_password_hash(&*nt_password_hash(password)?);
    let master = master_key(&hash_hash, nt_response);
    let mut out = Zeroizing::new(Vec::with_capacity(MSK_LEN));
    out.extend_from_slice(&*client_start_key(&master, true));
    out.extend_from_slice(&*client_start_key(&master, false));
    out.resize(MSK_LEN, 0);
    Ok(out)
}

/// A parsed MS-CHAPv2 packet inside EAP type data (draft-kamath §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsChapPacket<'a> {
    /// The OpCode.
    pub opcode: u8,
    /// The MS-CHAPv2-ID.
    pub ms_id: u8,
    /// Everything after MS-Length (empty for acknowledgements, which have no MS-Length).
    pub data: &'a [u8],
}

impl<'a> MsChapPacket<'a> {
    /// Parses EAP-MSCHAPv2 type data. Challenge, Success and Failure requests carry
    /// `MS-CHAPv2-ID` and `MS-Length`, which must equal the type data length exactly.
    ///
    /// # Errors
    /// [`EapError::Malformed`].
    pub fn parse(type_data: &'a [u8]) -> Result<Self, EapError> {
        let [opcode, ms_id, l0, l1, ref data @ ..] = *type_data else {
            return Err(EapError::Malformed("MSCHAPv2 header is truncated"));
        };
        if usize::from(u16::from_be_bytes([l0, l1])) != type_data.len() {
            return Err(EapError::Malformed(
                "MSCHAPv2 MS-Length does not match the EAP length",
            ));
        }
        Ok(Self {
            opcode,
            ms_id,
            data,
        })
    }
}

/// A parsed Challenge: the 16-byte authenticator challenge (the server name is ignored).
///
/// # Errors
/// [`EapError::Malformed`] if Value-Size is not 16 or the data is short.
pub fn parse_challenge(data: &[u8]) -> Result<[u8; 16], EapError> {
    let [16, ref rest @ ..] = *data else {
        return Err(EapError::Malformed(
            "MSCHAPv2 challenge Value-Size is not 16",
        ));
    };
    rest.get(..16)
        .and_then(|c| c.try_into().ok())
        .ok_or(EapError::Malformed("MSCHAPv2 challenge is truncated"))
}

/// Builds the type data of a Response: OpCode 2, the challenge's MS-CHAPv2-ID, MS-Length,
/// Value-Size 49, PeerChallenge, 8 reserved zeros, NT-Response, Flags 0, Name.
///
/// # Errors
/// [`EapError::TooLong`] for a name that does not fit.
pub fn response_type_data(
    ms_id: u8,
    peer_challenge: &[u8; 16],
    nt_response: &[u8; 24],
    name: &str,
) -> Result<Vec<u8>, EapError> {
    let len = 4 + 1 + 49 + name.len();
    let ms_len = u16::try_from(len)
        .ok()
        .filter(|_| len < super::message::MAX_EAP_LEN - 5)
        .ok_or(EapError::TooLong)?;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&[opcode::RESPONSE, ms_id]);
    out.extend_from_slice(&ms_len.to_be_bytes());
    out.push(49);
    out.extend_from_slice(peer_challenge);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(nt_response);
    out.push(0);
    out.extend_from_slice(name.as_bytes());
    Ok(out)
}

/// Longest server message (`M=`) kept, in bytes; the rest is cut off.
const MAX_SERVER_MESSAGE: usize = 512;

fn server_message(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_SERVER_MESSAGE)];
    String::from_utf8_lossy(cut)
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn decode_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *o = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Some(out)
}

/// The message of a Success request: `S=<40 hex digits>`, optionally followed by ` M=<text>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessMessage {
    /// The authenticator response the server sent.
    pub authenticator_response: [u8; 20],
    /// The server's text, if any (control characters removed, cut at 512 bytes).
    pub message: Option<String>,
}

impl SuccessMessage {
    /// Parses the message strictly: exactly `S=` and 40 hex digits, then nothing or ` M=`.
    ///
    /// # Errors
    /// [`EapError::Malformed`].
    pub fn parse(data: &[u8]) -> Result<Self, EapError> {
        let malformed = EapError::Malformed("MSCHAPv2 success message is not S=<40 hex digits>");
        let rest = data.strip_prefix(b"S=").ok_or(malformed.clone())?;
        let (hex, rest) = rest.split_at_checked(40).ok_or(malformed.clone())?;
        let authenticator_response = decode_hex::<20>(hex).ok_or(malformed)?;
        let message = if rest.is_empty() {
            None
        } else {
            let text = rest.strip_prefix(b" M=").ok_or(EapError::Malformed(
                "MSCHAPv2 success message has trailing data",
            ))?;
            Some(server_message(text))
        };
        Ok(Self {
            authenticator_response,
            message,
        })
    }

    /// Whether the authenticator response equals `expected` (constant time).
    #[must_use]
    pub fn matches(&self, expected: &[u8; 20]) -> bool {
        self.authenticator_response.ct_eq(expected).into()
    }
}

/// The message of a Failure request: `E=<code> R=<0|1> C=<32 hex> V=<version> M=<text>`
/// (RFC 2759 §6). Only `E=` is required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureMessage {
    /// The Windows error code (691: wrong user name or password, ...).
    pub error: u32,
    /// Whether the server allows a retry.
    pub retry: bool,
    /// The new authenticator challenge for a retry, if given.
    pub challenge: Option<[u8; 16]>,
    /// The password-change protocol version, if given.
    pub version: Option<u32>,
    /// The server's text, if any.
    pub message: Option<String>,
}

impl FailureMessage {
    /// Parses a Failure message. Fields are separated by single spaces; `M=` takes the rest.
    ///
    /// # Errors
    /// [`EapError::Malformed`] if `E=` is missing or a field is badly formed or repeated.
    pub fn parse(data: &[u8]) -> Result<Self, EapError> {
        let malformed = || EapError::Malformed("MSCHAPv2 failure message is badly formed");
        let number = |v: &[u8]| -> Result<u32, EapError> {
            if v.is_empty() || v.len() > 10 {
                return Err(malformed());
            }
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(malformed)
        };
        let (mut error, mut retry, mut challenge, mut version, mut message) =
            (None, None, None, None, None);
        let mut rest = data;
        while !rest.is_empty() {
            if let Some(text) = rest.strip_prefix(b"M=") {
                message = Some(server_message(text));
                break;
            }
            let (field, next) = match rest.iter().position(|&b| b == b' ') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            rest = next;
            let (key, value) = field.split_at_checked(2).ok_or_else(malformed)?;
            let slot_was_empty = match key {
                b"E=" => error.replace(number(value)?).is_none(),
                b"R=" => retry
                    .replace(match value {
                        b"0" => false,
                        b"1" => true,
                        _ => return Err(malformed()),
                    })
                    .is_none(),
                b"C=" => challenge
                    .replace(decode_hex::<16>(value).ok_or_else(malformed)?)
                    .is_none(),
                b"V=" => version.replace(number(value)?).is_none(),
                _ => return Err(malformed()),
            };
            if !slot_was_empty {
                return Err(malformed());
            }
        }
        Ok(Self {
            error: error.ok_or_else(malformed)?,
            retry: retry.unwrap_or(false),
            challenge,
            version,
            message,
        })
    }

    /// A sentence for the user explaining the error code.
    #[must_use]
    pub fn explanation(&self) -> &'static str {
        match self.error {
            646 => "the account may not log in at this time of day",
            647 => "the account is disabled",
            648 => "the password has expired; change it and try again",
            649 => "the account is not allowed to connect to this VPN",
            691 => "the user name or password is wrong",
            709 => "the server wants the password changed, which Tern cannot do over EAP-MSCHAPv2",
            _ => "the server rejected the user name or password",
        }
    }
}

/// The type data of the peer's acknowledgement of a Success (`opcode::SUCCESS`) or Failure
/// (`opcode::FAILURE`): the bare OpCode.
#[must_use]
pub fn acknowledgement(opcode: u8) -> [u8; 1] {
    [opcode]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn des_key_spreads_bits() {
        assert_eq!(des_key(&[0xff; 7]), [0xfe; 8]);
        assert_eq!(
            des_key(&[0x80, 0, 0, 0, 0, 0, 0]),
            [0x80, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(des_key(&[0, 0, 0, 0, 0, 0, 1]), [0, 0, 0, 0, 0, 0, 0, 2]);
    }

    #[test]
    fn success_message_parsing() {
        let ok =
            SuccessMessage::parse(b"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=hello").unwrap();
        assert_eq!(ok.authenticator_response[0], 0x40);
        assert_eq!(ok.message.as_deref(), Some("hello"));
        assert!(SuccessMessage::parse(b"S=407a5589115fd0d6209f510fe9c04566932cda56").is_ok());
        for bad in [
            &b""[..],
            b"S=",
            b"S=407A5589115FD0D6209F510FE9C04566932CDA5",
            b"S=407A5589115FD0D6209F510FE9C04566932CDA5G",
            b"S=407A5589115FD0D6209F510FE9C04566932CDA56X",
            b"S=407A5589115FD0D6209F510FE9C04566932CDA56 N=x",
            b"s=407A5589115FD0D6209F510FE9C04566932CDA56",
        ] {
            assert!(SuccessMessage::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn failure_message_parsing() {
        let f = FailureMessage::parse(
            b"E=691 R=1 C=00112233445566778899aabbccddeeff V=3 M=Authentication failure",
        )
        .unwrap();
        assert_eq!(f.error, 691);
        assert!(f.retry);
        assert_eq!(f.challenge.unwrap()[15], 0xff);
        assert_eq!(f.version, Some(3));
        assert_eq!(f.message.as_deref(), Some("Authentication failure"));
        assert_eq!(f.explanation(), "the user name or password is wrong");
        assert_eq!(FailureMessage::parse(b"E=647").unwrap().error, 647);
        for bad in [
            &b""[..],
            b"R=0",
            b"E=",
            b"E=x",
            b"E=1 E=2",
            b"E=691 R=2",
            b"E=691 C=00",
            b"E=691 Q=1",
            b"E=99999999999",
        ] {
            assert!(FailureMessage::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn packet_length_must_match() {
        assert!(MsChapPacket::parse(&[1, 0, 0, 4]).is_ok());
        assert!(MsChapPacket::parse(&[1, 0, 0, 5]).is_err());
        assert!(MsChapPacket::parse(&[1, 0, 0]).is_err());
    }
}
