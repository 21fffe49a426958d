//! A minimal strict DER reader and writer for the few structures IKE signatures need: the
//! RFC 7427 AlgorithmIdentifier and RSASSA-PSS-params. Definite lengths only, minimal length
//! encoding, no nesting deeper than the callers ask for.

/// DER tags used here.
pub(crate) mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const CONTEXT_0: u8 = 0xa0;
    pub const CONTEXT_1: u8 = 0xa1;
    pub const CONTEXT_2: u8 = 0xa2;
    pub const CONTEXT_3: u8 = 0xa3;
}

/// A cursor over DER bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.input.first().copied()
    }

    /// Reads one TLV, returning its tag and contents.
    pub(crate) fn read_any(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 2 {
                return None; // indefinite, or longer than anything IKE signs here
            }
            let (bytes, rest) = rest.split_at_checked(n)?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            // Minimal encoding: no leading zero byte, and long form only from 128.
            if bytes[0] == 0 || len < 0x80 {
                return None;
            }
            (len, rest)
        };
        let (contents, rest) = rest.split_at_checked(len)?;
        self.input = rest;
        Some((tag, contents))
    }

    /// Reads one TLV with `expected` tag.
    pub(crate) fn read(&mut self, expected: u8) -> Option<&'a [u8]> {
        match self.read_any()? {
            (tag, contents) if tag == expected => Some(contents),
            _ => None,
        }
    }

    /// Reads a small non-negative INTEGER.
    pub(crate) fn read_small_uint(&mut self) -> Option<u32> {
        let bytes = self.read(tag::INTEGER)?;
        match bytes {
            [] => None,
            [b, ..] if b & 0x80 != 0 => None,
            [0, b, ..] if b & 0x80 == 0 => None,
            _ if bytes.len() > 5 => None,
            _ => {
                let v = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
                u32::try_from(v).ok()
            }
        }
    }
}

/// Appends a TLV (lengths below 64 KiB).
pub(crate) fn write_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(contents);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_rejects() {
        let mut r = Reader::new(&[0x30, 0x03, 0x02, 0x01, 0x20]);
        let seq = r.read(tag::SEQUENCE).unwrap();
        assert!(r.is_empty());
        assert_eq!(Reader::new(seq).read_small_uint(), Some(32));
        for bad in [
            &[0x30, 0x80][..],
            &[0x30, 0x81, 0x05, 0, 0, 0, 0, 0],
            &[0x30, 0x82, 0x00, 0x81],
            &[0x30, 0x02, 0x00],
            &[0x30],
        ] {
            assert!(Reader::new(bad).read_any().is_none(), "{bad:?}");
        }
        for bad_int in [
            &[0x02, 0x00][..],
            &[0x02, 0x01, 0x80],
            &[0x02, 0x02, 0x00, 0x01],
        ] {
            assert!(Reader::new(bad_int).read_small_uint().is_none());
        }
        let mut out = Vec::new();
        write_tlv(&mut out, tag::SEQUENCE, &[0; 200]);
        assert_eq!(&out[..3], &[0x30, 0x81, 200]);
        let mut r = Reader::new(&out);
        assert_eq!(r.read(tag::SEQUENCE).unwrap().len(), 200);
    }
}
