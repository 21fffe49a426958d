//! UDP encapsulation of ESP and IKE on the NAT-T port (RFC 3948).
//!
//! One UDP port (4500) carries three kinds of payload, told apart by their first bytes:
//! a single `0xFF` is a NAT keepalive (§2.3), four zero bytes (the non-ESP marker, §2.2) precede
//! an IKE message, anything else with a non-zero SPI is ESP (§2.1).
//!
//! [`classify`] works on the payload a UDP socket returns; [`UdpHeader`] parses and writes the
//! 8-byte header for callers that handle whole datagrams (raw sockets, TUN).

use core::ops::Range;
use std::net::IpAddr;

use crate::error::UdpError;

/// The NAT-T port (RFC 3948 §2).
pub const NAT_T_PORT: u16 = 4500;
/// Length of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;
/// The payload of a NAT keepalive (RFC 3948 §2.3).
pub const NAT_KEEPALIVE: [u8; 1] = [0xff];
/// The non-ESP marker that precedes IKE messages on port 4500 (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// Smallest payload classified as ESP: SPI and sequence number.
const MIN_ESP_LEN: usize = 8;

/// What a UDP payload on port 4500 carries. Ranges index the slice given to [`classify`], so
/// the caller can hand `&mut payload[range]` on without copying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpPayload {
    /// A NAT keepalive: drop it.
    NatKeepalive,
    /// An IKE message (the non-ESP marker removed).
    Ike(Range<usize>),
    /// An ESP packet (from its SPI on).
    Esp(Range<usize>),
}

/// Tells keepalives, IKE and ESP apart in a UDP payload received on port 4500.
pub fn classify(payload: &[u8]) -> Result<UdpPayload, UdpError> {
    match payload {
        [0xff] => Ok(UdpPayload::NatKeepalive),
        [0, 0, 0, 0, ..] => Ok(UdpPayload::Ike(NON_ESP_MARKER.len()..payload.len())),
        _ if payload.len() >= MIN_ESP_LEN => Ok(UdpPayload::Esp(0..payload.len())),
        _ => Err(UdpError::Unclassifiable(payload.len())),
    }
}

/// A UDP header (RFC 768).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Header plus payload length.
    pub length: u16,
    /// Checksum; 0 means "none" (allowed for IPv4, RFC 3948 §2.1).
    pub checksum: u16,
}

impl UdpHeader {
    /// Parses the header at the start of `datagram` and returns it with the payload range (as
    /// the length field says; trailing bytes are ignored). The checksum is not verified.
    pub fn parse(datagram: &[u8]) -> Result<(Self, Range<usize>), UdpError> {
        let Some(h) = datagram.first_chunk::<UDP_HEADER_LEN>() else {
            return Err(UdpError::Truncated {
                len: datagram.len(),
                claimed: 0,
            });
        };
        let header = Self {
            src_port: u16::from_be_bytes([h[0], h[1]]),
            dst_port: u16::from_be_bytes([h[2], h[3]]),
            length: u16::from_be_bytes([h[4], h[5]]),
            checksum: u16::from_be_bytes([h[6], h[7]]),
        };
        let claimed = usize::from(header.length);
        if claimed < UDP_HEADER_LEN {
            return Err(UdpError::BadLength(header.length));
        }
        if claimed > datagram.len() {
            return Err(UdpError::Truncated {
                len: datagram.len(),
                claimed,
            });
        }
        Ok((header, UDP_HEADER_LEN..claimed))
    }

    /// Writes the header into the first 8 bytes of `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), UdpError> {
        let Some(h) = buf.first_chunk_mut::<UDP_HEADER_LEN>() else {
            return Err(UdpError::BufferTooSmall {
                needed: UDP_HEADER_LEN,
                got: buf.len(),
            });
        };
        h[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        h[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        h[4..6].copy_from_slice(&self.length.to_be_bytes());
        h[6..8].copy_from_slice(&self.checksum.to_be_bytes());
        Ok(())
    }
}

/// Parses a whole datagram (header included) and classifies its payload; ranges index
/// `datagram`.
pub fn classify_datagram(datagram: &[u8]) -> Result<(UdpHeader, UdpPayload), UdpError> {
    let (header, payload) = UdpHeader::parse(datagram)?;
    let offset = payload.start;
    let kind = match classify(&datagram[payload])? {
        UdpPayload::NatKeepalive => UdpPayload::NatKeepalive,
        UdpPayload::Ike(r) => UdpPayload::Ike(r.start + offset..r.end + offset),
        UdpPayload::Esp(r) => UdpPayload::Esp(r.start + offset..r.end + offset),
    };
    Ok((header, kind))
}

/// Writes a UDP header (checksum 0) in the 8 bytes before `buf[payload]`, which already holds an
/// ESP packet, and returns the datagram's range. Reserve [`UDP_HEADER_LEN`] extra headroom.
/// IPv6 senders must then fill the checksum with [`fill_checksum`].
pub fn encapsulate_esp(
    buf: &mut [u8],
    payload: Range<usize>,
    src_port: u16,
    dst_port: u16,
) -> Result<Range<usize>, UdpError> {
    prepend_header(buf, payload, 0, src_port, dst_port)
}

/// Writes the non-ESP marker and a UDP header (checksum 0) before the IKE message in
/// `buf[message]` and returns the datagram's range. Reserve 12 bytes of headroom.
pub fn encapsulate_ike(
    buf: &mut [u8],
    message: Range<usize>,
    src_port: u16,
    dst_port: u16,
) -> Result<Range<usize>, UdpError> {
    let marker_at =
        message
            .start
            .checked_sub(NON_ESP_MARKER.len())
            .ok_or(UdpError::BufferTooSmall {
                needed: UDP_HEADER_LEN + NON_ESP_MARKER.len(),
                got: message.start,
            })?;
    let datagram = prepend_header(buf, message, NON_ESP_MARKER.len(), src_port, dst_port)?;
    buf[marker_at..marker_at + NON_ESP_MARKER.len()].copy_from_slice(&NON_ESP_MARKER);
    Ok(datagram)
}

/// Writes a NAT keepalive datagram (header and the `0xFF` byte) into `buf`; returns its length.
pub fn write_keepalive(buf: &mut [u8], src_port: u16, dst_port: u16) -> Result<usize, UdpError> {
    let len = UDP_HEADER_LEN + NAT_KEEPALIVE.len();
    if buf.len() < len {
        return Err(UdpError::BufferTooSmall {
            needed: len,
            got: buf.len(),
        });
    }
    buf[UDP_HEADER_LEN] = NAT_KEEPALIVE[0];
    prepend_header(buf, UDP_HEADER_LEN..len, 0, src_port, dst_port).map(|r| r.len())
}

fn prepend_header(
    buf: &mut [u8],
    payload: Range<usize>,
    extra: usize,
    src_port: u16,
    dst_port: u16,
) -> Result<Range<usize>, UdpError> {
    let needed = UDP_HEADER_LEN + extra;
    if payload.start < needed || payload.end > buf.len() || payload.start > payload.end {
        return Err(UdpError::BufferTooSmall {
            needed,
            got: payload.start,
        });
    }
    let start = payload.start - needed;
    let length =
        u16::try_from(payload.end - start).map_err(|_| UdpError::TooLarge(payload.len()))?;
    UdpHeader {
        src_port,
        dst_port,
        length,
        checksum: 0,
    }
    .write(&mut buf[start..])?;
    Ok(start..payload.end)
}

/// Computes and stores the UDP checksum of `datagram` (header and payload, checksum field
/// ignored) for the given addresses (RFC 768 / RFC 8200 §8.1 pseudo-header). Both addresses must
/// be of one family; the datagram's length field is not consulted.
pub fn fill_checksum(datagram: &mut [u8], src: IpAddr, dst: IpAddr) -> Result<(), UdpError> {
    if datagram.len() < UDP_HEADER_LEN {
        return Err(UdpError::BufferTooSmall {
            needed: UDP_HEADER_LEN,
            got: datagram.len(),
        });
    }
    let len = u32::try_from(datagram.len()).map_err(|_| UdpError::TooLarge(datagram.len()))?;
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(u16::from_be_bytes([*last, 0]));
        }
    };
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            add(&s.octets());
            add(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            add(&s.octets());
            add(&d.octets());
        }
        _ => return Err(UdpError::MixedAddressFamilies),
    }
    add(&len.to_be_bytes());
    add(&[0, 17]);
    datagram[6] = 0;
    datagram[7] = 0;
    add(datagram);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // Truncation is exact after folding; 0 is sent as 0xffff (RFC 768).
    let checksum = match !(sum as u16) {
        0 => 0xffff,
        c => c,
    };
    datagram[6..8].copy_from_slice(&checksum.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_three_kinds() {
        assert_eq!(classify(&[0xff]), Ok(UdpPayload::NatKeepalive));
        assert_eq!(classify(&[0, 0, 0, 0, 1, 2]), Ok(UdpPayload::Ike(4..6)));
        let esp = [0, 0, 0x10, 0, 0, 0, 0, 1, 9];
        assert_eq!(classify(&esp), Ok(UdpPayload::Esp(0..9)));
        assert_eq!(classify(&[]), Err(UdpError::Unclassifiable(0)));
        assert_eq!(classify(&[0xfe]), Err(UdpError::Unclassifiable(1)));
        assert_eq!(classify(&[1, 2, 3, 4, 5]), Err(UdpError::Unclassifiable(5)));
    }

    #[test]
    fn builds_and_parses_datagrams() {
        let mut buf = [0u8; 64];
        let n = write_keepalive(&mut buf, 4500, 4500).unwrap();
        assert_eq!(&buf[..n], &[0x11, 0x94, 0x11, 0x94, 0, 9, 0, 0, 0xff]);
        assert_eq!(
            classify_datagram(&buf[..n]).unwrap().1,
            UdpPayload::NatKeepalive
        );

        let mut buf = [0u8; 64];
        buf[12..20].copy_from_slice(b"ikemsg!!");
        let d = encapsulate_ike(&mut buf, 12..20, 4500, 4501).unwrap();
        assert_eq!(d, 0..20);
        let (h, kind) = classify_datagram(&buf[d]).unwrap();
        assert_eq!((h.src_port, h.dst_port, h.length), (4500, 4501, 20));
        assert_eq!(kind, UdpPayload::Ike(12..20));

        let mut buf = [0u8; 64];
        buf[8..20].copy_from_slice(&[0, 0, 1, 0, 0, 0, 0, 1, 1, 2, 3, 4]);
        let d = encapsulate_esp(&mut buf, 8..20, 1, 2).unwrap();
        assert_eq!(
            classify_datagram(&buf[d]).unwrap().1,
            UdpPayload::Esp(8..20)
        );
        assert!(encapsulate_esp(&mut buf, 4..20, 1, 2).is_err());
        assert!(UdpHeader::parse(&[0, 1, 0, 2, 0, 4, 0, 0]).is_err());
        assert!(UdpHeader::parse(&[0, 1, 0, 2, 0, 40, 0, 0]).is_err());
    }

    #[test]
    fn checksum_matches_a_known_datagram() {
        // IPv4 UDP 192.168.0.1:1024 -> 192.168.0.2:53, payload "hi" (checksum computed by hand
        // from the RFC 768 pseudo-header and cross-checked with a one's-complement verify).
        let mut d = [0x04, 0x00, 0x00, 0x35, 0x00, 0x0a, 0, 0, b'h', b'i'];
        let src: IpAddr = "192.168.0.1".parse().unwrap();
        let dst: IpAddr = "192.168.0.2".parse().unwrap();
        fill_checksum(&mut d, src, dst).unwrap();
        // Verifying: the sum over pseudo-header and datagram (with checksum) is 0xffff.
        let mut sum: u32 = 0xc0a8 + 0x0001 + 0xc0a8 + 0x0002 + 17 + 10;
        for c in d.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
    }
}
