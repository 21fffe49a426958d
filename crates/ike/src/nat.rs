//! NAT detection (RFC 7296 §2.23): `SHA-1(SPIi | SPIr | IP | port)`.

use std::net::{IpAddr, SocketAddr};

use ipsec_types::IkeSpi;

/// Length of a NAT detection hash (SHA-1).
pub const NAT_DETECTION_HASH_LEN: usize = 20;

/// What NAT detection found, and what we do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatState {
    /// The gateway sent NAT detection notifies (it supports NAT traversal).
    pub supported: bool,
    /// Our address as the gateway saw it differs from our local address: a NAT is in front of
    /// us. Computed from real addresses even when we fake our own hash.
    pub local_behind_nat: bool,
    /// The gateway's address differs from the one it hashed: a NAT is in front of it.
    pub remote_behind_nat: bool,
    /// IKE moved to port 4500 and ESP is encapsulated in UDP (RFC 3948).
    pub udp_encapsulation: bool,
}

/// The NAT detection hash of one endpoint.
#[must_use]
pub fn nat_detection_hash(
    spi_i: IkeSpi,
    spi_r: IkeSpi,
    addr: SocketAddr,
) -> [u8; NAT_DETECTION_HASH_LEN] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&spi_i.0);
    ctx.update(&spi_r.0);
    match addr.ip() {
        IpAddr::V4(a) => ctx.update(&a.octets()),
        IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(&addr.port().to_be_bytes());
    let mut out = [0u8; NAT_DETECTION_HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_covers_every_input() {
        let a: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let base = nat_detection_hash(IkeSpi([1; 8]), IkeSpi::ZERO, a);
        assert_ne!(base, nat_detection_hash(IkeSpi([1; 8]), IkeSpi([2; 8]), a));
        assert_ne!(
            base,
            nat_detection_hash(
                IkeSpi([1; 8]),
                IkeSpi::ZERO,
                "192.0.2.1:4500".parse().unwrap()
            )
        );
        assert_ne!(
            base,
            nat_detection_hash(
                IkeSpi([1; 8]),
                IkeSpi::ZERO,
                "192.0.2.2:500".parse().unwrap()
            )
        );
        assert_eq!(base, nat_detection_hash(IkeSpi([1; 8]), IkeSpi::ZERO, a));
    }
}
