//! Traffic Selector payloads (TSi / TSr, RFC 7296 §3.13), mapped to
//! [`ipsec_types::TrafficSelector`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipsec_types::TrafficSelector;

use super::{Reader, WireError, len16};

/// TS type of an IPv4 address range.
pub const TS_IPV4_ADDR_RANGE: u8 = 7;
/// TS type of an IPv6 address range.
pub const TS_IPV6_ADDR_RANGE: u8 = 8;

/// Most selectors accepted in one payload.
pub const MAX_SELECTORS: usize = 32;

/// A Traffic Selector payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TsRepr {
    /// The selectors, in the order sent.
    pub selectors: Vec<TrafficSelector>,
}

impl TsRepr {
    /// Parses a TS payload body. Selector types other than IPv4/IPv6 ranges are rejected: we
    /// never propose them, so a peer may not answer with them (RFC 7296 §2.9).
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "TS payload");
        let count = usize::from(r.u8()?);
        let _reserved = r.take(3)?;
        if count > MAX_SELECTORS {
            return Err(WireError::TooMany("traffic selectors"));
        }
        let mut selectors = Vec::new();
        for _ in 0..count {
            let ts_type = r.u8()?;
            let ip_protocol = r.u8()?;
            let len = usize::from(r.u16()?);
            let addr_len = match ts_type {
                TS_IPV4_ADDR_RANGE => 4,
                TS_IPV6_ADDR_RANGE => 16,
                _ => return Err(WireError::Malformed("unsupported traffic selector type")),
            };
            if len != 8 + 2 * addr_len {
                return Err(WireError::BadLength("traffic selector"));
            }
            let start_port = r.u16()?;
            let end_port = r.u16()?;
            let (start, end) = if addr_len == 4 {
                (
                    IpAddr::V4(Ipv4Addr::from(r.array::<4>()?)),
                    IpAddr::V4(Ipv4Addr::from(r.array::<4>()?)),
                )
            } else {
                (
                    IpAddr::V6(Ipv6Addr::from(r.array::<16>()?)),
                    IpAddr::V6(Ipv6Addr::from(r.array::<16>()?)),
                )
            };
            let ts = TrafficSelector::new(ip_protocol, start_port, end_port, start, end)
                .map_err(|_| WireError::Malformed("traffic selector range is empty"))?;
            selectors.push(ts);
        }
        if !r.is_empty() {
            return Err(WireError::BadLength("TS payload"));
        }
        Ok(Self { selectors })
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        4 + self
            .selectors
            .iter()
            .map(|ts| if ts.is_ipv4() { 16 } else { 40 })
            .sum::<usize>()
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(u8::try_from(self.selectors.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&[0, 0, 0]);
        for ts in &self.selectors {
            let (ts_type, len) = if ts.is_ipv4() {
                (TS_IPV4_ADDR_RANGE, 16)
            } else {
                (TS_IPV6_ADDR_RANGE, 40)
            };
            out.push(ts_type);
            out.push(ts.ip_protocol());
            out.extend_from_slice(&len16(len));
            out.extend_from_slice(&ts.start_port().to_be_bytes());
            out.extend_from_slice(&ts.end_port().to_be_bytes());
            for addr in [ts.start_addr(), ts.end_addr()] {
                match addr {
                    IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                    IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
                }
            }
        }
    }
}
