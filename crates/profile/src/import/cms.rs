//! Unwrapping CMS-signed configuration profiles (RFC 5652 `SignedData` around the XML plist).
//!
//! Only the path to the signed content is walked, with a small BER reader that checks every
//! length against the input and bounds its recursion; the signature is not verified (the caller
//! reports that).

use super::ImportError;

/// `1.2.840.113549.1.7.2` (id-signedData), DER-encoded with its tag and length.
const OID_SIGNED_DATA: &[u8] = &[
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02,
];
/// `1.2.840.113549.1.7.1` (id-data), DER-encoded with its tag and length.
const OID_DATA: &[u8] = &[
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01,
];

const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OCTET_STRING_CONSTRUCTED: u8 = 0x24;
const TAG_CONTEXT_0: u8 = 0xA0;
/// Deepest BER nesting walked while skipping indefinite-length values.
const MAX_DEPTH: usize = 12;

/// Whether the bytes look like a CMS `SignedData` `ContentInfo`.
pub(crate) fn looks_signed(bytes: &[u8]) -> bool {
    bytes.first() == Some(&TAG_SEQUENCE)
        && bytes.get(..bytes.len().min(32)).is_some_and(|head| {
            head.windows(OID_SIGNED_DATA.len())
                .any(|w| w == OID_SIGNED_DATA)
        })
}

fn malformed(detail: &str) -> ImportError {
    ImportError::Malformed {
        format: "CMS signed profile",
        detail: detail.to_owned(),
    }
}

/// One BER element: its tag, its content (for indefinite lengths: the children without the
/// end-of-contents marker), and what follows it.
struct Element<'a> {
    tag: u8,
    content: &'a [u8],
    rest: &'a [u8],
}

fn read(input: &[u8], depth: usize) -> Result<Element<'_>, ImportError> {
    if depth > MAX_DEPTH {
        return Err(malformed("nested too deeply"));
    }
    let [tag, first_len, after @ ..] = input else {
        return Err(malformed("truncated element"));
    };
    if tag & 0x1F == 0x1F {
        return Err(malformed("multi-byte tags are not used in CMS headers"));
    }
    if *first_len == 0x80 {
        // Indefinite length (BER): only for constructed values; walk children to the
        // end-of-contents marker.
        if tag & 0x20 == 0 {
            return Err(malformed("indefinite length on a primitive value"));
        }
        let mut cursor = after;
        loop {
            if let [0, 0, rest @ ..] = cursor {
                let content_len = after.len() - cursor.len();
                return Ok(Element {
                    tag: *tag,
                    content: &after[..content_len],
                    rest,
                });
            }
            cursor = read(cursor, depth + 1)?.rest;
        }
    }
    let (len, after) = if first_len & 0x80 == 0 {
        (usize::from(*first_len), after)
    } else {
        let count = usize::from(first_len & 0x7F);
        if count > 4 || after.len() < count {
            return Err(malformed("invalid length"));
        }
        let (len_bytes, after) = after.split_at(count);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, after)
    };
    if len > after.len() {
        return Err(malformed("a length runs past the end of the file"));
    }
    let (content, rest) = after.split_at(len);
    Ok(Element {
        tag: *tag,
        content,
        rest,
    })
}

fn expect<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<Element<'a>, ImportError> {
    let element = read(input, 0)?;
    if element.tag != tag {
        return Err(malformed(&format!("expected {what}")));
    }
    Ok(element)
}

/// Extracts the signed content (the XML plist) of a CMS `SignedData` profile.
pub(crate) fn signed_content(bytes: &[u8]) -> Result<Vec<u8>, ImportError> {
    let content_info = expect(bytes, TAG_SEQUENCE, "a ContentInfo SEQUENCE")?;
    let oid = read(content_info.content, 0)?;
    let oid_bytes = &content_info.content[..content_info.content.len() - oid.rest.len()];
    if oid_bytes != OID_SIGNED_DATA {
        return Err(malformed("not a SignedData ContentInfo"));
    }
    let explicit = expect(oid.rest, TAG_CONTEXT_0, "the [0] SignedData wrapper")?;
    let signed_data = expect(explicit.content, TAG_SEQUENCE, "a SignedData SEQUENCE")?;
    let version = expect(signed_data.content, TAG_INTEGER, "the SignedData version")?;
    let digest_algorithms = expect(version.rest, TAG_SET, "the digest algorithm SET")?;
    let encap = expect(
        digest_algorithms.rest,
        TAG_SEQUENCE,
        "the EncapsulatedContentInfo SEQUENCE",
    )?;
    let content_type = read(encap.content, 0)?;
    let type_bytes = &encap.content[..encap.content.len() - content_type.rest.len()];
    if type_bytes != OID_DATA {
        return Err(malformed("the signed content is not of type data"));
    }
    if content_type.rest.is_empty() {
        return Err(ImportError::Unsupported {
            field: "(signature)".into(),
            reason: "the profile is signed with detached content; there is nothing to import"
                .into(),
        });
    }
    let wrapper = expect(content_type.rest, TAG_CONTEXT_0, "the [0] content wrapper")?;
    let octets = read(wrapper.content, 0)?;
    match octets.tag {
        TAG_OCTET_STRING => Ok(octets.content.to_vec()),
        TAG_OCTET_STRING_CONSTRUCTED => {
            // BER may split the content into primitive chunks.
            let mut out = Vec::with_capacity(octets.content.len());
            let mut cursor = octets.content;
            while !cursor.is_empty() {
                let chunk = expect(cursor, TAG_OCTET_STRING, "an OCTET STRING chunk")?;
                out.extend_from_slice(chunk.content);
                cursor = chunk.rest;
            }
            Ok(out)
        }
        _ => Err(malformed("the signed content is not an OCTET STRING")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 128 {
            out.push(u8::try_from(content.len()).unwrap());
        } else {
            out.push(0x82);
            out.extend_from_slice(&u16::try_from(content.len()).unwrap().to_be_bytes());
        }
        out.extend_from_slice(content);
        out
    }

    pub(crate) fn wrap(payload: &[u8]) -> Vec<u8> {
        let encap = tlv(
            TAG_SEQUENCE,
            &[
                OID_DATA,
                &tlv(TAG_CONTEXT_0, &tlv(TAG_OCTET_STRING, payload)),
            ]
            .concat(),
        );
        let signed = tlv(
            TAG_SEQUENCE,
            &[
                &tlv(TAG_INTEGER, &[1])[..],
                &tlv(TAG_SET, &[]),
                &encap,
                &tlv(TAG_SET, &[]), // signerInfos (contents irrelevant here)
            ]
            .concat(),
        );
        tlv(
            TAG_SEQUENCE,
            &[OID_SIGNED_DATA, &tlv(TAG_CONTEXT_0, &signed)].concat(),
        )
    }

    #[test]
    fn extracts_definite_length_content() {
        let der = wrap(b"<plist>hello</plist>");
        assert!(looks_signed(&der));
        assert_eq!(signed_content(&der).unwrap(), b"<plist>hello</plist>");
    }

    #[test]
    fn extracts_indefinite_chunked_content() {
        // ContentInfo with indefinite lengths and a chunked OCTET STRING, as streaming
        // encoders write it.
        let mut ber = vec![TAG_SEQUENCE, 0x80];
        ber.extend_from_slice(OID_SIGNED_DATA);
        ber.extend_from_slice(&[TAG_CONTEXT_0, 0x80, TAG_SEQUENCE, 0x80]);
        ber.extend_from_slice(&tlv(TAG_INTEGER, &[1]));
        ber.extend_from_slice(&tlv(TAG_SET, &[]));
        ber.extend_from_slice(&[TAG_SEQUENCE, 0x80]);
        ber.extend_from_slice(OID_DATA);
        ber.extend_from_slice(&[TAG_CONTEXT_0, 0x80, TAG_OCTET_STRING_CONSTRUCTED, 0x80]);
        ber.extend_from_slice(&tlv(TAG_OCTET_STRING, b"<plist>"));
        ber.extend_from_slice(&tlv(TAG_OCTET_STRING, b"</plist>"));
        ber.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // octets, [0], encap
        ber.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // signedData, [0], contentInfo
        assert_eq!(signed_content(&ber).unwrap(), b"<plist></plist>");
    }

    #[test]
    fn truncation_and_garbage_are_errors() {
        let der = wrap(b"<plist/>");
        for cut in 0..der.len() {
            assert!(signed_content(&der[..cut]).is_err(), "cut at {cut}");
        }
        assert!(signed_content(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        let deep: Vec<u8> = core::iter::repeat_n([0x30, 0x80], 100).flatten().collect();
        assert!(signed_content(&deep).is_err());
    }
}
