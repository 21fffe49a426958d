//! Serde adapters for types this crate does not own, and text forms shared by the importers.

use std::net::IpAddr;

use ipsec_types::{IpPrefix, TrafficSelector};

/// Parses `addr/len`, a bare address (a host prefix), or an `a.b.c.d-e.f.g.h` range (split into
/// the fewest prefixes that cover it exactly).
pub(crate) fn parse_prefixes(text: &str) -> Result<Vec<IpPrefix>, String> {
    let text = text.trim();
    if let Some((start, end)) = text.split_once('-') {
        let start: IpAddr = start
            .trim()
            .parse()
            .map_err(|_| format!("`{start}` is not an IP address"))?;
        let end: IpAddr = end
            .trim()
            .parse()
            .map_err(|_| format!("`{end}` is not an IP address"))?;
        let selector = TrafficSelector::new(0, 0, u16::MAX, start, end)
            .map_err(|e| format!("range `{text}`: {e}"))?;
        return Ok(selector.to_prefixes());
    }
    parse_prefix(text).map(|prefix| vec![prefix])
}

/// Parses `addr/len` or a bare address. Host bits must be clear (`10.0.0.1/8` is refused: it
/// usually means the author meant something else).
pub(crate) fn parse_prefix(text: &str) -> Result<IpPrefix, String> {
    let (addr_text, len_text) = match text.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (text, None),
    };
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| format!("`{addr_text}` is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len_text {
        None => max,
        Some(len) => len
            .parse::<u8>()
            .ok()
            .filter(|len| *len <= max)
            .ok_or_else(|| format!("`{len}` is not a prefix length between 0 and {max}"))?,
    };
    let prefix = IpPrefix::new(addr, len).map_err(|e| e.to_string())?;
    if prefix.addr() != addr {
        return Err(format!(
            "`{text}` has host bits set (the network is {prefix})"
        ));
    }
    Ok(prefix)
}

/// A list of prefixes as a list of `addr/len` strings.
pub(crate) mod prefix_list {
    use ipsec_types::IpPrefix;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        prefixes: &[IpPrefix],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(prefixes.iter().map(ToString::to_string))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<IpPrefix>, D::Error> {
        let texts = Vec::<String>::deserialize(deserializer)?;
        texts
            .iter()
            .map(|text| super::parse_prefix(text).map_err(D::Error::custom))
            .collect()
    }
}

/// Bytes as standard base64 text.
pub(crate) mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|e| D::Error::custom(format!("invalid base64: {e}")))
    }
}

/// Decodes base64 the way files in the wild write it: standard alphabet, padding optional,
/// line breaks and spaces allowed (PEM-style wrapping).
pub(crate) fn decode_base64_lenient(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    // The text may encode a PKCS#12 bundle: keep the working copy zeroizing too.
    let compact: zeroize::Zeroizing<String> =
        zeroize::Zeroizing::new(text.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    let unpadded = compact.trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(unpadded.as_bytes())
        .map_err(|e| format!("invalid base64: {e}"))
}
