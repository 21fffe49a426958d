//! Traffic selectors (RFC 7296 §3.13.1) and the IP prefixes routes are made of.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a traffic selector or prefix is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Start and end address are of different families.
    #[error("traffic selector mixes IPv4 and IPv6 addresses")]
    MixedFamilies,
    /// The start of a range is above its end.
    #[error("traffic selector range starts after it ends")]
    EmptyRange,
    /// A prefix length beyond 32 (IPv4) or 128 (IPv6).
    #[error("prefix length {0} is too long for the address family")]
    PrefixTooLong(u8),
}

/// One traffic selector: an address range, a port range and an IP protocol (0 = any).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    ip_protocol: u8,
    start_port: u16,
    end_port: u16,
    start_addr: IpAddr,
    end_addr: IpAddr,
}

impl TrafficSelector {
    /// A selector from its parts, checked: one family, start ≤ end for addresses and ports.
    pub fn new(
        ip_protocol: u8,
        start_port: u16,
        end_port: u16,
        start_addr: IpAddr,
        end_addr: IpAddr,
    ) -> Result<Self, SelectorError> {
        if start_addr.is_ipv4() != end_addr.is_ipv4() {
            return Err(SelectorError::MixedFamilies);
        }
        if to_u128(start_addr) > to_u128(end_addr) || start_port > end_port {
            return Err(SelectorError::EmptyRange);
        }
        Ok(Self {
            ip_protocol,
            start_port,
            end_port,
            start_addr,
            end_addr,
        })
    }

    /// Every IPv4 address, any protocol and port: `0.0.0.0/0`.
    #[must_use]
    pub const fn ipv4_any() -> Self {
        Self {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            end_addr: IpAddr::V4(Ipv4Addr::BROADCAST),
        }
    }

    /// Every IPv6 address, any protocol and port: `::/0`.
    #[must_use]
    pub const fn ipv6_any() -> Self {
        Self {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            end_addr: IpAddr::V6(Ipv6Addr::new(
                0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
            )),
        }
    }

    /// A selector covering one prefix, any protocol and port.
    #[must_use]
    pub fn from_prefix(prefix: IpPrefix) -> Self {
        Self {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: prefix.first(),
            end_addr: prefix.last(),
        }
    }

    /// IP protocol number, 0 for any.
    #[must_use]
    pub const fn ip_protocol(&self) -> u8 {
        self.ip_protocol
    }

    /// First port of the range.
    #[must_use]
    pub const fn start_port(&self) -> u16 {
        self.start_port
    }

    /// Last port of the range.
    #[must_use]
    pub const fn end_port(&self) -> u16 {
        self.end_port
    }

    /// First address of the range.
    #[must_use]
    pub const fn start_addr(&self) -> IpAddr {
        self.start_addr
    }

    /// Last address of the range.
    #[must_use]
    pub const fn end_addr(&self) -> IpAddr {
        self.end_addr
    }

    /// Whether the selector is for IPv4 (`TS_IPV4_ADDR_RANGE`).
    #[must_use]
    pub const fn is_ipv4(&self) -> bool {
        self.start_addr.is_ipv4()
    }

    /// Whether `addr` lies in the address range (protocol and ports not considered).
    #[must_use]
    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.is_ipv4()
            && (to_u128(self.start_addr)..=to_u128(self.end_addr)).contains(&to_u128(addr))
    }

    /// Whether `other` is entirely inside this selector (used to check that a responder only
    /// narrowed what we proposed, RFC 7296 §2.9).
    #[must_use]
    pub fn contains(&self, other: &Self) -> bool {
        self.is_ipv4() == other.is_ipv4()
            && to_u128(self.start_addr) <= to_u128(other.start_addr)
            && to_u128(other.end_addr) <= to_u128(self.end_addr)
            && self.start_port <= other.start_port
            && other.end_port <= self.end_port
            && (self.ip_protocol == 0 || self.ip_protocol == other.ip_protocol)
    }

    /// The smallest list of prefixes that covers exactly the address range, for routes.
    #[must_use]
    pub fn to_prefixes(&self) -> Vec<IpPrefix> {
        let bits: u8 = if self.is_ipv4() { 32 } else { 128 };
        let mut start = to_u128(self.start_addr);
        let end = to_u128(self.end_addr);
        let mut out = Vec::new();
        loop {
            // The largest aligned block that starts at `start` and does not pass `end`.
            let align = if start == 0 {
                u32::from(bits)
            } else {
                start.trailing_zeros().min(u32::from(bits))
            };
            let mut size_log = align;
            while size_log > 0 && block_end(start, size_log) > end {
                size_log -= 1;
            }
            let len = bits - u8::try_from(size_log).unwrap_or(bits);
            out.push(IpPrefix {
                addr: from_u128(start, self.is_ipv4()),
                len,
            });
            let last = block_end(start, size_log);
            if last >= end {
                break;
            }
            start = last + 1;
        }
        out
    }
}

/// Last value of the block of 2^`size_log` values starting at `start`.
fn block_end(start: u128, size_log: u32) -> u128 {
    if size_log >= 128 {
        u128::MAX
    } else {
        start + ((1u128 << size_log) - 1)
    }
}

impl fmt::Debug for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrafficSelector({self})")
    }
}

impl fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefixes = self.to_prefixes();
        if let [single] = prefixes.as_slice() {
            write!(f, "{single}")?;
        } else {
            write!(f, "{}..{}", self.start_addr, self.end_addr)?;
        }
        if self.ip_protocol != 0 {
            write!(f, "[{}", self.ip_protocol)?;
            if (self.start_port, self.end_port) != (0, u16::MAX) {
                write!(f, "/{}-{}", self.start_port, self.end_port)?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// An IP prefix (`addr/len`) with the host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    /// A prefix; the host bits of `addr` are cleared.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, SelectorError> {
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        if len > bits {
            return Err(SelectorError::PrefixTooLong(len));
        }
        let host_bits = u32::from(bits - len);
        let value = to_u128(addr);
        let masked = if host_bits >= 128 {
            0
        } else {
            value & !((1u128 << host_bits) - 1)
        };
        Ok(Self {
            addr: from_u128(masked, addr.is_ipv4()),
            len,
        })
    }

    /// The network address.
    #[must_use]
    pub const fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    #[must_use]
    pub const fn prefix_len(&self) -> u8 {
        self.len
    }

    /// First address in the prefix.
    #[must_use]
    pub const fn first(&self) -> IpAddr {
        self.addr
    }

    /// Last address in the prefix.
    #[must_use]
    pub fn last(&self) -> IpAddr {
        let bits = if self.addr.is_ipv4() { 32 } else { 128 };
        let host_bits = u32::from(bits - self.len);
        from_u128(
            block_end(to_u128(self.addr), host_bits),
            self.addr.is_ipv4(),
        )
    }

    /// Whether `addr` is inside the prefix.
    #[must_use]
    pub fn contains(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.addr.is_ipv4()
            && (to_u128(self.addr)..=to_u128(self.last())).contains(&to_u128(addr))
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

fn to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(value: u128, ipv4: bool) -> IpAddr {
    if ipv4 {
        // Callers only pass values that came from IPv4 addresses.
        IpAddr::V4(Ipv4Addr::from(u32::try_from(value).unwrap_or(u32::MAX)))
    } else {
        IpAddr::V6(Ipv6Addr::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn any_selectors_are_one_prefix() {
        assert_eq!(TrafficSelector::ipv4_any().to_string(), "0.0.0.0/0");
        assert_eq!(TrafficSelector::ipv6_any().to_string(), "::/0");
        assert!(TrafficSelector::ipv4_any().contains_addr(v4("10.1.2.3")));
        assert!(!TrafficSelector::ipv4_any().contains_addr("::1".parse().unwrap()));
    }

    #[test]
    fn range_splits_into_minimal_prefixes() {
        let ts = TrafficSelector::new(0, 0, 65535, v4("10.0.0.1"), v4("10.0.0.6")).unwrap();
        let got: Vec<String> = ts.to_prefixes().iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        let one = TrafficSelector::new(0, 0, 65535, v4("10.0.0.9"), v4("10.0.0.9")).unwrap();
        assert_eq!(one.to_string(), "10.0.0.9/32");
    }

    #[test]
    fn narrowing_check() {
        let any = TrafficSelector::ipv4_any();
        let lan = TrafficSelector::from_prefix(IpPrefix::new(v4("192.168.7.99"), 24).unwrap());
        assert_eq!(lan.to_string(), "192.168.7.0/24");
        assert!(any.contains(&lan));
        assert!(!lan.contains(&any));
        assert!(!TrafficSelector::ipv6_any().contains(&lan));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(
            TrafficSelector::new(0, 0, 1, v4("10.0.0.2"), v4("10.0.0.1")),
            Err(SelectorError::EmptyRange)
        );
        assert_eq!(
            TrafficSelector::new(0, 0, 1, v4("10.0.0.2"), "::1".parse().unwrap()),
            Err(SelectorError::MixedFamilies)
        );
        assert_eq!(
            IpPrefix::new(v4("1.2.3.4"), 33),
            Err(SelectorError::PrefixTooLong(33))
        );
    }

    #[test]
    fn prefix_edges() {
        let p = IpPrefix::new("2001:db8::1".parse().unwrap(), 0).unwrap();
        assert_eq!(p.to_string(), "::/0");
        assert!(p.contains("ffff::".parse().unwrap()));
        let h = IpPrefix::new(v4("10.9.8.7"), 32).unwrap();
        assert_eq!(h.last(), v4("10.9.8.7"));
    }
}
