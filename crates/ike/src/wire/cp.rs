//! The Configuration payload (RFC 7296 §3.15, RFC 8598): virtual IPs, DNS servers, domains.

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Reader, WireError, len16};

/// Most attributes accepted in one CP payload.
pub const MAX_CONFIG_ATTRIBUTES: usize = 64;

/// The CP message type. Unknown values are kept as numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CfgType(pub u8);

impl CfgType {
    /// `CFG_REQUEST`: the initiator asks for configuration.
    pub const REQUEST: Self = Self(1);
    /// `CFG_REPLY`: the responder's answer.
    pub const REPLY: Self = Self(2);
    /// `CFG_SET`: unsolicited configuration.
    pub const SET: Self = Self(3);
    /// `CFG_ACK`: acknowledges a `CFG_SET`.
    pub const ACK: Self = Self(4);
}

impl fmt::Debug for CfgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("CFG_REQUEST"),
            2 => f.write_str("CFG_REPLY"),
            3 => f.write_str("CFG_SET"),
            4 => f.write_str("CFG_ACK"),
            n => write!(f, "CfgType({n})"),
        }
    }
}

/// A configuration attribute type number (15 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConfigAttributeType(pub u16);

impl ConfigAttributeType {
    /// `INTERNAL_IP4_ADDRESS`.
    pub const INTERNAL_IP4_ADDRESS: Self = Self(1);
    /// `INTERNAL_IP4_NETMASK`.
    pub const INTERNAL_IP4_NETMASK: Self = Self(2);
    /// `INTERNAL_IP4_DNS`.
    pub const INTERNAL_IP4_DNS: Self = Self(3);
    /// `APPLICATION_VERSION`.
    pub const APPLICATION_VERSION: Self = Self(7);
    /// `INTERNAL_IP6_ADDRESS`.
    pub const INTERNAL_IP6_ADDRESS: Self = Self(8);
    /// `INTERNAL_IP6_DNS`.
    pub const INTERNAL_IP6_DNS: Self = Self(10);
    /// `INTERNAL_IP4_SUBNET`.
    pub const INTERNAL_IP4_SUBNET: Self = Self(13);
    /// `INTERNAL_IP6_SUBNET`.
    pub const INTERNAL_IP6_SUBNET: Self = Self(15);
    /// `INTERNAL_DNS_DOMAIN` (RFC 8598).
    pub const INTERNAL_DNS_DOMAIN: Self = Self(25);

    /// Whether [`ConfigAttribute`] has a typed variant for this number.
    #[must_use]
    pub const fn is_typed(self) -> bool {
        matches!(self.0, 1 | 2 | 3 | 7 | 8 | 10 | 25)
    }
}

/// One configuration attribute. `None` values are requests (zero-length attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigAttribute {
    /// `INTERNAL_IP4_ADDRESS`: the virtual IPv4 address.
    Ip4Address(Option<Ipv4Addr>),
    /// `INTERNAL_IP4_NETMASK`.
    Ip4Netmask(Option<Ipv4Addr>),
    /// `INTERNAL_IP4_DNS`: a DNS server.
    Ip4Dns(Option<Ipv4Addr>),
    /// `INTERNAL_IP6_ADDRESS`: the virtual IPv6 address and its prefix length.
    Ip6Address(Option<(Ipv6Addr, u8)>),
    /// `INTERNAL_IP6_DNS`: a DNS server.
    Ip6Dns(Option<Ipv6Addr>),
    /// `INTERNAL_DNS_DOMAIN` (RFC 8598): a domain to resolve through the tunnel.
    DnsDomain(Option<String>),
    /// `APPLICATION_VERSION`: free-form version text (empty in a request).
    ApplicationVersion(Vec<u8>),
    /// Any other attribute, kept raw.
    Other {
        /// The attribute type; never one of the typed variants'.
        attr_type: ConfigAttributeType,
        /// The value bytes.
        value: Vec<u8>,
    },
}

fn opt_array<const N: usize>(value: &[u8]) -> Result<Option<[u8; N]>, WireError> {
    match value.len() {
        0 => Ok(None),
        n if n == N => {
            let mut out = [0u8; N];
            out.copy_from_slice(value);
            Ok(Some(out))
        }
        _ => Err(WireError::BadLength("configuration attribute")),
    }
}

impl ConfigAttribute {
    /// The attribute type number.
    #[must_use]
    pub const fn attr_type(&self) -> ConfigAttributeType {
        match self {
            Self::Ip4Address(_) => ConfigAttributeType::INTERNAL_IP4_ADDRESS,
            Self::Ip4Netmask(_) => ConfigAttributeType::INTERNAL_IP4_NETMASK,
            Self::Ip4Dns(_) => ConfigAttributeType::INTERNAL_IP4_DNS,
            Self::Ip6Address(_) => ConfigAttributeType::INTERNAL_IP6_ADDRESS,
            Self::Ip6Dns(_) => ConfigAttributeType::INTERNAL_IP6_DNS,
            Self::DnsDomain(_) => ConfigAttributeType::INTERNAL_DNS_DOMAIN,
            Self::ApplicationVersion(_) => ConfigAttributeType::APPLICATION_VERSION,
            Self::Other { attr_type, .. } => *attr_type,
        }
    }

    fn from_parts(attr_type: ConfigAttributeType, value: &[u8]) -> Result<Self, WireError> {
        Ok(match attr_type {
            ConfigAttributeType::INTERNAL_IP4_ADDRESS => {
                Self::Ip4Address(opt_array::<4>(value)?.map(Ipv4Addr::from))
            }
            ConfigAttributeType::INTERNAL_IP4_NETMASK => {
                Self::Ip4Netmask(opt_array::<4>(value)?.map(Ipv4Addr::from))
            }
            ConfigAttributeType::INTERNAL_IP4_DNS => {
                Self::Ip4Dns(opt_array::<4>(value)?.map(Ipv4Addr::from))
            }
            ConfigAttributeType::INTERNAL_IP6_ADDRESS => {
                Self::Ip6Address(opt_array::<17>(value)?.map(|v| {
                    let mut addr = [0u8; 16];
                    addr.copy_from_slice(&v[..16]);
                    (Ipv6Addr::from(addr), v[16])
                }))
            }
            ConfigAttributeType::INTERNAL_IP6_DNS => {
                Self::Ip6Dns(opt_array::<16>(value)?.map(Ipv6Addr::from))
            }
            ConfigAttributeType::INTERNAL_DNS_DOMAIN => Self::DnsDomain(if value.is_empty() {
                None
            } else {
                Some(
                    String::from_utf8(value.to_vec())
                        .map_err(|_| WireError::Malformed("INTERNAL_DNS_DOMAIN is not text"))?,
                )
            }),
            ConfigAttributeType::APPLICATION_VERSION => Self::ApplicationVersion(value.to_vec()),
            other => Self::Other {
                attr_type: other,
                value: value.to_vec(),
            },
        })
    }

    fn value_len(&self) -> usize {
        match self {
            Self::Ip4Address(v) | Self::Ip4Netmask(v) | Self::Ip4Dns(v) => v.map_or(0, |_| 4),
            Self::Ip6Address(v) => v.map_or(0, |_| 17),
            Self::Ip6Dns(v) => v.map_or(0, |_| 16),
            Self::DnsDomain(v) => v.as_ref().map_or(0, String::len),
            Self::ApplicationVersion(v) | Self::Other { value: v, .. } => v.len(),
        }
    }

    /// Encoded length including the 4-byte attribute header.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        4 + self.value_len()
    }

    /// Appends the encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.attr_type().0 & 0x7fff).to_be_bytes());
        out.extend_from_slice(&len16(self.value_len()));
        match self {
            Self::Ip4Address(v) | Self::Ip4Netmask(v) | Self::Ip4Dns(v) => {
                if let Some(a) = v {
                    out.extend_from_slice(&a.octets());
                }
            }
            Self::Ip6Address(v) => {
                if let Some((a, len)) = v {
                    out.extend_from_slice(&a.octets());
                    out.push(*len);
                }
            }
            Self::Ip6Dns(v) => {
                if let Some(a) = v {
                    out.extend_from_slice(&a.octets());
                }
            }
            Self::DnsDomain(v) => {
                if let Some(d) = v {
                    out.extend_from_slice(d.as_bytes());
                }
            }
            Self::ApplicationVersion(v) | Self::Other { value: v, .. } => out.extend_from_slice(v),
        }
    }
}

/// A Configuration payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpRepr {
    /// Request, reply, set or ack.
    pub cfg_type: CfgType,
    /// The attributes.
    pub attributes: Vec<ConfigAttribute>,
}

impl CpRepr {
    /// Parses a CP payload body.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "CP payload");
        let cfg_type = CfgType(r.u8()?);
        let _reserved = r.take(3)?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            if attributes.len() == MAX_CONFIG_ATTRIBUTES {
                return Err(WireError::TooMany("configuration attributes"));
            }
            let attr_type = ConfigAttributeType(r.u16()? & 0x7fff);
            let len = usize::from(r.u16()?);
            let value = r.take(len)?;
            attributes.push(ConfigAttribute::from_parts(attr_type, value)?);
        }
        Ok(Self {
            cfg_type,
            attributes,
        })
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        4 + self
            .attributes
            .iter()
            .map(ConfigAttribute::buffer_len)
            .sum::<usize>()
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.cfg_type.0);
        out.extend_from_slice(&[0, 0, 0]);
        for attr in &self.attributes {
            attr.emit(out);
        }
    }
}
