//! Whole messages: the header plus a bounded walk along the payload chain.

use super::payload::emit_generic_header;
use super::{
    GENERIC_HEADER_LEN, GenericPayload, HEADER_LEN, HeaderRepr, IkeHeader, Payload, PayloadType,
    SkRepr, SkfRepr, WireError,
};

/// Largest message we parse or build (the IKE length field allows 4 GiB; UDP carries 64 KiB).
pub const MAX_MESSAGE_LEN: usize = 65_535;
/// Most payloads in one chain (outer, or inner inside SK).
pub const MAX_PAYLOADS: usize = 64;

/// A parsed IKE message. If it is protected, the last payload is [`Payload::Sk`] (or
/// [`Payload::Skf`]) and [`Message::encrypted`] gives what `SkCipher::open` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header.
    pub header: HeaderRepr,
    /// The payloads, in order. Unknown non-critical payloads are skipped.
    pub payloads: Vec<Payload>,
}

/// The parts of a protected message that decryption needs, borrowed from the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedMessage<'a> {
    /// Every byte before the SK/SKF body: the AEAD associated data / the start of the ICV input.
    pub aad: &'a [u8],
    /// The sealed body: IV, ciphertext, ICV.
    pub body: &'a [u8],
    /// Type of the first payload inside (SK's next-payload field; 0 in non-first fragments).
    pub first_inner: PayloadType,
    /// `(fragment number, total fragments)` for an SKF payload.
    pub fragment: Option<(u16, u16)>,
}

impl Message {
    /// Parses a message: header, version, length and the payload chain.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(WireError::TooLarge(bytes.len()));
        }
        let view = IkeHeader::new_checked(bytes)?;
        let header = HeaderRepr::parse(&view)?;
        if usize::try_from(view.length()).ok() != Some(bytes.len()) {
            return Err(WireError::BadLength("IKE header"));
        }
        let chain = bytes.get(HEADER_LEN..).unwrap_or_default();
        let payloads = parse_payload_chain(view.next_payload(), chain)?;
        Ok(Self { header, payloads })
    }

    /// If the message ends in an SK or SKF payload, the borrowed parts needed to open it.
    /// `bytes` must be the buffer this message was parsed from.
    #[must_use]
    pub fn encrypted<'a>(&self, bytes: &'a [u8]) -> Option<EncryptedMessage<'a>> {
        let (body_len, first_inner, fragment) = match self.payloads.last()? {
            Payload::Sk(sk) => (sk.body.len(), sk.first_inner, None),
            Payload::Skf(skf) => (
                skf.body.len(),
                skf.first_inner,
                Some((skf.fragment_number, skf.total_fragments)),
            ),
            _ => return None,
        };
        let split = bytes.len().checked_sub(body_len)?;
        let (aad, body) = bytes.split_at_checked(split)?;
        Some(EncryptedMessage {
            aad,
            body,
            first_inner,
            fragment,
        })
    }

    /// Encoded length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + chain_len(&self.payloads)
    }

    /// Encodes the message (SK/SKF bodies are copied as they are).
    #[must_use]
    pub fn emit(&self) -> Vec<u8> {
        let len = self.buffer_len();
        let mut out = Vec::with_capacity(len);
        self.header.emit(
            first_type(&self.payloads),
            u32::try_from(len).unwrap_or(u32::MAX),
            &mut out,
        );
        emit_payload_chain(&self.payloads, &mut out);
        out
    }

    /// The first payload of the given type.
    #[must_use]
    pub fn find(&self, ty: PayloadType) -> Option<&Payload> {
        self.payloads.iter().find(|p| p.payload_type() == ty)
    }
}

fn first_type(payloads: &[Payload]) -> PayloadType {
    payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type)
}

fn chain_len(payloads: &[Payload]) -> usize {
    payloads
        .iter()
        .map(|p| GENERIC_HEADER_LEN + p.body_len())
        .sum()
}

/// Appends payloads with generic headers linked by next-payload. An SK/SKF payload's
/// next-payload field carries its `first_inner` type instead.
pub fn emit_payload_chain(payloads: &[Payload], out: &mut Vec<u8>) {
    for (i, payload) in payloads.iter().enumerate() {
        let next = match payload {
            Payload::Sk(sk) => sk.first_inner,
            Payload::Skf(skf) => skf.first_inner,
            _ => first_type(payloads.get(i + 1..).unwrap_or_default()),
        };
        emit_generic_header(next, false, payload.body_len(), out);
        payload.emit_body(out);
    }
}

/// Walks a payload chain starting with type `first`, bounded by [`MAX_PAYLOADS`].
///
/// Unknown payloads are skipped unless critical ([`WireError::UnsupportedCriticalPayload`]).
/// An SK or SKF payload ends the chain: its next-payload names the first inner payload, and
/// no bytes may follow it. Use this also for the decrypted contents of an SK payload.
pub fn parse_payload_chain(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload>, WireError> {
    let mut payloads = Vec::new();
    let mut next = first;
    let mut rest = bytes;
    let mut seen = 0;
    while next != PayloadType::NONE {
        seen += 1;
        if seen > MAX_PAYLOADS {
            return Err(WireError::TooMany("payloads"));
        }
        let view = GenericPayload::new_checked(rest)?;
        let ty = next;
        next = view.next_payload();
        rest = rest.get(view.payload_len()..).unwrap_or_default();
        match Payload::parse(ty, view.body())? {
            Some(mut payload) => {
                let encrypted = match &mut payload {
                    Payload::Sk(SkRepr { first_inner, .. })
                    | Payload::Skf(SkfRepr { first_inner, .. }) => {
                        *first_inner = next;
                        true
                    }
                    _ => false,
                };
                payloads.push(payload);
                if encrypted {
                    next = PayloadType::NONE;
                    if !rest.is_empty() {
                        return Err(WireError::Malformed("payload after the encrypted payload"));
                    }
                }
            }
            None if view.critical() => return Err(WireError::UnsupportedCriticalPayload(ty.0)),
            None => {}
        }
    }
    if !rest.is_empty() {
        return Err(WireError::BadLength("payload chain"));
    }
    Ok(payloads)
}

/// Builds a protected message: `header`, the `cleartext` payloads (normally none), then an SK
/// payload whose plaintext is the `inner` chain.
///
/// `body_len` is `SkCipher::body_len` and `seal(aad, plaintext)` is `SkCipher::seal`: all
/// lengths are final before sealing because the associated data covers them. The codec stays
/// free of crypto so that it can be fuzzed and tested on its own.
pub fn emit_encrypted<E>(
    header: &HeaderRepr,
    cleartext: &[Payload],
    inner: &[Payload],
    body_len: impl FnOnce(usize) -> usize,
    seal: impl FnOnce(&[u8], &[u8]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, E> {
    let mut plaintext = Vec::with_capacity(chain_len(inner));
    emit_payload_chain(inner, &mut plaintext);
    let sealed_len = body_len(plaintext.len());
    let total = HEADER_LEN + chain_len(cleartext) + GENERIC_HEADER_LEN + sealed_len;
    let mut out = Vec::with_capacity(total);
    let first = if cleartext.is_empty() {
        PayloadType::SK
    } else {
        first_type(cleartext)
    };
    header.emit(first, u32::try_from(total).unwrap_or(u32::MAX), &mut out);
    for (i, payload) in cleartext.iter().enumerate() {
        let next = cleartext
            .get(i + 1)
            .map_or(PayloadType::SK, Payload::payload_type);
        emit_generic_header(next, false, payload.body_len(), &mut out);
        payload.emit_body(&mut out);
    }
    emit_generic_header(first_type(inner), false, sealed_len, &mut out);
    let body = seal(&out, &plaintext)?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Builds a protected message as RFC 7383 fragments: the `inner` chain is split into pieces of
/// at most `chunk_len` plaintext bytes, each sealed on its own in an SKF payload. Fragment 1's
/// next-payload names the first inner payload; the others carry 0.
pub fn emit_encrypted_fragments<E>(
    header: &HeaderRepr,
    inner: &[Payload],
    chunk_len: usize,
    body_len: impl Fn(usize) -> usize,
    mut seal: impl FnMut(&[u8], &[u8]) -> Result<Vec<u8>, E>,
) -> Result<Vec<Vec<u8>>, E> {
    let mut plaintext = Vec::with_capacity(chain_len(inner));
    emit_payload_chain(inner, &mut plaintext);
    let chunks: Vec<&[u8]> = if plaintext.is_empty() {
        vec![&[]]
    } else {
        plaintext.chunks(chunk_len.max(1)).collect()
    };
    let total = u16::try_from(chunks.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(chunks.len());
    for (chunk, number) in chunks.into_iter().zip(1u16..) {
        let sealed_len = body_len(chunk.len());
        let skf_body_len = SkfRepr::FIELDS_LEN + sealed_len;
        let len = HEADER_LEN + GENERIC_HEADER_LEN + skf_body_len;
        let mut msg = Vec::with_capacity(len);
        header.emit(
            PayloadType::SKF,
            u32::try_from(len).unwrap_or(u32::MAX),
            &mut msg,
        );
        let next = if number == 1 {
            first_type(inner)
        } else {
            PayloadType::NONE
        };
        emit_generic_header(next, false, skf_body_len, &mut msg);
        msg.extend_from_slice(&number.to_be_bytes());
        msg.extend_from_slice(&total.to_be_bytes());
        let body = seal(&msg, chunk)?;
        msg.extend_from_slice(&body);
        out.push(msg);
    }
    Ok(out)
}
